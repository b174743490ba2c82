"""Win-rates in a sweep of named variants: each variant judged against a baseline variant.

    python sweeps/recipe.py --cooldowns none,text,code --winrate-baseline balanced_to_text/none \
        --judge http://127.0.0.1:8000/v1

After the trials, each variant's final checkpoint answers the same instruction prompts as the
baseline's checkpoint of the same seed (a paired design), and `evaluation.winrate` judges
every pair with positions swapped. `win_rate` (with `win_rate_low`/`win_rate_high`, its 95%
bootstrap interval over prompts, and `win_rate_length_controlled`) lands on the variant's
child run, the judge and whether it was informative as tags; the parent run gets
`winrate.md` and `winrate.json`. The baseline's own runs carry no win-rate.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from evaluation.winrate import PROMPTS, check_judge, table, winrates

if TYPE_CHECKING:  # MLflow loads when there are runs to log to, not while flags are checked
    import mlflow


@dataclass(frozen=True)
class WinrateSpec:
    baseline: str
    judge: str
    judge_model: str
    prompts: str
    limit: int
    max_new_tokens: int


def add_winrate_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("win-rate (judged; off unless --winrate-baseline is given)")
    group.add_argument("--winrate-baseline", default="",
                       help="judge every variant against this one (e.g. text_only/none); needs --judge")
    group.add_argument("--judge", default="",
                       help="an OpenAI-compatible URL (http://host:port/v1) or a local HF folder served here "
                            "(default $CODEMIX_JUDGE_URL)")
    group.add_argument("--judge-model", default="", help="the judge's model name at the URL (default: the first it lists)")
    group.add_argument("--winrate-prompts", default="mt_bench", help=f"prompt set: {', '.join(PROMPTS)} (default mt_bench)")
    group.add_argument("--winrate-limit", type=int, default=None,
                       help="the first N prompts (default: the preset's: smoke 2, demo 20, paper 200, "
                            "the study's Dolly-200)")
    group.add_argument("--winrate-max-new-tokens", type=int, default=128, help="answer length in tokens (default 128)")


def resolve_winrate(args: argparse.Namespace, variants: list[str], preset_limit: int) -> WinrateSpec | None:
    """The checked win-rate settings, or None when none was asked for; a one-line ValueError
    for a baseline that is not a variant, a judge that is missing or does not answer."""
    judge = args.judge or os.environ.get("CODEMIX_JUDGE_URL", "")
    if not args.winrate_baseline:
        if args.judge:
            raise ValueError("--judge needs --winrate-baseline NAME: the variant every other is judged against")
        return None
    if args.winrate_baseline not in variants:
        raise ValueError(f"--winrate-baseline {args.winrate_baseline!r} is not a variant of this sweep; "
                         f"choose from {', '.join(variants)}")
    if len(variants) < 2:
        raise ValueError("--winrate-baseline needs at least one other variant to judge")
    if args.winrate_prompts not in PROMPTS:
        raise ValueError(f"unknown --winrate-prompts {args.winrate_prompts!r}; choose from {', '.join(PROMPTS)}")
    limit = args.winrate_limit if args.winrate_limit is not None else preset_limit
    if limit < 1 or args.winrate_max_new_tokens < 1:
        raise ValueError("--winrate-limit and --winrate-max-new-tokens must be at least 1")
    judge_model = args.judge_model or os.environ.get("CODEMIX_JUDGE_MODEL", "")
    check_judge(judge, judge_model)
    return WinrateSpec(args.winrate_baseline, judge, judge_model, args.winrate_prompts, limit,
                       args.winrate_max_new_tokens)


def judge_variants(df: pd.DataFrame, axis: str, spec: WinrateSpec, parent_run_id: str, say=print) -> pd.DataFrame:
    """Judge each trial against the baseline trial of its seed; log to the child runs and the
    parent (the active run); return df with the win-rate columns added."""
    base = df[df[axis] == spec.baseline].set_index("seed")["checkpoint_path"]
    rows = [i for i, r in df.iterrows() if r[axis] != spec.baseline and r["seed"] in base.index]
    if not rows:
        say(f"[winrate] no finished trial to judge against {spec.baseline!r}")
        return df
    pairs = [(df.at[i, "checkpoint_path"], base[df.at[i, "seed"]]) for i in rows]
    say(f"[winrate] judging {len(pairs)} trials against {spec.baseline} on {spec.limit} prompts ({spec.prompts})")
    reports = winrates(pairs, spec.judge, spec.judge_model, spec.prompts, spec.limit, spec.max_new_tokens, say)
    import mlflow
    client = mlflow.MlflowClient()
    children = _child_runs(client, parent_run_id)
    df = df.copy()
    for i, r in zip(rows, reports, strict=True):
        metrics = {"win_rate": r["win_rate"], "win_rate_low": r["interval"][0], "win_rate_high": r["interval"][1],
                   "win_rate_length_controlled": r["length_controlled_win_rate"]}
        for k, v in metrics.items():
            df.loc[i, k] = v
        df.loc[i, "win_rate_informative"] = r["informative"]
        run_id = children.get(df.at[i, "trial_id"])
        if run_id:
            for k, v in metrics.items():
                client.log_metric(run_id, k, v)
            for k, v in {"win_rate_baseline": spec.baseline, "win_rate_judge": r["judge"],
                         "win_rate_prompts": r["prompts_source"],
                         "win_rate_informative": str(r["informative"]).lower()}.items():
                client.set_tag(run_id, k, v)
    lines = [f"# Win-rate against {spec.baseline}\n"]
    for i, r in zip(rows, reports, strict=True):
        lines.append(f"## {df.at[i, axis]} (seed {df.at[i, 'seed']})\n\n{table(r)}\n")
    mlflow.log_text("\n".join(lines), "winrate.md")
    mlflow.log_dict({"baseline": spec.baseline, "trials": [
        {axis: df.at[i, axis], "seed": int(df.at[i, "seed"]),
         **{k: v for k, v in r.items() if k not in ("answers_a", "answers_b")}}
        for i, r in zip(rows, reports, strict=True)]},
        "winrate.json")
    informative = all(r["informative"] for r in reports)
    mlflow.set_tag("win_rate_informative", str(informative).lower())
    return df


def _child_runs(client: mlflow.MlflowClient, parent_run_id: str) -> dict[str, str]:
    """Tune trial id -> child run id, from the tag ChildRunCallback sets."""
    from sweeps.tracking import child_runs
    return child_runs(client, client.get_run(parent_run_id).info.experiment_id, parent_run_id)


def summary_lines(df: pd.DataFrame, axis: str, spec: WinrateSpec) -> list[str]:
    if "win_rate" not in df:
        return []
    out = [f"\nWin-rate against {spec.baseline} (judge {spec.judge}; 0.5 = no difference):"]
    for _, r in df.dropna(subset=["win_rate"]).iterrows():
        out.append(f"  {r[axis]:<28} seed {r['seed']}: {r['win_rate']:.3f} "
                   f"(95% interval {r['win_rate_low']:.3f}-{r['win_rate_high']:.3f}; "
                   f"length-controlled {r['win_rate_length_controlled']:.3f})"
                   + ("" if r["win_rate_informative"] else "  NON-INFORMATIVE judge: see winrate.md"))
    return out
