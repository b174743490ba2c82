"""Per-source statistics, and the repetition a preset would need at the study's code ratios.

    python -m trainers.data.stats                    # demo preset
    python -m trainers.data.stats --preset smoke --synthetic-share 0.1

Prints documents, tokens and licence per source, then for each code ratio of the paper's
grid how many epochs of each family the preset's token budget needs (above 1: the family
is repeated; `--no-repeat` on a sweep refuses such a run).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import sys

import pandas as pd

from trainers.presets import PAPER_RATIOS, get_preset
from trainers.data.mixture import DEFAULT_CODE_MIX
from trainers.data.prepare import prepare
from trainers.sizes import get_size


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="demo", help="preset whose token budget to check (default demo)")
    p.add_argument("--synthetic-share", type=float, default=0.0, help="synthetic share of the code budget")
    p.add_argument("--code-mix", default=DEFAULT_CODE_MIX, help="code families' shares of the code budget")
    args = p.parse_args(argv)
    try:
        preset = get_preset(args.preset)
        configs = [replace(preset.config, code_ratio=r, synthetic_share=args.synthetic_share, code_mix=args.code_mix)
                   for r in PAPER_RATIOS]
    except ValueError as e:
        p.exit(2, f"{p.prog}: error: {e}\n")
    data = prepare(vocab_size=get_size(preset.config.model_size).vocab_size, quiet=True)
    sources = pd.DataFrame([{"source": name, "family": s["family"], "tier": s.get("tier") or "-",
                             "documents": s["documents_train"] + s["documents_val"],
                             "train_tokens": s["tokens_train"], "held_out_tokens": s["tokens_val"],
                             "dropped (benchmark overlap)": s.get("dropped_contaminated", 0),
                             "duplicates": s.get("duplicates", 0) + s.get("duplicates_of_earlier_sources", 0),
                             "malformed": s.get("malformed", 0), "shards": s.get("shards", 1), "licence": s["licence"]}
                            for name, s in data.sources().items()]).sort_values(["family", "tier", "source"])
    print(sources.to_markdown(index=False, intfmt=","))
    tiers = sources[sources.family == "text"].groupby("tier")["train_tokens"].sum()
    print("\nText tiers (train tokens, share): " + ", ".join(
        f"{t} {n:,} ({n / tiers.sum():.0%})" for t, n in tiers.items()))
    for name, why in data.missing().items():
        print(f"not prepared: {name}: {why}")
    epochs = pd.DataFrame([{"code_ratio": c.code_ratio, **c.check_data(data)} for c in configs]).fillna(0.0)
    print(f"\nEpochs per family for preset {args.preset!r} ({preset.config.tokens:,} tokens per trial; >1 means repeated):")
    print(epochs.to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
