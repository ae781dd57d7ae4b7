"""Exercises on multi-head attention: split_heads, merge_heads and multi_head_attention (unit 04).

Contract (seq2bert.{torch,tf}.attention): split_heads(x, heads) turns (B, T, D) into
(B, H, T, Dh), Dh = D / H, head h taking the contiguous features h*Dh .. (h+1)*Dh - 1;
merge_heads(x) is its inverse, (B, H, T, Dh) -> (B, T, D). multi_head_attention(x_q, x_kv,
w_q, w_k, w_v, w_o, heads, mask) projects with x @ w (no biases), splits, attends with scale
1/sqrt(Dh), merges and projects with w_o; it returns (output (B, T, D), weights (B, H, T, S)).
The cases cover H = 1, H = D (Dh = 1), T = 1 and T = H, where a wrong reshape keeps the right
shape; every query keeps at least one key (what an all-masked query gets is unit 03's ruling).
Shape legend: B batch, T query length, S key length, D model width, H heads, Dh head width.
"""
from __future__ import annotations

import numpy as np

from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output, lengths_mask, softmax

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

# ---------------------------------------------------------------- multi_head_attention


def _attention_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, batch, queries, keys, width, heads, mask=None, self_attention=False):
        x_q = rng.normal(size=(batch, queries, width)).astype(np.float32)
        x_kv = x_q.copy() if self_attention else rng.normal(size=(batch, keys, width)).astype(np.float32)
        weights = {name: (rng.normal(size=(width, width)) / np.sqrt(width)).astype(np.float32)
                   for name in ("w_q", "w_k", "w_v", "w_o")}
        return Case(label, {"x_q": x_q, "x_kv": x_kv, **weights, "heads": heads, "mask": mask})

    return [
        case("self-attention, 2 heads, no mask", 2, 4, 4, 8, 2, self_attention=True),
        case("cross-attention with key padding (B, 1, 1, S)", 2, 3, 5, 8, 4,
             mask=lengths_mask([5, 2], 5)[:, None, None, :]),
        case("causal self-attention, mask (T, T)", 1, 5, 5, 6, 3, mask=np.tril(np.ones((5, 5), bool)),
             self_attention=True),
        case("one head (H = 1)", 2, 3, 3, 4, 1),
        case("head width 1 (H = D)", 1, 3, 4, 4, 4, mask=lengths_mask([3], 4)[:, None, None, :]),
        case("one query (T = 1)", 2, 1, 6, 8, 2, mask=lengths_mask([6, 1], 6)[:, None, None, :]),
    ]


def _multi_head_attention(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask, *, split=_split_heads, merge=_merge_heads,
                          scale_width=None, use_mask=True, out=True, swap=False, transpose=False):
    """The contract in float64, with each part swappable (the known mistakes below)."""
    def project(x, w):
        return x.astype(np.float64) @ (w.T if transpose else w)  # (B, L, D) @ (D, D) -> (B, L, D)

    q = split(project(x_q, w_q), heads)  # (B, H, T, Dh)
    k = split(project(x_kv, w_v if swap else w_k), heads)  # (B, H, S, Dh)
    v = split(project(x_kv, w_k if swap else w_v), heads)  # (B, H, S, Dh)
    width = q.shape[-1] if scale_width is None else scale_width(x_q.shape[-1])
    scores = q @ k.swapaxes(-1, -2) / np.sqrt(width)  # (B, H, T, Dh) @ (B, H, Dh, S) -> (B, H, T, S)
    if mask is not None and use_mask:
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores)  # (B, H, T, S)
    merged = merge(weights @ v)  # (B, H, T, S) @ (B, H, S, Dh) -> (B, H, T, Dh) -> (B, T, D)
    return (project(merged, w_o) if out else merged), weights


def _mha_mistake(**slip):
    return lambda *args: _multi_head_attention(*args, **slip)


MULTI_HEAD_ATTENTION = Exercise(
    name="multi_head_attention",
    references=references("multi_head_attention", module="attention"),
    unit="04",
    outputs=(Output("the output has", "float"), Output("the weights have", "float")),
    grad_arg="x_q",
    make_cases=_attention_cases,
    reference=_multi_head_attention,
    mistakes=(
        Mistake("scaled_by_model_width", _mha_mistake(scale_width=lambda width: width),
                "scale the scores by 1/sqrt(Dh), the width of one head (the length of the vectors each dot "
                "product multiplies), not by 1/sqrt(D)"),
        Mistake("no_scale", _mha_mistake(scale_width=lambda width: 1.0),
                "the scores are not scaled: divide q k^T by sqrt(Dh) before the softmax"),
        Mistake("no_output_projection", _mha_mistake(out=False),
                "finish with the output projection: merge the heads, then multiply by w_o"),
        Mistake("split_without_transpose", _mha_mistake(split=_split_by_reshape_only),
                "the heads are cut wrongly: split (B, L, D) by reshaping to (B, L, H, Dh) and then swapping "
                "axes 1 and 2, not by reshaping straight to (B, H, L, Dh)"),
        Mistake("merge_without_transpose", _mha_mistake(merge=_merge_by_reshape_only),
                "the weights are right but the heads are joined wrongly: swap axes 1 and 2 back, "
                "(B, H, T, Dh) -> (B, T, H, Dh), before reshaping to (B, T, D)"),
        Mistake("mask_ignored", _mha_mistake(use_mask=False),
                "the mask is ignored: keys where it is False must get weight 0 (pass it on to the attention, "
                "or set those scores to -inf before the softmax)"),
        Mistake("keys_values_swapped", _mha_mistake(swap=True),
                "keys and values are swapped: keys are x_kv @ w_k (they are compared with the queries) and "
                "values x_kv @ w_v (they are averaged)"),
        Mistake("transposed_weights", _mha_mistake(transpose=True),
                "multiply by the weights as given, x @ w (each w is (D_in, D_out)); you used x @ w.T, "
                "nn.Linear's layout"),
    ),
)


register(SPLIT_HEADS, MERGE_HEADS, MULTI_HEAD_ATTENTION)
