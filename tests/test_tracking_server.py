"""A sweep against a real `mlflow server` on 127.0.0.1, stopped and restarted mid-sweep; the
runs read back with MlflowClient and looked at in the MLflow UI in headless Chromium.

The sweep runs as a user runs it (`python sweeps/ratio.py`, MLFLOW_TRACKING_URI set). Once
MLflow has its first metrics the server is stopped, by its process id, until the sweep says
so, then started again on the same port and database: training goes on, the sweep finishes,
and `python -m sweeps.sync` logs what MLflow missed from Tune's records, once.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest

from conftest import MlflowServer
from helpers import wait_until

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]
RATIOS = (0.0, 0.5, 1.0)
EXPERIMENT = "served"


def _logged(client: mlflow.MlflowClient) -> bool:
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return False
    runs = client.search_runs([exp.experiment_id], "tags.trial_id != ''")
    return any("loss" in r.data.metrics for r in runs)


@pytest.fixture(scope="module")
def served(tmp_path_factory, prepared):
    folder = tmp_path_factory.mktemp("served")
    server = MlflowServer(folder).start()
    env = {**os.environ, "MLFLOW_TRACKING_URI": server.uri, "RAY_ADDRESS": "local", "PYTHONUNBUFFERED": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    log_path = folder / "sweep.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "sweeps/ratio.py", "--preset", "smoke", "--ratios", ",".join(map(str, RATIOS)),
             "--workers", "1", "--eval-suite", "none", "--storage", str(folder / "runs"), "--experiment", EXPERIMENT],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        client = mlflow.MlflowClient(server.uri)
        wait_until(lambda: _logged(client), 300, "metrics in MLflow", proc)
        server.stop()  # mid-sweep: trials are training
        wait_until(lambda: "did not answer" in log_path.read_text(), 120, "word from the sweep that MLflow is down", proc)
        time.sleep(5)
        server.start()
        proc.wait(timeout=600)
        yield {"server": server, "folder": folder, "storage": folder / "runs", "env": env, "rc": proc.returncode,
               "log": log_path.read_text(), "client": mlflow.MlflowClient(server.uri)}
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        server.stop()


def test_training_goes_on_while_the_tracking_server_is_down(served):
    assert served["rc"] == 0, served["log"][-3000:]
    assert "did not answer" in served["log"] and "training goes on" in served["log"]
    assert re.search(r"\d+ trial events did not reach .*python -m sweeps.sync", served["log"])
    assert "The optimum per metric" in served["log"]
    # One line per trial started and finished, with its point and metrics; the Train workers' own
    # logs and Tune's configuration boxes stay out of the terminal without --verbose.
    finished = [line for line in served["log"].splitlines() if line.startswith("[sweep] finished code_ratio=")]
    assert len(finished) == len(RATIOS) and all("tokens/s: val_bpb_text " in line for line in finished)
    assert "Reporting training result" not in served["log"] and "Trial status" not in served["log"]


def _sync(served) -> str:
    done = subprocess.run([sys.executable, "-m", "sweeps.sync", "--storage", str(served["storage"]),
                           "--experiment", EXPERIMENT], cwd=ROOT, env=served["env"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_sync_logs_what_mlflow_missed_and_nothing_twice(served):
    from ray.tune import ExperimentAnalysis

    from sweeps.status import trial_results
    from sweeps.tracking import result_metrics
    first = _sync(served)
    missed = int(re.search(r"(\d+) metric values logged", first).group(1))
    assert missed > 0, first  # the outage cost MLflow some reports
    client = served["client"]
    sweep = json.loads((served["storage"] / f"{EXPERIMENT}.sweep.json").read_text())
    for trial in ExperimentAnalysis(sweep["tune_path"]).trials:
        [run] = client.search_runs([client.get_experiment_by_name(EXPERIMENT).experiment_id],
                                   f"tags.trial_id = '{trial.trial_id}'")
        want = {(m.key, m.step, m.value) for r in trial_results(trial) for m in result_metrics(r, 0)}
        have = {(m.key, m.step, m.value) for key in {k for k, _, _ in want}
                for m in client.get_metric_history(run.info.run_id, key)}
        assert want <= have  # every value Tune recorded, at its step
        assert run.info.status == "FINISHED"
    assert "0 metric values logged" in _sync(served)


def test_runs_read_back_through_the_server(served):
    client = served["client"]
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([exp.experiment_id])
    [parent] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert sorted(c.info.run_name for c in children) == [f"code_ratio={r:g} seed=0" for r in RATIOS]
    note = parent.data.tags["mlflow.note.content"]
    assert "val_bpb_text" in note and ("95% interval" in note or "no optimum can be located" in note)
    assert parent.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    png = client.download_artifacts(parent.info.run_id, "metrics_vs_code_ratio.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "Debian's chromium and chromium-driver are needed: `make test` installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1600,1000"):
        options.add_argument(flag)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def _text_appears(chrome, texts, seconds=60) -> str:
    deadline = time.monotonic() + seconds
    body = ""
    while time.monotonic() < deadline:
        body = chrome.find_element("tag name", "body").text
        if all(t in body for t in texts):
            return body
        time.sleep(1)
    raise AssertionError(f"{[t for t in texts if t not in body]} not on the page; it shows:\n{body[:2000]}")


def test_the_mlflow_ui_shows_the_sweep_as_training_runs(served, browser):
    """What a user sees: the experiment as model-training runs, the sweep's parent run, its
    children named by their points once expanded, the optimum in the parent's description,
    the plot among its artefacts. Screenshots are saved beside the test's other output."""
    client, uri = served["client"], served["server"].uri
    exp = client.get_experiment_by_name(EXPERIMENT)
    [parent] = [r for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" not in r.data.tags]
    shots, view = served["folder"], "?workflowType=machine_learning"  # the link the sweep prints
    browser.get(f"{uri}/#/experiments/{exp.experiment_id}{view}")
    _text_appears(browser, [parent.info.run_name])
    assert f"/experiments/{exp.experiment_id}/runs" in browser.current_url  # runs, not the GenAI overview
    browser.find_element("css selector", f"[row-id='{parent.info.run_id}'] button[data-component-id$="
                                         "'runnamecellrenderer.tsx_46']").click()  # the parent's expander
    _text_appears(browser, [f"code_ratio={r:g} seed=0" for r in RATIOS])
    browser.save_screenshot(str(shots / "mlflow-runs.png"))
    browser.get(f"{uri}/#/experiments/{exp.experiment_id}/runs/{parent.info.run_id}{view}")
    first_sentence = parent.data.tags["mlflow.note.content"].split("\n")[0]
    _text_appears(browser, ["Description", first_sentence[:80]])
    browser.save_screenshot(str(shots / "mlflow-parent.png"))
    browser.get(f"{uri}/#/experiments/{exp.experiment_id}/runs/{parent.info.run_id}/artifacts{view}")
    _text_appears(browser, ["metrics_vs_code_ratio.png"])
    browser.find_element("xpath", "//*[text()='metrics_vs_code_ratio.png']").click()
    deadline = time.monotonic() + 30
    while not any(browser.execute_script("return arguments[0].naturalWidth", img) > 1000
                  for img in browser.find_elements("tag name", "img")):
        assert time.monotonic() < deadline, "the plot did not load in the artefact viewer"
        time.sleep(1)
    browser.save_screenshot(str(shots / "mlflow-plot.png"))
    print(f"screenshots: {shots}/mlflow-runs.png, mlflow-parent.png, mlflow-plot.png")
