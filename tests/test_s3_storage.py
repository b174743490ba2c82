"""`--storage s3://...`: a sweep keeps its Tune results, Train checkpoints and state in an
S3-compatible object store (moto's server, from PyPI, started on 127.0.0.1 by this test and
stopped by its process id), read back by `sweeps.status`; a bucket that is not there is
refused in one line before anything starts."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import _free_port, _wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prepared")]
ROOT = Path(__file__).resolve().parents[1]
BUCKET = "codemix-runs"


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s3")
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(folder / "moto.log", "w"), stderr=subprocess.STDOUT, start_new_session=True)
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "MLFLOW_S3_ENDPOINT_URL": endpoint,
           "AWS_ACCESS_KEY_ID": "codemix-test", "AWS_SECRET_ACCESS_KEY": "codemix-test",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}
    try:
        _wait_for(f"{endpoint}/", 60)
        import boto3
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="codemix-test",
                     aws_secret_access_key="codemix-test").create_bucket(Bucket=BUCKET)
        yield {"env": env, "endpoint": endpoint, "folder": folder}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _keys(s3, prefix: str) -> list[str]:
    import boto3
    client = boto3.client("s3", endpoint_url=s3["endpoint"], region_name="us-east-1",
                          aws_access_key_id="codemix-test", aws_secret_access_key="codemix-test")
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def test_a_sweep_keeps_everything_in_s3_and_trains_from_a_store_published_there(s3, prepared, tmp_path):
    """The embedded data published to the bucket; the sweep, on a node with an empty cache,
    trains from it (copied as read: nothing prepared there) and keeps everything in S3."""
    storage = f"s3://{BUCKET}/sweeps"
    env = {**s3["env"], "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "RAY_ADDRESS": "local",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    published = subprocess.run([sys.executable, "-m", "trainers.data.prepare", "--output", f"s3://{BUCKET}/store"],
                               cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert published.returncode == 0, published.stderr[-2000:]
    node = tmp_path / "node-cache"
    done = subprocess.run([sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--ratios", "0.25,1", "--workers",
                           "1", "--tokens", "65536", "--eval-suite", "none", "--storage", storage, "--experiment",
                           "in-s3", "--data", f"s3://{BUCKET}/store"],
                          cwd=ROOT, env={**env, "CODEMIX_CACHE": str(node)}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in node.iterdir() if p.is_dir()) == ["stores"]  # read from the bucket, not prepared
    copy = next((node / "stores").iterdir())
    assert (copy / "tokenizer" / "tokenizer.json").exists() and len(list((copy / "tokens").iterdir())) >= 2
    keys = _keys(s3, "sweeps/")
    assert "sweeps/in-s3.sweep.json" in keys
    assert sum(k.endswith("/result.json") and k.startswith("sweeps/tune/") for k in keys) == 2  # one per trial
    assert any(k.startswith("sweeps/train/") and "/checkpoint_" in k and k.endswith("model.safetensors")
               for k in keys)  # Train's checkpoints
    assert any(k.startswith("sweeps/artifacts/") and k.endswith("metrics_vs_code_ratio.png") for k in keys)
    assert not list(tmp_path.glob("**/result.json"))  # nothing of Tune's on the local disk
    import mlflow
    client = mlflow.MlflowClient(env["MLFLOW_TRACKING_URI"])
    runs = client.search_runs([client.get_experiment_by_name("in-s3").experiment_id], "tags.trial_id != ''")
    for r in runs:  # 512 sequences: every family within half a point of its share, read from the store
        assert abs(r.data.metrics["realized_code_ratio"] - float(r.data.params["code_ratio"])) <= 0.005
    assert len(runs) == 2 and all(r.data.tags["checkpoint"].startswith(f"{BUCKET}/sweeps/train/")
                                  or r.data.tags["checkpoint"].startswith(storage) for r in runs)
    status = subprocess.run([sys.executable, "-m", "sweeps.status", "--storage", storage, "--experiment", "in-s3"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert status.returncode == 0 and "2 trials: 2 finished" in status.stdout, status.stdout + status.stderr[-2000:]


def test_a_bucket_that_is_not_there_is_refused_in_one_line(s3, tmp_path):
    env = {**s3["env"], "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}"}
    done = subprocess.run([sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--dry-run",
                           "--storage", "s3://no-such-bucket/sweeps"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "s3://no-such-bucket/sweeps" in done.stderr, done.stderr


def test_an_s3_storage_without_a_tracking_server_is_refused_in_one_line(s3):
    env = {k: v for k, v in s3["env"].items() if k != "MLFLOW_TRACKING_URI"}
    done = subprocess.run([sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--dry-run",
                           "--storage", f"s3://{BUCKET}/sweeps"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and "set MLFLOW_TRACKING_URI" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_store_published_to_s3_is_copied_to_a_node_as_it_is_read(s3, tmp_path, monkeypatch):
    import yaml
    from test_data_spec import write_corpus
    from trainers.data.prepare import PreparedData
    raw = write_corpus(tmp_path / "corpus")
    (tmp_path / "corpus" / "spec.yaml").write_text(yaml.safe_dump(raw))
    cmd = [sys.executable, "-m", "trainers.data.prepare", "--spec", str(tmp_path / "corpus" / "spec.yaml"),
           "--cache", str(tmp_path / "prep"), "--output", f"s3://{BUCKET}/corpus-store"]
    first = subprocess.run(cmd, cwd=ROOT, env=s3["env"], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert f"published: s3://{BUCKET}/corpus-store/manifest.json" in first.stdout
    again = subprocess.run(cmd, cwd=ROOT, env=s3["env"], capture_output=True, text=True, timeout=300)
    assert "(0 files sent, the rest already there)" in again.stdout  # nothing sent twice
    for key, value in {**s3["env"], "CODEMIX_CACHE": str(tmp_path / "node")}.items():
        monkeypatch.setenv(key, value)
    store = PreparedData.open(f"s3://{BUCKET}/corpus-store")
    local = PreparedData(next((tmp_path / "prep" / "manifests").iterdir()))
    assert store.location == f"s3://{BUCKET}/corpus-store/manifest.json"
    assert not (store.manifest.parent / "tokens").exists()  # nothing but the manifest and tokenizer yet
    assert np.array_equal(np.asarray(store.tokens("my_code", "train")), np.asarray(local.tokens("my_code", "train")))
    assert [p.name for p in (store.manifest.parent / "tokens").iterdir()] == [Path(local.sources()["my_code"]["dir"]).name]
    assert store.family_size("text", "train") == local.family_size("text", "train")
    with pytest.raises(ValueError, match="no published store there"):
        PreparedData.open(f"s3://{BUCKET}/no-store")
    bad = subprocess.run([*cmd[:-1], "s3://no-such-bucket/store"], cwd=ROOT, env=s3["env"], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "bucket no-such-bucket is not there" in bad.stderr


def _upload(s3, folder: Path, prefix: str) -> None:
    import boto3
    client = boto3.client("s3", endpoint_url=s3["endpoint"], region_name="us-east-1",
                          aws_access_key_id="codemix-test", aws_secret_access_key="codemix-test")
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            client.upload_file(str(path), BUCKET, f"{prefix}/{path.relative_to(folder)}")


def test_a_data_spec_reads_its_files_from_s3_as_from_a_folder(s3, tmp_path, monkeypatch):
    """The spec corpus in every format, once from a folder and once from the bucket: the same
    documents, so the same shards, byte for byte; a bucket that is not there is one line."""
    import yaml
    from test_data_spec import write_corpus
    from trainers.data.prepare import prepare
    from trainers.data.spec import load_spec
    raw = write_corpus(tmp_path / "corpus")
    _upload(s3, tmp_path / "corpus", "corpora")
    (tmp_path / "corpus" / "local.yaml").write_text(yaml.safe_dump(raw))
    remote = {**raw, "sources": [{**s, "paths": [f"s3://{BUCKET}/corpora/{p}" for p in s["paths"]]}
                                 for s in raw["sources"]]}
    (tmp_path / "remote.yaml").write_text(yaml.safe_dump(remote))
    for key, value in s3["env"].items():
        monkeypatch.setenv(key, value)
    local = prepare(512, tmp_path / "a", registry=load_spec(tmp_path / "corpus" / "local.yaml").registry(), quiet=True)
    spec = load_spec(tmp_path / "remote.yaml")
    assert all(f.startswith(f"s3://{BUCKET}/corpora/") for s in spec.sources for f in s.files)
    bucket = prepare(512, tmp_path / "b", registry=spec.registry(), quiet=True)
    for name in local.sources():
        for split in ("train", "val"):
            assert np.array_equal(np.asarray(bucket.tokens(name, split)), np.asarray(local.tokens(name, split)))
    remote["sources"][0]["paths"] = ["s3://no-such-bucket/news/*.jsonl"]
    (tmp_path / "remote.yaml").write_text(yaml.safe_dump(remote))
    done = subprocess.run([sys.executable, "-m", "trainers.data.prepare", "--spec", str(tmp_path / "remote.yaml"),
                           "--cache", str(tmp_path / "c")], cwd=ROOT, env=s3["env"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr[-2000:]
    assert "s3://no-such-bucket is not there" in done.stderr
