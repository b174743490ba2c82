"""The token store (trainers/data/store.py) and preparation in shards (trainers/data/tokenize.py):
windows read across shards as from one array; the same shards, byte for byte, from one process
and from Ray tasks; a killed preparation resumed with its finished shards kept; duplicates
counted and dropped; uint32 ids above 65,536 tokens."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from trainers.data.prepare import prepare
from trainers.data.spec import load_spec
from trainers.data.store import Packed, dtype_for, write_shard

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the river city market voice night garden letter winter morning quiet station harbour".split()
UNIT = 8 << 10  # bytes of documents per shard: a 1 MB corpus in ~120 shards


def _corpus(folder: Path) -> Path:
    """About 1 MB of prose in two JSON-lines files, 25 documents repeated; a spec over it."""
    rng = random.Random(1)
    folder.mkdir(parents=True)
    docs = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(20, 400))) for _ in range(1500)]
    docs += docs[:25]
    for name, part in (("a", docs[::2]), ("b", docs[1::2])):
        (folder / f"{name}.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in part))
    spec = folder / "spec.yaml"
    spec.write_text(yaml.safe_dump({"tokenizer": {"train": {"vocab_size": 512}}, "sources": [
        {"name": "prose", "family": "text", "paths": ["*.jsonl"], "licence": "CC0"}]}))
    return spec


def _shards(root: Path) -> dict[str, str]:
    """Every file of the token store and the documents files under a cache, by name: its SHA-1."""
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for folder in ("tokens", "docs") for p in sorted((root / folder).rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def spec(tmp_path_factory) -> Path:
    return _corpus(tmp_path_factory.mktemp("store") / "corpus")


@pytest.fixture(scope="module")
def in_process(spec, tmp_path_factory):
    """The corpus prepared in this process, in small shards."""
    root = tmp_path_factory.mktemp("one-process")
    return root, prepare(512, root, registry=load_spec(spec).registry(), quiet=True, unit_bytes=UNIT)


def test_windows_across_shards_are_the_concatenated_arrays(tmp_path):
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 70_000, size=n).astype(np.uint32) for n in (5, 1, 17, 3, 40, 2)]
    for shard, part in enumerate((docs[:2], [], docs[2:5], docs[5:])):
        write_shard(tmp_path, "train", shard, part, dtype_for(70_000))
    packed = Packed.open(tmp_path, "train", "uint32", shards=4)
    whole = np.concatenate(docs)
    assert len(packed) == len(whole) and packed.dtype == np.uint32
    for a in range(len(whole)):
        for b in range(a, len(whole) + 1, 3):
            assert np.array_equal(packed[a:b], whole[a:b])
    assert np.array_equal(np.load(tmp_path / "train-00002.idx.npy"), np.cumsum([17, 3, 40]))
    assert dtype_for(4096) == np.uint16 and dtype_for(65_536) == np.uint16 and dtype_for(65_537) == np.uint32


def test_a_source_is_written_in_shards_with_duplicates_dropped(in_process):
    root, data = in_process
    s = data.sources()["prose"]
    assert s["shards"] > 50 and s["dtype"] == "uint16"
    assert s["duplicates"] == 25 and s["documents_train"] + s["documents_val"] == 1500
    assert len(data.tokens("prose", "train")) == s["tokens_train"] > 100_000
    assert len(data.family_tokens("text", "train")) == s["tokens_train"]
    # The documents, tokenized again whole in one call, are the shards strung together.
    from tokenizers import Tokenizer
    from trainers.data.tokenize import held_out
    tok = Tokenizer.from_file(str(data.tokenizer_dir / "tokenizer.json"))
    docs = [json.loads(line) for line in Path(s["documents"]).read_text().splitlines()]
    meta = json.loads(Path(s["documents"]).with_suffix(".meta.json").read_text())
    train = [t for d, t in docs if not held_out(d, meta["fallback"])]
    expected = np.concatenate([e.ids + [0] for e in tok.encode_batch(train)])
    assert np.array_equal(np.asarray(data.tokens("prose", "train")), expected)


@pytest.mark.e2e
def test_ray_tasks_write_the_same_bytes_as_one_process(spec, in_process, tmp_path):
    import ray
    root = tmp_path / "cache"
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        prepare(512, root, registry=load_spec(spec).registry(), quiet=True, unit_bytes=UNIT)
    finally:
        ray.shutdown()
    one, two = _shards(in_process[0]), _shards(root)
    assert len(one) > 100 and one == two


@pytest.mark.slow  # two preparations in subprocesses, one killed: ~16 s, kept out of the fast lane
def test_a_killed_preparation_resumes_with_its_finished_shards_kept(spec, in_process, tmp_path):
    root = tmp_path / "cache"
    cmd = [sys.executable, "-m", "trainers.data.prepare", "--spec", str(spec), "--cache", str(root),
           "--shard-mb", str(UNIT / 2**20), "--ray", ""]
    first = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    deadline = time.monotonic() + 300
    while len(list(root.glob("tokens/*.partial/unit-*.json"))) < 5:
        assert first.poll() is None and time.monotonic() < deadline, "no shard was finished before the kill"
        time.sleep(0.005)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    kept = {p: p.stat().st_mtime_ns for p in root.glob("tokens/*.partial/unit-*.json")}  # finished units' records
    assert 5 <= len(kept) < in_process[1].sources()["prose"]["shards"], "the preparation finished before the kill"
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    shards = in_process[1].sources()["prose"]["shards"]
    assert f"{shards}/{shards} shards" in again.stdout  # progress, counted from the kept ones on
    entry = next(p for p in (root / "tokens").iterdir())
    assert not entry.name.endswith(".partial")
    assert all((entry / p.name).stat().st_mtime_ns == t for p, t in kept.items())  # kept, not written again
    assert _shards(root) == _shards(in_process[0])


def test_a_store_published_to_a_folder_reads_as_the_cache_it_came_from(in_process, tmp_path):
    from trainers.data.prepare import PreparedData
    from trainers.data.publish import publish
    _, data = in_process
    location = publish(data, str(tmp_path / "store"), say=lambda *a: None)
    store = PreparedData.open(tmp_path / "store")
    assert store.manifest == Path(location) and store.location == location
    assert np.array_equal(np.asarray(store.tokens("prose", "train")), np.asarray(data.tokens("prose", "train")))
    assert store.eos_id == data.eos_id and (store.tokenizer_dir / "tokenizer.json").exists()
    assert "documents" not in store.sources()["prose"]  # the cache's own paths stay behind


def test_a_failed_read_keeps_the_files_already_read(tmp_path):
    from trainers.data.read import read_pieces

    def piece(k, fail=False):
        def documents():
            if fail:
                raise OSError(f"file {k} went away")
            yield f"f{k}/1", f"document {k}"
            return {"files": 1, "records": 1, "malformed": 0, "first_malformed": [], "filtered": 0}
        return documents
    with pytest.raises(OSError, match="file 1 went away"):
        read_pieces((piece(0), piece(1, fail=True), piece(2)), tmp_path, say=lambda *a: None)
    first = (tmp_path / "part-00000.json").stat().st_mtime_ns
    parts, dropped, reports = read_pieces((piece(0, fail=True), piece(1), piece(2)), tmp_path, say=lambda *a: None)
    assert (tmp_path / "part-00000.json").stat().st_mtime_ns == first  # read before: not read again
    assert [p.read_text() for p in parts] == [f'["f{k}/1", "document {k}"]\n' for k in range(3)]
    assert dropped == {} and [r["records"] for r in reports] == [1, 1, 1]


def test_shard_size_and_ray_address_are_checked_in_one_line(spec, tmp_path):
    from helpers import one_line_error
    done = subprocess.run([sys.executable, "-m", "trainers.data.prepare", "--spec", str(spec), "--cache",
                           str(tmp_path), "--shard-mb", "0"], cwd=ROOT, capture_output=True, text=True)
    one_line_error(done, "--shard-mb 0 must be positive")
