"""What every layer needs and nothing of this project's own: fetching registry packages into
the cache (`common.fetch`). It imports no other package of codemix (pyproject.toml's
import-linter contracts: sweeps -> trainers -> evaluation -> common)."""
