"""Benchmark: the code sandbox's throughput and the time it takes to contain hostile programs.

    python -m bench.perf.sandbox [--repeats 3]        # saves bench/results/sandbox.json

1. Throughput on HumanEval's 164 and MBPP's 500 canonical solutions with their tests (the
   programs pass@1 runs): programs per second through `evaluation.sandbox.run_programs`
   (one batch), against the baseline of the same programs each run unconfined by a fresh
   `python -I -S` subprocess, in this process, alternated `--repeats` times; medians and
   their ratio. Every canonical solution must pass in the sandbox (the harness check).
2. Time to contain each hostile program of tests/test_sandbox.py (timeout 2 s, 256 MB):
   wall seconds from submitting it to having its result, and its status.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from bench.report import report

HOSTILE = {
    "endless_loop": "while True:\n    pass",
    "fork_bomb": "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
    "huge_allocation": "block = bytearray(20 * 2**30)",
    "write_outside": "open('/etc/codemix-escape', 'w').write('x')",
    "network": "import socket\nsocket.create_connection(('127.0.0.1', 22), timeout=2)",
    "fill_disk": "f = open('fill', 'wb')\nfor _ in range(4096):\n    f.write(b'0' * 2**20)",
    "outliving_child": "import subprocess\nsubprocess.Popen(['sleep', '60'], start_new_session=True)",
}


def canonical_programs() -> list[str]:
    from evaluation.tasks import utils
    docs = [*utils.humaneval()["validation"], *utils.mbpp()["validation"]]
    return [utils.program(d, d["target"]) for d in docs]


def unconfined(programs: list[str]) -> list[bool]:
    """The baseline: each program in a fresh isolated interpreter, no namespaces or limits."""
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, source in enumerate(programs):
            path = Path(tmp) / f"p{i}.py"
            path.write_text(source)
            done = subprocess.run([sys.executable, "-I", "-S", str(path)], cwd=tmp, capture_output=True, timeout=60)
            out.append(done.returncode == 0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from evaluation.sandbox import run_programs
    programs = canonical_programs()
    sandboxed, bare, passed = [], [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        results = run_programs(programs, timeout=10)
        sandboxed.append(time.perf_counter() - start)
        passed.append(sum(r["status"] == "passed" for r in results))
        start = time.perf_counter()
        base = unconfined(programs)
        bare.append(time.perf_counter() - start)
    failing = [i for i, r in enumerate(results) if r["status"] != "passed"]
    out = {"programs": len(programs), "canonical_passed_in_sandbox": passed[-1],
           "canonical_passed_unconfined": sum(base), "failing_in_sandbox": failing[:20],
           "sandbox_programs_per_s": len(programs) / statistics.median(sandboxed),
           "unconfined_programs_per_s": len(programs) / statistics.median(bare),
           "sandbox_over_unconfined_time": statistics.median(sandboxed) / statistics.median(bare)}
    for name, source in HOSTILE.items():
        start = time.perf_counter()
        r = run_programs([source], timeout=2, memory_mb=256, disk_mb=32)[0]
        out[f"contain_{name}_s"] = time.perf_counter() - start
        out[f"contain_{name}_status"] = r["status"]
    report(out, "sandbox")


if __name__ == "__main__":
    main()
