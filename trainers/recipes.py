"""The study's training recipes (PAPER.md §3.1, §3.5, Table 2) as named functions of stages.

    stages = RECIPES["balanced_to_text"](cooldown="code")   # [init, continue, cooldown]

A stage names its mixture, its share of the recipe's token budget, its LR schedule and
whether it starts from the previous stage's checkpoint. Shares follow the study's token
counts: Balanced→Text trains 200B balanced then 200B of 90% text (Table 2), and a cooldown
takes the last 10% of the budget with a linear decay to 1e-6 and a mixture that up-weights
the high-quality sources (verified synthetic code, code-adjacent text, and of the text the
encyclopedic tier: Wikipedia).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from trainers.data.mixture import DEFAULT_CODE_MIX

COOLDOWNS = ("none", "text", "code")  # none; cooldown without code; cooldown with 20% code
CODE_LM_MIX = "web_code:0.8,markup:0.2"  # the study's code-LM: 80% code, 20% markup
# High-quality code for cooldowns: verified synthetic code and code-adjacent text weigh more.
COOLDOWN_CODE_MIX, COOLDOWN_SYNTHETIC = "web_code:0.5,markup:0.1,code_adjacent:0.4", 0.3
# Natural sizes of the text tiers are about encyclopedic 16%, news 36%, speeches 20%,
# literature 28% (python -m trainers.data.stats); a cooldown triples Wikipedia's share.
COOLDOWN_TEXT_MIX = "encyclopedic:0.5,news:0.2,speeches:0.1,literature:0.2"
COOLDOWN_SHARE = 0.10
COOLDOWN_MIN_LR = 1e-6


@dataclass(frozen=True)
class Stage:
    name: str
    code_ratio: float
    token_share: float                # of the recipe's total budget
    code_mix: str = DEFAULT_CODE_MIX
    synthetic_share: float = 0.0
    text_mix: str = ""                # "": every text source by its size
    schedule: str = "cosine"
    min_lr: float | None = None       # None: the preset's
    from_previous: bool = True        # start from the previous stage's checkpoint

    def __post_init__(self):
        if not 0 < self.token_share <= 1:
            raise ValueError(f"stage {self.name}: token share {self.token_share} is outside (0, 1]")


def _with_cooldown(stages: list[Stage], cooldown: str) -> list[Stage]:
    if cooldown not in COOLDOWNS:
        raise ValueError(f"unknown cooldown {cooldown!r}; choose from {', '.join(COOLDOWNS)}")
    if cooldown == "none":
        return stages
    scaled = [replace(s, token_share=s.token_share * (1 - COOLDOWN_SHARE)) for s in stages]
    ratio = 0.2 if cooldown == "code" else 0.0
    return scaled + [Stage("cooldown", ratio, COOLDOWN_SHARE, COOLDOWN_CODE_MIX, COOLDOWN_SYNTHETIC,
                           COOLDOWN_TEXT_MIX, schedule="linear", min_lr=COOLDOWN_MIN_LR)]


def text_only(cooldown: str = "none") -> list[Stage]:
    return _with_cooldown([Stage("pretrain", 0.0, 1.0, from_previous=False)], cooldown)


def balanced_only(cooldown: str = "none") -> list[Stage]:
    return _with_cooldown([Stage("pretrain", 0.5, 1.0, from_previous=False)], cooldown)


def balanced_to_text(cooldown: str = "none") -> list[Stage]:
    return _with_cooldown([Stage("init", 0.5, 0.5, from_previous=False),
                           Stage("continue", 0.1, 0.5)], cooldown)


def code_to_text(cooldown: str = "none") -> list[Stage]:
    return _with_cooldown([Stage("init", 1.0, 0.5, code_mix=CODE_LM_MIX, from_previous=False),
                           Stage("continue", 0.1, 0.5)], cooldown)


RECIPES = {f.__name__: f for f in (text_only, balanced_only, balanced_to_text, code_to_text)}


def get_recipe(name: str, cooldown: str = "none") -> list[Stage]:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; known recipes: {', '.join(RECIPES)}")
    return RECIPES[name](cooldown)
