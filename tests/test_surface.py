"""The surrogate over two axes finds a planted bowl's bottom and predicts trials it has not seen."""

import numpy as np
import pytest

from sweeps.surface import fit_surface

pytestmark = pytest.mark.usefixtures("prepared")  # runs sweep scripts: the data is prepared first (conftest)


def test_a_planted_bowl_over_the_plane_is_found():
    rng = np.random.default_rng(1)
    a, b = np.meshgrid([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.3, 0.6, 1.0])
    a, b = a.ravel(), b.ravel()
    y = (a - 0.4) ** 2 + 0.5 * (b - 0.7) ** 2 + rng.normal(0, 0.005, a.size)
    s = fit_surface(a, b, y, "min")
    assert abs(s.best[0] - 0.4) <= 0.1 and abs(s.best[1] - 0.7) <= 0.15
    assert s.loo_spearman > 0.8 and s.loo_mae < 0.05


def test_one_value_of_an_axis_is_no_plane():
    with pytest.raises(ValueError, match="two values of each axis"):
        fit_surface([0, 0.5, 1], [0.2, 0.2, 0.2], [1, 2, 3], "min")


def test_a_two_numeric_axis_sweep_logs_the_surface_on_its_parent_run(tmp_path):
    import mlflow
    import pandas as pd

    from sweeps.summary import log_summary
    from sweeps.tracking import tracking
    rng = np.random.default_rng(2)
    a, b = np.meshgrid([0.0, 0.25, 0.5, 0.75, 1.0], [0.0, 0.5, 1.0])
    df = pd.DataFrame({"code_ratio": a.ravel(), "synthetic_share": b.ravel(), "seed": 0})
    df["val_bpb_text"] = 3 + (df.code_ratio - 0.3) ** 2 + 0.2 * (df.synthetic_share - 0.5) ** 2 \
        + rng.normal(0, 0.003, len(df))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with tracking(uri):  # puts back MLFLOW_TRACKING_URI, which later tests' subprocesses would inherit
        mlflow.create_experiment("plane", artifact_location=(tmp_path / "artifacts").as_uri())  # not ./mlruns
        mlflow.set_experiment("plane")
        with mlflow.start_run() as run:
            log_summary(df, ["code_ratio", "synthetic_share"], "val_bpb_text", "min")
    client = mlflow.MlflowClient(uri)
    logged = client.get_run(run.info.run_id).data
    assert abs(logged.metrics["surface_best_code_ratio_val_bpb_text"] - 0.3) <= 0.1
    assert "surface_loo_mae_val_bpb_text" in logged.metrics
    assert "Over the plane of code ratio x synthetic share" in logged.tags["mlflow.note.content"]
    assert "surface_val_bpb_text.png" in {f.path for f in client.list_artifacts(run.info.run_id)}
