"""Layers only point down (pyproject.toml's import-linter contract: sweeps -> trainers ->
evaluation -> common), what runs in every trial actor loads neither MLflow nor matplotlib, and
the code is clean under the ruff rules of pyproject.toml."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_package_imports_a_layer_above_it():
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "1 kept, 0 broken" in done.stdout, done.stdout[-3000:] + done.stderr[-2000:]


def test_a_trial_and_the_sweep_watchers_do_not_load_mlflow_or_matplotlib():
    code = ("import sys, sweeps.trial, sweeps.planted, sweeps.status, sweeps.sync\n"
            "print([m for m in ('mlflow', 'matplotlib') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr[-2000:]


def test_the_code_is_lint_clean():
    done = subprocess.run([str(Path(sys.executable).parent / "ruff"), "check", "--no-cache", "."], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
