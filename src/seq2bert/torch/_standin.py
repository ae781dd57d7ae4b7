"""TEMPORARY stand-in for u4-core's MultiHeadAttention and positional.py (deleted after the merge)."""
from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal_encoding(length, width):
    inv = 10000.0 ** (-torch.arange(0, width, 2, dtype=torch.float64) / width)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv
    return torch.stack([angles.sin(), angles.cos()], -1).reshape(length, width).float()


class LearnedPositions(nn.Module):
    def __init__(self, max_length, width):
        super().__init__()
        self.embedding = nn.Embedding(max_length, width)

    def forward(self, x):
        if x.shape[1] > self.embedding.weight.shape[0]:
            raise ValueError("too long")
        return x + self.embedding.weight[: x.shape[1]]


def apply_rope(x, positions=None, base=10000.0):
    length, width = x.shape[-2], x.shape[-1]
    inv = base ** (-torch.arange(0, width, 2, dtype=torch.float64) / width)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * inv
    cos, sin = angles.cos().float(), angles.sin().float()
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], -1).flatten(-2)


class MultiHeadAttention(nn.Module):
    def __init__(self, width, heads, rotary=False):
        super().__init__()
        self.heads, self.rotary = heads, rotary
        self.w_q, self.w_k, self.w_v, self.w_o = (nn.Linear(width, width) for _ in range(4))

    def forward(self, query, key, value, mask=None):
        b, t, d = query.shape
        split = lambda x: x.reshape(b, -1, self.heads, d // self.heads).transpose(1, 2)  # noqa: E731
        q, k, v = split(self.w_q(query)), split(self.w_k(key)), split(self.w_v(value))
        if self.rotary:
            q, k = apply_rope(q), apply_rope(k)
        scores = q @ k.transpose(-1, -2) / math.sqrt(d // self.heads)
        if mask is not None:
            scores = scores.masked_fill(~mask, float("-inf"))
        weights = scores.softmax(-1)
        if mask is not None:
            weights = weights.nan_to_num(0.0)
        out = (weights @ v).transpose(1, 2).reshape(b, t, d)
        return self.w_o(out), weights
