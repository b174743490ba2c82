"""The study's experiments at a named scale, as the sweep commands that run them.

    steps = plan("laptop", experiments=EXPERIMENTS, storage=..., study="codemix-study", passed=[...])
    for s in steps: print(s.command)          # python sweeps/ratio.py --preset demo --seeds 3 ...

Each experiment is one of the study's sweep scripts with the scale's flags; its MLflow
experiment is `<study>-<name>`, and every one shares the study's `--storage`, so trained
stages (init, continue, cooldown) are reused by key between the initialisation, cooldown and
recipe experiments (trainers/stages.py). Trials that two experiments would train alike are
planned once: the size experiment trains only the other size (the code-ratio experiment's
trials are its trials at the scale's own size), the synthetic-share experiment only the
shares above 0 (its 0 is the code-ratio experiment's 25% trial), the cooldown experiment
only the cooldowns (its no-cooldown variant is the initialisation experiment's
Balanced->Text), the recipe experiment only Code->Text's cooldowns. `reused` says which.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

EXPERIMENTS = ("ratio", "init", "size", "quality", "synthetic", "cooldown", "recipe")
SECTIONS = {"ratio": "§3.3 code ratio", "init": "§3.1 initialisation (Table 2)", "size": "§3.2 model size",
            "quality": "§3.4 code quality: each kind of code alone", "synthetic": "§3.4 synthetic code share",
            "cooldown": "§3.5 cooldown", "recipe": "§3.6 recipe"}


@dataclass(frozen=True)
class Scale:
    """What a scale trains: the preset (size, budget, evaluation), seeds per experiment, the
    code ratios, the other model size and its ratios, and where it may run."""
    preset: str
    seeds: int
    ratios: str
    other_size: str
    size_ratios: str
    size_seeds: int
    quality_seeds: int
    shares: str = "0.1"
    runs_here: bool = True
    about: str = ""


SCALES: dict[str, Scale] = {
    "smoke": Scale("smoke", seeds=2, ratios="0,0.25,1", other_size="1m", size_ratios="0,0.25,1", size_seeds=2,
                   quality_seeds=1, about="minutes on a laptop: the machinery end to end, nothing to conclude"),
    "laptop": Scale("demo", seeds=3, ratios="0,0.25,0.5,0.75,0.9,1", other_size="4m", size_ratios="0,0.25,1",
                    size_seeds=2, quality_seeds=2,
                    about="about 2 hours on 2 CPU cores: 1M-parameter models, 1M tokens a trial"),
    "paper-470m": Scale("paper-470m", seeds=1, ratios="0,0.25,0.5,0.75,0.9,1", other_size="2.8b",
                        size_ratios="0,0.25,0.5,0.75,0.9,1", size_seeds=1, quality_seeds=1, runs_here=False,
                        about="the study's 470M models and 200B tokens a trial, on a GPU cluster"),
    "paper-2.8b": Scale("paper-2.8b", seeds=1, ratios="0,0.25,0.5,0.75,0.9,1", other_size="470m",
                        size_ratios="0,0.25,0.5,0.75,0.9,1", size_seeds=1, quality_seeds=1, runs_here=False,
                        about="the study's 2.8B models, on a GPU cluster"),
}


@dataclass(frozen=True)
class Step:
    name: str
    script: str
    argv: tuple[str, ...]
    reused: str = ""
    reuses: int = 0  # trials of experiments before it that this one's report uses instead of training them

    @property
    def command(self) -> str:
        return " ".join(["python", self.script, *self.argv])

    def run_argv(self) -> list[str]:
        return [sys.executable, str(ROOT / self.script), *self.argv]


def get_scale(name: str) -> Scale:
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; scales: {', '.join(SCALES)}")
    return SCALES[name]


def parse_experiments(text: str) -> tuple[str, ...]:
    from sweeps.script import parse_names
    names = parse_names(text, "--experiments", EXPERIMENTS, kind="the study's experiments")
    return tuple(n for n in EXPERIMENTS if n in names)  # the study's order: what reuses comes after what it reuses


def plan(scale_name: str, experiments: tuple[str, ...], study: str, shared: list[str], seeds: int | None = None,
         judged: list[str] | None = None) -> list[Step]:
    """The commands, in order. `shared`: flags every experiment gets (--storage, --preset's
    overrides, --allow-code-execution, ...); `judged`: the judge's flags, for the
    initialisation experiment's win-rates against the Text LM."""
    s = get_scale(scale_name)
    n = seeds or s.seeds
    base = ["--preset", s.preset, *shared]

    def step(name, script, *flags, reused=""):
        return Step(name, script, (*base, "--experiment", f"{study}-{name}", *flags), reused)

    has = set(experiments)
    # What an experiment not in this study would have given another is trained by that one.
    cooldowns = "text,code" if "init" in has else "none,text,code"
    recipes = ("code_to_text", "text,code") if {"init", "cooldown"} <= has else \
        ("code_to_text" if "cooldown" in has else "balanced_to_text,code_to_text",
         "text,code" if "init" in has else "none,text,code")
    steps = {
        "ratio": step("ratio", "sweeps/ratio.py", "--ratios", s.ratios, "--seeds", str(n)),
        "init": step("init", "sweeps/init.py", "--seeds", str(n),
                     *(["--winrate-baseline", "text_only/none", *judged] if judged else [])),
        "size": step("size", "sweeps/size.py", "--sizes", s.other_size, "--ratios", s.size_ratios,
                     "--seeds", str(seeds or s.size_seeds),
                     reused="its trials at the scale's own size are the code-ratio experiment's"),
        "quality": step("quality", "sweeps/synthetic.py", "--sources", "web_code,markup,code_adjacent,synthetic",
                        "--ratios", "0.25", "--seeds", str(seeds or s.quality_seeds)),
        "synthetic": step("synthetic", "sweeps/synthetic.py", "--shares", s.shares, "--ratios", "0.25",
                          "--seeds", str(n), reused="share 0 is the code-ratio experiment's 25% code"),
        "cooldown": step("cooldown", "sweeps/cooldown.py", "--cooldowns", cooldowns, "--seeds", str(n),
                         reused="no cooldown is the initialisation experiment's Balanced->Text; the stages before "
                                "the cooldown are its stages"),
        "recipe": step("recipe", "sweeps/recipe.py", "--recipes", recipes[0], "--cooldowns", recipes[1],
                       "--seeds", str(n), reused="Balanced->Text's variants are the cooldown experiment's; "
                                                 "Code->Text's stages before the cooldown are the initialisation "
                                                 "experiment's"),
    }
    ratios = {float(r) for r in s.ratios.split(",")}
    reuses = {"size": len(ratios & {float(r) for r in s.size_ratios.split(",")}) * min(seeds or s.size_seeds, n)
              if "ratio" in has else 0,
              "synthetic": n if "ratio" in has else 0,
              "cooldown": n if "init" in has else 0,
              "recipe": n * (("init" in has) * 2 + ("cooldown" in has) * 2)}
    return [replace(steps[e], reuses=reuses.get(e, 0)) for e in experiments]
