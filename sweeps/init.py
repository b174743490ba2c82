"""Initialisation (§3.1 of the study, Table 2): continue on text from a code or a balanced start.

    python sweeps/init.py                                  # Text LM, Balanced LM, Balanced->Text, Code->Text
    python sweeps/init.py --preset smoke --seeds 2

The four recipes of trainers/recipes.py without a cooldown: `text_only` (the Text LM),
`balanced_only` (the Balanced LM), `balanced_to_text` and `code_to_text` (init, then
continue on text with 10% code). Stages are shared by key (trainers/stages.py): the init
stage of two recipes that start alike is trained once. The parent run holds the study's
relative-increase table against the Text LM. This is `sweeps/recipe.py` with these defaults;
every recipe flag works here.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweeps import recipe  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return recipe.main(argv, doc=__doc__, experiment="codemix-init",
                       recipes="text_only,balanced_only,balanced_to_text,code_to_text", cooldowns="none")


if __name__ == "__main__":
    sys.exit(main())
