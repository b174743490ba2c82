"""Cooldown (§3.5 of the study): none, a cooldown without code, a cooldown with 20% code.

    python sweeps/cooldown.py                              # on Balanced->Text: none, text, code
    python sweeps/cooldown.py --recipes code_to_text --winrate-baseline code_to_text/none --judge URL

The last 10% of the budget decays the learning rate linearly to 1e-6 on a mixture that
up-weights high-quality data (trainers/recipes.py); the stages before it are trained once and
shared by the three variants. This is `sweeps/recipe.py` with these defaults; every recipe
flag works here.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweeps import recipe  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return recipe.main(argv, doc=__doc__, experiment="codemix-cooldown", recipes="balanced_to_text",
                       cooldowns="none,text,code")


if __name__ == "__main__":
    sys.exit(main())
