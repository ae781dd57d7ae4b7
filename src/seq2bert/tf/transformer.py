"""A small Transformer encoder (pre-LN) and a per-position tagger on top, in Keras 3 (twin: seq2bert.torch.transformer).

Pre-LN (Xiong et al. 2020): each sub-layer reads a layer-normalised copy of the residual stream
and adds its result back, x + f(LN(x)); one final LayerNorm closes the stack. Positions enter
in one of four ways (EncoderConfig.positions): "none" (the model is then permutation
equivariant), "sinusoidal" or "learned" vectors added to the token embeddings, or "rotary"
(queries and keys rotated inside every attention layer). Names match the PyTorch twin, so
weights map by layer path (seq2bert.tf.weights); LayerNorm uses PyTorch's epsilon 1e-5.

Shape legend: B batch, T sequence length, D model width, H heads, Dh head width, F feed-forward
width, V vocabulary.
"""
from __future__ import annotations

import math

import keras
import tensorflow as tf

from seq2bert import init
from seq2bert.configs import EncoderConfig
from seq2bert.tf.attention import MultiHeadAttention
from seq2bert.tf.positional import LearnedPositions, sinusoidal_encoding
from seq2bert.tf.weights import Layout, initial_weights, load_torch_state, register_layout

LAYER_NORM_EPSILON = 1e-5  # PyTorch's default (Keras's is 1e-3)


class TokenEmbedding(keras.layers.Embedding):
    """Token vectors stored N(0, 1/D) and multiplied by sqrt(D), so they enter with RMS about 1."""

    def call(self, tokens):
        return super().call(tokens) * math.sqrt(self.output_dim)  # (B, T) -> (B, T, D)


register_layout(TokenEmbedding, Layout(init.token_embedding, lambda layer: {"weight": tuple(layer.embeddings.shape)},
                                       lambda layer, w: [w["weight"]]))


def layer_norm(name: str) -> keras.layers.LayerNormalization:
    return keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=name)


class FeedForward(keras.layers.Layer):
    """The position-wise network: ReLU(x W_1 + b_1) W_2 + b_2, the same at every position."""

    def __init__(self, width: int, ffn: int, **kwargs):
        super().__init__(**kwargs)
        self.w_1 = keras.layers.Dense(ffn, name="w_1")
        self.w_2 = keras.layers.Dense(width, name="w_2")

    def call(self, x):
        return self.w_2(tf.nn.relu(self.w_1(x)))  # (B, T, D) -> (B, T, F) -> (B, T, D)


class EncoderLayer(keras.layers.Layer):
    """Self-attention then feed-forward, each as a pre-LN residual branch: x + f(LN(x))."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(**kwargs)
        self.attention_norm = layer_norm("attention_norm")
        self.attention = MultiHeadAttention(config.width, config.heads, rotary=config.positions == "rotary",
                                            name="attention")
        self.ffn_norm = layer_norm("ffn_norm")
        self.ffn = FeedForward(config.width, config.ffn, name="ffn")
        self.dropout = keras.layers.Dropout(config.dropout, name="dropout")

    def call(self, x, attention_mask=None, training=None):
        """x (B, T, D), attention_mask bool broadcastable to (B, H, T, T) -> x (B, T, D), weights (B, H, T, T)."""
        h = self.attention_norm(x)
        attended, weights = self.attention(h, h, h, attention_mask)  # queries, keys and values from one sequence
        x = x + self.dropout(attended, training=training)
        x = x + self.dropout(self.ffn(self.ffn_norm(x)), training=training)
        return x, weights


class Encoder(keras.layers.Layer):
    """Token embeddings (+ positions), `config.layers` pre-LN layers, a final LayerNorm."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embedding = TokenEmbedding(config.vocab, config.width, name="embedding")
        self.positions = (LearnedPositions(config.max_length, config.width, name="positions")
                          if config.positions == "learned" else None)
        # A fixed table, not a weight: (max_length, D).
        self.sinusoid = sinusoidal_encoding(config.max_length, config.width) if config.positions == "sinusoidal" else None
        self.layers = [EncoderLayer(config, name=f"layers_{i}") for i in range(config.layers)]
        self.norm = layer_norm("norm")
        self.dropout = keras.layers.Dropout(config.dropout, name="dropout")
        # A `mask` keyword is, to Keras, a padding mask; ours is one, (B, T), so let Keras pass it on.
        self.supports_masking = True

    def call(self, tokens, mask=None, return_weights: bool = False, training=None):
        """tokens (B, T), mask (B, T) bool (True = real token) or None -> (B, T, D) [, H-head weights per layer]."""
        x = self.dropout(self.embed(tokens), training=training)  # (B, T, D)
        attend = None if mask is None else _key_mask(mask, tokens)  # (B, 1, 1, T): every query, every head
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, attend, training=training)  # (B, T, D), (B, H, T, T)
            weights.append(layer_weights)
        x = self.norm(x)
        return (x, weights) if return_weights else x

    def embed(self, tokens):
        """Token vectors plus, if the config says so, added position vectors: (B, T) -> (B, T, D)."""
        _check_tokens(tokens, self.config)
        x = self.embedding(tokens)  # (B, T) -> (B, T, D)
        if self.sinusoid is not None:
            x = x + self.sinusoid[: tf.shape(tokens)[1]]  # (B, T, D) + (T, D)
        elif self.positions is not None:
            x = self.positions(x)
        return x


class SequenceTagger(keras.Model):
    """An Encoder and a linear layer to V logits at every position (one label per token)."""

    def __init__(self, config: EncoderConfig, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.encoder = Encoder(config, name="encoder")
        self.output_layer = keras.layers.Dense(config.vocab, name="output_layer")
        # A `mask` keyword is, to Keras, a padding mask; ours is one, (B, T), so let Keras pass it on.
        self.supports_masking = True
        # Keras creates weights on the first call; make them now, then load the shared start.
        self(tf.zeros([1, 1], tf.int64))
        load_torch_state(self, initial_weights(self, seed))

    def call(self, tokens, mask=None, return_weights: bool = False, training=None):
        """tokens (B, T), mask (B, T) or None -> logits (B, T, V) [, per-layer weights (B, H, T, T)]."""
        x, weights = self.encoder(tokens, mask=mask, return_weights=True, training=training)  # (B, T, D), layers x (B, H, T, T)
        logits = self.output_layer(x)  # (B, T, D) -> (B, T, V)
        return (logits, weights) if return_weights else logits


def _key_mask(mask, tokens):
    """(B, T) True = real token -> (B, 1, 1, T): a query may attend to every real key, in every head."""
    if mask.dtype != tf.bool:
        raise TypeError(f"the mask must be bool (True = real token), got dtype {mask.dtype.name}")
    if mask.shape.rank != 2 or not mask.shape.is_compatible_with(tokens.shape):
        raise ValueError(f"the mask has shape {tuple(mask.shape)} but the tokens {tuple(tokens.shape)}")
    return mask[:, None, None, :]  # (B, T) -> (B, 1, 1, T)


def _check_tokens(tokens, config: EncoderConfig) -> None:
    if tokens.shape.rank != 2:
        raise ValueError(f"expected tokens of shape (B, T), got shape {tuple(tokens.shape)}")
    length = tokens.shape[1]
    if length is not None and length > config.max_length:
        raise ValueError(f"a sequence of length {length} is longer than max_length {config.max_length}")
