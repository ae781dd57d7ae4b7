"""The course's one mask convention, and the converters for Keras APIs.

Everywhere in seq2bert a boolean mask is True where a query may attend (a real token, an
allowed position) and False where it may not (padding, the future). Keras shares that
convention, but its layers want particular shapes, so every hand-over goes through one function:

| API                                                  | its convention / shape            | converter               |
|------------------------------------------------------|-----------------------------------|-------------------------|
| keras.layers.MultiHeadAttention(attention_mask=)     | True = attend, (B, T, S)          | to_keras_attention_mask |
| keras.layers.Attention / AdditiveAttention(mask=)    | [query (B, T), value (B, S)] True = keep | to_keras_layer_masks |
| an additive float mask                               | 0 allowed, -inf (or -1e9) not     | to_additive_mask        |

Shape legend: B batch, S key (source) length, T query (target) length.
"""
from __future__ import annotations

import tensorflow as tf


def _check_bool(mask: tf.Tensor) -> tf.Tensor:
    mask = tf.convert_to_tensor(mask)
    if mask.dtype != tf.bool:
        raise TypeError(f"expected a bool mask (True = may attend), got dtype {mask.dtype.name}")
    return mask


def causal_mask(length: int) -> tf.Tensor:
    """(T, T) True on and below the diagonal: position t may attend to positions 0..t."""
    return tf.linalg.band_part(tf.ones((length, length)), -1, 0) > 0  # lower triangle of ones


def to_keras_attention_mask(key_mask: tf.Tensor, query_length: int, causal: tf.Tensor | None = None) -> tf.Tensor:
    """(B, S) may-attend keys (and an optional (T, S) mask such as causal_mask) -> (B, T, S) for Keras MHA."""
    key_mask = _check_bool(key_mask)
    mask = tf.repeat(key_mask[:, None, :], query_length, axis=1)  # (B, S) -> (B, T, S)
    if causal is not None:
        mask = tf.logical_and(mask, _check_bool(causal)[None, :, :])  # (1, T, S) broadcast over B
    return mask


def to_keras_layer_masks(query_mask: tf.Tensor | None, key_mask: tf.Tensor) -> list:
    """[query_mask, value_mask] as keras.layers.Attention and AdditiveAttention take them."""
    return [None if query_mask is None else _check_bool(query_mask), _check_bool(key_mask)]


def to_additive_mask(mask: tf.Tensor, dtype: tf.DType = tf.float32, blocked: float = float("-inf")) -> tf.Tensor:
    """A may-attend mask -> a float mask added to the scores: 0 where allowed, `blocked` elsewhere."""
    mask = _check_bool(mask)
    return tf.where(mask, tf.zeros(tf.shape(mask), dtype), tf.constant(blocked, dtype))
