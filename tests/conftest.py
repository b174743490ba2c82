"""Shared fixtures: one prepared corpus for the whole suite, built once and cached.

The cache lives in the checkout's .cache/ (git-ignored) unless CODEMIX_CACHE is set, so a
second run of the suite reuses the tokenizer and token arrays.
"""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("CODEMIX_CACHE", str(ROOT / ".cache" / "codemix"))
os.environ.setdefault("RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS", "0")


@pytest.fixture(scope="session")
def prepared():
    from trainers.data.prepare import prepare
    return prepare()
