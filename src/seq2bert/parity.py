"""Load weights in the canonical (PyTorch state-dict) layout into the TensorFlow twin.

The twins use the same layer names; only the storage layout differs:
- Linear weight (out, in) is a Dense kernel (in, out).
- A GRU stores gates as (reset, update, new) in PyTorch and (update, reset, new) in Keras,
  weights transposed, and Keras keeps the input and recurrent biases as the two rows of one
  (2, 3H) bias (its reset_after=True form, which is PyTorch's formula).
"""
from __future__ import annotations

import numpy as np


def _gru_gates(weight: np.ndarray) -> np.ndarray:
    """PyTorch (r, z, n) stacked on axis 0 -> Keras (z, r, n) order."""
    r, z, n = np.split(weight, 3, axis=0)
    return np.concatenate([z, r, n], axis=0)


def gru_weights(state: dict[str, np.ndarray], prefix: str, suffix: str = "") -> list[np.ndarray]:
    """[kernel (in, 3H), recurrent_kernel (H, 3H), bias (2, 3H)] of a PyTorch GRU/GRUCell."""
    get = lambda name: state[f"{prefix}.{name}{suffix}"]  # noqa: E731
    kernel = _gru_gates(get("weight_ih")).T
    recurrent = _gru_gates(get("weight_hh")).T
    bias = np.stack([_gru_gates(get("bias_ih")), _gru_gates(get("bias_hh"))])
    return [kernel, recurrent, bias]


def linear_weights(state: dict[str, np.ndarray], prefix: str) -> list[np.ndarray]:
    """[kernel (in, out)] or [kernel, bias] of a PyTorch Linear."""
    weights = [state[f"{prefix}.weight"].T]
    if f"{prefix}.bias" in state:
        weights.append(state[f"{prefix}.bias"])
    return weights


def load_seq2seq(tf_model, state: dict[str, np.ndarray]) -> None:
    """Load canonical Seq2Seq weights (see seq2bert.init) into a built TF Seq2Seq."""
    encoder, decoder = tf_model.encoder, tf_model.decoder
    encoder.embedding.set_weights([state["encoder.embedding.weight"]])
    encoder.rnn.cell.set_weights(gru_weights(state, "encoder.rnn", "_l0"))
    decoder.embedding.set_weights([state["decoder.embedding.weight"]])
    decoder.output_layer.set_weights(linear_weights(state, "decoder.output"))
    if tf_model.config.attention:
        decoder.cell.set_weights(gru_weights(state, "decoder.cell"))
        for name in ("w_q", "w_k", "v"):
            getattr(decoder.attention, name).set_weights(linear_weights(state, f"decoder.attention.{name}"))
    else:
        decoder.rnn.cell.set_weights(gru_weights(state, "decoder.rnn", "_l0"))


def torch_state(torch_model) -> dict[str, np.ndarray]:
    """A PyTorch model's weights as NumPy arrays, keyed by state-dict name."""
    return {name: value.detach().numpy() for name, value in torch_model.state_dict().items()}
