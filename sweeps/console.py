"""What a sweep prints while it runs: one line when a trial starts, one when it ends (its
point, time, throughput and headline metrics), and a progress line now and then.

    callbacks=[TrialLines(total=6, metrics=("val_bpb_text", "nl_reasoning"))]   # a Tune callback

Tune's status table, each trial's configuration box and the Train workers' own logs stay
behind `--verbose`; everything here is also in MLflow and `sweeps.status`.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ray import tune

from sweeps.metrics import FINAL

PROGRESS_EVERY_S = 60.0  # a progress line at most this often
# Shown when a trial reports them, after the sweep's own objectives.
SHOWN = ("val_bpb_text", "val_bpb_code", "nl_reasoning", "nl_reasoning_bpb", "world_knowledge", "code_pass1")


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


class TrialLines(tune.Callback):
    def __init__(self, total: int | None, metrics: tuple[str, ...] = ()):
        self.total = total  # None: unknown in advance (a resumed sweep)
        self.metrics = tuple(dict.fromkeys([*metrics, *SHOWN]))
        self.started: dict[str, float] = {}
        self.finished = 0
        self.last_progress = time.monotonic()

    def _say(self, line: str) -> None:
        print(line, file=sys.stdout, flush=True)  # looked up here: Tune pickles its callbacks

    def _count(self) -> str:
        return f"{self.finished}/{self.total}" if self.total else str(self.finished)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started[trial.trial_id] = time.monotonic()
        self._say(f"[sweep] started  {trial}")

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if time.monotonic() - self.last_progress < PROGRESS_EVERY_S or result.get(FINAL):
            return
        self.last_progress = time.monotonic()
        running = [t for t in trials if t.status == "RUNNING"]
        steps = ", ".join(f"{t}: step {t.last_result.get('step', 0)}" for t in running if t.last_result)
        self._say(f"[sweep] {self._count()} done, {len(running)} running ({steps})")

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.finished += 1
        result = trial.last_result or {}
        took = time.monotonic() - self.started.get(trial.trial_id, time.monotonic())
        if not result.get(FINAL):  # stopped by ASHA before its end
            self._say(f"[sweep] stopped  {trial} at step {result.get('step', '?')} (ASHA) [{self._count()}]")
            return
        shown = [f"{m} {_value(result[m])}" for m in self.metrics if m in result]
        speed = f", {result['tokens_per_s']:,.0f} tokens/s" if "tokens_per_s" in result else ""
        self._say(f"[sweep] finished {trial} in {took:.0f} s{speed}: {', '.join(shown)} [{self._count()}]")

    def on_trial_error(self, iteration, trials, trial, **info):
        self.finished += 1
        error = Path(trial.error_file) if trial.error_file else None
        lines = error.read_text().strip().splitlines() if error and error.exists() else []
        why = f"{lines[-1][:300]} (in {error})" if lines else "see Ray's logs, or run again with --verbose"
        self._say(f"[sweep] FAILED   {trial}: {why} [{self._count()}]")
