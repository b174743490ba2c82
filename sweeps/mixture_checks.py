"""A mixture search checked by training: the proposal against the prior, and the ranking at a
larger size.

    result = validate(spec, parts, answer, prior, k=3, parent_run_id=run_id)   # a sweep <exp>-validate
    result = transfer(spec, df, "4m", mixtures=6, parent_run_id=run_id)          # a sweep <exp>-transfer-4m

Each trains a small grid sweep of its own (its own MLflow parent, linked from the search's by
a tag) and writes what it found on the search's parent run. The numbers are pure functions
(`paired_gain`, `decisions`) so the statistics are tested without training.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from scipy import stats

from sweeps.plan import Axis
from sweeps.simplex import label
from trainers.sizes import SIZES, get_size

BOOTSTRAP = 1000


def check_transfer(size: str, mixtures: int, spec) -> None:
    """One line before anything starts if --transfer-size cannot be trained."""
    target, base = get_size(size), get_size(spec.base.model_size)
    if target.vocab_size != base.vocab_size or list(SIZES).index(size) <= list(SIZES).index(spec.base.model_size):
        raise ValueError(f"--transfer-size {size}: name a larger size than {spec.base.model_size} with the same "
                         f"vocabulary ({base.vocab_size:,} tokens)")
    if mixtures < 3:
        raise ValueError(f"--transfer-mixtures {mixtures}: at least 3 (the best, the worst and one between)")


def paired_gain(proposal: np.ndarray, prior: np.ndarray, mode: str) -> dict:
    """The proposal's gain over the prior, paired by seed (positive: the proposal is better),
    with a 95% t-interval over the seeds' differences."""
    diff = (np.asarray(proposal, float) - np.asarray(prior, float)) * (1 if mode == "max" else -1)
    n = len(diff)
    half = stats.t.ppf(0.975, n - 1) * diff.std(ddof=1) / math.sqrt(n) if n > 1 else float("nan")
    return {"gain": float(diff.mean()), "low": float(diff.mean() - half), "high": float(diff.mean() + half), "seeds": n}


def decisions(small: np.ndarray, large: np.ndarray, noise_small: float, noise_large: float,
              resamples: int = BOOTSTRAP, seed: int = 0) -> dict:
    """How alike two sizes rank the same mixtures: the share of pairs ordered alike (pairs
    closer than twice the seed noise at either size are ties, counted apart) and Spearman's
    rho, each with a 95% bootstrap interval over the mixtures."""
    small, large = np.asarray(small, float), np.asarray(large, float)

    def measure(idx):
        i, j = np.triu_indices(len(idx), 1)
        a, b = small[idx][i] - small[idx][j], large[idx][i] - large[idx][j]
        distinct = (idx[i] != idx[j]) & (np.abs(a) >= 2 * noise_small) & (np.abs(b) >= 2 * noise_large)
        accuracy = float(np.mean(np.sign(a[distinct]) == np.sign(b[distinct]))) if distinct.any() else float("nan")
        rho = stats.spearmanr(small[idx], large[idx]).statistic if np.ptp(small[idx]) and np.ptp(large[idx]) else np.nan
        return accuracy, float(rho), int(distinct.sum()), int(len(i) - (idx[i] == idx[j]).sum() - distinct.sum())

    everything = np.arange(len(small))
    accuracy, rho, pairs, ties = measure(everything)
    rng = np.random.default_rng(seed)
    draws = np.array([measure(rng.choice(everything, len(everything)))[:2] for _ in range(resamples)])
    (acc_low, rho_low), (acc_high, rho_high) = np.nanpercentile(draws, [2.5, 97.5], axis=0)
    return {"decision_accuracy": accuracy, "decision_accuracy_low": float(acc_low),
            "decision_accuracy_high": float(acc_high), "spearman": rho, "spearman_low": float(rho_low),
            "spearman_high": float(rho_high), "pairs": pairs, "ties": ties, "mixtures": len(small)}


def _noise(df, metric: str, by: str = "mixture") -> float:
    """The seed noise of one mixture's (point's) metric: the spread between its seeds where
    there are several, else the metric's own standard error (over held-out tokens or items)."""
    spread = df.groupby(by)[metric].std(ddof=1).dropna()
    if len(spread):
        return float(spread.mean())
    err = f"{metric}_stderr"
    return float(df[err].mean()) if err in df and df[err].notna().any() else 0.0


def _sub_sweep(spec, name: str, mixtures: tuple[str, ...], **changes):
    from sweeps.runner import run_sweep
    sub = replace(spec, experiment=f"{spec.experiment}-{name}", search="grid", asha=False, resume=False, **changes)
    df, _, run_id = run_sweep(sub, sub.prepared(), [Axis("mixture", mixtures)])
    return df, run_id


def _log(parent_run_id: str, tracking_uri: str, metrics: dict, tags: dict, figure=None, name: str = "") -> None:
    import mlflow
    client = mlflow.MlflowClient(tracking_uri)
    for k, v in metrics.items():
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            client.log_metric(parent_run_id, k, float(v))
    for k, v in tags.items():
        client.set_tag(parent_run_id, k, v)
    if figure is not None:
        import matplotlib.pyplot as plt
        client.log_figure(parent_run_id, figure, name)
        plt.close(figure)


def validate(spec, parts: tuple[str, ...], answer: dict, prior: dict[str, float], k: int, parent_run_id: str) -> dict:
    """The proposal and the prior mixture trained with seeds 0..k-1 each; predicted vs
    measured and the paired gain, on the search's parent run."""
    proposal, base = label(answer["mixture"]), label(prior)
    if proposal == base:
        base = label({p: s + 1e-3 for p, s in prior.items()})  # the same label would be one grid point
    df, run_id = _sub_sweep(spec, "validate", (proposal, base), seeds=tuple(range(k)))
    metric = spec.metric
    by_seed = df.pivot_table(index="seed", columns="mixture", values=metric).dropna()
    gain = paired_gain(by_seed[proposal].to_numpy(), by_seed[base].to_numpy(), spec.mode)
    measured, at_prior = float(by_seed[proposal].mean()), float(by_seed[base].mean())
    _log(parent_run_id, spec.tracking_uri,
         {f"validate_predicted_{metric}": answer["predicted"], f"validate_measured_{metric}": measured,
          f"validate_prior_{metric}": at_prior, f"validate_gain_{metric}": gain["gain"],
          f"validate_gain_{metric}_low": gain["low"], f"validate_gain_{metric}_high": gain["high"]},
         {"validate_run_id": run_id, "validate_mixtures": f"{proposal} vs {base}"})
    better = "better than" if gain["low"] > 0 else "worse than" if gain["high"] < 0 else "not distinguishable from"
    return {**gain, "measured": measured, "prior": at_prior, "predicted": answer["predicted"], "run_id": run_id,
            "sentence": f"Validated over {gain['seeds']} paired seeds: the proposal measured {metric} {measured:.4f} "
                        f"(predicted {answer['predicted']:.4f}), the prior {at_prior:.4f}; gain {gain['gain']:+.4f} "
                        f"(95% {gain['low']:+.4f} to {gain['high']:+.4f}): {better} the prior."}


def spread(means, n: int) -> list[str]:
    """n mixtures from best to worst, evenly spaced in rank (the best and worst always)."""
    ranked = list(means.sort_values().index)
    picks = np.unique(np.round(np.linspace(0, len(ranked) - 1, min(n, len(ranked)))).astype(int))
    return [ranked[i] for i in picks]


def transfer(spec, df, size: str, mixtures: int, parent_run_id: str) -> dict:
    """Some searched mixtures trained at `size` too; how alike the two sizes rank them."""
    metric = spec.metric
    means = df.groupby("mixture")[metric].mean()
    chosen = spread(means, mixtures)
    large_df, run_id = _sub_sweep(spec, f"transfer-{size}", tuple(chosen), base=replace(spec.base, model_size=size))
    large = large_df.groupby("mixture")[metric].mean().reindex(chosen)
    small = means.reindex(chosen)
    kept = large.notna()
    result = decisions(small[kept].to_numpy(), large[kept].to_numpy(), _noise(df, metric), _noise(large_df, metric),
                       seed=spec.seeds[0])
    _log(parent_run_id, spec.tracking_uri,
         {f"transfer_{k}": v for k, v in result.items()},
         {"transfer_run_id": run_id, "transfer_size": size}, _transfer_plot(small[kept], large[kept], metric, size,
                                                                             spec.base.model_size),
         f"transfer_{spec.base.model_size}_to_{size}.png")
    return {**result, "run_id": run_id,
            "sentence": f"At {size}, {result['mixtures']} mixtures: decision accuracy {result['decision_accuracy']:.2f} "
                        f"(95% {result['decision_accuracy_low']:.2f} to {result['decision_accuracy_high']:.2f}) over "
                        f"{result['pairs']} pairs, {result['ties']} ties within seed noise; Spearman "
                        f"{result['spearman']:.2f} ({result['spearman_low']:.2f} to {result['spearman_high']:.2f})."}


def ranking_across_sizes(df, axis: str, metric: str, parent_run_id: str, tracking_uri: str, seed: int = 0) -> list[str]:
    """A sweep over `axis` x model_size (sweeps/size.py): for each size and the next one up,
    how alike they rank the axis's points (decision accuracy with ties, Spearman, bootstrap
    intervals), logged as `transfer_<measure>/<small>_to_<large>` with a plot; the sentences."""
    from trainers.sizes import SIZES
    sizes = sorted(df["model_size"].unique(), key=list(SIZES).index)
    sentences = []
    for small_size, large_size in zip(sizes, sizes[1:], strict=False):
        a, b = df[df["model_size"] == small_size], df[df["model_size"] == large_size]
        small, large = a.groupby(axis)[metric].mean(), b.groupby(axis)[metric].mean()
        points = small.index.intersection(large.index)
        if len(points) < 2:
            continue
        result = decisions(small[points].to_numpy(), large[points].to_numpy(), _noise(a, metric, axis),
                           _noise(b, metric, axis), seed=seed)
        pair = f"{small_size}_to_{large_size}"
        _log(parent_run_id, tracking_uri, {f"transfer_{k}/{pair}": v for k, v in result.items()}, {},
             _transfer_plot(small[points], large[points], metric, large_size, small_size), f"transfer_{pair}.png")
        sentences.append(f"{small_size} -> {large_size}, {len(points)} values of {axis}: decision accuracy "
                         f"{result['decision_accuracy']:.2f} over {result['pairs']} pairs ({result['ties']} ties within "
                         f"seed noise); Spearman {result['spearman']:.2f} ({result['spearman_low']:.2f} to "
                         f"{result['spearman_high']:.2f}).")
    return sentences


def _transfer_plot(small, large, metric: str, size: str, base_size: str):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4.8, 4.2))
    ax.scatter(small, large)
    for name, x, y in zip(small.index, small, large, strict=True):
        ax.annotate(name, (x, y), fontsize=6, alpha=0.8)
    ax.set_xlabel(f"{metric} at {base_size}")
    ax.set_ylabel(f"{metric} at {size}")
    ax.set_title(f"The same points at two sizes ({metric})", fontsize=9)
    fig.tight_layout()
    return fig
