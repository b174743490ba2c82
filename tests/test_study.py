"""The whole study in one command (sweeps/study.py), as a user runs it: real Ray, Tune, MLflow
and training at the smoke scale, killed after its first experiment and resumed; the report
published with a verdict per claim, one MLflow parent run linking the experiments."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
@pytest.mark.slow
def test_the_study_killed_after_an_experiment_resumes_without_training_it_again_and_publishes_verdicts(tmp_path):
    storage, publish = tmp_path / "runs", tmp_path / "published"
    argv = [sys.executable, "sweeps/study.py", "--scale", "smoke", "--experiments", "ratio,synthetic,cooldown",
            "--storage", str(storage), "--experiment", "st", "--publish", str(publish)]
    state = storage / "st.study.json"
    log = open(tmp_path / "first.log", "w")
    first = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 600
        while time.time() < deadline and first.poll() is None:
            if state.exists() and json.loads(state.read_text())["experiments"].get("synthetic"):
                break
            time.sleep(1)
        assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # the study, its running sweep and that sweep's Ray: one group
        first.wait()
    stopped = json.loads(state.read_text())
    assert stopped["experiments"]["ratio"]["status"] == "done"
    assert stopped["experiments"]["synthetic"]["status"] == "started"

    done = subprocess.run([*argv, "--resume"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "[study] ratio: finished before" in done.stdout and "sweeps/ratio.py" not in done.stdout.split(
        "finished before")[1]

    import mlflow
    client = mlflow.MlflowClient(f"sqlite:///{storage / 'mlflow.db'}")
    ratio = client.get_experiment_by_name("st-ratio")
    trained = [r for r in client.search_runs([ratio.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    assert len(trained) == 6  # 3 ratios x 2 seeds, none trained twice

    report = json.loads((publish / "study-smoke" / "study.json").read_text())
    ids = {r["id"] for r in report["claims"]}
    assert {"best_ratio_nl", "nl_25_vs_0", "code_100_vs_25", "syn_nl", "cool_nl"} <= ids
    assert all(r["verdict"] in ("agrees", "disagrees", "inconclusive at this scale", "not measured")
               for r in report["claims"])
    measured = [r for r in report["claims"] if r["id"] == "nl_25_vs_0" and r["metric"] == "val_bpb_text"][0]
    assert measured["value"] is not None and measured["low"] < measured["value"] < measured["high"]
    assert report["trials_reused"] == 2  # synthetic's share 0: the code-ratio experiment's 25%, 2 seeds
    assert report["stages_reused"] >= 2  # the text and code cooldowns of a seed share their earlier stages
    page = (publish / "study-smoke.md").read_text()
    assert "| claim |" in page and "python sweeps/study.py --scale smoke" in page and report["commit"] in page
    assert (publish / "study-smoke" / "metrics_vs_code_ratio.png").stat().st_size > 5_000

    study = client.get_run(json.loads(state.read_text())["study_run_id"])
    assert study.data.params["run_ratio"] == stopped["experiments"]["ratio"]["parent_run_id"]
    assert "**The study at scale smoke**" in study.data.tags["mlflow.note.content"]
    artifacts = {a.path for a in client.list_artifacts(study.info.run_id)}
    assert {"study.md", "study.json", "metrics_vs_code_ratio.png"} <= artifacts
    assert client.get_run(study.data.params["run_cooldown"]).data.tags["study_run_id"] == study.info.run_id
