"""A simple, documented model of how many tokens of KV cache fit on an instance's GPUs (reference U10).

TGI >= 2.4 with no limits set picks `max_total_tokens = min(KV-cache capacity, model context)`: after
loading the weights, warmup turns the free GPU memory into cache blocks. The emulator estimates:

    usable   = gpu_memory_gb GiB (all the instance's GPUs) * MEMORY_FRACTION
    weights  = parameter count * bytes per parameter (2 for fp16/bf16; awq/gptq 0.5; eetq/bitsandbytes 1)
    per_tok  = 2 (K and V) * layers * kv_heads * head_dim * 2 bytes (fp16 cache)
    capacity = floor((usable - weights) / per_tok), rounded down to a multiple of BLOCK_SIZE

The parameter count comes from config.json: embeddings (vocab * hidden, twice unless tied) plus, per
layer, attention (2 * hidden^2 + 2 * hidden * kv_dim) and the MLP (3 * hidden * intermediate when
gated/SiLU, else 2 *). Examples: Mistral-7B (32k context, 7.2 B params, 128 KiB per token) on one
nvidia-t4 (16 GiB) gets ~7,400 tokens; Llama-2-7B (4k) on an nvidia-a10g (24 GiB) is held at 4096.
CPU instances (no GPU memory) and configs this cannot read are not limited.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MEMORY_FRACTION = 0.9  # the rest: CUDA context, activations, CUDA graphs
BLOCK_SIZE = 16
GIB = 1024**3
QUANTIZED_BYTES = {"awq": 0.5, "gptq": 0.5, "eetq": 1.0, "bitsandbytes": 1.0}


def _int(config: Mapping[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = config.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def _shape(config: Mapping[str, Any]) -> tuple[int, int, int, int] | None:
    hidden = _int(config, "hidden_size", "n_embd", "d_model")
    layers = _int(config, "num_hidden_layers", "n_layer", "num_layers")
    heads = _int(config, "num_attention_heads", "n_head")
    if hidden is None or layers is None or heads is None:
        return None
    kv_heads = _int(config, "num_key_value_heads") or heads
    return hidden, layers, heads, kv_heads


def parameter_count(config: Mapping[str, Any]) -> int | None:
    shape = _shape(config)
    vocab = _int(config, "vocab_size")
    if shape is None or vocab is None:
        return None
    hidden, layers, heads, kv_heads = shape
    kv_dim = hidden * kv_heads // heads
    inner = _int(config, "intermediate_size", "n_inner") or 4 * hidden
    gated = config.get("hidden_act") == "silu" or config.get("model_type") in ("llama", "mistral", "qwen2")
    mlp = (3 if gated else 2) * hidden * inner
    attention = 2 * hidden * hidden + 2 * hidden * kv_dim
    tied = config.get("tie_word_embeddings", True) is not False
    return layers * (attention + mlp) + vocab * hidden * (1 if tied else 2)


def kv_bytes_per_token(config: Mapping[str, Any]) -> int | None:
    shape = _shape(config)
    if shape is None:
        return None
    hidden, layers, heads, kv_heads = shape
    return 2 * layers * kv_heads * (hidden // heads) * 2


def weight_bytes(config: Mapping[str, Any], quantize: str | None) -> int | None:
    params = parameter_count(config)
    if params is None:
        return None
    return int(params * QUANTIZED_BYTES.get(quantize or "", 2.0))


def capacity_tokens(config: Mapping[str, Any], gpu_memory_gb: float | None, quantize: str | None) -> int | None:
    """Tokens of KV cache that fit (a multiple of BLOCK_SIZE, possibly 0), or None when not limited."""
    if not gpu_memory_gb:
        return None
    weights, per_token = weight_bytes(config, quantize), kv_bytes_per_token(config)
    if weights is None or per_token is None:
        return None
    free = gpu_memory_gb * GIB * MEMORY_FRACTION - weights
    if free <= 0:
        return 0
    return int(free // per_token) // BLOCK_SIZE * BLOCK_SIZE
