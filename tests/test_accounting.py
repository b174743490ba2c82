"""A run's realized mixture: shares per family, text tier and part, and epochs per source,
right with and without a text mix (checked against the tokens the stream really hands out)."""

import json

import numpy as np
import pytest

from trainers.data.accounting import realized
from trainers.data.english import TIERS
from trainers.data.mixture import Mixture, MixedStream
from trainers.data.prepare import PreparedData
from trainers.data.sources import CODE_FAMILIES
from trainers.data.store import write_shard

# Two sources per text tier and one per code family, of different sizes; source i's tokens
# are all i + 1, so a fed token tells which source it came from.
SOURCES = [(f"{tier}_{k}", "text", tier) for tier in TIERS for k in "ab"] + [(f, f, "") for f in CODE_FAMILIES]
SEQ_LEN = 16


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy-data")
    manifest = {"tokenizer": str(root), "sources": {}}
    for i, (name, family, tier) in enumerate(SOURCES):
        (root / name).mkdir()
        tokens = np.full(300 + 97 * i, i + 1, dtype=np.uint16)
        for shard, part in enumerate((tokens[:100], tokens[100:])):  # two shards: the stream reads across them
            write_shard(root / name, "train", shard, [part], np.dtype(np.uint16))
        manifest["sources"][name] = {"family": family, "tier": tier, "dir": str(root / name), "dtype": "uint16",
                                     "shards": 2}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return PreparedData(root / "manifest.json")


def fed_by_the_stream(data, mix, n, seed=0):
    """Stream n sequences as training does; count the tokens that came from each source."""
    parts = {p: data.family_tokens(p, "train") for p, w in mix.parts().items() if w > 0}
    stream = MixedStream(parts, mix, SEQ_LEN, seed)
    seqs, part = stream.sequences(np.arange(n))
    per_source = np.bincount(seqs[:, :SEQ_LEN].ravel(), minlength=len(SOURCES) + 1)[1:]
    fed = {p: float((part == i).sum()) for i, p in enumerate(stream.families)}
    return stream, fed, {name: int(t) for (name, _, _), t in zip(SOURCES, per_source, strict=True)}


@pytest.mark.parametrize("text_mix", ["", "encyclopedic:0.4,news:0.3,speeches:0.1,literature:0.2",
                                      "encyclopedic:1"])
@pytest.mark.parametrize("ratio, n", [(0.3, 40), (0.3, 2_000), (0.0, 500), (1.0, 500)])
def test_shares_and_epochs_match_the_tokens_fed(data, text_mix, ratio, n):
    mix = Mixture.build(ratio, 0.2, text_mix=text_mix)
    stream, fed, tokens = fed_by_the_stream(data, mix, n)
    got = realized(fed, stream, data)
    total = n * SEQ_LEN
    for name, _, _ in SOURCES:
        assert got[f"epochs_{name}"] == pytest.approx(tokens[name] / len(data.tokens(name, "train")))
    text = sum(tokens[s] for s, f, _ in SOURCES if f == "text") / total
    assert got["realized_share_text"] == pytest.approx(text)
    assert got["realized_code_ratio"] == pytest.approx(1 - text)
    for tier in TIERS:
        assert got[f"realized_share_text_{tier}"] == pytest.approx(
            sum(tokens[s] for s, _, t in SOURCES if t == tier) / total)
    for family in CODE_FAMILIES:
        assert got[f"realized_share_{family}"] == pytest.approx(tokens[family] / total)
    if n >= 500:  # and the request is met within the rule's half a point
        assert abs(got["realized_code_ratio"] - ratio) <= 0.005
        for family, share in mix.weights().items():
            assert abs(got[f"realized_share_{family}"] - share) <= 0.005
        for part, share in mix.parts().items():
            if part.startswith("text/"):
                assert abs(got[f"realized_share_text_{part[5:]}"] - share) <= 0.005


def test_a_part_read_past_its_end_counts_each_source_more_than_once(data):
    mix = Mixture.build(0.5, text_mix="news:1")
    stream, fed, _ = fed_by_the_stream(data, mix, 600)
    got = realized(fed, stream, data)
    assert got["epochs_news_a"] > 1 and got["epochs_news_b"] > 1
    assert got["epochs_encyclopedic_a"] == 0 and got["realized_share_text_encyclopedic"] == 0
