"""The memory plan (trainers/memory.py): its parameter counts are the models', its peaks are
the measured ones within 15% on every path a GPU trial can take (run here on CPU, where the
same operations keep the same tensors), and it chooses a micro-batch that fits, or refuses."""

from dataclasses import replace

import pytest
import torch.distributed as dist

from bench.perf.memory_plan import CASES, compare, config, process_group
from trainers.config import TrainConfig
from trainers.memory import GIB, fitted, parameters, plan_for
from trainers.presets import PRESETS
from trainers.sizes import SIZES, get_size, parameter_count


@pytest.mark.parametrize("size", SIZES)
def test_the_plan_counts_the_models_parameters(size):
    assert parameters(get_size(size))[0] == parameter_count(size)


@pytest.fixture(scope="module")
def group():
    process_group()  # FSDP2 needs a process group, even of one
    yield
    dist.destroy_process_group()


@pytest.mark.parametrize("size", ["1m", "4m", pytest.param("16m", marks=pytest.mark.slow)])  # 16m: ~7 s a case
@pytest.mark.parametrize("case", CASES)
def test_the_planned_peak_is_the_measured_one_within_15_percent(size, case, group):
    got = compare(config(size, **CASES[case]))
    assert 0.85 <= got["ratio"] <= 1.15, got


def test_the_study_presets_fit_80_gib_with_the_largest_micro_batch_that_fits():
    for name in ("paper-470m", "paper-2.8b"):
        cfg = fitted(PRESETS[name].config)
        plan = plan_for(cfg)
        assert cfg.micro_batch > 0 and plan.fits and plan.peak <= (80 * 0.9 - 1) * GIB
        share = cfg.global_batch // cfg.num_workers
        bigger = [m for m in range(cfg.micro_batch + 1, share + 1) if share % m == 0]
        assert not bigger or not plan_for(replace(cfg, micro_batch=bigger[0])).fits  # the largest that fits


def test_checkpointing_is_turned_on_only_when_nothing_fits_without_it():
    one_gpu = replace(PRESETS["paper-2.8b"].config, num_workers=1, global_batch=8)
    assert fitted(one_gpu).activation_checkpointing  # 2.8B's 45 GiB of states leave too little for a sequence
    assert not fitted(PRESETS["paper-470m"].config).activation_checkpointing
    with pytest.raises(ValueError, match="even at micro-batch 1 with activation checkpointing"):
        fitted(replace(one_gpu, gpu_memory=24))
    with pytest.raises(ValueError, match="lower --micro-batch"):
        fitted(replace(PRESETS["paper-470m"].config, micro_batch=64))


def test_cpu_configs_keep_their_whole_share():
    cfg = TrainConfig(code_ratio=0.25, model_size="1m", tokens=10 ** 6, seed=0, num_workers=1)
    assert fitted(cfg) == cfg and plan_for(cfg).micro_batch == cfg.global_batch and plan_for(cfg).fits
