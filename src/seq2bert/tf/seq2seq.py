"""RNN encoder–decoder with optional attention (additive or scaled dot-product), in Keras 3 / TensorFlow (twin: seq2bert.torch.seq2seq).

Class, argument and attribute names match the PyTorch twin, so weights map by layer path
(seq2bert.tf.weights). Both twins start from the same NumPy-drawn weights (seq2bert.init,
PyTorch's default distributions): with Keras's default initialisers the same model learned
markedly slower.

Shape legend: B batch, S source length, T target length, D model width (the GRU state),
V target vocabulary; for this model also E embedding width, A attention (scorer) width,
Dm memory width (width of an encoder state h_j: D, or 2D when bidirectional), L decoded length.
"""
from __future__ import annotations

import keras
import tensorflow as tf

from seq2bert.configs import Seq2SeqConfig
from seq2bert.tf import ops
from seq2bert.tf.attention import scaled_dot_product_attention
from seq2bert.tf.weights import initial_weights, load_torch_state


def gru(width: int, **kwargs) -> keras.layers.GRU:
    """A Keras GRU computing PyTorch's GRU (reset gate applied after the recurrent product)."""
    return keras.layers.GRU(width, return_sequences=True, return_state=True, reset_after=True, **kwargs)


class Encoder(keras.layers.Layer):
    """Embeds the source and runs a GRU over it; returns every state h_j and the decoder's start s_0.

    Unidirectional: s_0 is the final state. Bidirectional (Bahdanau et al. 2015, sec. 3.2):
    h_j = [forward h_j; backward h_j] and s_0 = tanh(W_s backward h_1 + b), through `bridge`.
    """

    def __init__(self, config: Seq2SeqConfig, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(config.src_vocab, config.embed, name="embedding")
        if config.bidirectional:  # the GRU and a go_backwards copy of it; states concatenated
            self.rnn = keras.layers.Bidirectional(gru(config.hidden), name="rnn")
        else:
            self.rnn = gru(config.hidden, name="rnn")
        self.bridge = keras.layers.Dense(config.hidden, name="bridge") if config.bidirectional else None

    def call(self, src, src_len):
        mask = ops.padding_mask(src_len, tf.shape(src)[1])  # (B, S)
        x = self.embedding(src)  # (B, S) -> (B, S, E)
        # With a mask the GRU carries its state over padding, so the forward final state is the
        # last real one, and the backward pass (which reads the reversed sequence, padding
        # first) keeps its zero start until each sequence's last real token.
        outputs, *finals = self.rnn(x, mask=mask)  # (B, S, Dm); one (B, D) per direction, backward last
        outputs = outputs * tf.cast(mask, outputs.dtype)[:, :, None]  # 0 at padding, as in PyTorch
        if self.bridge is None:
            return outputs, finals[0]  # (B, S, D), (B, D)
        # finals[-1] is the backward direction's last state, the one at position 1: (B, D).
        return outputs, tf.tanh(self.bridge(finals[-1]))  # (B, S, 2D), (B, D)


class Decoder(keras.layers.Layer):
    """A GRU decoder that sees the source only through the encoder's final state (unit 01).

    As in Cho et al. (2014), that state c both initialises the decoder and is fed in at every
    step next to the previous token, so the decoder cannot forget it, only outgrow it. With a
    bidirectional encoder, c is the encoder's s_0 (the bridged backward state), width D.
    """

    def __init__(self, config: Seq2SeqConfig, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(config.tgt_vocab, config.embed, name="embedding")
        self.rnn = gru(config.hidden, name="rnn")
        self.output_layer = keras.layers.Dense(config.tgt_vocab, name="output_layer")

    def start(self, memory, state, mask):
        """Per-sentence work done once before decoding: keep the summary vector c."""
        return state

    def call(self, tgt_in, state, cache, memory, mask):
        """Teacher forcing over all steps at once: (B, T), (B, D) -> logits (B, T, V), no weights."""
        x = self.embedding(tgt_in)  # (B, T) -> (B, T, E)
        context = tf.broadcast_to(cache[:, None, :], [tf.shape(x)[0], tf.shape(x)[1], tf.shape(cache)[-1]])  # (B, T, D)
        outputs, _ = self.rnn(tf.concat([x, context], axis=-1), initial_state=state)  # (B, T, E + D) -> (B, T, D)
        return self.output_layer(outputs), None

    def step(self, prev, state, cache, memory, mask):
        """One decoding step: (B,) previous tokens, (B, D) state -> (B, V) logits, new state, no weights."""
        x = tf.concat([self.embedding(prev), cache], axis=-1)[:, None, :]  # (B, E + D) -> (B, 1, E + D)
        _, state = self.rnn(x, initial_state=state)  # (B, D)
        return self.output_layer(state), state, None


class AdditiveAttention(keras.layers.Layer):
    """Bahdanau scores e_j = v^T tanh(s W_q + h_j W_k), masked softmax, weighted sum of h_j."""

    def __init__(self, config: Seq2SeqConfig, **kwargs):
        super().__init__(**kwargs)
        self.w_q = keras.layers.Dense(config.attention_dim, use_bias=False, name="w_q")
        self.w_k = keras.layers.Dense(config.attention_dim, use_bias=False, name="w_k")
        self.v = keras.layers.Dense(1, use_bias=False, name="v")

    def project_keys(self, keys):
        """h_j W_k for every source position, computed once per sentence: (B, S, Dm) -> (B, S, A)."""
        return self.w_k(keys)

    def call(self, query, projected_keys, values, mask):
        """query (B, D), projected keys (B, S, A), values (B, S, Dm) -> context (B, Dm), weights (B, S)."""
        hidden = tf.tanh(self.w_q(query)[:, None, :] + projected_keys)  # (B, 1, A) + (B, S, A) -> (B, S, A)
        scores = tf.squeeze(self.v(hidden), -1)  # (B, S, A) -> (B, S, 1) -> (B, S)
        weights = ops.masked_softmax(scores, mask)
        return ops.context_vector(weights, values), weights


class ScaledDotAttention(keras.layers.Layer):
    """Luong-style scores e_j = (s W_q) . (h_j W_k) / sqrt(A), scaled as in Vaswani et al. (2017); unit 03.

    Same interface as AdditiveAttention: the score is one dot product per source position instead
    of a small tanh network, so a step costs one batched matrix product.
    """

    def __init__(self, config: Seq2SeqConfig, **kwargs):
        super().__init__(**kwargs)
        self.w_q = keras.layers.Dense(config.attention_dim, use_bias=False, name="w_q")
        self.w_k = keras.layers.Dense(config.attention_dim, use_bias=False, name="w_k")

    def project_keys(self, keys):
        """h_j W_k for every source position, computed once per sentence: (B, S, Dm) -> (B, S, A)."""
        return self.w_k(keys)

    def call(self, query, projected_keys, values, mask):
        """query (B, D), projected keys (B, S, A), values (B, S, Dm) -> context (B, Dm), weights (B, S)."""
        projected_query = self.w_q(query)[:, None, :]  # (B, D) -> (B, A) -> (B, 1, A): one query per sentence
        context, weights = scaled_dot_product_attention(projected_query, projected_keys, values, mask[:, None, :])
        return context[:, 0, :], weights[:, 0, :]  # (B, 1, Dm) -> (B, Dm); (B, 1, S) -> (B, S)


# Seq2SeqConfig.score -> the attention class AttentionDecoder uses.
ATTENTIONS = {"additive": AdditiveAttention, "scaled_dot": ScaledDotAttention}


class AttentionDecoder(keras.layers.Layer):
    """A GRU decoder that attends over the encoder states at every step (unit 02; unit 03's scorer by config.score)."""

    def __init__(self, config: Seq2SeqConfig, **kwargs):
        super().__init__(**kwargs)
        self.embedding = keras.layers.Embedding(config.tgt_vocab, config.embed, name="embedding")
        self.attention = ATTENTIONS[config.score](config, name="attention")
        self.cell = keras.layers.GRUCell(config.hidden, reset_after=True, name="cell")
        self.output_layer = keras.layers.Dense(config.tgt_vocab, name="output_layer")

    def start(self, memory, state, mask):
        """Per-sentence work done once before decoding: h_j W_k for every source position."""
        return self.attention.project_keys(memory)

    def call(self, tgt_in, state, cache, memory, mask):
        """Teacher forcing, one step at a time: (B, T), (B, D) -> logits (B, T, V), weights (B, T, S)."""
        # tf.scan keeps one graph for any T (a Python loop would be unrolled per length).
        def body(carry, prev):
            logits, state, weights = self.step(prev, carry[1], cache, memory, mask)
            return logits, state, weights

        batch, src_len = tf.shape(memory)[0], tf.shape(memory)[1]
        first = (tf.zeros([batch, self.output_layer.units], memory.dtype), state, tf.zeros([batch, src_len], memory.dtype))
        logits, _, weights = tf.scan(body, tf.transpose(tgt_in), initializer=first)  # (T, B, V), (T, B, S)
        return tf.transpose(logits, [1, 0, 2]), tf.transpose(weights, [1, 0, 2])  # (B, T, V), (B, T, S)

    def step(self, prev, state, cache, memory, mask):
        """One step: attend with s_{i-1}, feed [y_{i-1}; c_i] to the GRU, predict from [s_i; c_i]."""
        attend = lambda query: self.attention(query, cache, memory, mask)  # noqa: E731  (B, D) -> (B, Dm), (B, S)
        return ops.attention_step(self.embedding(prev), state, attend, self.next_state, self.output_layer)

    def next_state(self, x, state):
        """The GRU update: input (B, E + Dm), state (B, D) -> new state (B, D)."""
        new_state, _ = self.cell(x, state)  # Keras cells return (output, states); for a GRU both are s_i
        return new_state


class Seq2Seq(keras.Model):
    """Encoder plus decoder; `call` uses teacher forcing, `translate` decodes greedily."""

    def __init__(self, config: Seq2SeqConfig, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.config = config
        self.encoder = Encoder(config, name="encoder")
        self.decoder = AttentionDecoder(config, name="decoder") if config.attention else Decoder(config, name="decoder")
        # Keras creates weights on the first call; make them now, then load the shared start.
        token = tf.ones([1, 1], tf.int64)
        self(token, tf.ones([1], tf.int64), token)
        load_torch_state(self, initial_weights(self, seed))

    def encode(self, src, src_len):
        memory, state = self.encoder(src, src_len)  # (B, S, Dm), (B, D)
        mask = ops.padding_mask(src_len, tf.shape(src)[1])  # (B, S)
        return memory, state, mask, self.decoder.start(memory, state, mask)

    def call(self, src, src_len, tgt_in):
        """Teacher forcing: (B, S), (B,), (B, T) -> logits (B, T, V), weights (B, T, S) or None."""
        memory, state, mask, cache = self.encode(src, src_len)
        return self.decoder(tgt_in, state, cache, memory, mask)

    def translate(self, src, src_len, max_len: int, bos_id: int = 1, eos_id: int = 2, pad_id: int = 0):
        """Greedy decoding: -> tokens (B, L), attention weights (B, L, S) or None."""
        memory, state, mask, cache = self.encode(src, src_len)
        collected = []

        def step(prev, state):
            logits, state, weights = self.decoder.step(prev, state, cache, memory, mask)
            collected.append(weights)
            return logits, state

        tokens = ops.greedy_decode(step, state, int(src.shape[0]), bos_id, eos_id, pad_id, max_len)
        weights = tf.stack(collected, axis=1) if self.config.attention else None  # (B, L, S)
        return tokens, weights
