"""The study's remote datasets as a spec: the same reading code as on a cluster, run on a local
folder laid out like the Hugging Face repositories ($CODEMIX_HUB): SlimPajama's zstd JSON lines
with `meta`, The Stack's data/<lang>/ parquet, GitHub issues' parquet, CommitPackFT's JSON lines."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from trainers.data.prepare import prepare
from trainers.data.remote import STACK_MARKUP, remote_registry, remote_spec
from trainers.data.spec import load_spec
from helpers import one_line_error

ROOT = Path(__file__).resolve().parents[1]
SLIM_ROWS = 30 + 10 + 12  # text, GitHub, StackExchange


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    root = tmp_path_factory.mktemp("hub")
    rows = [{"text": f"An essay on rivers, number {i}. " * 30, "meta": {"redpajama_set_name": "RedPajamaC4"}}
            for i in range(30)]
    rows += [{"text": f"def leaked_{i}(): pass\n" * 20, "meta": {"redpajama_set_name": "RedPajamaGithub"}}
             for i in range(10)]
    rows += [{"text": f"Q: how do I sort a list {i}?\nA: use sorted().\n" * 10,
              "meta": {"redpajama_set_name": "RedPajamaStackExchange"}} for i in range(12)]
    for chunk, part in ((1, rows[::2]), (2, rows[1::2])):  # two chunks, zstd-compressed as on the hub
        folder = root / "cerebras" / "SlimPajama-627B" / "train" / f"chunk{chunk}"
        folder.mkdir(parents=True)
        with pa.output_stream(str(folder / "example_train_0.jsonl.zst"), compression="zstd") as f:
            f.write("".join(json.dumps(r) + "\n" for r in part).encode())
    stack = root / "bigcode" / "the-stack-dedup"
    for lang, line in (("python", "x = compute({i})\n"), ("rust", "let x = compute({i});\n"),
                       ("java", "int x = compute({i});\n"),
                       *((lang, f"<{lang}>item {{i}}</{lang}>\n") for lang in STACK_MARKUP)):
        (stack / "data" / lang).mkdir(parents=True)
        pd.DataFrame({"content": [line.format(i=i) * 40 for i in range(15)], "lang": lang}).to_parquet(
            stack / "data" / lang / "data-00000-of-00001.parquet")
    issues = root / "bigcode" / "the-stack-github-issues" / "data"
    issues.mkdir(parents=True)
    pd.DataFrame({"content": [f"Issue {i}: the parser fails on empty input.\n" * 5 for i in range(8)]}).to_parquet(
        issues / "train-00000-of-00001.parquet")
    commits = root / "bigcode" / "commitpackft" / "data" / "python"
    commits.mkdir(parents=True)
    (commits / "data.jsonl").write_text("".join(json.dumps(
        {"message": f"Fix off-by-one {i}", "old_file": "a.py", "new_file": "a.py", "old_contents": f"n = {i}\n",
         "new_contents": f"n = {i + 1}\n", "lang": "Python"}) + "\n" for i in range(6)))
    return root


def _docs(registry, name):
    return list(registry[name].documents(None))


def test_slimpajama_text_leaves_out_github_and_stackexchange(hub):
    r = remote_registry(("python",), hub=str(hub))
    docs = _docs(r, "slimpajama_text")
    assert len(docs) == 30 and all("rivers" in t for _, t in docs)
    qa = _docs(r, "stackexchange")
    assert len(qa) == 12 and all(t.startswith("Q:") for _, t in qa)


def test_every_file_of_every_configured_language_is_read_without_a_cap(hub):
    r = remote_registry(("python", "rust"), hub=str(hub))
    docs = _docs(r, "the_stack")
    assert {t.split()[0] for _, t in docs} == {"x", "let"} and len(docs) == 30
    assert len(_docs(r, "the_stack_markup")) == 15 * len(STACK_MARKUP)
    capped = remote_registry(("python", "rust"), hub=str(hub), max_documents=4)
    assert len(_docs(capped, "the_stack")) == 4


def test_commits_are_made_of_their_message_and_both_versions(hub):
    commits = _docs(remote_registry(("python",), hub=str(hub)), "commits")
    assert len(commits) == 6
    assert commits[0][1] == "Fix off-by-one 0\n\n--- a.py\nn = 0\n\n+++ a.py\nn = 1\n"


def test_remote_sources_prepare_like_embedded_ones_and_report_what_was_filtered(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("CODEMIX_HUB", str(hub))
    r = remote_registry(("python", "rust"))
    r = {k: r[k] for k in ("slimpajama_text", "the_stack", "stackexchange", "commits")}  # not the generated one
    data = prepare(vocab_size=512, root=tmp_path, registry=r, quiet=True)
    assert data.families() == ("text", "web_code", "code_adjacent")
    assert len(data.family_tokens("web_code", "train")) > 1_000
    slim = data.sources()["slimpajama_text"]
    assert (slim["files"], slim["records"], slim["filtered"], slim["malformed"]) == (2, SLIM_ROWS, 22, 0)


def test_the_printed_spec_is_a_spec_a_user_can_edit_and_load(hub, tmp_path):
    done = subprocess.run([sys.executable, "-m", "trainers.data.remote", "--languages", "python,java",
                           "--hub", str(hub)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=True)
    (tmp_path / "study.yaml").write_text(done.stdout)
    assert yaml.safe_load(done.stdout) == remote_spec(("python", "java"), str(hub))
    spec = load_spec(tmp_path / "study.yaml")
    assert [s.name for s in spec.sources] == ["slimpajama_text", "the_stack", "the_stack_markup", "stackexchange",
                                              "github_issues", "commits", "synthetic_python"]
    assert spec.sources[-1].builtin == "synthetic_python"


def test_unknown_language_is_refused():
    with pytest.raises(ValueError, match="unknown The Stack language"):
        remote_registry(languages=("python", "klingon"))


def test_a_mirror_without_a_repository_is_one_line_naming_it(hub, tmp_path):
    partial = tmp_path / "mirror"
    (partial / "cerebras").mkdir(parents=True)
    (partial / "cerebras" / "SlimPajama-627B").symlink_to(hub / "cerebras" / "SlimPajama-627B")
    with pytest.raises(ValueError, match="source the_stack: .*the-stack-dedup/data/python/\\*.parquet' matches no file"):
        remote_registry(("python",), hub=str(partial))


def test_sweep_with_unreachable_remote_data_exits_before_training(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "CODEMIX_CACHE": str(tmp_path / "cache")}
    env.pop("CODEMIX_HUB", None)
    done = subprocess.run([sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--data", "remote",
                           "--languages", "python", "--storage", str(tmp_path / "runs")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    one_line_error(done, "hf://datasets/cerebras/SlimPajama-627B/train/chunk*/*.jsonl.zst: cannot be listed")
    assert not (tmp_path / "runs" / "mlflow.db").exists()
