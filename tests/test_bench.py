"""Every benchmark stays runnable: each module of bench.perf and bench.method imports and
answers --help (benchmarks are not run by the suite; docs/benchmarks.md says how long they take)."""

import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import bench.method
import bench.perf
from bench.report import report

ROOT = Path(__file__).resolve().parents[1]
BENCHES = [f"{pkg.__name__}.{m.name}" for pkg in (bench.perf, bench.method) for m in pkgutil.iter_modules(pkg.__path__)]


@pytest.mark.parametrize("name", BENCHES)
def test_every_bench_answers_help(name):
    done = subprocess.run([sys.executable, "-m", name, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr[-2000:]


def test_results_are_stamped_with_commit_and_date(tmp_path, capsys):
    saved = json.loads(report({"ratio": 0.5}, "probe", folder=tmp_path).read_text())
    assert saved["ratio"] == 0.5 and saved["stamp"]["date"][:4].isdigit() and saved["stamp"]["commit"] != "unknown"
    assert capsys.readouterr().out.startswith("ratio")
