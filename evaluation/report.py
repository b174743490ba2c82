"""From per-item scores to a report: per task (value, standard error, n, chance, floor), per
category (the mean of its tasks), as a table or JSON, and as flat metrics for MLflow.

    report = summarise(score_items(...), floor=random_floor(...))
    print(table(report)); mlflow.log_metrics(flat(report))

Standard errors: binomial for 0/1 scores (accuracy, exact match), a bootstrap over items for
continuous ones (bits-per-byte, probabilities), where lm-eval gives none; a category's is
that of a mean of independent task means.
"""

from __future__ import annotations

import json
import math

import numpy as np

from evaluation.suites import CATEGORIES, HEADLINE, MISSING, NO_EXECUTION, Benchmark

BOOTSTRAP = 1000
# An lm-eval task of the registry reports its own metrics: the first of these it has is primary.
PREFERRED = ("acc_norm", "acc", "exact_match", "f1", "bleu", "word_perplexity")


def _stderr(values: np.ndarray, seed: int = 0) -> float:
    n = len(values)
    if n < 2:
        return float("nan")
    if set(np.unique(values)) <= {0.0, 1.0}:
        p = values.mean()
        return float(math.sqrt(p * (1 - p) / n))
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, n, size=(BOOTSTRAP, n))].mean(axis=1)
    return float(means.std(ddof=1))


def _chance(b: Benchmark, docs: list[dict]) -> dict[str, float]:
    """Chance accuracy (1 / number of choices, averaged over items) and, for benchmarks with
    unbalanced answer classes, the rate of always giving the most frequent answer; unknown
    (none given) for lm-eval's own tasks, whose documents have no common shape."""
    if b.external:
        return {}
    if not docs or "choices" not in docs[0]:
        return {"chance": 0.0}
    golds = [int(d["gold"]) for d in docs]
    out = {"chance": float(np.mean([1 / len(d["choices"]) for d in docs]))}
    if not b.balanced:
        out["majority"] = max(np.bincount(golds)) / len(golds)
    return out


def summarise(scored: dict, floor: dict | None = None) -> dict:
    """The report: {"tasks": {...}, "categories": {...}, "missing": {...}}."""
    tasks = {}
    for name, s in scored.items():
        b = s["benchmark"]
        if not s["metrics"]:
            raise ValueError(f"task {name!r} reports no per-item numeric metric")
        primary = b.primary or next((m for m in PREFERRED if m in s["metrics"]), next(iter(s["metrics"])))
        entry = {"category": b.category, "primary": primary, "n": len(s["items"]), "licence": b.licence,
                 **_chance(b, s["docs"])}
        entry.update({m: float(v.mean()) for m, v in s["metrics"].items()})
        entry["counts"] = {m: len(v) for m, v in s["metrics"].items() if len(v) != entry["n"]}  # pass1's fewer
        entry["stderr"] = {m: _stderr(v) for m, v in s["metrics"].items()}
        if floor and name in floor:
            entry["floor"] = floor[name]
        tasks[name] = entry
    executed = any("pass1" in t for t in tasks.values())
    return {"tasks": tasks, "categories": _categories(tasks),
            "missing": {**MISSING, **({} if executed else NO_EXECUTION)}}


def _categories(tasks: dict) -> dict:
    out = {}
    for cat in CATEGORIES:
        members = {n: t for n, t in tasks.items() if t["category"] == cat}
        if not members:
            continue
        by_metric: dict[str, list[str]] = {}
        for n, t in members.items():
            if t["primary"] != "bpb":
                by_metric.setdefault(HEADLINE[cat], []).append((n, t["primary"]))
            for m in ("bpb", "prob", "prob_norm"):
                if m in t:
                    by_metric.setdefault(f"{cat}_{m}", []).append((n, m))
        for key, parts in by_metric.items():
            values = [members[n][m] for n, m in parts]
            errs = [members[n]["stderr"][m] for n, m in parts]
            entry = {"value": float(np.mean(values)),
                     "stderr": float(math.sqrt(sum(e * e for e in errs)) / len(errs)),
                     "tasks": [n for n, _ in parts]}
            floors = [members[n].get("floor", {}).get(m) for n, m in parts]
            if all(f is not None for f in floors):
                entry["floor"] = float(np.mean(floors))
            out[key] = entry
    return out


def flat(report: dict) -> dict[str, float]:
    """MLflow/Tune metrics: categories and per-task metrics, each with `_stderr`; floors of
    the headline numbers as `_floor`; items scored per task as `_n`."""
    out = {}
    for key, c in report["categories"].items():
        out[key] = c["value"]
        out[f"{key}_stderr"] = c["stderr"]
        if "floor" in c:
            out[f"{key}_floor"] = c["floor"]
    for name, t in report["tasks"].items():
        out[f"{name}_n"] = t["n"]
        for m, n in t.get("counts", {}).items():
            out[f"{name}_{m}_n"] = n
        for m, se in t["stderr"].items():
            out[f"{name}_{m}"] = t[m]
            out[f"{name}_{m}_stderr"] = se
        if t["primary"] in t.get("floor", {}):
            out[f"{name}_{t['primary']}_floor"] = t["floor"][t["primary"]]
    return out


def table(report: dict) -> str:
    """A person's view: one row per task, then the categories and what is missing."""
    rows = ["| task | category | n | primary | value ± se | chance | floor | gold bpb ± se | bpb floor |",
            "|---|---|---|---|---|---|---|---|---|"]
    for name, t in report["tasks"].items():
        p = t["primary"]
        chance = _fmt(t.get("chance")) + (f" (majority {t['majority']:.3f})" if "majority" in t else "")
        floor = t.get("floor", {})
        bpb = f"{t['bpb']:.3f} ± {t['stderr']['bpb']:.3f}" if "bpb" in t else "-"
        rows.append(f"| {name} | {t['category']} | {t['n']} | {p} | {t[p]:.3f} ± {t['stderr'][p]:.3f} | "
                    f"{chance if p != 'bpb' else '-'} | {_fmt(floor.get(p))} | {bpb} | {_fmt(floor.get('bpb'))} |")
    rows += ["", "| category metric | value ± se | floor | tasks |", "|---|---|---|---|"]
    for key, c in report["categories"].items():
        rows.append(f"| {key} | {c['value']:.3f} ± {c['stderr']:.3f} | {_fmt(c.get('floor'))} | {len(c['tasks'])} |")
    rows += ["", "Not scored here:"] + [f"  {k}: {v}" for k, v in report["missing"].items()]
    rows += ["", "Licences: " + "; ".join(f"{n} {t['licence']}" for n, t in report["tasks"].items())]
    return "\n".join(rows)


def _fmt(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def to_json(report: dict) -> str:
    return json.dumps(report, indent=1, sort_keys=False)
