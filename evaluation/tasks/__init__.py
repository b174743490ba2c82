"""lm-eval task files (YAML) of codemix and their loaders and scorers (utils.py)."""
