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
BENCHES.append("bench.gpu_step")


@pytest.mark.parametrize("name", BENCHES)
def test_every_bench_answers_help(name):
    done = subprocess.run([sys.executable, "-m", name, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "usage:" in done.stdout, done.stderr[-2000:]


def test_results_are_stamped_with_commit_and_date(tmp_path, capsys):
    saved = json.loads(report({"ratio": 0.5}, "probe", folder=tmp_path).read_text())
    assert saved["ratio"] == 0.5 and saved["stamp"]["date"][:4].isdigit() and saved["stamp"]["commit"] != "unknown"
    assert capsys.readouterr().out.startswith("ratio")


def test_the_gpu_step_bench_runs_its_cases_on_cpu_without_ray(tmp_path):
    """bench/gpu_step.py runs as a script (`python bench/gpu_step.py`, as on a GPU machine
    without Ray): the base case and each lever, one JSON line at the end."""
    argv = ["bench/gpu_step.py", "--device", "cpu", "--sizes", "smoke", "--steps", "1", "--levers",
            "activation checkpointing,eager attention,full logits,foreach AdamW", "--results", str(tmp_path)]
    code = (f"import runpy, sys\nsys.argv = {argv!r}\n"
            "runpy.run_path('bench/gpu_step.py', run_name='__main__')\n"
            "assert not [m for m in sys.modules if m == 'ray' or m.startswith('ray.')], 'imported ray'")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    last = json.loads(done.stdout.strip().splitlines()[-1])
    assert last["smoke"]["tokens_per_s"] > 0 and last["smoke"]["micro_batch"] == 2
    for lever in ("activation checkpointing", "eager attention", "full logits", "foreach AdamW"):
        assert last[f"smoke {lever}"]["tokens_per_s_vs_base"] > 0, lever
    assert json.loads((tmp_path / "gpu_step.json").read_text())["stamp"]["commit"]
