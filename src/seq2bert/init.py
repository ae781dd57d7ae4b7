"""Initial weights drawn with NumPy, so the PyTorch and TensorFlow twins start identical.

Weights are named and laid out as in the PyTorch state dict (the canonical layout; see
seq2bert.parity for the TensorFlow mapping) and drawn as PyTorch's defaults draw them:
embeddings N(0, 1); GRU weights and biases U(-1/sqrt(H), 1/sqrt(H)); linear weights and
biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Same data order, same optimiser settings and the
same start make the twins' training runs track each other.
"""
from __future__ import annotations

import numpy as np

from seq2bert.configs import Seq2SeqConfig


def _gru(rng: np.random.Generator, prefix: str, inputs: int, hidden: int, suffix: str) -> dict[str, np.ndarray]:
    bound = 1.0 / np.sqrt(hidden)
    shapes = {"weight_ih": (3 * hidden, inputs), "weight_hh": (3 * hidden, hidden),
              "bias_ih": (3 * hidden,), "bias_hh": (3 * hidden,)}
    return {f"{prefix}.{name}{suffix}": rng.uniform(-bound, bound, shape) for name, shape in shapes.items()}


def _linear(rng: np.random.Generator, prefix: str, inputs: int, outputs: int, bias: bool = True) -> dict[str, np.ndarray]:
    bound = 1.0 / np.sqrt(inputs)
    weights = {f"{prefix}.weight": rng.uniform(-bound, bound, (outputs, inputs))}
    if bias:
        weights[f"{prefix}.bias"] = rng.uniform(-bound, bound, (outputs,))
    return weights


def seq2seq_weights(config: Seq2SeqConfig, seed: int) -> dict[str, np.ndarray]:
    """Every weight of a Seq2Seq model, float32, keyed by its PyTorch state-dict name."""
    rng = np.random.default_rng(seed)
    e, h, a = config.embed, config.hidden, config.attention_dim
    weights = {"encoder.embedding.weight": rng.standard_normal((config.src_vocab, e))}
    weights.update(_gru(rng, "encoder.rnn", e, h, "_l0"))
    weights["decoder.embedding.weight"] = rng.standard_normal((config.tgt_vocab, e))
    if config.attention:
        weights.update(_linear(rng, "decoder.attention.w_q", h, a, bias=False))
        weights.update(_linear(rng, "decoder.attention.w_k", h, a, bias=False))
        weights.update(_linear(rng, "decoder.attention.v", a, 1, bias=False))
        weights.update(_gru(rng, "decoder.cell", e + h, h, ""))
        weights.update(_linear(rng, "decoder.output", 2 * h, config.tgt_vocab))
    else:
        weights.update(_gru(rng, "decoder.rnn", e + h, h, "_l0"))
        weights.update(_linear(rng, "decoder.output", h, config.tgt_vocab))
    return {name: value.astype(np.float32) for name, value in weights.items()}
