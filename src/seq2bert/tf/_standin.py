"""TEMPORARY stand-in for u4-core's MultiHeadAttention and positional.py (deleted after the merge)."""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf


def sinusoidal_encoding(length, width):
    inv = 10000.0 ** (-np.arange(0, width, 2, dtype=np.float64) / width)
    angles = np.arange(length, dtype=np.float64)[:, None] * inv
    return tf.constant(np.stack([np.sin(angles), np.cos(angles)], -1).reshape(length, width), tf.float32)


class LearnedPositions(keras.layers.Layer):
    def __init__(self, max_length, width, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(max_length, width, name="embedding")
        self.max_length = max_length

    def build(self, input_shape):
        self.embedding.build((None,))

    def call(self, x):
        return x + self.embedding.embeddings[: tf.shape(x)[1]]


def apply_rope(x, positions=None, base=10000.0):
    width = x.shape[-1]
    length = tf.shape(x)[-2]
    inv = tf.constant(base ** (-np.arange(0, width, 2, dtype=np.float64) / width), tf.float32)
    angles = tf.cast(tf.range(length), tf.float32)[:, None] * inv
    cos, sin = tf.cos(angles), tf.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]
    out = tf.stack([even * cos - odd * sin, even * sin + odd * cos], -1)
    return tf.reshape(out, tf.shape(x))


class MultiHeadAttention(keras.layers.Layer):
    def __init__(self, width, heads, rotary=False, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.rotary, self.width = heads, rotary, width
        self.w_q, self.w_k, self.w_v, self.w_o = (keras.layers.Dense(width, name=n) for n in ("w_q", "w_k", "w_v", "w_o"))

    def call(self, query, key, value, mask=None):
        b, t, d, h = tf.shape(query)[0], tf.shape(query)[1], self.width, self.heads
        split = lambda x: tf.transpose(tf.reshape(x, [b, -1, h, d // h]), [0, 2, 1, 3])  # noqa: E731
        q, k, v = split(self.w_q(query)), split(self.w_k(key)), split(self.w_v(value))
        if self.rotary:
            q, k = apply_rope(q), apply_rope(k)
        scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(d // h)
        if mask is not None:
            scores = tf.where(mask, scores, -np.inf)
        weights = tf.nn.softmax(scores, -1)
        if mask is not None:
            weights = tf.where(tf.math.is_nan(weights), 0.0, weights)
        out = tf.reshape(tf.transpose(tf.matmul(weights, v), [0, 2, 1, 3]), [b, t, d])
        return self.w_o(out), weights
