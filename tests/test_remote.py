"""Remote sources: the same loading code as on a cluster, run on local folders laid out like
the Hugging Face repositories (SlimPajama's jsonl with `meta`, The Stack's data/<lang>/ parquet)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from trainers.data.prepare import prepare
from trainers.data.remote import remote_registry, remote_source
from helpers import one_line_error

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    slim = root / "SlimPajama-627B" / "train" / "chunk1"
    slim.mkdir(parents=True)
    rows = [{"text": f"An essay on rivers, number {i}. " * 30, "meta": {"redpajama_set_name": "RedPajamaC4"}}
            for i in range(30)]
    rows += [{"text": f"def leaked_{i}(): pass\n" * 20, "meta": {"redpajama_set_name": "RedPajamaGithub"}}
             for i in range(10)]
    rows += [{"text": f"Q: how do I sort a list {i}?\nA: use sorted().\n" * 10,
              "meta": {"redpajama_set_name": "RedPajamaStackExchange"}} for i in range(12)]
    with open(slim / "example_train_0.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    stack = root / "the-stack-dedup"
    for lang, line in (("python", "x = compute({i})\n"), ("rust", "let x = compute({i});\n"),
                       ("html", "<p>item {i}</p>\n"), ("css", ".item-{i} {{ color: red; }}\n")):
        (stack / "data" / lang).mkdir(parents=True)
        pd.DataFrame({"content": [line.format(i=i) * 40 for i in range(15)], "lang": lang}).to_parquet(
            stack / "data" / lang / "train-00000-of-00001.parquet")
    return root


def _registry(hub):
    r = remote_registry(languages=("python", "rust"), max_documents=100,
                        slimpajama=str(hub / "SlimPajama-627B"), stack=str(hub / "the-stack-dedup"))
    return {k: r[k] for k in ("slimpajama_text", "the_stack", "stackexchange")}


def test_slimpajama_text_leaves_out_github_and_stackexchange(hub):
    docs = list(_registry(hub)["slimpajama_text"].documents(None))
    assert len(docs) == 30 and all("rivers" in t for _, t in docs)
    qa = list(_registry(hub)["stackexchange"].documents(None))
    assert len(qa) == 12 and all(t.startswith("Q:") for _, t in qa)


def test_the_stack_reads_each_configured_language(hub):
    docs = list(_registry(hub)["the_stack"].documents(None))
    langs = {doc_id.split("/")[2] for doc_id, _ in docs}
    assert langs == {"python", "rust"} and len(docs) == 30


def test_remote_sources_prepare_like_embedded_ones(hub, tmp_path):
    data = prepare(vocab_size=512, root=tmp_path, registry=_registry(hub), quiet=True)
    assert data.families() == ("text", "web_code", "code_adjacent")
    assert len(data.family_tokens("web_code", "train")) > 1_000


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown The Stack language"):
        remote_registry(languages=("python", "klingon"))


@pytest.mark.slow
def test_unreachable_dataset_is_one_line_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    source = remote_source("missing", "text", "no-such-org/no-such-dataset", "n/a")
    with pytest.raises(ValueError, match="'no-such-org/no-such-dataset'.*cannot be read") as err:
        list(source.documents(None))
    assert "\n" not in str(err.value)


def test_sweep_with_unreachable_remote_data_exits_before_training(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "CODEMIX_CACHE": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--data", "remote",
                           "--languages", "python", "--storage", str(tmp_path / "runs")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    one_line_error(done, "cannot be read")
    assert not (tmp_path / "runs" / "mlflow.db").exists()
