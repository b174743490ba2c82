"""The prepared corpus: held-out splits per domain, licences, a loadable tokenizer."""

import numpy as np
from transformers import AutoTokenizer

from evaluation.bpb import bits_per_byte
from trainers.data.sources import SOURCES

SAMPLES = ["To be, or not to be, that is the question:\n",
           "def f(x: int) -> int:\n    return x ** 2  # squares\n",
           "naïve café — ünïcödé ✓\n"]


def test_both_domains_have_train_and_held_out_tokens(prepared):
    for domain in ("text", "code"):
        assert len(prepared.tokens(domain, "train")) > 500_000
        assert len(prepared.tokens(domain, "val")) > 20_000


def test_every_source_records_its_licence_and_counts(prepared):
    stats = prepared.stats()["sources"]
    assert set(stats) == set(SOURCES)
    for s in stats.values():
        assert s["licence"] and s["documents_train"] > 0 and s["documents_val"] > 0


def test_tokenizer_loads_with_auto_tokenizer_and_round_trips(prepared):
    tok = AutoTokenizer.from_pretrained(prepared.tokenizer_dir)
    for text in SAMPLES:
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text
        # The byte table behind bits-per-byte matches the UTF-8 length exactly.
        assert prepared.token_bytes()[ids].sum() == len(text.encode())


def test_second_prepare_reuses_the_cache(prepared):
    from trainers.data.prepare import prepare
    before = (prepared.root / "text_train.npy").stat().st_mtime_ns
    assert prepare().root == prepared.root
    assert (prepared.root / "text_train.npy").stat().st_mtime_ns == before


def test_uniform_model_scores_log2_vocab_bits_per_token(prepared):
    import torch

    class Uniform(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def forward(self, input_ids):
            logits = torch.zeros(*input_ids.shape, 4096) + self.w
            return type("Out", (), {"logits": logits})

    tokens = prepared.tokens("text", "val")
    bpb = bits_per_byte(Uniform(), tokens, prepared.token_bytes(), seq_len=64, max_tokens=4096)
    window = np.asarray(tokens[1:4097])
    tb = prepared.token_bytes()[window]
    expected = (tb > 0).sum() * np.log2(4096) / tb.sum()
    assert abs(bpb - expected) < 1e-6
