"""The named model-size table: every size is a name, every dimension lives here.

    from trainers.sizes import SIZES, model_config
    cfg = model_config("4m")          # a transformers.LlamaConfig

Llama-style decoder-only models (RMSNorm, SwiGLU, RoPE), the family of the study's models.
A size's name is its parameter count (within 5%, checked on the meta device by the tests);
`smoke` is the exception, a pulse for tests. The CPU ladder ties embeddings and uses the
embedded 4096-token vocabulary, where the vocabulary would otherwise dominate; the paper
sizes use a 32k vocabulary, untied, with the study's 8192-token context.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelSize:
    d_model: int
    n_layers: int
    n_heads: int
    d_ff: int
    seq_len: int            # context length used in training and evaluation
    vocab_size: int = 4096  # the tokenizer trained for this size has exactly this many tokens
    tie_embeddings: bool = True


SIZES: dict[str, ModelSize] = {
    # ~0.36M params: trains a few hundred sequences in seconds on 2 cores.
    "smoke": ModelSize(d_model=64, n_layers=2, n_heads=2, d_ff=172, seq_len=128),
    # The CPU ladder: ~12k, ~5k and ~1.5k tokens/s on 2 cores.
    "1m": ModelSize(d_model=128, n_layers=2, n_heads=4, d_ff=432, seq_len=256),
    "4m": ModelSize(d_model=256, n_layers=4, n_heads=4, d_ff=640, seq_len=256),
    "16m": ModelSize(d_model=384, n_layers=8, n_heads=6, d_ff=1024, seq_len=512),
    # The study's sizes, for GPU clusters.
    "470m": ModelSize(d_model=1024, n_layers=24, n_heads=16, d_ff=4096, seq_len=8192,
                      vocab_size=32768, tie_embeddings=False),
    "2.8b": ModelSize(d_model=2560, n_layers=32, n_heads=20, d_ff=7296, seq_len=8192,
                      vocab_size=32768, tie_embeddings=False),
}


def get_size(size: str) -> ModelSize:
    if size not in SIZES:
        raise ValueError(f"unknown model size {size!r}; known sizes: {', '.join(SIZES)}")
    return SIZES[size]


def model_config(size: str, eos_id: int = 0):
    """A transformers.LlamaConfig for a named size; `eos_id`: the tokenizer's end of text."""
    from transformers import LlamaConfig  # imported here: importing transformers costs seconds
    s = get_size(size)
    return LlamaConfig(
        vocab_size=s.vocab_size, hidden_size=s.d_model, intermediate_size=s.d_ff,
        num_hidden_layers=s.n_layers, num_attention_heads=s.n_heads, num_key_value_heads=s.n_heads,
        max_position_embeddings=s.seq_len, tie_word_embeddings=s.tie_embeddings,
        bos_token_id=None, eos_token_id=eos_id, pad_token_id=eos_id)


def parameter_count(size: str) -> int:
    """Parameters of a size, counted on the meta device: nothing is allocated."""
    import torch
    from transformers import LlamaForCausalLM
    with torch.device("meta"):
        model = LlamaForCausalLM(model_config(size))
    return sum(p.numel() for p in model.parameters())
