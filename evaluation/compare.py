"""The study's comparison: each variant's relative increase per category over a baseline.

    python -m evaluation.compare results.csv --baseline text_only
    python -m evaluation.compare results.csv --baseline text_only --format json

The CSV has one row per variant: a name column (`variant`, or the first column) and one
numeric column per category (nl_reasoning, world_knowledge, code_pass1, code_bpb, ...; any
numeric column counts). Per variant and column it prints the relative increase
(variant - baseline) / baseline and the ratio variant / baseline, as the study reports
"Balanced->Text vs Text-only: +8.2% NL reasoning, +4.2% knowledge, 12x code". For
bits-per-byte columns (lower is better) the increase is printed as it is: a negative change
is an improvement there.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import pandas as pd


def load(path: Path) -> tuple[pd.DataFrame, str]:
    """The table indexed by variant name; one-line ValueErrors for anything malformed."""
    if not path.is_file():
        raise ValueError(f"results file {str(path)!r} does not exist")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ValueError(f"results file {str(path)!r} is not a CSV table ({str(e).splitlines()[0]})") from None
    if df.shape[1] < 2:
        raise ValueError(f"results file {str(path)!r} needs a name column and at least one score column")
    name = "variant" if "variant" in df.columns else df.columns[0]
    if df[name].duplicated().any():
        raise ValueError(f"variant {df[name][df[name].duplicated()].iloc[0]!r} appears twice in {str(path)!r}")
    return df.set_index(name), name


def compare(df: pd.DataFrame, baseline: str, columns: list[str] | None = None) -> dict:
    """{variant: {column: {"value", "baseline", "relative", "ratio"}}} for every other variant."""
    if baseline not in df.index:
        raise ValueError(f"baseline {baseline!r} is not a variant of the table; variants: {', '.join(df.index)}")
    columns = columns or list(df.columns)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"column {missing[0]!r} is not in the table; columns: {', '.join(df.columns)}")
    values = {}
    for c in columns:
        for v in df.index:
            cell = df.at[v, c]
            try:
                values[v, c] = float(cell)
            except ValueError:
                raise ValueError(f"cell {c!r} of variant {v!r} is not a number: {cell!r}") from None
            if not math.isfinite(values[v, c]):
                raise ValueError(f"cell {c!r} of variant {v!r} is not a finite number: {cell!r}")
    out = {}
    for v in df.index:
        if v == baseline:
            continue
        out[v] = {}
        for c in columns:
            base, value = values[baseline, c], values[v, c]
            out[v][c] = {"value": value, "baseline": base,
                         "relative": (value - base) / base if base else None,
                         "ratio": value / base if base else None}
    return out


def table(result: dict, baseline: str) -> str:
    columns = list(next(iter(result.values()))) if result else []
    rows = [f"Relative increase over {baseline}: (variant - baseline) / baseline, and the ratio", "",
            "| variant | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for v, cells in result.items():
        shown = []
        for c in columns:
            r = cells[c]
            shown.append("n/a (baseline 0)" if r["relative"] is None
                         else f"{r['relative']:+.1%} ({r['ratio']:.3g}x)")
        rows.append(f"| {v} | " + " | ".join(shown) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluation.compare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path, help="CSV: a variant column and one numeric column per category")
    parser.add_argument("--baseline", required=True, help="the variant every other one is compared with")
    parser.add_argument("--columns", default="", help="comma list of columns to compare (default: all)")
    parser.add_argument("--format", choices=("table", "json"), default="table", help="output format (default table)")
    args = parser.parse_args(argv)
    try:
        df, _ = load(args.results)
        columns = [c.strip() for c in args.columns.split(",") if c.strip()] or None
        result = compare(df, args.baseline, columns)
    except ValueError as e:
        parser.exit(2, f"{parser.prog}: error: {e}\n")
    print(json.dumps({"baseline": args.baseline, "variants": result}, indent=1) if args.format == "json"
          else table(result, args.baseline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
