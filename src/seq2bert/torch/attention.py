"""Scaled dot-product attention, its masks, and a blockwise variant with an online softmax.

attention(Q, K, V) = softmax(Q K^T / sqrt(Dk), masked) V   (Vaswani et al. 2017). A bool mask is
True where a query may attend (seq2bert.torch.masks). A query whose keys are ALL masked gets
weights exactly 0 and output exactly 0 (no NaN in the forward pass or the gradient): it has
nothing to look at, so it reads nothing. Unit 02's ops.masked_softmax gave such a row uniform
weights instead.

Shape legend: B batch, S source (key) length, T target (query) length, D model width, H heads,
Dh head width, Dk query/key width, Dv value width, Sb keys in one block, "..." any leading axes
(batch, heads).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from seq2bert.torch.masks import causal_mask
from seq2bert.torch.positional import apply_rope

__all__ = ["scaled_dot_product_attention", "causal_mask", "combine_masks",
           "online_softmax_update", "blockwise_attention",
           "split_heads", "merge_heads", "multi_head_attention", "MultiHeadAttention"]


def _shape(x: torch.Tensor) -> tuple:
    return tuple(x.shape)


def _scores_shape(query, key, value) -> tuple:
    """(..., T, S) after one-line checks of q, k, v, before torch raises a deep error."""
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
        if x.dim() < 2:
            raise ValueError(f"{name} must have shape (..., length, width), got {_shape(x)}")
    if key.shape[-1] != query.shape[-1]:
        raise ValueError(f"keys have width {key.shape[-1]} but queries {query.shape[-1]}")
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(f"keys have length {key.shape[-2]} but values {value.shape[-2]}")
    try:
        lead = torch.broadcast_shapes(query.shape[:-2], key.shape[:-2], value.shape[:-2])
    except RuntimeError:
        raise ValueError(f"leading axes of query {_shape(query)}, key {_shape(key)} and value "
                         f"{_shape(value)} do not broadcast") from None
    return tuple(lead) + (query.shape[-2], key.shape[-2])


def _check_mask(mask, scores_shape: tuple) -> None:
    """A bool mask that broadcasts to the scores without adding axes (a (B, 1, T, S) mask on 3-D
    queries would silently give (B, B, T, S))."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        kind = mask.dtype if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise TypeError(f"mask must be a bool tensor (True = may attend), got {kind}")
    try:
        fits = tuple(torch.broadcast_shapes(mask.shape, scores_shape)) == scores_shape
    except RuntimeError:
        fits = False
    if not fits:
        raise ValueError(f"mask of shape {_shape(mask)} does not broadcast to the scores' shape "
                         f"{scores_shape} (..., T, S)")


def _check_attention_inputs(query, key, value, mask) -> tuple:
    """The scores' shape (..., T, S), once q, k, v and the mask passed their checks."""
    scores_shape = _scores_shape(query, key, value)
    if mask is not None:
        _check_mask(mask, scores_shape)
    return scores_shape


def _zero_empty_rows(weights: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A query whose keys are all masked left the softmax as NaN (0 / 0): it reads nothing, so 0.

    The gradient stays finite: masked_fill sends 0, not NaN, back to the masked scores.
    """
    empty = ~mask.any(dim=-1, keepdim=True)  # (..., T, 1) in the mask's own (broadcast) shape
    return weights.masked_fill(empty, 0.0) if bool(empty.any()) else weights


def scaled_dot_product_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                                 mask: torch.Tensor | None = None, scale: float | None = None):
    """softmax(q k^T * scale, masked) v; scale defaults to 1/sqrt(Dk).

    query (..., T, Dk), key (..., S, Dk), value (..., S, Dv), mask bool broadcastable to
    (..., T, S) or None. Returns (output (..., T, Dv), weights (..., T, S)); an all-masked
    query row gets weights 0 and output 0.
    """
    _check_attention_inputs(query, key, value, mask)
    if scale is None:
        scale = 1.0 / math.sqrt(query.shape[-1])
    # Scaling q (T x Dk numbers) costs less than scaling the scores (T x S).
    scores = (query * scale) @ key.transpose(-2, -1)  # (..., T, Dk) @ (..., Dk, S) -> (..., T, S)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)  # (..., T, S)
    if mask is not None:
        weights = _zero_empty_rows(weights, mask)
    return weights @ value, weights  # (..., T, S) @ (..., S, Dv) -> (..., T, Dv)


def combine_masks(key_padding: torch.Tensor | None, causal: torch.Tensor | None) -> torch.Tensor | None:
    """key_padding (B, S) (True = real key) & causal (T, S) -> (B, 1, T, S); the 1 broadcasts over heads.

    Either may be None: then (B, 1, 1, S) or (1, 1, T, S). Both None gives None (no mask).
    """
    for name, m in (("key_padding", key_padding), ("causal", causal)):
        if m is None:
            continue
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            kind = m.dtype if isinstance(m, torch.Tensor) else type(m).__name__
            raise TypeError(f"{name} must be a bool tensor (True = may attend), got {kind}")
        if m.dim() != 2:
            raise ValueError(f"{name} must be 2-D ({'B, S' if name == 'key_padding' else 'T, S'}), "
                             f"got shape {_shape(m)}")
    if key_padding is not None and causal is not None and key_padding.shape[-1] != causal.shape[-1]:
        raise ValueError(f"key_padding has {key_padding.shape[-1]} keys but causal {causal.shape[-1]}")
    if key_padding is None:
        return None if causal is None else causal[None, None, :, :]  # (T, S) -> (1, 1, T, S)
    padding = key_padding[:, None, None, :]  # (B, S) -> (B, 1, 1, S)
    return padding if causal is None else padding & causal[None, None, :, :]  # -> (B, 1, T, S)


def online_softmax_update(running_max: torch.Tensor, running_sum: torch.Tensor,
                          running_output: torch.Tensor, scores: torch.Tensor, values: torch.Tensor):
    """Fold one block of keys into a running softmax (Milakov & Gimelshein 2018; FlashAttention).

    State after the earlier blocks: running_max (..., T), running_sum (..., T), running_output
    (..., T, Dv), the UNnormalised sum of exp(score - running_max) v (start: -inf, 0, 0).
    scores (..., T, Sb) with -inf at masked keys, values (..., Sb, Dv). Returns the new state;
    the attention output is running_output / running_sum (0 where running_sum is 0).
    """
    new_max = torch.maximum(running_max, scores.amax(dim=-1))  # (..., T)
    # A row that has seen only -inf keeps max -inf; shift it by 0 so no -inf - (-inf) = NaN appears.
    shift = torch.where(torch.isneginf(new_max), torch.zeros_like(new_max), new_max)
    rescale = torch.exp(running_max - shift)  # (..., T): old terms were relative to the old max
    exp_scores = torch.exp(scores - shift[..., None])  # (..., T, Sb)
    new_sum = running_sum * rescale + exp_scores.sum(dim=-1)  # (..., T)
    new_output = running_output * rescale[..., None] + exp_scores @ values  # (..., T, Sb) @ (..., Sb, Dv) -> (..., T, Dv)
    return new_max, new_sum, new_output


def _start_state(rows: tuple, width: int, like: torch.Tensor) -> tuple:
    """The online softmax's state before any key: max -inf, sum 0, output 0; rows = (..., T)."""
    return (torch.full(rows, float("-inf"), dtype=like.dtype, device=like.device),
            torch.zeros(rows, dtype=like.dtype, device=like.device),
            torch.zeros(rows + (width,), dtype=like.dtype, device=like.device))


def blockwise_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                        mask: torch.Tensor | None = None, scale: float | None = None,
                        block_size: int = 128) -> torch.Tensor:
    """scaled_dot_product_attention's output, keys taken `block_size` at a time with an online softmax.

    The (..., T, S) weights are never materialised: peak extra memory O(T * block_size).
    """
    rows = _check_attention_inputs(query, key, value, mask)[:-1]  # (..., T)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    if key.shape[-2] == 0:
        raise ValueError("key has length 0: there is nothing to attend to")
    scaled_query = query * (1.0 / math.sqrt(query.shape[-1]) if scale is None else scale)
    state = _start_state(rows, value.shape[-1], query)
    for start in range(0, key.shape[-2], block_size):
        block = slice(start, start + block_size)
        scores = scaled_query @ key[..., block, :].transpose(-2, -1)  # (..., T, Dk) @ (..., Dk, Sb) -> (..., T, Sb)
        if mask is not None:
            block_mask = mask if mask.shape[-1] == 1 else mask[..., block]  # (..., T, Sb) or (..., T, 1)
            scores.masked_fill_(~block_mask, float("-inf"))  # in place: scores is this block's own fresh tensor
        state = online_softmax_update(*state, scores, value[..., block, :])
    _, total, output = state
    return output / torch.where(total > 0, total, torch.ones_like(total))[..., None]  # (..., T, Dv)


# ---------------------------------------------------------------- multi-head attention (unit 04)



def split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, T, D) -> (B, H, T, Dh), Dh = D / H: head h gets features h*Dh .. (h+1)*Dh - 1."""
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise ValueError(f"heads must be a positive int, got {heads!r}")
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 3:
        raise ValueError(f"expected x of shape (B, T, D), got shape {_shape(x)}")
    batch, length, width = x.shape
    if width % heads:
        raise ValueError(f"width {width} does not split into {heads} heads of equal width")
    x = x.reshape(batch, length, heads, width // heads)  # (B, T, D) -> (B, T, H, Dh)
    return x.transpose(1, 2)  # (B, T, H, Dh) -> (B, H, T, Dh)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, Dh) -> (B, T, D), D = H * Dh: the heads' features side by side, as split_heads took them."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4:
        raise ValueError(f"expected x of shape (B, H, T, Dh), got shape {_shape(x)}")
    batch, heads, length, head_width = x.shape
    x = x.transpose(1, 2)  # (B, H, T, Dh) -> (B, T, H, Dh)
    return x.reshape(batch, length, heads * head_width)  # (B, T, H, Dh) -> (B, T, D)


def multi_head_attention(x_q: torch.Tensor, x_kv: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor,
                         w_v: torch.Tensor, w_o: torch.Tensor, heads: int, mask: torch.Tensor | None = None):
    """MultiHeadAttention's computation as one function of plain (D, D) matrices, biases left out.

    x_q (B, T, D) gives the queries, x_kv (B, S, D) the keys and values; each w is applied as
    x @ w; mask bool broadcastable to (B, H, T, S) or None. Returns (output (B, T, D), weights (B, H, T, S)).
    """
    q = split_heads(x_q @ w_q, heads)  # (B, T, D) @ (D, D) -> (B, T, D) -> (B, H, T, Dh)
    k = split_heads(x_kv @ w_k, heads)  # (B, S, D) @ (D, D) -> (B, S, D) -> (B, H, S, Dh)
    v = split_heads(x_kv @ w_v, heads)  # (B, S, D) @ (D, D) -> (B, S, D) -> (B, H, S, Dh)
    context, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, Dh), (B, H, T, S)
    return merge_heads(context) @ w_o, weights  # (B, H, T, Dh) -> (B, T, D) @ (D, D) -> (B, T, D)


class MultiHeadAttention(nn.Module):
    """H heads of scaled dot-product attention, each on its own Dh = D/H slice of projected q, k, v.

    head_h = attention(q W_q[h], k W_k[h], v W_v[h]); output = [head_1; ...; head_H] W_o
    (Vaswani et al. 2017). w_q, w_k, w_v, w_o are dense D -> D with bias: 4D^2 + 4D parameters,
    whatever H is. With rotary=True, queries and keys are rotated by apply_rope after the split
    (positions 0..T-1 and 0..S-1), so scores depend on positions through their offset only.
    """

    def __init__(self, width: int, heads: int, rotary: bool = False):
        super().__init__()
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or width % heads:
            raise ValueError(f"width {width} does not split into {heads} heads of equal width")
        if rotary and (width // heads) % 2:
            raise ValueError(f"rotary positions need an even head width, but {width} / {heads} = {width // heads}")
        self.width, self.heads, self.rotary = width, heads, rotary
        self.w_q = nn.Linear(width, width)
        self.w_k = nn.Linear(width, width)
        self.w_v = nn.Linear(width, width)
        self.w_o = nn.Linear(width, width)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                mask: torch.Tensor | None = None):
        """query (B, T, D), key and value (B, S, D), mask bool broadcastable to (B, H, T, S)
        (combine_masks makes one) -> output (B, T, D), weights (B, H, T, S)."""
        self._check_inputs(("query", query), ("key", key), ("value", value))
        return self.attend(query, *self.project_keys_values(key, value), mask)

    def project_keys_values(self, key: torch.Tensor, value: torch.Tensor):
        """key, value (B, S, D) -> k, v (B, H, S, Dh), each head's slice (k rotated at 0..S-1 if rotary).

        Split from attend so a decoder can project the encoder's memory once and reuse it every step.
        """
        self._check_inputs(("key", key), ("value", value))
        if key.shape[1] != value.shape[1]:
            raise ValueError(f"keys have length {key.shape[1]} but values {value.shape[1]}")
        if key.shape[0] != value.shape[0]:
            raise ValueError(f"keys have batch {key.shape[0]} but values {value.shape[0]}")
        k = split_heads(self.w_k(key), self.heads)  # (B, S, D) -> (B, H, S, Dh)
        v = split_heads(self.w_v(value), self.heads)  # (B, S, D) -> (B, H, S, Dh)
        return (apply_rope(k) if self.rotary else k), v

    def attend(self, query: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
               query_offset: int = 0):
        """query (B, T, D) against projected k, v (B, H, S, Dh) -> output (B, T, D), weights (B, H, T, S).

        query_offset: position of the first query (a cached decoder step at t has offset t); only
        rotary attention reads it.
        """
        self._check_inputs(("query", query))
        for name, x in (("k", k), ("v", v)):
            if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != self.heads \
                    or x.shape[3] != self.width // self.heads:
                got = _shape(x) if isinstance(x, torch.Tensor) else type(x).__name__
                raise ValueError(f"{name} must have shape (B, {self.heads}, S, {self.width // self.heads}) "
                                 f"(from project_keys_values), got {got}")
        q = split_heads(self.w_q(query), self.heads)  # (B, T, D) -> (B, H, T, Dh)
        if self.rotary:
            q = apply_rope(q, torch.arange(query_offset, query_offset + q.shape[2], device=q.device))
        context, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, Dh), (B, H, T, S)
        return self.w_o(merge_heads(context)), weights  # (B, H, T, Dh) -> (B, T, D) -> (B, T, D)

    def _check_inputs(self, *named) -> None:
        for name, x in named:
            if not isinstance(x, torch.Tensor):
                raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
            if x.dim() != 3 or x.shape[-1] != self.width:
                raise ValueError(f"{name} has shape {_shape(x)}, but this layer takes (B, length, {self.width})")
