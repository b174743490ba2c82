"""One Tune trial: a Ray Train job on one point of the sweep.

Tune's param space holds the trial's swept values (its point and seed); with the sweep's
base (every other field, given once through `tune.with_parameters`) they make the trial's
`TrainConfig`, built once here; runs `trainers.train.fit` with
`TuneReportCallback` so per-step metrics reach Tune (and through it MLflow), then reports
the final metrics together with the checkpoint path.
"""

from __future__ import annotations

from pathlib import Path

from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from sweeps.plan import TRAIN_FIELDS, derived
from sweeps.metrics import FINAL
from trainers.config import TrainConfig
from trainers.data.prepare import PreparedData
from trainers.recipes import get_recipe
from trainers.stages import read_record, run_recipe
from trainers.train import TIMESTEPS, fit, fit_stages

def run_trial(point: dict, base: dict) -> None:
    config = derived({**base, **point})
    cfg = TrainConfig(**{k: v for k, v in config.items() if k in TRAIN_FIELDS})
    name = f"{tune.get_context().get_experiment_name()}-{tune.get_context().get_trial_id()}"
    metrics, checkpoint = fit(cfg, name=name, storage_path=config["train_storage"],
                              callbacks=[TuneReportCallback()])
    tune.report({**metrics, "checkpoint_path": checkpoint, FINAL: True, TIMESTEPS: cfg.step_tokens})


STAGE_SCORES = ("nl_reasoning", "world_knowledge", "code_pass1", "nl_reasoning_bpb", "world_knowledge_bpb", "code_bpb",
                "val_bpb_text", "val_bpb_code")


def stage_scores(storage: Path, log: list[dict]) -> dict:
    """Each stage's own final scores as `<stage>/<metric>` (Table 2's stage rows), from its
    record; the last stage's are the trial's."""
    out = {}
    for entry in log[:-1]:
        record = read_record(storage / "stages" / entry["key"]) or {}
        out.update({f"{entry['stage']}/{m}": v for m, v in record.get("metrics", {}).items() if m in STAGE_SCORES})
    return out


def run_recipe_trial(point: dict, base: dict) -> None:
    """A trial over a recipe: stages already trained (by any trial) are reused by key; the
    rest run in turn in one Ray Train run, so the trial pays Ray's start-up once."""
    config = {**base, **point}
    base = TrainConfig(**{k: v for k, v in config.items() if k in TRAIN_FIELDS})
    recipe, cooldown = config["variant"].split("/")
    storage = config["train_storage"]

    def train(cfgs: list[TrainConfig], folders: list[str], name: str, tokens_before: int):
        return fit_stages(cfgs, folders, name=name, storage_path=storage, callbacks=[TuneReportCallback()],
                          tokens_before=tokens_before)

    checkpoint, metrics, log = run_recipe(get_recipe(recipe, cooldown), base, Path(storage).parent, train,
                                          PreparedData.open(base.manifest))
    tune.report({**metrics, **stage_scores(Path(storage).parent, log), "stages": len(log),
                 "stages_reused": sum(s["reused"] for s in log),
                 "stage_keys": ",".join(s["key"] for s in log), "checkpoint_path": checkpoint, FINAL: True,
                 TIMESTEPS: sum(s["step_tokens"] for s in log)})
