"""The mixture sweep end to end (sweeps/mixture.py) on real parts: a local Ray cluster, Ray
Train, Tune and a sqlite MLflow store; a swarm of smoke mixtures over three parts, the laws
fitted to the held-out text bits-per-byte and the proposal read back from the parent run; the
proposal then trained against the prior with two paired seeds, and three of the mixtures at
the next size, their rankings compared."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pytest
from helpers import parent_and_children

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prepared")]
ROOT = Path(__file__).resolve().parents[1]
PARTS = ("text", "web_code", "markup")


def test_a_mixture_search_trains_a_swarm_proposes_a_mixture_and_checks_it_by_training(tmp_path):
    done = subprocess.run([sys.executable, "sweeps/mixture.py", "--preset", "smoke", "--parts", ",".join(PARTS),
                           "--trials", "8", "--workers", "1", "--eval-suite", "none", "--metric", "val_bpb_text",
                           "--validate", "2", "--transfer-size", "1m", "--transfer-mixtures", "3",
                           "--storage", str(tmp_path), "--experiment", "mix"],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "The proposed mixture" in done.stdout and "Validated over 2 paired seeds" in done.stdout
    assert "At 1m, 3 mixtures: decision accuracy" in done.stdout
    client = mlflow.MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    [parent], children = parent_and_children(client, "mix")
    assert len(children) == 8
    for child in children:  # named by its mixture; the shares asked for and the ones trained on
        name = child.info.run_name
        assert name.startswith("mixture=text") and "-web" in name and "-mark" in name, name
        asked = float(child.data.params["share_web_code"])
        assert child.data.metrics["realized_share_web_code"] == pytest.approx(asked, abs=0.02)
        assert "val_bpb_text" in child.data.metrics
    m = parent.data.metrics
    shares = [m[f"best_share_{p}"] for p in PARTS]
    assert sum(shares) == pytest.approx(1.0) and all(m[f"best_share_{p}_low"] <= m[f"best_share_{p}"]
                                                     <= m[f"best_share_{p}_high"] for p in PARTS)
    assert parent.data.params["mixture_law"] in ("linear", "log_linear", "lightgbm", "gp", "dml")
    proposal = json.loads(Path(mlflow.artifacts.download_artifacts(run_id=parent.info.run_id,
                                                                   artifact_path="best_mixture.json",
                                                                   tracking_uri=client.tracking_uri)).read_text())
    assert proposal["trials"] == 8 and set(proposal["scores"]) == {"linear", "log_linear", "lightgbm", "gp", "dml"}
    assert {"metric_vs_share.png", "transfer_smoke_to_1m.png"} <= {a.path for a in client.list_artifacts(parent.info.run_id)}
    # validated: both mixtures trained with seeds 0 and 1 in their own sweep, the gain on the search's parent
    [check], trained = parent_and_children(client, "mix-validate")
    assert sorted((c.data.params["mixture"], c.data.params["seed"]) for c in trained) == sorted(
        (m, s) for m in {c.data.params["mixture"] for c in trained} for s in ("0", "1"))
    assert parent.data.tags["validate_run_id"] == check.info.run_id
    assert m["validate_gain_val_bpb_text_low"] <= m["validate_gain_val_bpb_text"] <= m["validate_gain_val_bpb_text_high"]
    assert m["validate_predicted_val_bpb_text"] == pytest.approx(m["predicted_val_bpb_text"])
    # transferred: three of the searched mixtures (the best and the worst among them) at 1m
    [_], larger = parent_and_children(client, "mix-transfer-1m")
    assert len(larger) == 3 and all(c.data.params["model_size"] == "1m" for c in larger)
    means = {}
    for c in children:
        means.setdefault(c.data.params["mixture"], c.data.metrics["val_bpb_text"])
    assert {min(means, key=means.get), max(means, key=means.get)} <= {c.data.params["mixture"] for c in larger}
    assert m["transfer_pairs"] + m["transfer_ties"] == 3 and -1 <= m["transfer_spearman"] <= 1
