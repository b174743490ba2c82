"""Re-log into MLflow what it missed of a sweep, from Tune's records on disk; idempotent.

    python -m sweeps.sync --storage runs --experiment codemix-ratio

Tune writes every result of every trial under STORAGE/tune whether or not the tracking
server answers; the sweep logs them to MLflow as they come, and a server that was down or
restarted meanwhile misses some. This reads each trial's results, finds its child run (by
the `trial_id` tag under the sweep's parent run, making one as the sweep would if there is
none) and logs every (metric, step) the run lacks. A second run finds nothing missing and
logs nothing. A finished trial's run is marked finished.
"""

from __future__ import annotations

import sys


def _child_run(client, experiment_id: str, parent_id: str, trial, name: str, base: dict) -> tuple[str, bool]:
    """(run id, made): the trial's child run under the parent, made (as the sweep makes it) if missing."""
    from sweeps.tracking import child_run
    if found := child_run(client, experiment_id, parent_id, trial.trial_id):
        return found, False
    run = client.create_run(experiment_id, run_name=name,
                            tags={"mlflow.parentRunId": parent_id, "trial_id": trial.trial_id, "trial_name": name})
    from sweeps.tracking import log_trial_params
    log_trial_params(client, run.info.run_id, base, trial.config)
    return run.info.run_id, True


def sync(storage, experiment: str, tracking_uri: str) -> dict:
    """Log what MLflow lacks; return counts: trials, runs made, metrics logged."""
    import mlflow
    from ray.tune import ExperimentAnalysis

    from sweeps.runner import TrialName
    from sweeps.status import trial_results
    from sweeps.metrics import FINAL
    from sweeps.tracking import log_result, logged_as, result_metrics
    from sweeps.status import _sweep
    sweep = _sweep(storage, experiment)
    client = mlflow.MlflowClient(tracking_uri)
    parent = client.get_run(sweep["parent_run_id"])
    axes = tuple(sweep.get("axes") or parent.data.params.get("axes", "code_ratio").split(","))
    counts = {"trials": 0, "runs_made": 0, "metrics_logged": 0}
    for trial in ExperimentAnalysis(sweep["tune_path"]).trials:
        results = trial_results(trial)
        if not results:
            continue
        run_id, made = _child_run(client, parent.info.experiment_id, parent.info.run_id, trial, TrialName(axes)(trial),
                                  sweep.get("base", {}))
        keys = {m.key for r in results for m in result_metrics(r, 0)}
        have = {logged_as(m) for key in keys for m in client.get_metric_history(run_id, key)}
        logged = sum(log_result(client, run_id, r, skip=have) for r in results)
        if results[-1].get(FINAL) and client.get_run(run_id).info.status != "FINISHED":
            client.set_terminated(run_id, "FINISHED")
        if results[-1].get("checkpoint_path"):
            client.set_tag(run_id, "checkpoint", results[-1]["checkpoint_path"])
        counts["trials"] += 1
        counts["runs_made"] += made
        counts["metrics_logged"] += logged
    return counts


def main(argv: list[str] | None = None) -> int:
    from sweeps.status import storage_and_uri, sweep_parser
    parser = sweep_parser(__doc__)
    args = parser.parse_args(argv)
    try:
        storage, uri = storage_and_uri(args)
        counts = sync(storage, args.experiment, uri)
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    print(f"synced {counts['trials']} trials of {args.experiment!r}: {counts['runs_made']} child runs made, "
          f"{counts['metrics_logged']} metric values logged", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
