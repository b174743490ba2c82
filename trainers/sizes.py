"""The named model-size table: every size is a name, every dimension lives here.

    from trainers.sizes import model_config
    cfg = model_config("1m", vocab_size=4096)   # a transformers.LlamaConfig

Llama-style decoder-only models (RMSNorm, SwiGLU, RoPE), the family the study's Cohere
models belong to. Embeddings are tied on the CPU ladder, where the vocabulary would
otherwise be most of the parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

from transformers import LlamaConfig


@dataclass(frozen=True)
class ModelSize:
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    seq_len: int       # context length used in training and evaluation
    tie_embeddings: bool = True


SIZES: dict[str, ModelSize] = {
    # ~0.3M params: a "pulse" for tests, trains a few hundred steps in seconds on 2 cores.
    "smoke": ModelSize(d_model=64, n_layers=2, n_heads=2, d_ff=172, seq_len=128),
    # ~1.3M params: ~10k tokens/s on 2 CPU cores, so a 1M-token trial takes ~2 minutes.
    "1m": ModelSize(d_model=128, n_layers=4, n_heads=4, d_ff=344, seq_len=256),
    # ~4M params: ~3k tokens/s on 2 cores; the laptop's upper end.
    "4m": ModelSize(d_model=256, n_layers=4, n_heads=4, d_ff=688, seq_len=256),
}


def model_config(size: str, vocab_size: int) -> LlamaConfig:
    """A transformers config for a named size; unknown names fail with the known ones."""
    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; known sizes: {', '.join(SIZES)}")
    s = SIZES[size]
    return LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=s.d_model,
        intermediate_size=s.d_ff,
        num_hidden_layers=s.n_layers,
        num_attention_heads=s.n_heads,
        num_key_value_heads=s.n_heads,
        max_position_embeddings=s.seq_len,
        tie_word_embeddings=s.tie_embeddings,
        bos_token_id=None,
        eos_token_id=0,
        pad_token_id=0,
    )
