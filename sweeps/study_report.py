"""The study's report: every claim beside the paper's number, tables shaped like the paper's,
the plots a reader expects; as markdown (`study.md`) and the same content as JSON.

    report = build(rows, frames, about)            # about: scale, command, machine, date, commit, wall time
    write(report, folder)                          # study.md, study.json, the plots
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from sweeps.study_claims import CATEGORIES, tally

VARIANT_NAMES = {"text_only": "Text-only", "balanced_only": "Balanced-only", "balanced_to_text": "Balanced->Text",
                 "code_to_text": "Code->Text"}
SHOWN = [m for metrics in CATEGORIES.values() for m, _ in metrics]


def _num(v, form: str) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "-"
    return f"{v:+.1%}" if form in ("relative", "difference") else f"{v:.2f}x" if form == "ratio" else f"{v:.2f}"


def _mean_table(df: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    metrics = [m for m in SHOWN if m in df]
    return df.groupby(by)[metrics].mean().reset_index() if metrics else df[by].drop_duplicates()


def build(rows: list[dict], frames: dict[str, pd.DataFrame], about: dict) -> dict:
    """The report as data: claims, verdict counts and the tables (records)."""
    tables = {}
    if "ratio" in frames:
        by_size = [frames["ratio"].assign(model_size=about["own_size"])]
        if "size" in frames:
            by_size.append(frames["size"])
        tables["code_ratio"] = _mean_table(pd.concat(by_size), ["model_size", "code_ratio"]).to_dict("records")
    recipes = [frames[k] for k in ("init", "cooldown", "recipe") if k in frames]
    if recipes:
        tables["stages"] = stage_rows(pd.concat(recipes))
    if "quality" in frames:
        tables["code_sources"] = _mean_table(frames["quality"], ["code_source"]).to_dict("records")
    if "synthetic" in frames:
        syn = frames["synthetic"]
        if "ratio" in frames and not (pd.to_numeric(syn["synthetic_share"]) == 0).any():  # planned once, in ratio
            base = frames["ratio"][pd.to_numeric(frames["ratio"]["code_ratio"]) == 0.25]
            syn = pd.concat([base.assign(synthetic_share=0.0), syn])
        tables["synthetic_share"] = _mean_table(syn, ["synthetic_share"]).to_dict("records")
    return {**about, "claims": rows, "tally": tally(rows), "tables": tables}


def stage_rows(df: pd.DataFrame) -> list[dict]:
    """Table 2's rows: each recipe's stages in order, each stage's own final scores (a recipe
    trial reports its earlier stages' as `<stage>/<metric>`), a stage two variants share once
    (per seed, then the mean over seeds), each cooldown its own row."""
    rows = []
    recipes = dict.fromkeys(v.split("/")[0] for v in df["variant"])
    for recipe in sorted(recipes, key=lambda r: list(VARIANT_NAMES).index(r) if r in VARIANT_NAMES else 9):
        own = df[df["variant"].str.startswith(recipe + "/")]
        unfinished = own[own["variant"] == f"{recipe}/none"]  # its last stage is the pretrain or continue stage
        last = "pretrain" if recipe in ("text_only", "balanced_only") else "continue"
        for stage in ("pretrain", "init", "continue"):
            scores = {}
            for m in SHOWN:
                parts = [own[["seed", c]].rename(columns={c: "v"}) for c in (f"{stage}/{m}",) if c in own]
                if stage == last and m in unfinished:
                    parts.append(unfinished[["seed", m]].rename(columns={m: "v"}))
                values = pd.concat(parts).dropna() if parts else pd.DataFrame()
                if len(values):
                    scores[m] = float(values.groupby("seed")["v"].mean().mean())
            if scores:
                rows.append({"variant": VARIANT_NAMES.get(recipe, recipe), "stage": stage, **scores})
        for variant in sorted(v for v in own["variant"].unique() if not v.endswith("/none")):
            g = own[own["variant"] == variant]
            rows.append({"variant": VARIANT_NAMES.get(recipe, recipe), "stage": f"cooldown ({variant.split('/')[1]})",
                         **{m: float(g[m].mean()) for m in SHOWN if m in g and g[m].notna().any()}})
    return rows


def _records(records: list[dict]) -> str:
    return pd.DataFrame(records).to_markdown(index=False, floatfmt=".4f")


def markdown(report: dict) -> str:
    lines = [f"# The study at scale `{report['scale']}`: the paper's claims, measured", "",
             f"What this run measured, as measured: {report['scale_about']}. Nothing here is tuned toward the "
             "paper's numbers.", "", "## How it was made", "", "```bash", report["command"], "```", "",
             f"- Machine: {report['machine']}; date {report['date']}; commit `{report['commit']}`.",
             f"- Wall time: {report['wall_time']}; trials trained {report['trials_trained']}; trials one experiment "
             f"took from another instead of training them {report['trials_reused']}; trained stages reused by key "
             f"{report['stages_reused']}.",
             "- Experiments (MLflow experiment `<study>-<name>`, one parent run each): "
             + ", ".join(f"{k} ({v})" for k, v in report["experiments"].items()) + ".", "",
             "## Verdicts", ""]
    for family, counts in report["tally"].items():
        lines.append(f"- On the {family}: " + ", ".join(f"{n} {v}" for v, n in counts.items() if n) + ".")
    lines += ["", "A verdict is on the direction of each claim: *agrees* when the 95% interval lies on the paper's "
              "side of no change, *disagrees* when on the other side, *inconclusive at this scale* when it spans "
              "no change. Numbers are the paper's forms (relative increase, ratio, optimum), paired by seed; for "
              "bits-per-byte (lower is better) the same form of the improvement, so a positive number means the "
              "same as the paper's.", "",
              "| claim | § | metric | paper | this run | 95% interval | verdict | why |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["claims"]:
        span = f"{_num(r.get('low'), r['form'])} to {_num(r.get('high'), r['form'])}" if r.get("low") is not None \
            else "-"
        paper = "better" if r["paper"] is None else _num(r["paper"], r["form"])
        lines.append(f"| {r['claim']} | {r['section']} | {r['metric']} | {paper} | "
                     f"{_num(r.get('value'), r['form'])} | {span} | **{r['verdict']}** | {r['reason']} |")
    titles = {"code_ratio": "Scores against the code ratio, by model size (the §3.3 figure as a table; mean over "
                            "seeds)", "stages": "Initialisation and cooldown, stage by stage (Table 2's shape; "
                                                "each stage's own scores, mean over seeds)",
              "code_sources": "Each kind of code alone as the 25% code (§3.4)",
              "synthetic_share": "Synthetic share of the 25% code (§3.4; share 0 is the code-ratio experiment's 25%)"}
    for key, records in report["tables"].items():
        lines += ["", f"## {titles[key]}", "", _records(records)]
    for plot in report.get("plots", []):
        lines += ["", f"![{plot}]({plot})"]
    return "\n".join(lines) + "\n"


def plots(report: dict, folder: Path) -> list[str]:
    """metrics_vs_code_ratio.png (each category against the code ratio, a line per size) and
    variants.png (each variant's scores as bars)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    made = []
    if records := report["tables"].get("code_ratio"):
        df = pd.DataFrame(records)
        metrics = [m for m in SHOWN if m in df]
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3), squeeze=False)
        for ax, m in zip(axes[0], metrics, strict=True):
            for size, g in df.groupby("model_size"):
                ax.plot(g["code_ratio"], g[m], marker="o", label=size)
            ax.set_xlabel("code ratio")
            ax.set_title(m, fontsize=9)
        axes[0][0].legend(title="size", fontsize=7)
        fig.tight_layout()
        fig.savefig(folder / "metrics_vs_code_ratio.png", dpi=100)
        plt.close(fig)
        made.append("metrics_vs_code_ratio.png")
    if records := report["tables"].get("stages"):
        df = pd.DataFrame(records)
        metrics = [m for m in SHOWN if m in df]
        colours = {v: f"C{i}" for i, v in enumerate(dict.fromkeys(df["variant"]))}
        fig, axes = plt.subplots(1, len(metrics), figsize=(3.2 * len(metrics), 3.6), squeeze=False)
        for ax, m in zip(axes[0], metrics, strict=True):
            ax.bar(range(len(df)), df[m], color=[colours[v] for v in df["variant"]])
            ax.set_xticks(range(len(df)), [f"{v}: {s}" for v, s in zip(df["variant"], df["stage"], strict=True)],
                          rotation=70, ha="right", fontsize=6)
            ax.set_title(m, fontsize=9)
            low, high = df[m].min(), df[m].max()
            ax.set_ylim(low - 0.1 * (high - low + 1e-9), high + 0.1 * (high - low + 1e-9))
        fig.tight_layout()
        fig.savefig(folder / "stages.png", dpi=100)
        plt.close(fig)
        made.append("stages.png")
    return made


def write(report: dict, folder: Path) -> list[Path]:
    """study.md, study.json and the plots into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    report["plots"] = plots(report, folder)
    (folder / "study.json").write_text(json.dumps(report, indent=1, default=float))
    (folder / "study.md").write_text(markdown(report))
    return [folder / "study.md", folder / "study.json", *(folder / p for p in report["plots"])]


def description(report: dict) -> str:
    """The verdicts as the study's parent run's description (MLflow shows it as markdown)."""
    head = "; ".join(f"{family}: " + ", ".join(f"{n} {v}" for v, n in c.items() if n)
                     for family, c in report["tally"].items())
    lines = [f"**The study at scale {report['scale']}** ({head})", ""]
    lines += [f"- {r['claim']} [{r['metric']}]: **{r['verdict']}**: {r['reason']}" for r in report["claims"]]
    return "\n".join(lines)
