"""Positional information for self-attention, in PyTorch (twin: seq2bert.tf.positional).

Self-attention treats its input as a set: permute the tokens and the outputs are permuted the
same way. Three ways to tell it the order:
- sinusoidal_encoding: a fixed (T, D) table added to the token embeddings (Vaswani et al. 2017);
- LearnedPositions: a trained (max_length, D) table added the same way;
- apply_rope: rotate queries and keys by an angle proportional to their position
  (Su et al. 2021), so a query-key dot product depends on positions only through their offset.

Shape legend: B batch, T sequence length, D model width, Dh head width; P positions in a table.
"""
from __future__ import annotations

import torch
from torch import nn


def _check_even(width: int, what: str) -> None:
    if width <= 0 or width % 2:
        raise ValueError(f"{what} must be a positive even number (pairs of sin and cos), got {width}")


def _inverse_frequencies(width: int, base: float) -> torch.Tensor:
    """(width / 2,) float64: base^(-2i / width) for pair i = 0 .. width/2 - 1."""
    return base ** (-torch.arange(0, width, 2, dtype=torch.float64) / width)


def sinusoidal_encoding(length: int, width: int) -> torch.Tensor:
    """(T, D) float32: PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D))."""
    _check_even(width, "the width of a sinusoidal encoding")
    if length < 0:
        raise ValueError(f"length must be 0 or more, got {length}")
    angles = torch.arange(length, dtype=torch.float64)[:, None] * _inverse_frequencies(width, 10000.0)  # (T, 1) * (D/2,) -> (T, D/2)
    pairs = torch.stack([angles.sin(), angles.cos()], dim=-1)  # (T, D/2, 2): sin in the even slot, cos in the odd
    return pairs.reshape(length, width).float()  # (T, D/2, 2) -> (T, D), interleaved


class LearnedPositions(nn.Module):
    """Adds a trained position vector P[p] to the token vector at position p: x + P[:T].

    The table is an embedding, so it starts N(0, 1) like every embedding here (seq2bert.init):
    the encoder multiplies its N(0, D^-1/2) token embeddings by sqrt(D), which puts tokens at
    RMS about 1 too, so positions start at the tokens' scale. (BERT's std 0.02 under such
    tokens made the order tasks learn 3-4x slower.)
    """

    def __init__(self, max_length: int, width: int):
        super().__init__()
        if max_length <= 0 or width <= 0:
            raise ValueError(f"max_length and width must be positive, got {max_length} and {width}")
        self.embedding = nn.Embedding(max_length, width)  # P: (max_length, D), N(0, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        max_length, width = self.embedding.weight.shape
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() != 3:
            raise ValueError(f"expected x of shape (B, T, D), got shape {tuple(x.shape)}")
        if x.shape[-1] != width:
            raise ValueError(f"x has width {x.shape[-1]} but the position table {width}")
        if x.shape[1] > max_length:
            raise ValueError(f"a sequence of length {x.shape[1]} is longer than the {max_length} "
                             "learned positions (raise max_length)")
        return x + self.embedding.weight[: x.shape[1]]  # (B, T, D) + (T, D)


def _positions(positions, length: int, device: torch.device) -> torch.Tensor:
    """(T,) float64 positions: 0 .. T-1 when None; a clear error when the shape does not fit."""
    if positions is None:
        return torch.arange(length, dtype=torch.float64, device=device)
    positions = torch.as_tensor(positions, device=device)
    if positions.dtype.is_floating_point or positions.dtype == torch.bool or positions.dtype.is_complex:
        raise TypeError(f"positions must be integers, got dtype {positions.dtype}")
    if tuple(positions.shape) != (length,):
        raise ValueError(f"positions have shape {tuple(positions.shape)} but x has {length} positions: "
                         f"expected ({length},)")
    return positions.to(torch.float64)


def apply_rope(x: torch.Tensor, positions=None, base: float = 10000.0) -> torch.Tensor:
    """Rotary position embedding (Su et al. 2021) with interleaved pairs.

    x (..., T, Dh), Dh even: each pair (x[2i], x[2i+1]) at position p is rotated by the angle
    p * base^(-2i/Dh). positions: (T,) integers, or None for 0 .. T-1. Returns x's shape and dtype.
    Since R_p^T R_s = R_(s-p), (R_p q) . (R_s k) depends on p and s only through s - p.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() < 2:
        raise ValueError(f"expected x of shape (..., T, Dh), got shape {tuple(x.shape)}")
    length, width = x.shape[-2], x.shape[-1]
    _check_even(width, "the head width for rotary positions")
    angles = _positions(positions, length, x.device)[:, None] * _inverse_frequencies(width, base).to(x.device)  # (T, 1) * (Dh/2,) -> (T, Dh/2)
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)  # (T, Dh/2) each
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., T, Dh/2) each: the two coordinates of every pair
    rotated = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)  # (..., T, Dh/2, 2)
    return rotated.flatten(-2)  # (..., T, Dh/2, 2) -> (..., T, Dh), pairs interleaved again
