"""Benchmark: which benchmark metrics separate code ratios, and what scoring costs a trial.

    python sweeps/ratio.py --preset demo --seeds 2 --storage runs-snr --experiment snr
    python -m bench.method.signal_noise --storage runs-snr --experiment snr   # saves bench/results/signal_noise.json

Reads a finished ratio sweep with two or more seeds per ratio from its MLflow store and,
per task and metric (and per category score), prints the signal-to-noise ratio of
"Signal and Noise" (Heineman et al. 2025): the spread across code ratios (standard
deviation of the per-ratio means over seeds) divided by the spread across seeds (the
root-mean-square over ratios of the standard deviation across seeds, the same seeds at
every ratio). Above 1, a metric ranks mixtures more than it ranks initialisations. Also
the end-of-trial evaluation time against the trial's training time, per trial.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd


from bench.report import report

SKIP = ("_stderr", "_floor", "_n")


def children(storage: Path, experiment: str) -> pd.DataFrame:
    import mlflow
    client = mlflow.MlflowClient(f"sqlite:///{storage.resolve() / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"no experiment {experiment!r} in {storage}")
    rows = [{"code_ratio": float(r.data.params["code_ratio"]), "seed": int(r.data.params["seed"]), **r.data.metrics}
            for r in client.search_runs([exp.experiment_id]) if "mlflow.parentRunId" in r.data.tags]
    return pd.DataFrame(rows)


def signal_noise(df: pd.DataFrame, metric: str) -> tuple[float, float]:
    per = df.groupby("code_ratio")[metric]
    signal = float(per.mean().std(ddof=1))
    noise = float(math.sqrt((per.std(ddof=1) ** 2).mean()))
    return signal, noise


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--storage", type=Path, default=Path("runs-snr"))
    p.add_argument("--experiment", default="snr")
    args = p.parse_args()
    df = children(args.storage, args.experiment)
    if df.empty or df.groupby("code_ratio")["seed"].nunique().min() < 2:
        raise SystemExit("need a finished sweep with at least two seeds at every code ratio")
    metrics = [c for c in df.columns if c not in ("code_ratio", "seed") and not c.endswith(SKIP)
               and (c.startswith(("nl_", "world_", "code_", "val_bpb")) or "_acc" in c or c.endswith(
                   ("_bpb", "_prob", "_prob_norm", "_exact_match")))]
    results = {"trials": len(df), "ratios": sorted(df["code_ratio"].unique().tolist()),
               "seeds": int(df["seed"].nunique())}
    snr = {}
    for m in sorted(metrics):
        signal, noise = signal_noise(df, m)
        if signal == 0 and noise == 0:  # the same value in every trial (BoolQ always "no"): no signal
            continue
        snr[m] = {"signal": signal, "noise": noise, "snr": signal / noise if noise > 0 else float("inf")}
    results["snr"] = snr
    share = df["eval_s"] / df["train_s"]
    results.update(eval_s_median=float(df["eval_s"].median()), train_s_median=float(df["train_s"].median()),
                   eval_over_train_median=float(share.median()), eval_over_train_max=float(share.max()))
    print(f"{'metric':<34} {'signal':>9} {'noise':>9} {'snr':>7}")
    for m, r in sorted(snr.items(), key=lambda kv: -kv[1]["snr"]):
        print(f"{m:<34} {r['signal']:9.4f} {r['noise']:9.4f} {r['snr']:7.2f}")
    clear = [m for m, r in snr.items() if r["snr"] > 1]
    results["metrics_above_1"] = clear
    results["constant_metrics"] = sorted(set(metrics) - set(snr))
    print(f"\n{len(clear)} of {len(snr)} metrics have signal-to-noise above 1; the same in every trial: "
          f"{', '.join(results['constant_metrics']) or 'none'}")
    report(results, "signal_noise")


if __name__ == "__main__":
    main()
