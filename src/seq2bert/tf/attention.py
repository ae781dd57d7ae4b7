"""Scaled dot-product attention, its masks, and a blockwise variant with an online softmax.

TensorFlow twin of seq2bert.torch.attention: same names, arguments, shapes and results.
attention(Q, K, V) = softmax(Q K^T / sqrt(Dk), masked) V   (Vaswani et al. 2017). A bool mask is
True where a query may attend (seq2bert.tf.masks). A query whose keys are ALL masked gets
weights exactly 0 and output exactly 0 (no NaN in the forward pass or the gradient): it has
nothing to look at, so it reads nothing. Unit 02's ops.masked_softmax gave such a row uniform
weights instead.

Shape legend: B batch, S source (key) length, T target (query) length, D model width, H heads,
Dh head width, Dk query/key width, Dv value width, Sb keys in one block, "..." any leading axes
(batch, heads).
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf

from seq2bert.tf.masks import causal_mask
from seq2bert.tf.positional import apply_rope

__all__ = ["scaled_dot_product_attention", "causal_mask", "combine_masks",
           "online_softmax_update", "blockwise_attention",
           "split_heads", "merge_heads", "multi_head_attention", "MultiHeadAttention"]

NEG_INF = float("-inf")


def _shape(x: tf.Tensor) -> tuple:
    return tuple(x.shape.as_list()) if x.shape.rank is not None else ("?",)


def _differ(a, b) -> bool:
    """Two static sizes that are both known and different (unknown sizes are checked by TF later)."""
    return a is not None and b is not None and a != b


def _as_tensors(query, key, value) -> list:
    tensors = []
    for name, x in (("query", query), ("key", key), ("value", value)):
        try:
            x = tf.convert_to_tensor(x)
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a tensor, got {type(x).__name__}") from None
        if x.shape.rank is not None and x.shape.rank < 2:
            raise ValueError(f"{name} must have shape (..., length, width), got {_shape(x)}")
        tensors.append(x)
    return tensors


def _scores_shape(query, key, value) -> tf.TensorShape:
    """(..., T, S) as far as it is known, after one-line checks of q, k, v (before TF raises a deep error)."""
    if _differ(key.shape[-1], query.shape[-1]):
        raise ValueError(f"keys have width {key.shape[-1]} but queries {query.shape[-1]}")
    if _differ(key.shape[-2], value.shape[-2]):
        raise ValueError(f"keys have length {key.shape[-2]} but values {value.shape[-2]}")
    try:
        lead = tf.broadcast_static_shape(tf.broadcast_static_shape(query.shape[:-2], key.shape[:-2]),
                                         value.shape[:-2])
    except ValueError:
        raise ValueError(f"leading axes of query {_shape(query)}, key {_shape(key)} and value "
                         f"{_shape(value)} do not broadcast") from None
    return lead.concatenate([query.shape[-2], key.shape[-2]])


def _checked_mask(mask, scores_shape: tf.TensorShape) -> tf.Tensor:
    """A bool mask that broadcasts to the scores without adding axes (a (B, 1, T, S) mask on 3-D
    queries would silently give (B, B, T, S))."""
    if not hasattr(mask, "dtype"):
        raise TypeError(f"mask must be a bool tensor (True = may attend), got {type(mask).__name__}")
    mask = tf.convert_to_tensor(mask)
    if mask.dtype != tf.bool:
        raise TypeError(f"mask must be a bool tensor (True = may attend), got {mask.dtype.name}")
    if scores_shape.rank is None or mask.shape.rank is None:
        return mask  # shapes known only when the graph runs
    try:
        joint = tf.broadcast_static_shape(mask.shape, scores_shape)
        fits = joint.rank == scores_shape.rank and joint.is_compatible_with(scores_shape)
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"mask of shape {_shape(mask)} does not broadcast to the scores' shape "
                         f"{tuple(scores_shape.as_list())} (..., T, S)")
    return mask


def _check_attention_inputs(query, key, value, mask):
    """q, k, v and the mask as tensors, with one-line errors for the mistakes a learner makes."""
    query, key, value = _as_tensors(query, key, value)
    scores_shape = _scores_shape(query, key, value)
    return query, key, value, None if mask is None else _checked_mask(mask, scores_shape)


def _is_neg_inf(x: tf.Tensor) -> tf.Tensor:
    return tf.equal(x, tf.constant(NEG_INF, x.dtype))


def _default_scale(query: tf.Tensor):
    """1 / sqrt(Dk), also when Dk is known only when the graph runs."""
    width = query.shape[-1]
    if width is not None:
        return 1.0 / math.sqrt(width)
    return tf.math.rsqrt(tf.cast(tf.shape(query)[-1], query.dtype))


def _zero_empty_rows(weights: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """A query whose keys are all masked left the softmax as NaN (0 / 0): it reads nothing, so 0.

    The gradient stays finite: tf.where sends 0, not NaN, back to the masked scores.
    """
    has_key = tf.reduce_any(mask, axis=-1, keepdims=True)  # (..., T, 1) in the mask's own (broadcast) shape
    return tf.where(has_key, weights, tf.zeros((), weights.dtype))


def scaled_dot_product_attention(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor,
                                 mask: tf.Tensor | None = None, scale: float | None = None):
    """softmax(q k^T * scale, masked) v; scale defaults to 1/sqrt(Dk).

    query (..., T, Dk), key (..., S, Dk), value (..., S, Dv), mask bool broadcastable to
    (..., T, S) or None. Returns (output (..., T, Dv), weights (..., T, S)); an all-masked
    query row gets weights 0 and output 0.
    """
    query, key, value, mask = _check_attention_inputs(query, key, value, mask)
    scale = _default_scale(query) if scale is None else scale
    # Scaling q (T x Dk numbers) costs less than scaling the scores (T x S).
    scores = tf.matmul(query * scale, key, transpose_b=True)  # (..., T, Dk) @ (..., Dk, S) -> (..., T, S)
    if mask is not None:
        scores = tf.where(mask, scores, tf.constant(NEG_INF, scores.dtype))
    weights = tf.nn.softmax(scores, axis=-1)  # (..., T, S)
    if mask is not None:
        weights = _zero_empty_rows(weights, mask)
    return tf.matmul(weights, value), weights  # (..., T, S) @ (..., S, Dv) -> (..., T, Dv)


def combine_masks(key_padding: tf.Tensor | None, causal: tf.Tensor | None) -> tf.Tensor | None:
    """key_padding (B, S) (True = real key) & causal (T, S) -> (B, 1, T, S); the 1 broadcasts over heads.

    Either may be None: then (B, 1, 1, S) or (1, 1, T, S). Both None gives None (no mask).
    """
    masks = {}
    for name, m in (("key_padding", key_padding), ("causal", causal)):
        if m is None:
            masks[name] = None
            continue
        if not hasattr(m, "dtype") or tf.as_dtype(m.dtype) != tf.bool:
            kind = tf.as_dtype(m.dtype).name if hasattr(m, "dtype") else type(m).__name__
            raise TypeError(f"{name} must be a bool tensor (True = may attend), got {kind}")
        m = tf.convert_to_tensor(m)
        if m.shape.rank != 2:
            raise ValueError(f"{name} must be 2-D ({'B, S' if name == 'key_padding' else 'T, S'}), "
                             f"got shape {_shape(m)}")
        masks[name] = m
    key_padding, causal = masks["key_padding"], masks["causal"]
    if key_padding is not None and causal is not None and _differ(key_padding.shape[-1], causal.shape[-1]):
        raise ValueError(f"key_padding has {key_padding.shape[-1]} keys but causal {causal.shape[-1]}")
    if key_padding is None:
        return None if causal is None else causal[None, None, :, :]  # (T, S) -> (1, 1, T, S)
    padding = key_padding[:, None, None, :]  # (B, S) -> (B, 1, 1, S)
    return padding if causal is None else tf.logical_and(padding, causal[None, None, :, :])  # -> (B, 1, T, S)


def online_softmax_update(running_max: tf.Tensor, running_sum: tf.Tensor, running_output: tf.Tensor,
                          scores: tf.Tensor, values: tf.Tensor):
    """Fold one block of keys into a running softmax (Milakov & Gimelshein 2018; FlashAttention).

    State after the earlier blocks: running_max (..., T), running_sum (..., T), running_output
    (..., T, Dv), the UNnormalised sum of exp(score - running_max) v (start: -inf, 0, 0).
    scores (..., T, Sb) with -inf at masked keys, values (..., Sb, Dv). Returns the new state;
    the attention output is running_output / running_sum (0 where running_sum is 0).
    """
    new_max = tf.maximum(running_max, tf.reduce_max(scores, axis=-1))  # (..., T)
    # A row that has seen only -inf keeps max -inf; shift it by 0 so no -inf - (-inf) = NaN appears.
    shift = tf.where(_is_neg_inf(new_max), tf.zeros_like(new_max), new_max)
    rescale = tf.exp(running_max - shift)  # (..., T): old terms were relative to the old max
    exp_scores = tf.exp(scores - shift[..., None])  # (..., T, Sb)
    new_sum = running_sum * rescale + tf.reduce_sum(exp_scores, axis=-1)  # (..., T)
    new_output = running_output * rescale[..., None] + tf.matmul(exp_scores, values)  # (..., T, Sb) @ (..., Sb, Dv) -> (..., T, Dv)
    return new_max, new_sum, new_output


def _start_state(rows: tf.Tensor, width: tf.Tensor, dtype: tf.DType) -> tuple:
    """The online softmax's state before any key: max -inf, sum 0, output 0; rows = (..., T)."""
    return (tf.fill(rows, tf.constant(NEG_INF, dtype)), tf.zeros(rows, dtype),
            tf.zeros(tf.concat([rows, width], axis=0), dtype))


def blockwise_attention(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor,
                        mask: tf.Tensor | None = None, scale: float | None = None,
                        block_size: int = 128) -> tf.Tensor:
    """scaled_dot_product_attention's output, keys taken `block_size` at a time with an online softmax.

    The (..., T, S) weights are never materialised: peak extra memory O(T * block_size).
    """
    query, key, value, mask = _check_attention_inputs(query, key, value, mask)
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be a positive int, got {block_size!r}")
    if key.shape[-2] is None or key.shape[-2] == 0:
        raise ValueError(f"blockwise_attention needs a key length known when the graph is built and > 0, "
                         f"got {key.shape[-2]}")
    scaled_query = query * (_default_scale(query) if scale is None else scale)
    state = None
    for start in range(0, key.shape[-2], block_size):
        stop = start + block_size
        scores = tf.matmul(scaled_query, key[..., start:stop, :], transpose_b=True)  # (..., T, Dk) @ (..., Dk, Sb) -> (..., T, Sb)
        if mask is not None:
            block_mask = mask if mask.shape[-1] == 1 else mask[..., start:stop]  # (..., T, Sb) or (..., T, 1)
            scores = tf.where(block_mask, scores, tf.constant(NEG_INF, scores.dtype))
        if state is None:  # the full (..., T) is known once q, k (and v) met in the first block
            state = _start_state(tf.shape(scores)[:-1], tf.shape(value)[-1:], scores.dtype)
        state = online_softmax_update(*state, scores, value[..., start:stop, :])
    _, total, output = state
    return output / tf.where(total > 0, total, tf.ones_like(total))[..., None]  # (..., T, Dv)


# ---------------------------------------------------------------- multi-head attention (unit 04)



def split_heads(x: tf.Tensor, heads: int) -> tf.Tensor:
    """(B, T, D) -> (B, H, T, Dh), Dh = D / H: head h gets features h*Dh .. (h+1)*Dh - 1."""
    if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
        raise ValueError(f"heads must be a positive int, got {heads!r}")
    x = tf.convert_to_tensor(x)
    if x.shape.rank != 3:
        raise ValueError(f"expected x of shape (B, T, D), got shape {_shape(x)}")
    width = x.shape[-1]
    if width is None:
        raise ValueError("split_heads needs the width D known when the graph is built")
    if width % heads:
        raise ValueError(f"width {width} does not split into {heads} heads of equal width")
    batch, length = tf.shape(x)[0], tf.shape(x)[1]
    x = tf.reshape(x, [batch, length, heads, width // heads])  # (B, T, D) -> (B, T, H, Dh)
    return tf.transpose(x, [0, 2, 1, 3])  # (B, T, H, Dh) -> (B, H, T, Dh)


def merge_heads(x: tf.Tensor) -> tf.Tensor:
    """(B, H, T, Dh) -> (B, T, D), D = H * Dh: the heads' features side by side, as split_heads took them."""
    x = tf.convert_to_tensor(x)
    if x.shape.rank != 4:
        raise ValueError(f"expected x of shape (B, H, T, Dh), got shape {_shape(x)}")
    heads, head_width = x.shape[1], x.shape[3]
    if heads is None or head_width is None:
        raise ValueError("merge_heads needs H and Dh known when the graph is built")
    x = tf.transpose(x, [0, 2, 1, 3])  # (B, H, T, Dh) -> (B, T, H, Dh)
    return tf.reshape(x, [tf.shape(x)[0], tf.shape(x)[1], heads * head_width])  # (B, T, H, Dh) -> (B, T, D)


def multi_head_attention(x_q: tf.Tensor, x_kv: tf.Tensor, w_q: tf.Tensor, w_k: tf.Tensor, w_v: tf.Tensor,
                         w_o: tf.Tensor, heads: int, mask: tf.Tensor | None = None):
    """MultiHeadAttention's computation as one function of plain (D, D) matrices, biases left out.

    x_q (B, T, D) gives the queries, x_kv (B, S, D) the keys and values; each w is applied as
    x @ w; mask bool broadcastable to (B, H, T, S) or None. Returns (output (B, T, D), weights (B, H, T, S)).
    """
    q = split_heads(x_q @ w_q, heads)  # (B, T, D) @ (D, D) -> (B, T, D) -> (B, H, T, Dh)
    k = split_heads(x_kv @ w_k, heads)  # (B, S, D) @ (D, D) -> (B, S, D) -> (B, H, S, Dh)
    v = split_heads(x_kv @ w_v, heads)  # (B, S, D) @ (D, D) -> (B, S, D) -> (B, H, S, Dh)
    context, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, Dh), (B, H, T, S)
    return merge_heads(context) @ w_o, weights  # (B, H, T, Dh) -> (B, T, D) @ (D, D) -> (B, T, D)


class MultiHeadAttention(keras.layers.Layer):
    """H heads of scaled dot-product attention, each on its own Dh = D/H slice of projected q, k, v.

    head_h = attention(q W_q[h], k W_k[h], v W_v[h]); output = [head_1; ...; head_H] W_o
    (Vaswani et al. 2017). w_q, w_k, w_v, w_o are dense D -> D with bias: 4D^2 + 4D parameters,
    whatever H is. With rotary=True, queries and keys are rotated by apply_rope after the split
    (positions 0..T-1 and 0..S-1), so scores depend on positions through their offset only.
    """

    def __init__(self, width: int, heads: int, rotary: bool = False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1 or width % heads:
            raise ValueError(f"width {width} does not split into {heads} heads of equal width")
        if rotary and (width // heads) % 2:
            raise ValueError(f"rotary positions need an even head width, but {width} / {heads} = {width // heads}")
        self.width, self.heads, self.rotary = width, heads, rotary
        self.w_q = keras.layers.Dense(width, name="w_q")
        self.w_k = keras.layers.Dense(width, name="w_k")
        self.w_v = keras.layers.Dense(width, name="w_v")
        self.w_o = keras.layers.Dense(width, name="w_o")

    def call(self, query, key, value, mask=None):
        """query (B, T, D), key and value (B, S, D), mask bool broadcastable to (B, H, T, S)
        (combine_masks makes one) -> output (B, T, D), weights (B, H, T, S)."""
        query, key, value = self._check_inputs(("query", query), ("key", key), ("value", value))
        return self.attend(query, *self.project_keys_values(key, value), mask)

    def project_keys_values(self, key, value):
        """key, value (B, S, D) -> k, v (B, H, S, Dh), each head's slice (k rotated at 0..S-1 if rotary).

        Split from attend so a decoder can project the encoder's memory once and reuse it every step.
        """
        key, value = self._check_inputs(("key", key), ("value", value))
        if _differ(key.shape[1], value.shape[1]):
            raise ValueError(f"keys have length {key.shape[1]} but values {value.shape[1]}")
        if _differ(key.shape[0], value.shape[0]):
            raise ValueError(f"key has batch size {key.shape[0]} but value {value.shape[0]}")
        k = split_heads(self.w_k(key), self.heads)  # (B, S, D) -> (B, H, S, Dh)
        v = split_heads(self.w_v(value), self.heads)  # (B, S, D) -> (B, H, S, Dh)
        return (apply_rope(k) if self.rotary else k), v

    def attend(self, query, k, v, mask=None, query_offset: int = 0):
        """query (B, T, D) against projected k, v (B, H, S, Dh) -> output (B, T, D), weights (B, H, T, S).

        query_offset: position of the first query (a cached decoder step at t has offset t); only
        rotary attention reads it.
        """
        (query,) = self._check_inputs(("query", query))
        head_width = self.width // self.heads
        for name, x in (("k", k), ("v", v)):
            if not hasattr(x, "shape") or x.shape.rank != 4 or x.shape[1] != self.heads or x.shape[3] != head_width:
                got = _shape(x) if hasattr(x, "shape") else type(x).__name__
                raise ValueError(f"{name} must have shape (B, {self.heads}, S, {head_width}) "
                                 f"(from project_keys_values), got {got}")
        q = split_heads(self.w_q(query), self.heads)  # (B, T, D) -> (B, H, T, Dh)
        if self.rotary:
            q = apply_rope(q, tf.range(query_offset, query_offset + tf.shape(q)[2]))
        context, weights = scaled_dot_product_attention(q, k, v, mask)  # (B, H, T, Dh), (B, H, T, S)
        return self.w_o(merge_heads(context)), weights  # (B, H, T, Dh) -> (B, T, D) -> (B, T, D)

    def _check_inputs(self, *named) -> list:
        """The inputs as tensors, each (B, length, D), or a one-line error naming the one that is not."""
        tensors = []
        for name, x in named:
            try:
                x = tf.convert_to_tensor(x)
            except (TypeError, ValueError):
                raise TypeError(f"{name} must be a tensor, got {type(x).__name__}") from None
            if x.shape.rank != 3 or x.shape[-1] != self.width:
                raise ValueError(f"{name} has shape {_shape(x)}, but this layer takes (B, length, {self.width})")
            tensors.append(x)
        return tensors

    def compute_mask(self, inputs, previous_mask=None):
        """None: `mask` here says which keys a query may attend to, not which outputs are padding,
        so Keras must not attach it to the outputs (and need not warn that it drops it)."""
        return None
