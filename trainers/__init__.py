"""Model sizes, data mixtures and the Ray Train pre-training loop of codemix."""
