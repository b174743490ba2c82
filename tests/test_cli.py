"""What a user typing `python sweeps/ratio.py ...` sees: help, dry runs, bad input."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import one_line_error

pytestmark = pytest.mark.usefixtures("prepared")  # runs sweep scripts: the data is prepared first (conftest)

ROOT = Path(__file__).resolve().parents[1]


def ratio(*args: str, timeout: int = 120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "sweeps/ratio.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, **kw)


def test_help_explains_the_flags():
    out = ratio("--help").stdout
    for flag in ("--preset", "--ratios", "--search", "--seeds", "--storage", "--experiment", "--dry-run", "--resume"):
        assert flag in out


@pytest.mark.parametrize("script,args", [("ratio", ["--ratios", "abc"]), ("ratio", ["--help"]),
                                         ("recipe", ["--preset", "smoke", "--dry-run"]),
                                         ("synthetic", ["--preset", "smoke", "--dry-run"])])
def test_flags_are_answered_before_ray_mlflow_or_torch_are_imported(script, args, tmp_path):
    """--help, --dry-run and bad input take about a second: the heavy libraries load only
    once there is a sweep to run (sweeps/plan.py holds everything checked before)."""
    code = (f"import runpy, sys; sys.argv = {[f'sweeps/{script}.py', *args, '--storage', str(tmp_path)]!r}\n"
            f"try:\n    runpy.run_path('sweeps/{script}.py', run_name='__main__')\n"
            "except SystemExit as e:\n"
            "    print('exit', e.code, [m for m in ('ray', 'mlflow', 'torch', 'transformers') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("exit") and last.endswith("[]"), done.stdout[-1000:] + done.stderr[-1000:]


def test_dry_run_prints_the_papers_grid_and_trains_nothing(tmp_path):
    done = ratio("--preset", "smoke", "--seeds", "2", "--dry-run", "--storage", str(tmp_path))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[-1].startswith("12 trials")
    assert not (tmp_path / "mlflow.db").exists()


@pytest.mark.parametrize("args, named", [
    (["--ratios", "0,1.5"], "1.5"),
    (["--ratios", "-0.25"], "-0.25"),
    (["--ratios", ","], "empty"),
    (["--ratios", "abc"], "'abc'"),
    (["--preset", "galaxy"], "'galaxy'"),
    (["--size", "huge"], "'huge'"),
    (["--tokens", "10"], "smaller than one batch"),
    (["--seeds", "0"], "--seeds"),
    (["--synthetic-share", "1.5"], "synthetic share 1.5"),
    (["--code-mix", "web_code:0.7,markup:0.7"], "add up to 1.4"),
    (["--code-mix", "fortran:1"], "unknown code family 'fortran'"),
    (["--ratios", "0", "--tokens", "50000000", "--no-repeat"], "--no-repeat: family text"),
    (["--eval-tasks", "piqa,fortune"], "'fortune'"),
    (["--eval-suite", "galaxy"], "'galaxy'"),
    (["--eval-limit", "-1"], "eval_limit"),
    (["--metric", "accuracy"], "unknown --metric 'accuracy'"),
    (["--metric", "nl_reasoning", "--eval-suite", "none"], "--eval-suite none"),
    (["--metric", "world_knowledge", "--eval-tasks", "piqa"], "its benchmarks do not include it"),
    (["--metric", "code_pass1"], "needs --allow-code-execution"),
    (["--asha"], "add --search optuna"),
    (["--search", "optuna", "--trials", "2"], "--trials 2 is too few"),
    (["--search", "optuna", "--trials", "3", "--seeds", "4"], "at least --seeds"),
    (["--resume", "--experiment", "never-ran"], "--resume: no sweep 'never-ran'"),
    (["--pareto", "val_bpb_text"], "is --metric itself"),
    (["--pareto", "code_bpb", "--search", "optuna", "--asha"], "--asha compares trials on one metric"),
    (["--pareto", "nl_reasoning", "--eval-suite", "none"], "--eval-suite none"),
    (["--workers", "3"], "does not split over 3 workers"),
    (["--workers", "16"], "a trial needs 14.5 CPUs"),  # more than this machine has: Tune would wait forever
    (["--seeds", "20000"], "more than 10,000"),
    (["--search", "optuna", "--trials", "100000000"], "more than 10,000"),
    (["--micro-batch", "3"], "micro-batch 3 does not split a worker's 8 sequences"),
    (["--gpu-memory", "0"], "--gpu-memory must be a positive number"),
    (["--precision", "fp16"], "unknown precision 'fp16'; choose from auto, bf16, fp32"),
    (["--attention", "flash_attention_2"], "flash"),
    (["--loss-kernel", "fused"], "liger-kernel's GPU kernel"),
    (["--preset", "paper-2.8b", "--workers", "1", "--gpu-memory", "24"], "even at micro-batch 1"),
    (["--preset", "paper-470m", "--micro-batch", "64"], "at micro-batch 64 needs"),
])
@pytest.mark.parametrize("dry", [False, True], ids=["run", "dry-run"])
def test_bad_input_is_one_line_naming_the_value_before_ray_starts(args, named, dry, tmp_path):
    """A dry run is the run's pre-flight: it refuses what the run refuses, with the same line."""
    if "16" in args and (os.cpu_count() or 1) >= 15:
        pytest.skip("this machine holds 16 workers at 0.9 CPU")
    done = ratio("--preset", "smoke", "--storage", str(tmp_path), *args, *(["--dry-run"] if dry else []))
    one_line_error(done, named)  # on a fresh machine after a line per package the data check fetches
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "tune").exists()


@pytest.mark.slow  # prepares the study's 32k-token vocabulary once (about a minute on a fresh machine)
@pytest.mark.parametrize("preset, size", [("paper-470m", "470m"), ("paper-2.8b", "2.8b")])
def test_a_dry_run_of_the_study_presets_prints_a_plan_that_fits_80_gib(preset, size, tmp_path):
    done = ratio("--preset", preset, "--dry-run", "--storage", str(tmp_path), timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["size", "GPUs"])
    names = [c.strip() for c in lines[header].split("  ") if c.strip()]
    row = dict(zip(names, lines[header + 1].split(), strict=True))
    assert row["size"] == size and row["sharding"] == "fsdp" and row["precision"] == "bf16"
    assert int(row["micro-batch"]) * int(row["accumulation"]) == 64  # 512 sequences over 8 GPUs
    assert float(row["peak GiB/GPU"]) <= float(row["of GiB"]) == 71.0  # 80 GiB less the plan's reserve
    assert "GPU-hours" in lines[header + 2] and lines[-1].startswith("6 trials")


def test_unwritable_storage_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    target = locked / "runs"
    if os.access(locked, os.W_OK):  # root ignores permission bits: use a path under a file
        (tmp_path / "a-file").write_text("")
        target = tmp_path / "a-file" / "runs"
    done = ratio("--preset", "smoke", "--storage", str(target))
    one_line_error(done, str(target))


def test_a_tracking_server_that_does_not_answer_is_refused_in_seconds(tmp_path):
    import socket
    import time
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    done = ratio("--preset", "smoke", "--storage", str(tmp_path),
                 env={**os.environ, "MLFLOW_TRACKING_URI": f"http://127.0.0.1:{port}"})
    assert done.returncode == 2 and time.monotonic() - start < 60
    assert len(done.stderr.strip().splitlines()) == 1
    assert f"MLflow tracking server http://127.0.0.1:{port} does not answer" in done.stderr


@pytest.mark.parametrize("args, named", [
    (["--winrate-baseline", "text_only/none"], "no judge"),
    (["--winrate-baseline", "poetry/none", "--judge", "http://127.0.0.1:9/v1"], "'poetry/none' is not a variant"),
    (["--winrate-baseline", "text_only/none", "--judge", "http://127.0.0.1:9/v1"], "does not answer"),
    (["--judge", "http://127.0.0.1:9/v1"], "--judge needs --winrate-baseline"),
    (["--winrate-baseline", "text_only/none", "--judge", "http://127.0.0.1:9/v1", "--winrate-prompts", "poems"],
     "'poems'"),
])
def test_a_recipe_sweeps_bad_win_rate_settings_are_one_line_before_training(args, named, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CODEMIX_JUDGE")}
    done = subprocess.run([sys.executable, "sweeps/recipe.py", "--preset", "smoke", "--storage", str(tmp_path),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    one_line_error(done, named)
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "tune").exists()
