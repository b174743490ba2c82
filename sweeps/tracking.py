"""MLflow for a sweep's trials: the tracking store, one nested child run per trial, and a
report as MLflow metrics.

Child runs come from Ray's `MLflowLoggerCallback` (params = the trial's config, metrics =
every report), nested under the parent with the `mlflow.parentRunId` tag; the subclass
adds the `checkpoint` and `trial_id` tags and, when a sweep resumes after its driver died,
logs a trial into the run it already had instead of a second one. The parent's summary is
sweeps/summary.py; Tune's results as tables, sweeps/results.py.
"""

from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager

import mlflow
from mlflow.entities import Metric, Param
from ray.air.integrations.mlflow import MLflowLoggerCallback
from ray.tune.result import TIMESTEPS_TOTAL, TRAINING_ITERATION
from ray.tune.utils import flatten_dict

from sweeps import store


BATCH = 1000  # MLflow's limit of metrics per log_batch
PARAMS_BATCH = 100  # and of params


@contextmanager
def tracking(uri: str):
    """Use this MLflow store for the sweep, then put back what was there: `set_tracking_uri`
    also exports MLFLOW_TRACKING_URI, which would leak into later sweeps and child processes."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        mlflow.set_tracking_uri(before)


# While the tracking server does not answer, the sweep's driver asks it once a report at most
# this fast (MLflow's client would retry for minutes, holding up Tune's loop), then skips it
# for OUTAGE_S: Tune's results on disk are the record, and sweeps/sync.py logs what was missed.
QUICK = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}
OUTAGE_S = 15.0


# MLflow 3's UI opens an experiment without this tag in its GenAI view ("Traces 0").
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")


def use_experiment(name: str, storage, tracking_uri: str):
    """Make `name` the active MLflow experiment: created with its artefacts beside a sqlite
    store (in `<storage>/artifacts`, not ./mlruns of whatever folder the command started in),
    and tagged for the UI's training-runs view rather than its GenAI one."""
    if tracking_uri.startswith("sqlite:") and mlflow.get_experiment_by_name(name) is None:
        artifacts = store.join(storage, "artifacts")
        mlflow.create_experiment(name, artifact_location=artifacts if store.is_uri(artifacts) else artifacts.as_uri())
    experiment = mlflow.set_experiment(name)
    if EXPERIMENT_KIND[0] not in experiment.tags:
        mlflow.set_experiment_tag(*EXPERIMENT_KIND)
    return experiment


@contextmanager
def _quick_requests():
    before = {k: os.environ.get(k) for k in QUICK}
    os.environ.update({k: v for k, v in QUICK.items() if before[k] is None})  # a user's own setting stays
    try:
        yield
    finally:
        for k, v in before.items():
            if v is None:
                os.environ.pop(k, None)


class ChildRunCallback(MLflowLoggerCallback):
    """Per-trial MLflow runs nested under the sweep's parent run, tagged with Tune's trial id.
    A tracking server that stops answering mid-sweep stops nothing: training goes on, the
    callback says so once and tries again later (a trial's run is made when it can be)."""

    def __init__(self, *args, storage: str = "", base: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.storage = storage
        self.base = base or {}  # every trial's config but its swept values (Tune's config holds those)
        self._down_since: float | None = None
        self._retry_at = 0.0
        self.missed = 0  # trial events MLflow did not get

    def _guarded(self, what, *args) -> None:
        if time.monotonic() < self._retry_at:
            self.missed += 1
            return
        try:
            with _quick_requests():
                what(*args)
        except Exception as e:  # noqa: BLE001 - any failure to log must not stop training
            if self._down_since is None:
                self._down_since = time.monotonic()
                print(f"[mlflow] {self.tracking_uri} did not answer ({type(e).__name__}): training goes on; "
                      f"once it is back, `python -m sweeps.sync --storage {self.storage or 'STORAGE'} --experiment "
                      f"{self.experiment_name}` logs what it missed", flush=True)
            self._retry_at = time.monotonic() + OUTAGE_S
            self.missed += 1
            return
        if self._down_since is not None:
            print(f"[mlflow] {self.tracking_uri} answers again after {time.monotonic() - self._down_since:.0f} s",
                  flush=True)
            self._down_since = None

    def on_experiment_end(self, trials, **info):
        if self.missed:
            print(f"[mlflow] {self.missed} trial events did not reach {self.tracking_uri} while it was down; "
                  f"`python -m sweeps.sync --storage {self.storage or 'STORAGE'} --experiment {self.experiment_name}` "
                  "logs them from Tune's records", flush=True)

    def log_trial_start(self, trial):
        self._guarded(self._start, trial)

    def log_trial_result(self, iteration, trial, result):
        self._guarded(self._result, trial, result)

    def log_trial_end(self, trial, failed: bool = False):
        self._guarded(self._end, trial, failed)

    def _start(self, trial):
        client = mlflow.MlflowClient(self.tracking_uri)
        if trial not in self._trial_runs:  # a trial resumed after the driver died keeps its run
            existing = self._run_of(client, trial.trial_id)
            if existing:
                self._trial_runs[trial] = existing
                client.update_run(existing, status="RUNNING")
        super().log_trial_start(trial)  # the swept values, as params
        run = self._trial_runs[trial]
        log_trial_params(client, run, self.base, trial.config, skip=trial.config)
        client.set_tag(run, "trial_id", trial.trial_id)

    def _end(self, trial, failed: bool):
        if trial in self._trial_runs:
            super().log_trial_end(trial, failed)

    def _run_of(self, client: mlflow.MlflowClient, trial_id: str) -> str | None:
        """The child run this sweep already made for the trial (Ray's own callback would make a
        second one on restore: ray-project/ray#48664)."""
        experiment = client.get_experiment_by_name(self.experiment_name)
        parent = self.tags.get("mlflow.parentRunId")
        if experiment is None or not parent:
            return None
        return child_run(client, experiment.experiment_id, parent, trial_id)

    def _result(self, trial, result):
        """A report's metrics in one `log_batch` (Ray's callback makes one call, one database
        transaction, per metric: a quarter of a second per report on a sqlite store)."""
        if trial not in self._trial_runs:  # its start was missed while the server was down
            self._start(trial)
        client = mlflow.MlflowClient(self.tracking_uri)
        log_result(client, self._trial_runs[trial], result)
        if result.get("checkpoint_path"):
            client.set_tag(self._trial_runs[trial], "checkpoint", result["checkpoint_path"])


def child_runs(client: mlflow.MlflowClient, experiment_id: str, parent_id: str, trial_id: str = "") -> dict[str, str]:
    """Tune trial id -> its child run id under the sweep's parent run (the `trial_id` tag the
    callback sets); one trial's only, when `trial_id` is given. The one lookup the callback,
    `sync` and the win-rate logging share."""
    query = f"tags.`mlflow.parentRunId` = '{parent_id}'" + (f" and tags.trial_id = '{trial_id}'" if trial_id else "")
    runs = client.search_runs([experiment_id], query, max_results=1 if trial_id else 10_000)
    return {r.data.tags["trial_id"]: r.info.run_id for r in runs if "trial_id" in r.data.tags}


def child_run(client: mlflow.MlflowClient, experiment_id: str, parent_id: str, trial_id: str) -> str | None:
    return child_runs(client, experiment_id, parent_id, trial_id).get(trial_id)


def log_trial_params(client: mlflow.MlflowClient, run_id: str, base: dict, swept: dict, skip=()) -> None:
    """A trial's whole config as its child run's params (the base with its swept values and
    the fields they stand for), in batches of MLflow's limit of 100 params a call; `skip`: keys already logged."""
    from sweeps.plan import derived  # a named axis's fields (a code source's mix, a mixture's shares) per trial
    params = [Param(k, str(v)[:6000]) for k, v in derived({**base, **swept}).items() if k not in skip]
    for start in range(0, len(params), PARAMS_BATCH):
        client.log_batch(run_id, params=params[start:start + PARAMS_BATCH])


def result_metrics(result: dict, timestamp_ms: int | None = None) -> list[Metric]:
    """A Tune result's numeric values as MLflow metrics at its step, as Ray's MLflow callback
    logs them: the tokens the trial has trained (`timesteps_total`, which every report of
    trainers.train carries), else Tune's training iteration. The first survives a trial
    restarted from scratch after its node died; the iteration starts again at 1, and the
    first attempt's later iterations would hide the finished trial's values."""
    step = result.get(TIMESTEPS_TOTAL) or result[TRAINING_ITERATION]
    now = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    metrics = []
    for key, value in flatten_dict(result).items():
        if isinstance(value, str):
            continue  # paths and names; Ray would log a string that parses as a number, none of ours do
        try:
            metrics.append(Metric(key, float(value), now, int(step)))
        except (TypeError, ValueError):
            continue
    return metrics


def logged_as(m: Metric) -> tuple:
    """A logged metric's identity for replay: key, step and value (NaN equal to itself)."""
    return m.key, m.step, "nan" if math.isnan(m.value) else m.value


def log_result(client: mlflow.MlflowClient, run_id: str, result: dict, skip: set | None = None) -> int:
    """Log a result's metrics in batches, leaving out (key, step, value) already in `skip`; how many."""
    metrics = [m for m in result_metrics(result) if not skip or logged_as(m) not in skip]
    for start in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start:start + BATCH])
    return len(metrics)
