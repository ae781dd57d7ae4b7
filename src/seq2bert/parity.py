"""Copy PyTorch weights into the TensorFlow twin, so tests can show both compute the same thing.

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


def gru_weights(torch_gru, suffix: str = "") -> list[np.ndarray]:
    """[kernel (in, 3H), recurrent_kernel (H, 3H), bias (2, 3H)] from a torch GRU/GRUCell."""
    get = lambda name: getattr(torch_gru, name + suffix).detach().numpy()  # noqa: E731
    kernel = _gru_gates(get("weight_ih")).T
    recurrent = _gru_gates(get("weight_hh")).T
    bias = np.stack([_gru_gates(get("bias_ih")), _gru_gates(get("bias_hh"))])
    return [kernel, recurrent, bias]


def linear_weights(torch_linear) -> list[np.ndarray]:
    """[kernel (in, out)] or [kernel, bias] from a torch Linear."""
    weights = [torch_linear.weight.detach().numpy().T]
    if torch_linear.bias is not None:
        weights.append(torch_linear.bias.detach().numpy())
    return weights


def copy_seq2seq(torch_model, tf_model) -> None:
    """Load a torch Seq2Seq's weights into a built TF Seq2Seq of the same config."""
    tm, km = torch_model, tf_model
    km.encoder.embedding.set_weights([tm.encoder.embedding.weight.detach().numpy()])
    km.encoder.rnn.cell.set_weights(gru_weights(tm.encoder.rnn, "_l0"))
    km.decoder.embedding.set_weights([tm.decoder.embedding.weight.detach().numpy()])
    km.decoder.output_layer.set_weights(linear_weights(tm.decoder.output))
    if tm.config.attention:
        km.decoder.cell.set_weights(gru_weights(tm.decoder.cell))
        for name in ("w_q", "w_k", "v"):
            getattr(km.decoder.attention, name).set_weights(linear_weights(getattr(tm.decoder.attention, name)))
    else:
        km.decoder.rnn.cell.set_weights(gru_weights(tm.decoder.rnn, "_l0"))
