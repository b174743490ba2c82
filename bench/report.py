"""Print a benchmark's figures, one per line, and save them to bench/results/NAME.json."""

from __future__ import annotations

import json
from pathlib import Path


def report(results: dict, name: str) -> Path:
    for key, value in results.items():
        if isinstance(value, float):
            print(f"{key:<40} {value:,.3f}")
        elif not isinstance(value, (list, dict)):
            print(f"{key:<40} {value}")
    out = Path(__file__).resolve().parent / "results" / f"{name}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    print(f"saved {out}")
    return out
