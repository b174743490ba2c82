"""A data spec with a pretrained tokenizer (trainers/data/pretrained.py): a tokenizer folder
gives the same shards as the BPE it was trained as; a word-level one of 70,000 tokens stores
uint32 ids, ends documents with its own EOS and counts its pieces' bytes; one the model
size cannot hold is refused in one line before anything starts."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import one_line_error

from trainers.data.prepare import prepare
from trainers.data.spec import load_spec

ROOT = Path(__file__).resolve().parents[1]
WORDS = "the river city market voice night garden letter winter morning quiet station harbour".split()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pretrained")
    rng = np.random.default_rng(2)
    with open(folder / "prose.jsonl", "w") as f:
        for _ in range(400):
            f.write(json.dumps({"text": " ".join(rng.choice(WORDS, size=rng.integers(10, 200)))}) + "\n")
    return folder


def _spec(folder: Path, tokenizer: dict) -> Path:
    path = folder / f"spec-{len(list(folder.glob('spec-*')))}.yaml"
    path.write_text(yaml.safe_dump({"tokenizer": tokenizer, "sources": [
        {"name": "prose", "family": "text", "paths": ["prose.jsonl"], "licence": "CC0"}]}))
    return path


def _load(spec: Path, cache: Path):
    s = load_spec(spec)
    return prepare(s.vocab_size, cache, registry=s.registry(), quiet=True, tokenizer=s.tokenizer)


def _word_level(folder: Path, extra: int) -> Path:
    """A word-level tokenizer (no byte-level alphabet): the corpus's words, `extra` filler
    words, then its EOS `</s>`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    vocab = {w: i for i, w in enumerate(["<unk>", *WORDS, *(f"w{i}" for i in range(extra))])}
    vocab["</s>"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    out = folder / f"word-level-{extra}"
    PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>").save_pretrained(out)
    return out


def test_a_tokenizer_folder_gives_the_shards_of_the_bpe_it_was_trained_as(corpus, tmp_path):
    trained = _load(_spec(corpus, {"train": {"vocab_size": 512}}), tmp_path / "a")
    reused = _load(_spec(corpus, {"pretrained": str(trained.tokenizer_dir)}), tmp_path / "b")
    assert reused.tokenizer_dir != trained.tokenizer_dir and reused.eos_id == trained.eos_id == 0
    assert np.array_equal(reused.token_bytes(), trained.token_bytes())
    for split in ("train", "val"):
        assert np.array_equal(np.asarray(reused.tokens("prose", split)), np.asarray(trained.tokens("prose", split)))


def test_a_large_word_level_tokenizer_stores_uint32_ids_ending_in_its_eos(corpus, tmp_path):
    folder = _word_level(tmp_path, 70_000)
    data = _load(_spec(corpus, {"pretrained": str(folder)}), tmp_path / "cache")
    s = data.sources()["prose"]
    eos = len(WORDS) + 70_001
    assert s["dtype"] == "uint32" and data.eos_id == eos
    ids = np.asarray(data.tokens("prose", "train"))
    assert ids.dtype == np.uint32 and ids[-1] == eos and (ids == eos).sum() == s["documents_train"]
    assert set(np.unique(ids)) <= set(range(1, len(WORDS) + 1)) | {eos}  # the corpus's words, no <unk>
    assert data.token_bytes()[1:len(WORDS) + 1].tolist() == [len(w) for w in WORDS]  # a piece's own bytes
    assert data.token_bytes()[eos] == 0


def test_a_tokenizer_the_model_cannot_hold_is_refused_before_anything_starts(corpus, tmp_path):
    spec = _spec(corpus, {"pretrained": str(_word_level(tmp_path, 5_000))})
    done = subprocess.run([sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--data", str(spec), "--dry-run",
                           "--storage", str(tmp_path / "runs")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CODEMIX_CACHE": str(tmp_path / "cache")})
    one_line_error(done, "has 5,015 tokens but size smoke's embedding holds 4,096")
    assert not (tmp_path / "cache").exists()


def test_a_tokenizer_without_an_eos_is_refused_in_one_line(corpus, tmp_path):
    from transformers import PreTrainedTokenizerFast
    folder = _word_level(tmp_path, 10)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.pop("eos_token")
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    assert PreTrainedTokenizerFast.from_pretrained(folder).eos_token_id is None
    done = subprocess.run([sys.executable, "-m", "trainers.data.prepare", "--spec",
                           str(_spec(corpus, {"pretrained": str(folder)})), "--cache", str(tmp_path / "cache")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    one_line_error(done, "has no end-of-text (eos) token")
