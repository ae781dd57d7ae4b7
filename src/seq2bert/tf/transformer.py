"""The Transformer (Vaswani et al. 2017) in Keras 3: encoder, decoder, tied output, cached decoding (twin: seq2bert.torch.transformer).

Residual branches come in two orders (config.norm). Pre-LN (Xiong et al. 2020): each sub-layer
reads a layer-normalised copy of the residual stream and adds its result back, x + f(LN(x)), and
one final LayerNorm closes each stack. Post-LN (the paper): LN(x + f(x)), no final LayerNorm.
Positions enter in one of four ways (EncoderConfig.positions): "none" (the encoder is then
permutation equivariant), "sinusoidal" or "learned" vectors added to the token embeddings, or
"rotary" (queries and keys rotated inside every attention layer; encoder only). Names match the
PyTorch twin, so weights map by layer path (seq2bert.tf.weights); LayerNorm uses PyTorch's
epsilon 1e-5. Keras masks are not used: every mask here is an explicit argument (True = may attend).

Shape legend: B batch, S source length, T target (or sequence) length, D model width, H heads,
Dh head width, F feed-forward width, V vocabulary.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from seq2bert import init
from seq2bert.configs import ACTIVATIONS, EncoderConfig, TransformerConfig
from seq2bert.data.text import Vocab
from seq2bert.tf import ops
from seq2bert.tf.attention import MultiHeadAttention, combine_masks
from seq2bert.tf.masks import causal_mask
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
    """The position-wise network: act(x W_1 + b_1) W_2 + b_2, the same at every position (act ReLU or GELU)."""

    def __init__(self, width: int, ffn: int, activation: str = "relu", **kwargs):
        super().__init__(**kwargs)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}, not {activation!r}")
        self.activation = activation
        self.w_1 = keras.layers.Dense(ffn, name="w_1")
        self.w_2 = keras.layers.Dense(width, name="w_2")

    def call(self, x):
        h = self.w_1(x)  # (B, T, D) -> (B, T, F)
        # Exact GELU, x * Phi(x), as torch's nn.GELU() (BERT); tanh-approximated would differ by ~1e-4.
        h = tf.nn.relu(h) if self.activation == "relu" else tf.nn.gelu(h, approximate=False)
        return self.w_2(h)  # (B, T, F) -> (B, T, D)


class EncoderLayer(keras.layers.Layer):
    """Self-attention then feed-forward, each a residual branch: pre-LN x + f(LN(x)), or post-LN LN(x + f(x))."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(**kwargs)
        self.norm_first = config.norm == "pre"
        self.attention_norm = layer_norm("attention_norm")
        self.attention = MultiHeadAttention(config.width, config.heads, rotary=config.positions == "rotary",
                                            name="attention")
        self.ffn_norm = layer_norm("ffn_norm")
        self.ffn = FeedForward(config.width, config.ffn, config.activation, name="ffn")
        self.dropout = keras.layers.Dropout(config.dropout, name="dropout")

    def call(self, x, attention_mask=None, training=None):
        """x (B, T, D), attention_mask bool broadcastable to (B, H, T, T) -> x (B, T, D), weights (B, H, T, T)."""
        if self.norm_first:
            h = self.attention_norm(x)
            attended, weights = self.attention(h, h, h, attention_mask)  # queries, keys and values from one sequence
            x = x + self.dropout(attended, training=training)
            x = x + self.dropout(self.ffn(self.ffn_norm(x)), training=training)
        else:
            attended, weights = self.attention(x, x, x, attention_mask)
            x = self.attention_norm(x + self.dropout(attended, training=training))
            x = self.ffn_norm(x + self.dropout(self.ffn(x), training=training))
        return x, weights


class Encoder(keras.layers.Layer):
    """Token embeddings (+ positions), `config.layers` layers, and a final LayerNorm when pre-LN (`norm` None when post-LN)."""

    def __init__(self, config: EncoderConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embedding = TokenEmbedding(config.vocab, config.width, name="embedding")
        self.positions = (LearnedPositions(config.max_length, config.width, name="positions")
                          if config.positions == "learned" else None)
        # A fixed table, not a weight: (max_length, D).
        self.sinusoid = sinusoidal_encoding(config.max_length, config.width) if config.positions == "sinusoidal" else None
        self.layers = [EncoderLayer(config, name=f"layers_{i}") for i in range(config.layers)]
        self.norm = layer_norm("norm") if config.norm == "pre" else None
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
        if self.norm is not None:
            x = self.norm(x)
        return (x, weights) if return_weights else x

    def embed(self, tokens):
        """Token vectors plus, if the config says so, added position vectors: (B, T) -> (B, T, D)."""
        tokens = tf.convert_to_tensor(tokens)
        _check_tokens(tokens, self.config.max_length, self.config.vocab)
        return _add_positions(self, self.embedding(tokens))  # (B, T) -> (B, T, D)


def _add_positions(stack, x, offset: int = 0):
    """x (B, T, D) at positions offset .. offset+T-1 plus the stack's position vectors, if it has any."""
    length = tf.shape(x)[1]
    if stack.sinusoid is not None:
        return x + stack.sinusoid[offset: offset + length]  # (B, T, D) + (T, D)
    if stack.positions is not None and offset == 0:
        return stack.positions(x)  # x + P[:T]
    if stack.positions is not None:  # a cached step: rows offset .. offset+T-1 of the table
        return x + stack.positions.embedding(tf.range(offset, offset + length))  # (B, T, D) + (T, D)
    return x


# ---------------------------------------------------------------- the decoder (unit 05)


def decoder_layer(layer, x, memory, self_mask, memory_mask):
    """One decoder layer: masked self-attention, cross-attention over the memory, feed-forward.

    x (B, T, D), memory (B, S, D), self_mask bool broadcastable to (B, 1, T, T) (causal & target
    padding), memory_mask broadcastable to (B, 1, T, S). Reads only the DecoderLayer attributes
    named below. Returns x (B, T, D) and the cross-attention weights (B, H, T, S).
    """
    if layer.norm_first:  # x + drop(f(LN(x))) three times
        h = layer.self_attention_norm(x)
        attended, _ = layer.self_attention(h, h, h, self_mask)
        x = x + layer.dropout(attended)
        h = layer.cross_attention_norm(x)
        attended, weights = layer.cross_attention(h, memory, memory, memory_mask)  # queries from the target
        x = x + layer.dropout(attended)
        x = x + layer.dropout(layer.ffn(layer.ffn_norm(x)))
    else:  # LN(x + drop(f(x))) three times
        attended, _ = layer.self_attention(x, x, x, self_mask)
        x = layer.self_attention_norm(x + layer.dropout(attended))
        attended, weights = layer.cross_attention(x, memory, memory, memory_mask)
        x = layer.cross_attention_norm(x + layer.dropout(attended))
        x = layer.ffn_norm(x + layer.dropout(layer.ffn(x)))
    return x, weights


class DecoderLayer(keras.layers.Layer):
    """Masked self-attention, cross-attention over the encoder's memory, feed-forward; norm order from config.norm."""

    def __init__(self, config: TransformerConfig, **kwargs):
        super().__init__(**kwargs)
        self.norm_first = config.norm == "pre"
        self.self_attention_norm = layer_norm("self_attention_norm")
        self.self_attention = MultiHeadAttention(config.width, config.heads, name="self_attention")
        self.cross_attention_norm = layer_norm("cross_attention_norm")
        self.cross_attention = MultiHeadAttention(config.width, config.heads, name="cross_attention")
        self.ffn_norm = layer_norm("ffn_norm")
        self.ffn = FeedForward(config.width, config.ffn, config.activation, name="ffn")
        self.dropout = keras.layers.Dropout(config.dropout, name="dropout")

    def call(self, x, memory, self_mask=None, memory_mask=None, training=None):
        """x (B, T, D), memory (B, S, D), masks as decoder_layer -> x (B, T, D), cross weights (B, H, T, S)."""
        # Sub-layers called inside this call see `training` (Keras passes it down), so dropout follows it.
        return decoder_layer(self, x, memory, self_mask, memory_mask)

    def step(self, x, keys, values, cross, memory_mask, position: int):
        """One new position with cached keys and values (inference: no dropout).

        x (B, 1, D) at `position`; keys, values (B, H, t, Dh) of the earlier positions; cross = (k, v)
        of the memory, (B, H, S, Dh) each. Returns x (B, 1, D), the cross-attention weights
        (B, H, 1, S), and keys and values grown to (B, H, t+1, Dh).
        """
        h = self.self_attention_norm(x) if self.norm_first else x
        k, v = self.self_attention.project_keys_values(h, h)  # (B, H, 1, Dh) each: only the new position
        keys, values = tf.concat([keys, k], axis=2), tf.concat([values, v], axis=2)  # -> (B, H, t+1, Dh)
        # No mask: the newest position may see every earlier one, and nothing later exists yet.
        attended, _ = self.self_attention.attend(h, keys, values, query_offset=position)
        x = self._residual(x, attended, self.self_attention_norm)
        h = self.cross_attention_norm(x) if self.norm_first else x
        attended, weights = self.cross_attention.attend(h, *cross, memory_mask)
        x = self._residual(x, attended, self.cross_attention_norm)
        h = self.ffn_norm(x) if self.norm_first else x
        return self._residual(x, self.ffn(h), self.ffn_norm), weights, keys, values

    def _residual(self, x, branch, norm):
        return x + branch if self.norm_first else norm(x + branch)

    def compute_mask(self, inputs, previous_mask=None):
        return None  # masks here are explicit arguments, never Keras's attached padding masks


@dataclass(frozen=True)
class DecoderCache:
    """What a decoding step needs from the steps before it; each step returns a new cache (never mutated)."""

    memory_mask: tf.Tensor  # (B, 1, 1, S) bool: the real source positions
    cross: list  # per layer (k, v), each (B, H, S, Dh): the memory projected once for cross-attention
    keys: list  # per layer (B, H, t, Dh): self-attention keys of the t positions decoded so far
    values: list  # per layer (B, H, t, Dh)
    length: int  # t: positions fed so far, i.e. the position of the next token

    def reorder(self, index) -> DecoderCache:
        """The cache of rows `index` (N,) int, e.g. the beams that survive a beam-search step."""
        index = tf.convert_to_tensor(index)
        if index.shape.rank != 1 or not index.dtype.is_integer:
            raise ValueError(f"index must be a 1-D integer tensor of rows, got shape {tuple(index.shape)} "
                             f"and dtype {index.dtype.name}")
        batch = int(self.memory_mask.shape[0])
        if index.shape[0] and (int(tf.reduce_min(index)) < 0 or int(tf.reduce_max(index)) >= batch):
            raise ValueError(f"index holds rows {int(tf.reduce_min(index))}..{int(tf.reduce_max(index))}, "
                             f"but the cache has {batch}")

        def take(x):
            return tf.gather(x, index, axis=0)  # (B, ...) -> (N, ...)

        return DecoderCache(take(self.memory_mask), [(take(k), take(v)) for k, v in self.cross],
                            [take(k) for k in self.keys], [take(v) for v in self.values], self.length)


class Decoder(keras.layers.Layer):
    """Target embeddings (+ positions), `config.decoder_layers` DecoderLayers, a final LayerNorm when pre-LN."""

    def __init__(self, config: TransformerConfig, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.embedding = TokenEmbedding(config.tgt_vocab, config.width, name="embedding")
        self.positions = (LearnedPositions(config.max_length, config.width, name="positions")
                          if config.positions == "learned" else None)
        # A fixed table, not a weight: (max_length, D).
        self.sinusoid = sinusoidal_encoding(config.max_length, config.width) if config.positions == "sinusoidal" else None
        self.layers = [DecoderLayer(config, name=f"layers_{i}") for i in range(config.decoder_layers)]
        self.norm = layer_norm("norm") if config.norm == "pre" else None
        self.dropout = keras.layers.Dropout(config.dropout, name="dropout")

    def call(self, tgt_in, memory, memory_mask=None, return_weights: bool = False, training=None):
        """tgt_in (B, T), memory (B, S, D), memory_mask (B, S) bool or None -> x (B, T, D) [, cross weights per layer (B, H, T, S)]."""
        x = self.dropout(self.embed(tgt_in), training=training)  # (B, T) -> (B, T, D)
        tgt_in = tf.convert_to_tensor(tgt_in)
        memory = _memory(memory, tgt_in)  # without a Keras mask it may carry: masks here are explicit
        # Position t sees positions 0..t that are not padding (BOS is never padding): (B, 1, T, T).
        self_mask = combine_masks(tf.not_equal(tgt_in, Vocab.PAD), causal_mask(tf.shape(tgt_in)[1]))
        attend_memory = None if memory_mask is None else _memory_mask(memory_mask, memory)  # (B, 1, 1, S)
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, memory, self_mask, attend_memory, training=training)  # (B, T, D), (B, H, T, S)
            weights.append(layer_weights)
        if self.norm is not None:
            x = self.norm(x)
        return (x, weights) if return_weights else x

    def embed(self, tokens, start: int = 0):
        """Token vectors plus the position vectors of positions start .. start+T-1: (B, T) -> (B, T, D)."""
        tokens = _tokens(tokens, "tokens")
        _check_tokens(tokens, self.config.max_length, self.config.tgt_vocab, start)
        return _add_positions(self, self.embedding(tokens), start)  # (B, T) -> (B, T, D)

    def start_cache(self, memory, memory_mask) -> DecoderCache:
        """An empty cache for this memory (B, S, D), memory_mask (B, S): cross k, v projected once per layer."""
        memory = _memory(memory)
        empty = tf.zeros([tf.shape(memory)[0], self.config.heads, 0, self.config.head_width], memory.dtype)  # (B, H, 0, Dh)
        cross = [layer.cross_attention.project_keys_values(memory, memory) for layer in self.layers]
        mask = _memory_mask(memory_mask, memory)  # (B, 1, 1, S)
        return DecoderCache(mask, cross, [empty] * len(self.layers), [empty] * len(self.layers), 0)

    def step(self, tokens, cache: DecoderCache):
        """Feed one token per row at position cache.length: tokens (B,) -> x (B, D), the last layer's
        cross weights (B, H, S), the cache grown by one position. Costs O(t), not a recompute of the prefix."""
        tokens = _check_step_tokens(tokens, cache)
        x = self.embed(tokens[:, None], start=cache.length)  # (B,) -> (B, 1) -> (B, 1, D); no dropout: inference
        keys, values = [], []
        for layer, k, v, cross in zip(self.layers, cache.keys, cache.values, cache.cross):
            x, weights, k, v = layer.step(x, k, v, cross, cache.memory_mask, cache.length)  # (B, 1, D), (B, H, t+1, Dh)
            keys.append(k)
            values.append(v)
        if self.norm is not None:
            x = self.norm(x)
        cache = DecoderCache(cache.memory_mask, cache.cross, keys, values, cache.length + 1)
        return x[:, 0], weights[:, :, 0], cache  # (B, 1, D) -> (B, D); (B, H, 1, S) -> (B, H, S)

    def compute_mask(self, inputs, previous_mask=None):
        return None  # masks here are explicit arguments, never Keras's attached padding masks


class TiedOutput(keras.layers.Layer):
    """logits = x E^T + b: the target embedding matrix E (V, D) read backwards, plus a bias of its own (V,).

    Press & Wolf (2017); Vaswani et al. (2017, sec. 3.4). E is passed in at call time, so the
    layer owns only b and the shared matrix is stored (and counted) once, in the embedding.
    """

    def __init__(self, vocab: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab = vocab

    def build(self, x_shape, embeddings_shape):
        self.bias = self.add_weight(shape=(self.vocab,), initializer="zeros", name="bias")
        self.built = True

    def call(self, x, embeddings):
        """x (B, T, D), embeddings (V, D) -> logits (B, T, V)."""
        return tf.matmul(x, embeddings, transpose_b=True) + self.bias  # (B, T, D) @ (D, V) -> (B, T, V)


register_layout(TiedOutput, Layout(init.tied_output, lambda layer: {"bias": (layer.vocab,)},
                                   lambda layer, w: [w["bias"]]))


class Transformer(keras.Model):
    """Encoder, decoder and output projection; `call` uses teacher forcing, `translate` decodes greedily."""

    def __init__(self, config: TransformerConfig, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.encoder = Encoder(config.encoder_config(), name="encoder")
        self.decoder = Decoder(config, name="decoder")
        self.output_layer = (TiedOutput(config.tgt_vocab, name="output_layer") if config.tie_embeddings
                             else keras.layers.Dense(config.tgt_vocab, name="output_layer"))
        # Keras creates weights on the first call; make them now, then load the shared start.
        token = tf.ones([1, 1], tf.int64)
        self(token, tf.ones([1], tf.int64), token)
        load_torch_state(self, initial_weights(self, seed))

    def encode(self, src, src_len):
        """src (B, S), src_len (B,) -> memory (B, S, D), src_mask (B, S) bool (True = real token)."""
        src, src_len = _tokens(src, "src"), _check_lengths(src_len, src)
        src_mask = ops.padding_mask(src_len, tf.shape(src)[1])  # (B, S)
        memory = self.encoder(src, mask=src_mask)  # (B, S, D)
        return tf.identity(memory), src_mask  # identity: without the Keras mask the encoder attached

    def decode(self, tgt_in, memory, src_mask, return_weights: bool = False):
        """tgt_in (B, T) -> logits (B, T, V) [, cross-attention weights per layer (B, H, T, S)]."""
        x, weights = self.decoder(tgt_in, memory, src_mask, return_weights=True)  # (B, T, D)
        logits = self.project(x)  # (B, T, D) -> (B, T, V)
        return (logits, weights) if return_weights else logits

    def project(self, x):
        """Decoder states (..., D) -> logits (..., V), through the tied or the untied output layer."""
        if self.config.tie_embeddings:
            return self.output_layer(x, self.decoder.embedding.embeddings)
        return self.output_layer(x)

    def call(self, src, src_len, tgt_in, training=None):
        """Teacher forcing: (B, S), (B,), (B, T) -> logits (B, T, V), last layer's cross weights (B, H, T, S)."""
        memory, src_mask = self.encode(src, src_len)
        logits, weights = self.decode(tgt_in, memory, src_mask, return_weights=True)
        return logits, weights[-1]

    def compute_mask(self, inputs, previous_mask=None):
        return None  # masks here are explicit arguments, never Keras's attached padding masks

    def start_cache(self, memory, src_mask) -> DecoderCache:
        """An empty decoding cache for memory (B, S, D), src_mask (B, S); see Decoder.start_cache."""
        return self.decoder.start_cache(memory, src_mask)

    def decode_step(self, tokens, cache: DecoderCache):
        """tokens (B,) at position cache.length -> logits (B, V) for the next token, the grown cache."""
        x, _, cache = self.decoder.step(tokens, cache)  # (B, D)
        return self.project(x), cache  # (B, D) -> (B, V)

    def translate(self, src, src_len, max_len: int, cache: bool = True):
        """Greedy decoding: -> tokens (B, L) int32 (PAD after EOS), weights (B, L, S) = last layer's cross
        weights, averaged over heads. cache=False re-decodes the whole prefix every step (same tokens, O(t^2) work).

        PAD is never chosen before EOS: it is not a word, and the uncached decoder would mask it out
        of the prefix while the cached one would not. Runs eagerly, step by step.
        """
        if isinstance(max_len, bool) or not isinstance(max_len, int) or not 1 <= max_len <= self.config.max_length:
            raise ValueError(f"max_len must be an int in 1..max_length {self.config.max_length}, got {max_len!r}")
        memory, src_mask = self.encode(src, src_len)
        collected = []
        no_pad = tf.one_hot(Vocab.PAD, self.config.tgt_vocab, on_value=float("-inf"), off_value=0.0)  # (V,)

        def step(prev, state):
            if cache:
                x, weights, state = self.decoder.step(prev, state)  # (B, D), (B, H, S)
                logits = self.project(x)  # (B, D) -> (B, V)
            else:
                state = tf.concat([state, prev[:, None]], axis=1)  # (B, t) -> (B, t+1): the prefix so far
                logits, weights = self.decode(state, memory, src_mask, return_weights=True)
                logits, weights = logits[:, -1], weights[-1][:, :, -1]  # (B, V), (B, H, S): the newest position
            collected.append(tf.reduce_mean(weights, axis=1))  # (B, H, S) -> (B, S)
            return logits + no_pad, state

        batch = int(memory.shape[0])
        start = self.start_cache(memory, src_mask) if cache else tf.zeros([batch, 0], tf.int32)
        tokens = ops.greedy_decode(step, start, batch, Vocab.BOS, Vocab.EOS, Vocab.PAD, max_len)
        return tokens, tf.stack(collected, axis=1)  # L x (B, S) -> (B, L, S)


def count_parameters(model: keras.layers.Layer) -> int:
    """Trainable numbers in the model, a tied matrix once."""
    unique = {id(variable): variable for variable in model.trainable_weights}
    return sum(int(np.prod(variable.shape)) for variable in unique.values())


def scale_embeddings(model: Transformer, factor: float) -> None:
    """Multiply the source and target token embedding matrices by `factor`, in place.

    factor sqrt(D) turns the N(0, 1/D) draw into N(0, 1); the model's own sqrt(D) then lifts tokens
    to RMS about sqrt(D) (11 at D = 128) against positions of RMS about 0.7, so order is drowned out.
    """
    if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not factor > 0:
        raise ValueError(f"factor must be a positive number, got {factor!r}")
    for table in (model.encoder.embedding.embeddings, model.decoder.embedding.embeddings):
        table.assign(table * factor)  # with tied embeddings, the output projection's too


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
    mask = tf.convert_to_tensor(mask)
    if mask.dtype != tf.bool:
        raise TypeError(f"the mask must be bool (True = real token), got dtype {mask.dtype.name}")
    if mask.shape.rank != 2 or not mask.shape.is_compatible_with(tokens.shape):
        raise ValueError(f"the mask has shape {tuple(mask.shape)} but the tokens {tuple(tokens.shape)}")
    return mask[:, None, None, :]  # (B, T) -> (B, 1, 1, T)


def _tokens(x, name: str, rank: int = 2):
    """Token ids (or lengths) as an integer tensor of the given rank, or a one-line error."""
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_integer:
        raise TypeError(f"{name} must hold integer token ids, got dtype {x.dtype.name}")
    if x.shape.rank != rank:
        raise ValueError(f"{name} must have {rank} axes ({'B, length' if rank == 2 else 'B'}), got shape {tuple(x.shape)}")
    return x


def _check_tokens(tokens, max_length: int, vocab: int, start: int = 0) -> None:
    """(B, T) ids below vocab whose positions start .. start+T-1 fit in max_length (ids checked when eager)."""
    if tokens.shape.rank != 2:
        raise ValueError(f"expected tokens of shape (B, T), got shape {tuple(tokens.shape)}")
    length = tokens.shape[1]
    if length is not None and start + length > max_length:
        raise ValueError(f"a sequence of length {start + length} is longer than max_length {max_length}")
    if tf.executing_eagerly() and tf.size(tokens) > 0:
        low, high = int(tf.reduce_min(tokens)), int(tf.reduce_max(tokens))
        if low < 0 or high >= vocab:
            raise ValueError(f"token ids must lie in 0..{vocab - 1} (the vocabulary), got {low}..{high}")


def _check_lengths(src_len, src):
    """src_len (B,) integer lengths in 1..S of src (B, S), as a tensor (values checked when eager)."""
    src_len = _tokens(src_len, "src_len", rank=1)
    if _differ(src_len.shape[0], src.shape[0]):
        raise ValueError(f"src_len has {src_len.shape[0]} lengths but src {src.shape[0]} rows")
    if tf.executing_eagerly() and tf.size(src_len) > 0:
        low, high = int(tf.reduce_min(src_len)), int(tf.reduce_max(src_len))
        if low < 1 or high > src.shape[1]:
            raise ValueError(f"source lengths must lie in 1..{src.shape[1]}, got {low}..{high}")
    return src_len


def _memory(memory, tgt_in=None):
    """memory (B, S, D) as a new tensor, so without a Keras mask attached; one-line errors for the wrong shape."""
    memory = tf.convert_to_tensor(memory)
    if memory.shape.rank != 3:
        raise ValueError(f"memory must have shape (B, S, D), got {tuple(memory.shape)}")
    if tgt_in is not None and _differ(tgt_in.shape[0], memory.shape[0]):
        raise ValueError(f"{tgt_in.shape[0]} target rows but {memory.shape[0]} source rows")
    return tf.identity(memory)


def _memory_mask(mask, memory):
    """(B, S) bool, True = real source token -> (B, 1, 1, S), after one-line checks against memory (B, S, D)."""
    mask = tf.convert_to_tensor(mask)
    if mask.dtype != tf.bool:
        raise TypeError(f"the source mask must be bool (True = real token), got dtype {mask.dtype.name}")
    if mask.shape.rank != 2 or not mask.shape.is_compatible_with(memory.shape[:2]):
        raise ValueError(f"the source mask has shape {tuple(mask.shape)} but the memory holds (B, S) = "
                         f"{tuple(memory.shape[:2])}")
    return mask[:, None, None, :]  # (B, S) -> (B, 1, 1, S)


def _check_step_tokens(tokens, cache: DecoderCache):
    if not isinstance(cache, DecoderCache):
        raise TypeError(f"cache must be a DecoderCache (from start_cache), got {type(cache).__name__}")
    tokens = _tokens(tokens, "tokens", rank=1)
    batch = cache.memory_mask.shape[0]
    if _differ(tokens.shape[0], batch):
        raise ValueError(f"a decoding step takes one token per row, shape ({batch},), got {tuple(tokens.shape)}")
    return tokens


def _differ(a, b) -> bool:
    """Two static sizes that are both known and different (unknown ones are checked by TF later)."""
    return a is not None and b is not None and a != b
