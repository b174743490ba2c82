"""The mixture honours every family's share token for token; shards add up to one stream."""

import numpy as np
import pytest

from trainers.data.mixture import Mixture, MixedStream
from trainers.data.sources import FAMILIES

# Family i's tokens are i*1000 .. i*1000+999, so a token tells which family it came from.
ARRAYS = {f: i * 1000 + np.arange(5_000 + 1_000 * i) % 1000 for i, f in enumerate(FAMILIES)}
CASES = [(0.0, 0.0), (0.1, 0.0), (0.25, 0.1), (1 / 3, 0.5), (0.5, 0.0), (0.75, 0.2), (0.9, 1.0), (1.0, 0.3)]


@pytest.mark.parametrize("ratio, synthetic", CASES)
def test_every_prefix_holds_each_family_share(ratio, synthetic):
    mix = Mixture.build(ratio, synthetic)
    stream = MixedStream(ARRAYS, mix, seq_len=32, seed=3)
    seqs, family = stream.sequences(np.arange(2_000))
    n = np.arange(1, 2_001)
    for level, name in enumerate(stream.families):
        counts = np.cumsum(family == level)
        # Within a few sequences of the share at every prefix, not just on average...
        assert np.all(np.abs(counts - mix.weights()[name] * n) <= len(FAMILIES))
        # ...and the tokens really come from the family the index names.
        assert np.all(seqs[family == level] // 1000 == FAMILIES.index(name))
    # Over a 2,000-sequence budget every share is within 0.5 percentage points.
    for name, c in stream.counts(2_000).items():
        assert abs(c / 2_000 - mix.weights()[name]) <= 0.005


def test_counts_agree_with_the_assigned_sequences():
    stream = MixedStream(ARRAYS, Mixture.build(0.6, 0.25), seq_len=8, seed=5)
    family, _ = stream.assign(np.arange(777))
    assert stream.counts(777) == {f: int((family == i).sum()) for i, f in enumerate(stream.families)}


def test_worker_shards_partition_the_single_worker_stream():
    stream = MixedStream(ARRAYS, Mixture.build(0.25, 0.1), seq_len=16, seed=0)
    whole, _ = stream.sequences(np.arange(64))
    global_batch = 8
    for world in (1, 2, 4):
        micro = global_batch // world
        rows = [stream.sequences(step * global_batch + rank * micro + np.arange(micro))[0]
                for step in range(8) for rank in range(world)]
        assert np.array_equal(np.concatenate(rows), whole)


def test_resuming_at_step_n_continues_the_stream_exactly():
    mix, global_batch = Mixture.build(0.5, 0.2), 4
    first = MixedStream(ARRAYS, mix, 16, seed=9)
    uninterrupted = first.sequences(np.arange(40 * global_batch))[0]
    resumed = MixedStream(ARRAYS, mix, 16, seed=9)  # a new process after a restart
    tail = resumed.sequences(np.arange(25 * global_batch, 40 * global_batch))[0]
    assert np.array_equal(tail, uninterrupted[25 * global_batch:])


def test_same_seed_same_stream_other_seed_other_stream():
    mix = Mixture.build(0.5)
    a = MixedStream(ARRAYS, mix, 16, seed=1).sequences(np.arange(20))[0]
    b = MixedStream(ARRAYS, mix, 16, seed=1).sequences(np.arange(20))[0]
    c = MixedStream(ARRAYS, mix, 16, seed=2).sequences(np.arange(20))[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_repetition_is_counted_in_epochs():
    stream = MixedStream(ARRAYS, Mixture.build(0.0), seq_len=100, seed=0)
    assert stream.epochs(100) == pytest.approx({"text": 100 * 100 / 5_000})


@pytest.mark.parametrize("bad, message", [
    (dict(code_ratio=1.01), "code ratio 1.01 is outside"),
    (dict(code_ratio=float("nan")), "code ratio nan"),
    (dict(code_ratio=0.5, synthetic_share=-0.1), "synthetic share -0.1"),
    (dict(code_ratio=0.5, code_mix="web_code:0.5,markup:0.4"), "add up to 0.9"),
    (dict(code_ratio=0.5, code_mix="web_code:0.5,cobol:0.5"), "unknown code family 'cobol'"),
    (dict(code_ratio=0.5, code_mix="web_code=1"), "not FAMILY:SHARE"),
])
def test_bad_mixtures_fail_when_built_with_the_numbers(bad, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        Mixture.build(**bad)


def test_a_family_too_small_for_one_sequence_is_refused():
    with pytest.raises(ValueError, match="family markup has 10 tokens"):
        MixedStream({**ARRAYS, "markup": np.arange(10)}, Mixture.build(0.5), seq_len=32, seed=0)
