"""Exercises on multi-head attention's reshapes: split_heads and merge_heads (unit 04).

Contract (seq2bert.{torch,tf}.attention): split_heads(x, heads) turns (B, T, D) into
(B, H, T, Dh), Dh = D / H, head h taking the contiguous features h*Dh .. (h+1)*Dh - 1;
merge_heads(x) is its inverse, (B, H, T, Dh) -> (B, T, D). The cases cover H = 1, H = D
(Dh = 1), T = 1 and T = H, where a wrong reshape keeps the right shape.
Shape legend: B batch, T sequence length, D model width, H heads, Dh head width.
"""
from __future__ import annotations

import numpy as np

from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output

# ---------------------------------------------------------------- split_heads


def _split_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, batch, length, width, heads):
        return Case(label, {"x": rng.normal(size=(batch, length, width)).astype(np.float32), "heads": heads})

    return [
        case("random", 2, 5, 12, 3),
        case("one head (H = 1)", 2, 4, 6, 1),
        case("head width 1 (H = D)", 2, 3, 4, 4),
        case("one token (T = 1)", 3, 1, 8, 2),
        case("as many tokens as heads (T = H)", 1, 4, 8, 4),
        case("batch of 1, wide heads", 1, 6, 16, 2),
    ]


def _split_heads(x, heads):
    batch, length, width = x.shape
    return x.reshape(batch, length, heads, width // heads).transpose(0, 2, 1, 3)  # -> (B, T, H, Dh) -> (B, H, T, Dh)


def _split_by_reshape_only(x, heads):
    batch, length, width = x.shape
    return x.reshape(batch, heads, length, width // heads)  # (B, T, D) -> (B, H, T, Dh) without moving axes


def _split_strided(x, heads):
    batch, length, width = x.shape
    return x.reshape(batch, length, width // heads, heads).transpose(0, 3, 1, 2)  # head h: features h, h+H, ...


def _split_no_transpose(x, heads):
    batch, length, width = x.shape
    return x.reshape(batch, length, heads, width // heads)  # (B, T, H, Dh): the head axis left behind


def _split_sequence(x, heads):
    batch, length, width = x.shape
    return x.reshape(batch, heads, length // heads, width)  # cuts the sequence, not the features


_CONTIGUOUS = "head h takes the contiguous features h*Dh .. (h+1)*Dh - 1"

SPLIT_HEADS = Exercise(
    name="split_heads",
    references=references("split_heads", module="attention"),
    unit="04",
    outputs=(Output("the heads have", "float"),),
    grad_arg="x",
    make_cases=_split_cases,
    reference=_split_heads,
    mistakes=(
        Mistake("reshape_only", _split_by_reshape_only,
                "reshaping (B, T, D) straight to (B, H, T, Dh) mixes positions into the heads: reshape to "
                "(B, T, H, Dh) first (that cuts each token's D features into H pieces), then swap axes 1 "
                "and 2 (transpose(1, 2) / tf.transpose with perm [0, 2, 1, 3])"),
        Mistake("strided_heads", _split_strided,
                f"the features went to the heads in the wrong order: {_CONTIGUOUS}, so reshape the last "
                "axis as (H, Dh), not (Dh, H)"),
        Mistake("no_transpose", _split_no_transpose,
                "you reshaped to (B, T, H, Dh) but left the head axis behind the time axis: swap axes 1 "
                "and 2 to get (B, H, T, Dh), so each head is a (T, Dh) matrix for attention"),
        Mistake("split_sequence", _split_sequence,
                "you cut the sequence into H pieces: every head sees ALL T positions and a slice of the "
                f"features ({_CONTIGUOUS})"),
    ),
)

# ---------------------------------------------------------------- merge_heads


def _merge_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, batch, heads, length, head_width):
        return Case(label, {"x": rng.normal(size=(batch, heads, length, head_width)).astype(np.float32)})

    return [
        case("random", 2, 3, 5, 4),
        case("one head (H = 1)", 2, 1, 4, 6),
        case("head width 1", 2, 4, 3, 1),
        case("one token (T = 1)", 3, 2, 1, 4),
        case("as many tokens as heads (T = H)", 1, 4, 4, 2),
        case("batch of 1, wide heads", 1, 2, 6, 8),
    ]


def _merge_heads(x):
    batch, heads, length, head_width = x.shape
    return x.transpose(0, 2, 1, 3).reshape(batch, length, heads * head_width)  # -> (B, T, H, Dh) -> (B, T, D)


def _merge_by_reshape_only(x):
    batch, heads, length, head_width = x.shape
    return x.reshape(batch, length, heads * head_width)  # (B, H, T, Dh) -> (B, T, D) without moving axes


def _merge_strided(x):
    batch, heads, length, head_width = x.shape
    return x.transpose(0, 2, 3, 1).reshape(batch, length, heads * head_width)  # via (B, T, Dh, H)


def _merge_no_reshape(x):
    return x.transpose(0, 2, 1, 3)  # (B, T, H, Dh)


MERGE_HEADS = Exercise(
    name="merge_heads",
    references=references("merge_heads", module="attention"),
    unit="04",
    outputs=(Output("the merged result has", "float"),),
    grad_arg="x",
    make_cases=_merge_cases,
    reference=_merge_heads,
    mistakes=(
        Mistake("reshape_only", _merge_by_reshape_only,
                "reshaping (B, H, T, Dh) straight to (B, T, D) mixes positions across heads: first swap "
                "axes 1 and 2 back, (B, H, T, Dh) -> (B, T, H, Dh), then reshape to (B, T, H * Dh)"),
        Mistake("strided_merge", _merge_strided,
                "the heads' features are interleaved: put each head's Dh features side by side, head after "
                "head (the order split_heads took them in), by going through (B, T, H, Dh), not (B, T, Dh, H)"),
        Mistake("no_reshape", _merge_no_reshape,
                "you moved the head axis back but did not join the heads: reshape (B, T, H, Dh) to "
                "(B, T, H * Dh)"),
        Mistake("mean_over_heads", lambda x: x.mean(axis=1),
                "you averaged the heads: concatenate them instead, so the output has width D = H * Dh and "
                "w_o can weigh every head's features separately"),
        Mistake("sum_over_heads", lambda x: x.sum(axis=1),
                "you summed the heads: concatenate them instead, so the output has width D = H * Dh and "
                "w_o can weigh every head's features separately"),
    ),
)


register(SPLIT_HEADS, MERGE_HEADS)
