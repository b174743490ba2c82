"""Print a benchmark's figures, one per line, and save them to bench/results/NAME.json,
stamped with the date, the commit and the machine they came from (docs/benchmarks.md)."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def stamp() -> dict:
    """When, from which code and on what machine a figure was measured."""
    git = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True)
    return {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "commit": git.stdout.strip() or "unknown", "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "python": platform.python_version()}


def report(results: dict, name: str, folder: Path = ROOT / "bench" / "results") -> Path:
    for key, value in results.items():
        if isinstance(value, float):
            print(f"{key:<40} {value:,.3f}")
        elif not isinstance(value, (list, dict)):
            print(f"{key:<40} {value}")
    out = folder / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    when = stamp()
    out.write_text(json.dumps({"stamp": when, **results}, indent=1))
    print(f"saved {out} (commit {when['commit']}, {when['date']})")
    return out
