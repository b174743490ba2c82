"""Two objectives: the Pareto front is the points no other point beats on both, and a sweep
logs it on its parent run."""

import mlflow
import pandas as pd
import pytest

from sweeps.pareto import front
from sweeps.summary import log_summary
from sweeps.tracking import tracking

pytestmark = pytest.mark.usefixtures("prepared")  # runs sweep scripts: the data is prepared first (conftest)


def _df():
    # code ratio: NL bits-per-byte rise with code, code bits-per-byte fall; 0.75 is beaten on both by 0.5
    rows = [(0.0, 3.00, 4.00), (0.25, 3.05, 3.20), (0.5, 3.10, 3.00), (0.75, 3.20, 3.05), (1.0, 3.60, 2.90)]
    return pd.DataFrame([{"code_ratio": r, "seed": s, "nl_reasoning_bpb": a + 0.01 * s, "code_bpb": b + 0.01 * s}
                         for r, a, b in rows for s in (0, 1)])


def test_the_front_holds_the_points_no_other_beats_on_both():
    points, on = front(_df(), ["code_ratio"], ("nl_reasoning_bpb", "min"), ("code_bpb", "min"))
    assert sorted(points[on]["code_ratio"]) == [0.0, 0.25, 0.5, 1.0]
    assert points.loc[points.code_ratio == 0.0, "nl_reasoning_bpb"].item() == 3.005  # the mean over seeds
    # Flip one objective to "higher is better" and the front changes with it.
    _, on = front(_df(), ["code_ratio"], ("nl_reasoning_bpb", "max"), ("code_bpb", "max"))
    assert sorted(points[on]["code_ratio"]) == [0.0, 0.25, 0.75, 1.0]  # now 0.75 beats 0.5 on both


def test_a_sweep_with_two_objectives_logs_the_front_on_its_parent(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tracking(uri):  # puts back MLFLOW_TRACKING_URI, which later tests' subprocesses would inherit
        mlflow.create_experiment("two", artifact_location=(tmp_path / "artifacts").as_uri())
        mlflow.set_experiment("two")
        with mlflow.start_run() as run:
            log_summary(_df(), ["code_ratio"], "nl_reasoning_bpb", "min", pareto=("code_bpb", "min"))
    client = mlflow.MlflowClient(uri)
    data = client.get_run(run.info.run_id).data
    assert data.tags["pareto_front"] == "code_ratio=0; code_ratio=0.25; code_ratio=0.5; code_ratio=1"
    assert "Pareto front of nl_reasoning_bpb and code_bpb (4 of 5 points" in data.tags["mlflow.note.content"]
    assert {"pareto.png", "pareto.json"} <= {f.path for f in client.list_artifacts(run.info.run_id)}
    assert "best_code_ratio_code_bpb" in data.metrics  # the second objective's own optimum too
