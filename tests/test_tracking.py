"""Trial reports into a real sqlite MLflow store, as the sweep's callback and `sync` log them."""

import mlflow

from sweeps.tracking import log_result, logged_as

PER_STEP = 16 * 128


def _report(iteration: int, step: int, **extra) -> dict:
    return {"training_iteration": iteration, "timesteps_total": step * PER_STEP, "step": step,
            "trained_tokens": step * PER_STEP, **extra}


def test_a_trial_restarted_from_scratch_ends_with_its_finished_values(tmp_path):
    """A trial whose node died: Tune starts it again at iteration 1, its Train run resumes from
    the checkpoint at step 80. The run's values are the finished trial's, not those of the
    first attempt's last report (step 105, at a later iteration than any of the second's)."""
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("restart")).info.run_id
    first = [_report(i, 5 * i, loss=5.0 - i / 10) for i in range(1, 22)]  # steps 5..105
    second = [_report(i, 80 + 5 * i, loss=3.0 - i / 10) for i in range(1, 17)]  # steps 85..160
    final = {**_report(17, 160), "trial_finished": 1.0, "resumed_from_step": 80}
    for result in first + second + [final]:
        log_result(client, run, result)
    metrics = client.get_run(run).data.metrics
    assert metrics["trained_tokens"] == 160 * PER_STEP and metrics["step"] == 160
    assert metrics["loss"] == second[-1]["loss"]
    # A replay (`sync`) logs nothing it already has, and the finished values stay the run's.
    keys = {k for r in first + second + [final] for k in r}
    have = {logged_as(m) for key in keys for m in client.get_metric_history(run, key)}
    assert sum(log_result(client, run, r, skip=have) for r in first + second + [final]) == 0
    assert client.get_run(run).data.metrics["trained_tokens"] == 160 * PER_STEP
