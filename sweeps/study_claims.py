"""The paper's claims (shared/PAPER.md), measured on a study's results, each with a verdict.

    rows = claims(frames, optima, own_size="1m", other_size="4m")   # frames: experiment -> results.csv rows

Every claim is measured in the paper's own form: a relative increase `(with - without) /
without` ("+3.4% NL reasoning"), a ratio `with / without` ("12x code"), or an optimum ("25%
code is best"), paired by seed, with a 95% t-interval over the seeds' paired values (a
ratio's on the log scale). It is measured on the study's metrics (benchmark accuracy, pass@1)
and on the small-model ones (bits-per-byte of the gold answers and of held-out text or code),
where lower is better: there the same form is taken of the improvement, `(without - with) /
without` and `without / with`, so a positive number means the same as the paper's.

A verdict is on the direction, which is what a study at another scale can test: *agrees*
when the interval lies on the paper's side of no change, *disagrees* when it lies on the
other side, *inconclusive at this scale* when it spans no change (or when there is no
interval: one seed, or a score of zero to divide by). The reason says whether the paper's
number itself is inside the interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

# Each category's metrics: the study's own first, then the small-model ones; and which way is better.
CATEGORIES = {
    "NL reasoning": (("nl_reasoning", "max"), ("nl_reasoning_bpb", "min"), ("val_bpb_text", "min")),
    "world knowledge": (("world_knowledge", "max"), ("world_knowledge_bpb", "min")),
    "code": (("code_pass1", "max"), ("code_bpb", "min"), ("val_bpb_code", "min")),
}
STUDY_METRICS = {"nl_reasoning", "world_knowledge", "code_pass1", "win_rate"}
VERDICTS = ("agrees", "disagrees", "inconclusive at this scale", "not measured")


def paired(a: pd.Series, b: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Two seed-indexed series on their common seeds."""
    seeds = sorted(set(a.index) & set(b.index))
    return a.loc[seeds].to_numpy(float), b.loc[seeds].to_numpy(float)


def t_interval(values: np.ndarray) -> tuple[float, float | None, float | None]:
    values = np.asarray(values, float)
    mean = float(values.mean())
    if len(values) < 2:
        return mean, None, None
    half = float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
    return mean, mean - half, mean + half


def relative(with_: pd.Series, without: pd.Series, mode: str) -> dict:
    """The paired relative increase (or, for a lower-is-better metric, improvement)."""
    w, wo = paired(with_, without)
    if not len(w):
        return {"value": None, "reason": "no seed was trained for both"}
    if np.any(wo == 0):
        return {"value": None, "reason": "the score to compare against is 0 at this scale"}
    changes = (w - wo) / wo if mode == "max" else (wo - w) / wo
    value, low, high = t_interval(changes)
    return {"value": value, "low": low, "high": high, "seeds": len(w)}


def ratio(with_: pd.Series, without: pd.Series, mode: str) -> dict:
    w, wo = paired(with_, without)
    if not len(w):
        return {"value": None, "reason": "no seed was trained for both"}
    if np.any(w <= 0) or np.any(wo <= 0):
        return {"value": None, "reason": "a score is 0 at this scale, so no ratio"}
    logs = np.log(w / wo) if mode == "max" else np.log(wo / w)
    value, low, high = t_interval(logs)
    return {"value": math.exp(value), "low": None if low is None else math.exp(low),
            "high": None if high is None else math.exp(high), "seeds": len(w)}


def _fmt(form: str, v: float) -> str:
    return f"{v:+.1%}" if form in ("relative", "difference") else f"{v:.2f}x" if form == "ratio" else f"{v:.2f}"


def verdict(form: str, paper: float | None, m: dict) -> tuple[str, str]:
    """(verdict, reason) for a relative or ratio measurement against the paper's number (None:
    the paper says only that it is better)."""
    if m.get("value") is None:
        return "inconclusive at this scale", m.get("reason", "not measured")
    neutral = 1.0 if form == "ratio" else 0.0
    shown = _fmt(form, m["value"])
    if m.get("low") is None:
        return "inconclusive at this scale", f"{shown} from one seed: no interval"
    span = f"{_fmt(form, m['low'])} to {_fmt(form, m['high'])}"
    side = 1 if paper is None or paper > neutral else -1
    holds = paper is None or m["low"] <= paper <= m["high"]
    if (side > 0 and m["low"] > neutral) or (side < 0 and m["high"] < neutral):
        size = ("" if paper is None else "and holds the paper's number") if holds else \
            "but the paper's number is outside it"
        return "agrees", f"{shown} (95% {span}) is on the paper's side of no change {size}".strip()
    if (side > 0 and m["high"] < neutral) or (side < 0 and m["low"] > neutral):
        theirs = "the paper's" if paper is None else f"the paper's {_fmt(form, paper)}"
        return "disagrees", f"{shown} (95% {span}) is on the other side of no change from {theirs}"
    return "inconclusive at this scale", f"{shown} (95% {span}) spans no change"


def optimum_verdict(paper: float, o: dict | None) -> tuple[str, str, dict]:
    """An optimum (sweeps/optimum.py's best code ratio and 95% interval) against the paper's:
    agrees when the interval holds the paper's ratio and is interior (it reaches neither end
    of the swept ratios: some code, and not all, is best) and narrower than half the range."""
    if not o:
        return "not measured", "no optimum was located for this metric", {"value": None}
    m = {"value": o["best"], "low": o["low"], "high": o["high"]}
    span = f"{o['low']:.2f} to {o['high']:.2f}"
    if not o["low"] <= paper <= o["high"]:
        return "disagrees", f"best at {o['best']:.2f} (95% {span}): the paper's {paper:.2f} is outside", m
    if not o.get("interior", o["low"] > 0 and o["high"] < 1):
        return "inconclusive at this scale", (f"best at {o['best']:.2f} but the 95% interval {span} reaches the end of "
                                              "the swept ratios, so the optimum may be there"), m
    if o["high"] - o["low"] > 0.5:
        return "inconclusive at this scale", f"best at {o['best']:.2f} but the 95% interval {span} spans most ratios", m
    return "agrees", f"best at {o['best']:.2f} (95% {span}), which holds the paper's {paper:.2f}", m


def series(df: pd.DataFrame | None, metric: str, **where) -> pd.Series:
    """A metric by seed over the rows matching `where` (column == value)."""
    if df is None or metric not in df:
        return pd.Series(dtype=float)
    keep = pd.Series(True, index=df.index)
    for column, value in where.items():
        if column not in df:
            return pd.Series(dtype=float)
        keep &= df[column].astype(str) == str(value) if isinstance(value, str) else np.isclose(
            pd.to_numeric(df[column], errors="coerce"), value)
    rows = df[keep].dropna(subset=[metric])
    return rows.groupby("seed")[metric].mean()


def _compare(claim: dict, category: str, with_: dict, without: dict, frames_with, frames_without) -> list[dict]:
    out = []
    for metric, mode in CATEGORIES[category]:
        a, b = series(frames_with, metric, **with_), series(frames_without, metric, **without)
        if a.empty or b.empty:
            out.append({**claim, "metric": metric, "value": None, "verdict": "not measured",
                        "reason": f"{metric} was not scored in this run"})
            continue
        m = (relative if claim["form"] == "relative" else ratio)(a, b, mode)
        v, reason = verdict(claim["form"], claim["paper"], m)
        out.append({**claim, "metric": metric, **m, "verdict": v, "reason": reason})
    return out


def claims(frames: dict[str, pd.DataFrame], optima: dict, own_size: str, other_size: str) -> list[dict]:
    """Every claim measurable from the experiments run, one row per (claim, metric)."""
    ratio_df = frames.get("ratio")
    recipes = pd.concat([f for k in ("init", "cooldown", "recipe") if (f := frames.get(k)) is not None]) \
        if any(k in frames for k in ("init", "cooldown", "recipe")) else None
    rows: list[dict] = []

    def claim(cid, section, text, paper, form, category):
        return {"id": cid, "section": section, "claim": text, "paper": paper, "form": form, "category": category}

    if ratio_df is not None:
        for metric, _ in CATEGORIES["NL reasoning"]:
            v, reason, m = optimum_verdict(0.25, optima.get(metric))
            rows.append({**claim("best_ratio_nl", "§3.3", "25% code is best for NL reasoning", 0.25, "optimum",
                                 "NL reasoning"), "metric": metric, **m, "verdict": v, "reason": reason})
        for cid, text, paper, category, w, wo, form in (
                ("nl_25_vs_0", "25% code: +3.4% NL reasoning over 0%", 0.034, "NL reasoning", 0.25, 0.0, "relative"),
                ("nl_100_vs_0", "100% code: -18.3% NL reasoning", -0.183, "NL reasoning", 1.0, 0.0, "relative"),
                ("know_25_vs_0", "25% code: -3.4% world knowledge", -0.034, "world knowledge", 0.25, 0.0, "relative"),
                ("know_75_vs_0", "75% code: -31% world knowledge", -0.31, "world knowledge", 0.75, 0.0, "relative"),
                ("know_100_vs_0", "100% code: -86% world knowledge", -0.86, "world knowledge", 1.0, 0.0, "relative"),
                ("code_100_vs_25", "code performance 2.6x from 25% to 100% code", 2.6, "code", 1.0, 0.25, "ratio")):
            rows += _compare(claim(cid, "§3.3", text, paper, form, category), category,
                             {"code_ratio": w}, {"code_ratio": wo}, ratio_df, ratio_df)
    if recipes is not None:
        for cid, text, paper, category, form in (
                ("init_nl", "Balanced->Text vs Text-only: +8.2% NL reasoning", 0.082, "NL reasoning", "relative"),
                ("init_know", "Balanced->Text vs Text-only: +4.2% world knowledge", 0.042, "world knowledge",
                 "relative"),
                ("init_code", "Balanced->Text vs Text-only: 12x code", 12.0, "code", "ratio")):
            rows += _compare(claim(cid, "§3.1", text, paper, form, category), category,
                             {"variant": "balanced_to_text/none"}, {"variant": "text_only/none"}, recipes, recipes)
        for cid, text, paper, category in (
                ("cool_nl", "a cooldown with code: +3.6% NL reasoning over no cooldown", 0.036, "NL reasoning"),
                ("cool_know", "a cooldown with code: +10.1% world knowledge", 0.101, "world knowledge"),
                ("cool_code", "a cooldown with code: +20% code", 0.20, "code")):
            rows += _compare(claim(cid, "§3.5", text, paper, "relative", category), category,
                             {"variant": "balanced_to_text/code"}, {"variant": "balanced_to_text/none"},
                             recipes, recipes)
    if (init := frames.get("init")) is not None:
        rows.append(_winrate(init))
    if recipes is not None and "balanced_to_text/code" in set(recipes["variant"]) and recipes["variant"].nunique() > 1:
        rows += _recipe_best(recipes)
    if (syn := frames.get("synthetic")) is not None and ratio_df is not None:
        share = float(pd.to_numeric(syn["synthetic_share"]).min())
        for cid, text, paper, category in (
                ("syn_nl", f"synthetic code ({share:g} of the code): about +9% NL reasoning", 0.09, "NL reasoning"),
                ("syn_code", f"synthetic code ({share:g} of the code): +44.9% code", 0.449, "code")):
            rows += _compare(claim(cid, "§3.4", text, paper, "relative", category), category,
                             {"synthetic_share": share, "code_ratio": 0.25}, {"code_ratio": 0.25}, syn, ratio_df)
    if (size := frames.get("size")) is not None and ratio_df is not None:
        rows += _trends(size, ratio_df, own_size, other_size)
    return rows


def net_win_rate(df: pd.DataFrame, variant: str) -> dict:
    """Wins minus losses against the Text LM (ties count half to each side: `2 * win_rate - 1`),
    by seed, with a t-interval over the seeds; from one seed, the judge's own bootstrap interval
    over prompts."""
    w = series(df, "win_rate", variant=variant)
    if w.empty:
        return {"value": None, "reason": "no win-rate was judged in this run (the study's --judge)"}
    value, low, high = t_interval(2 * w.to_numpy(float) - 1)
    if low is None and not (bounds := series(df, "win_rate_low", variant=variant)).empty:
        low, high = 2 * float(bounds.iloc[0]) - 1, 2 * float(series(df, "win_rate_high", variant=variant).iloc[0]) - 1
    return {"value": value, "low": low, "high": high, "seeds": len(w)}


def _winrate(init: pd.DataFrame) -> dict:
    """§3.1's +6.6% generative win-rate of Balanced->Text over Text-only, read as the margin of
    wins over losses when the two are judged side by side (this platform's judged win-rates
    are against the Text LM, `--winrate-baseline text_only/none`)."""
    row = {"id": "init_winrate", "section": "§3.1", "category": "generation", "metric": "win_rate", "paper": 0.066,
           "form": "difference", "claim": "Balanced->Text vs Text-only: +6.6% generative win-rate (wins - losses)"}
    m = net_win_rate(init, "balanced_to_text/none")
    if m["value"] is None:
        return {**row, **m, "verdict": "not measured"}
    picked = init[init["variant"] == "balanced_to_text/none"]
    if "win_rate_informative" in picked and not picked["win_rate_informative"].dropna().astype(bool).all():
        return {**row, **m, "verdict": "inconclusive at this scale",
                "reason": "the judge was not informative on these generations (see the init sweep's winrate.md)"}
    return {**row, **m, **dict(zip(("verdict", "reason"), verdict("difference", 0.066, m), strict=True))}


def _recipe_best(recipes: pd.DataFrame) -> list[dict]:
    """§3.6: the recipe (balanced from scratch, less code continuing, code in the cooldown) against
    the best of the other variants trained, per metric."""
    out = []
    for category, metrics in CATEGORIES.items():
        for metric, mode in metrics:
            base = {"id": "recipe_best", "section": "§3.6", "category": category, "metric": metric, "paper": None,
                    "form": "relative",
                    "claim": f"the recipe (Balanced->Text, code in the cooldown) beats every other variant ({category})"}
            if metric not in recipes or recipes[metric].isna().all():
                out.append({**base, "value": None, "verdict": "not measured", "reason": f"{metric} was not scored"})
                continue
            means = recipes.groupby("variant")[metric].mean().drop("balanced_to_text/code")
            rival = (means.idxmax() if mode == "max" else means.idxmin())
            m = relative(series(recipes, metric, variant="balanced_to_text/code"),
                         series(recipes, metric, variant=rival), mode)
            v, reason = verdict("relative", None, m)
            out.append({**base, **m, "verdict": v, "reason": f"against the best other variant, {rival}: {reason}"})
    return out


def _trends(size: pd.DataFrame, ratio_df: pd.DataFrame, own: str, other: str) -> list[dict]:
    """§3.2: the 25%-vs-0% NL trend holds at both sizes; the code/NL trade-off (100% vs 0%) grows."""
    frames = {own: ratio_df, other: size}
    out = []
    for metric, mode in CATEGORIES["NL reasoning"]:
        base = {"section": "§3.2", "category": "NL reasoning", "metric": metric}
        per = {s: relative(series(f, metric, code_ratio=0.25), series(f, metric, code_ratio=0.0), mode)
               for s, f in frames.items()}
        if any(series(f, metric).empty for f in frames.values()):
            out.append({**base, "id": "trend_sizes", "claim": "the trends hold across sizes", "paper": 0.034,
                        "form": "relative", "value": None, "verdict": "not measured",
                        "reason": f"{metric} was not scored at both sizes"})
            continue
        verdicts = {s: verdict("relative", 0.034, m) for s, m in per.items()}
        kinds = {v for v, _ in verdicts.values()}
        v = "disagrees" if "disagrees" in kinds else "agrees" if kinds == {"agrees"} else "inconclusive at this scale"
        out.append({**base, "id": "trend_sizes", "claim": "the trends hold across sizes (25% vs 0% code, NL)",
                    "paper": 0.034, "form": "relative", "value": per[other].get("value"),
                    "low": per[other].get("low"), "high": per[other].get("high"), "verdict": v,
                    "reason": "; ".join(f"at {s}: {r}" for s, (_, r) in verdicts.items())})
        drops = {s: relative(series(f, metric, code_ratio=1.0), series(f, metric, code_ratio=0.0), mode)
                 for s, f in frames.items()}
        larger = max(frames, key=_params)
        smaller = min(frames, key=_params)
        out.append({**base, **_growth(drops[larger], drops[smaller], larger, smaller)})
    return out


def _params(size: str) -> int:
    from trainers.sizes import get_size
    s = get_size(size)
    return s.d_model * s.d_model * s.n_layers


def _growth(large: dict, small: dict, larger: str, smaller: str) -> dict:
    """The NL change at 100% code at the larger size minus the smaller's (negative: the
    trade-off grows), with an unpaired t-interval from the two seeds' spreads."""
    row = {"id": "tradeoff_grows", "claim": f"the code/NL trade-off grows with size ({smaller} -> {larger})",
           "paper": -1.0, "form": "difference"}
    if large.get("value") is None or small.get("value") is None:
        return {**row, "value": None, "verdict": "inconclusive at this scale", "reason": "not measured at both sizes"}
    value = large["value"] - small["value"]
    if large.get("low") is None or small.get("low") is None:
        return {**row, "value": value, "verdict": "inconclusive at this scale", "reason": "one seed: no interval"}
    se = math.hypot((large["high"] - large["value"]) / stats.t.ppf(0.975, large["seeds"] - 1),
                    (small["high"] - small["value"]) / stats.t.ppf(0.975, small["seeds"] - 1))
    half = stats.t.ppf(0.975, min(large["seeds"], small["seeds"]) - 1) * se
    m = {"value": value, "low": value - half, "high": value + half}
    text = f"{value:+.1%} (95% {m['low']:+.1%} to {m['high']:+.1%}) at 100% code"
    if m["high"] < 0:
        return {**row, **m, "verdict": "agrees", "reason": f"NL falls more at {larger}: {text}"}
    if m["low"] > 0:
        return {**row, **m, "verdict": "disagrees", "reason": f"NL falls less at {larger}: {text}"}
    return {**row, **m, "verdict": "inconclusive at this scale", "reason": f"{text} spans no change"}


def tally(rows: list[dict]) -> dict:
    """Verdicts counted on the study's metrics and on the small-model ones."""
    out = {}
    for family, keep in (("study metrics", lambda m: m in STUDY_METRICS),
                         ("bits-per-byte", lambda m: m not in STUDY_METRICS)):
        picked = [r["verdict"] for r in rows if keep(r["metric"])]
        out[family] = {v: picked.count(v) for v in VERDICTS}
    return out
