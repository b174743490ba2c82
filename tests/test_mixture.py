"""The mixture honours the code ratio token for token, and shards add up to one stream."""

import numpy as np
import pytest

from trainers.data.mixture import Mixture, MixedStream

ARRAYS = {"text": np.arange(5_000) % 1000, "code": 1000 + np.arange(7_000) % 1000}


@pytest.mark.parametrize("ratio", [0.0, 0.1, 0.25, 1 / 3, 0.5, 0.75, 0.9, 1.0])
def test_every_prefix_holds_the_ratio_to_within_one_sequence(ratio):
    stream = MixedStream(ARRAYS, Mixture(ratio), seq_len=32, seed=3)
    seqs, code = stream.sequences(np.arange(1_000))
    counts = np.cumsum(code)
    n = np.arange(1, 1_001)
    assert np.all(np.abs(counts - ratio * n) <= 1.0)
    # The tokens really come from the domain the flag names.
    assert np.all(seqs[code] >= 1000) and np.all(seqs[~code] < 1000)


def test_worker_shards_partition_the_single_worker_stream():
    stream = MixedStream(ARRAYS, Mixture(0.25), seq_len=16, seed=0)
    whole, _ = stream.sequences(np.arange(64))
    global_batch = 8
    for world in (1, 2, 4):
        micro = global_batch // world
        rows = [stream.sequences(step * global_batch + rank * micro + np.arange(micro))[0]
                for step in range(8) for rank in range(world)]
        assert np.array_equal(np.concatenate(rows), whole)


def test_same_seed_same_stream_other_seed_other_stream():
    a = MixedStream(ARRAYS, Mixture(0.5), 16, seed=1).sequences(np.arange(20))[0]
    b = MixedStream(ARRAYS, Mixture(0.5), 16, seed=1).sequences(np.arange(20))[0]
    c = MixedStream(ARRAYS, Mixture(0.5), 16, seed=2).sequences(np.arange(20))[0]
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_repetition_is_counted_in_epochs():
    stream = MixedStream(ARRAYS, Mixture(0.0), seq_len=100, seed=0)
    assert stream.epochs(100) == pytest.approx({"text": 100 * 100 / 5_000, "code": 0.0})


@pytest.mark.parametrize("bad", [-0.1, 1.01, float("nan"), "0.5"])
def test_ratio_outside_unit_interval_is_refused(bad):
    with pytest.raises(ValueError, match="code ratio"):
        Mixture(bad)
