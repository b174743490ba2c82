"""A user's own corpora by a data spec (trainers/data/spec.py): JSON lines (gzipped too),
parquet and text files become sources of the five families, prepared like the embedded ones;
anything wrong in the spec is one line before any work, and malformed records are counted,
named and skipped, or refuse their source past the spec's max_bad_fraction."""

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import one_line_error

from trainers.data.prepare import prepare
from trainers.data.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the river city market voice night garden letter winter morning quiet station harbour "
         "über café naïve mañana 東京 Ελλάδα").split()


def _prose(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)) + "."


def _code(rng: random.Random, i: int) -> str:
    return f"def f{i}(x):\n    return x * {rng.randint(2, 99)} + {rng.randint(0, 9)}\n"


def write_corpus(folder: Path) -> dict:
    """A small corpus in every format, with a malformed line, a duplicate and a very long document."""
    rng = random.Random(0)
    (folder / "news").mkdir(parents=True)
    lines = [json.dumps({"text": _prose(rng, 60), "id": i}) for i in range(120)]
    lines[7] = "{not json"                                    # malformed
    lines.append(json.dumps({"text": _prose(rng, 30000)}))    # one very long document
    (folder / "news" / "a.jsonl").write_text("\n".join(lines[:60]) + "\n")
    (folder / "news" / "b.jsonl").write_text("\n".join(lines[60:]) + "\n")
    pq.write_table(pa.table({"content": [_code(rng, i) for i in range(150)]}), folder / "code.parquet")
    (folder / "pages").mkdir()
    for i in range(40):
        (folder / "pages" / f"p{i}.html").write_text(f"<html><body><p>{_prose(rng, 40)}</p></body></html>\n")
    with gzip.open(folder / "qa.jsonl.gz", "wt") as f:
        for i in range(80):
            f.write(json.dumps({"body": f"Q: what does f{i} return?\nA: {_prose(rng, 20)}"}) + "\n")
    return {"tokenizer": {"train": {"vocab_size": 512}},
            "sources": [
                {"name": "my_news", "family": "text", "tier": "news", "paths": ["news/*.jsonl"], "licence": "CC BY 4.0"},
                {"name": "my_code", "family": "web_code", "paths": ["code.parquet"], "field": "content",
                 "licence": "MIT"},
                {"name": "my_pages", "family": "markup", "paths": ["pages/*.html"], "format": "text",
                 "licence": "CC0"},
                {"name": "my_qa", "family": "code_adjacent", "paths": ["qa.jsonl.gz"], "field": "body",
                 "licence": "CC BY-SA 4.0"}]}


@pytest.fixture
def corpus(tmp_path) -> tuple[Path, dict]:
    raw = write_corpus(tmp_path / "corpus")
    path = tmp_path / "corpus" / "spec.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, raw


def test_a_spec_prepares_every_format_into_its_families(corpus, tmp_path, capsys):
    path, _ = corpus
    spec = load_spec(path)
    data = prepare(spec.vocab_size, tmp_path / "cache", registry=spec.registry())
    sources = data.sources()
    assert {n: (s["family"], s["tier"], s["licence"]) for n, s in sources.items()} == {
        "my_news": ("text", "news", "CC BY 4.0"), "my_code": ("web_code", "", "MIT"),
        "my_pages": ("markup", "", "CC0"), "my_qa": ("code_adjacent", "", "CC BY-SA 4.0")}
    documents = {n: s["documents_train"] + s["documents_val"] for n, s in sources.items()}
    assert documents == {"my_news": 120, "my_code": 150, "my_pages": 40, "my_qa": 80}  # 121 lines, one malformed
    assert "my_news: 1 of 121 records malformed and skipped, first" in capsys.readouterr().out
    news = sources["my_news"]  # the manifest keeps the malformed records by file:line
    assert (news["files"], news["records"], news["malformed"]) == (2, 121, 1)
    assert news["first_malformed"] == [f"{path.parent / 'news' / 'a.jsonl'}:8 (not JSON)"]
    assert all(data.family_size(f, "train") > 0 for f in ("text", "web_code", "markup", "code_adjacent"))
    assert data.family_size("text/news", "train") == data.family_size("text", "train")
    # the long document and the non-ASCII text round-trip through the tokenizer
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(str(data.tokenizer_dir / "tokenizer.json"))
    assert "東京" in tok.decode(tok.encode("東京 über").ids)
    again = prepare(spec.vocab_size, tmp_path / "cache", registry=load_spec(path).registry())
    assert again.manifest == data.manifest and not again.built  # cached: nothing built twice


def test_a_document_in_two_sources_is_kept_in_the_first_only(corpus, tmp_path):
    path, raw = corpus
    news = [json.loads(line)["text"] for line in (path.parent / "news" / "b.jsonl").read_text().splitlines()]
    with (path.parent / "echo.jsonl").open("w") as f:  # ten of my_news's documents and five of its own, one twice
        f.writelines(json.dumps({"text": t}) + "\n" for t in news[:10] + [f"echo {i}" for i in range(5)] + ["echo 0"])
    raw["sources"].append({"name": "echo", "family": "text", "paths": ["echo.jsonl"], "licence": "CC0"})
    path.write_text(yaml.safe_dump(raw))
    first = prepare(512, tmp_path / "cache", registry=load_spec(path).registry(), quiet=True)
    s = first.sources()
    assert (s["echo"]["duplicates"], s["echo"]["duplicates_of_earlier_sources"]) == (1, 10)
    assert s["echo"]["documents_train"] + s["echo"]["documents_val"] == 5
    assert s["my_news"]["documents_train"] + s["my_news"]["documents_val"] == 120  # the first keeps its own
    # my_news changed: echo's documents are not read again, but its shards follow what my_news holds now
    (path.parent / "news" / "b.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in news[5:]) + "\n")
    s = prepare(512, tmp_path / "cache", registry=load_spec(path).registry(), quiet=True).sources()
    assert s["echo"]["documents"] == first.sources()["echo"]["documents"]
    assert s["echo"]["duplicates_of_earlier_sources"] == 5
    assert s["echo"]["documents_train"] + s["echo"]["documents_val"] == 10


def test_templates_filters_caps_and_builtin_sources_mix_in_one_spec(corpus, tmp_path):
    path, raw = corpus
    raw["sources"][0].update(template="#{id}: {text}", where={"id": {"not_in": [0, 1, 2]}}, max_documents=50)
    raw["max_bad_fraction"] = 0.05  # one malformed line in the 54 records read
    raw["sources"].append({"builtin": "pydoc_topics"})
    path.write_text(yaml.safe_dump(raw))
    registry = load_spec(path).registry()
    from trainers.data.sources import SOURCES
    assert registry["pydoc_topics"] is SOURCES["pydoc_topics"]
    news = list(registry["my_news"].documents(None))
    assert len(news) == 50 and news[0][1].startswith("#3: ") and news[0][0] == "my_news/a.jsonl/4"


def test_a_changed_file_prepares_its_source_again(corpus, tmp_path):
    path, _ = corpus
    first = prepare(512, tmp_path / "cache", registry=load_spec(path).registry(), quiet=True)
    with (path.parent / "news" / "b.jsonl").open("a") as f:
        f.write(json.dumps({"text": "a new story about the harbour."}) + "\n")
    second = prepare(512, tmp_path / "cache", registry=load_spec(path).registry(), quiet=True)
    before, after = first.sources(), second.sources()
    assert after["my_news"]["documents"] != before["my_news"]["documents"]  # read again
    assert all(after[n]["documents"] == before[n]["documents"] for n in ("my_code", "my_pages", "my_qa"))  # kept
    assert after["my_news"]["documents_train"] + after["my_news"]["documents_val"] == 121


def _bad(raw: dict, change) -> dict:
    raw = json.loads(json.dumps(raw))
    change(raw)
    return raw


BAD = [
    (lambda r: r.update(colour="blue"), "unknown key 'colour'"),
    (lambda r: r["sources"][0].update(family="poetry"), "unknown family 'poetry'"),
    (lambda r: r["sources"][0].update(tier="gossip"), "tier 'gossip' must be one of"),
    (lambda r: r["sources"][1].update(tier="news"), "applies to the text family only"),
    (lambda r: r["sources"][0].update(paths=["nowhere/*.jsonl"]), "'nowhere/*.jsonl' matches no file"),
    (lambda r: r["sources"][0].update(field="body"), "field 'body' is missing"),
    (lambda r: r["sources"][1].update(field="text"), "field 'text' is missing"),
    (lambda r: r["sources"][0].update(format="csv"), "unknown format 'csv'"),
    (lambda r: r["sources"][0].update(paths=["gs://bucket/news/*.jsonl"]), "only local paths, s3:// and hf:// are"),
    (lambda r: r["sources"][0].pop("licence"), "licence is required"),
    (lambda r: r["sources"][0].update(speed=3), "unknown key 'speed'"),
    (lambda r: r["sources"][1].update(name="my_news"), "source names repeat"),
    (lambda r: r.update(tokenizer={"train": {"vocab_size": 2**32 + 1}}), "vocab_size 4294967297 must be"),
    (lambda r: r.update(tokenizer={"pretrained": "./no-such-tokenizer"}), "tokenizer folder ./no-such-tokenizer does not"),
    (lambda r: r.update(tokenizer={"pretrained": "news"}), "corpus/news' cannot be loaded"),
    (lambda r: r.update(tokenizer={"trained": 512}), "tokenizer must be {train: {vocab_size: N}} or {pretrained"),
    (lambda r: r.update(sources=[]), "needs a non-empty list under 'sources'"),
    (lambda r: r["sources"].append({"builtin": "nonesuch"}), "builtin 'nonesuch' stands alone"),
    (lambda r: r["sources"][1].update(template="{content}"), "give field or template, not both"),
    (lambda r: r["sources"][0].update(template="{headline}: {text}"), "field 'headline' is missing"),
    (lambda r: r["sources"][0].update(where={"id": {"above": 3}}), "where 'id' must be {in: [VALUES]}"),
    (lambda r: r["sources"][0].update(max_documents=-1), "max_documents -1 must be a whole number"),
]


@pytest.mark.parametrize("change, named", BAD, ids=[b[1] for b in BAD])
def test_a_bad_spec_is_one_line_before_any_work(corpus, tmp_path, change, named):
    path, raw = corpus
    path.write_text(yaml.safe_dump(_bad(raw, change)))
    done = subprocess.run([sys.executable, "-m", "trainers.data.prepare", "--spec", str(path),
                           "--cache", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    one_line_error(done, named)
    assert not (tmp_path / "cache").exists()


def test_a_source_over_its_malformed_share_is_refused_in_one_line(corpus, tmp_path):
    path, raw = corpus
    path.write_text(yaml.safe_dump({**raw, "max_bad_fraction": 0.001}))
    done = subprocess.run([sys.executable, "-m", "trainers.data.prepare", "--spec", str(path),
                           "--cache", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    one_line_error(done, "source my_news: 1 of 121 records are malformed (over 0.1%")
    assert "a.jsonl:8 (not JSON)" in done.stderr


def test_the_malformed_share_can_be_set_on_the_command_line(corpus, tmp_path):
    path, _ = corpus
    done = subprocess.run([sys.executable, "-m", "trainers.data.prepare", "--spec", str(path), "--max-bad-fraction",
                           "0", "--cache", str(tmp_path / "cache")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    one_line_error(done, "source my_news: 1 of 121 records are malformed (over 0.0%")
    done = subprocess.run([sys.executable, "-m", "trainers.data.prepare", "--max-bad-fraction", "0.5"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    one_line_error(done, "--max-bad-fraction 0.5 needs --spec")


def test_a_sweep_takes_a_spec_as_its_data(corpus, tmp_path):
    path, raw = corpus
    path.write_text(yaml.safe_dump({**raw, "tokenizer": {"train": {"vocab_size": 4096}}}))
    done = subprocess.run([sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--data", str(path), "--dry-run",
                           "--ratios", "0,0.5", "--storage", str(tmp_path / "runs")],
                          cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "CODEMIX_CACHE": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    trials = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    manifest = json.loads(Path(trials[0]["manifest"]).read_text())
    assert sorted(manifest["sources"]) == ["my_code", "my_news", "my_pages", "my_qa"] and len(trials) == 2
    path.write_text(yaml.safe_dump(raw))  # 512 tokens: not what size smoke is built for
    done = subprocess.run([sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--data", str(path), "--dry-run",
                           "--storage", str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    one_line_error(done, "its tokenizer has 512 tokens but size smoke is built for 4096")
