"""Small tensor functions the notebooks ask learners to write; these are the references.

TensorFlow twins of seq2bert.torch.ops: same names, arguments, shapes and results. Token ids
and lengths are int32 here (int64 in PyTorch), floats are float32.

Shape legend: B batch, S source length, T target length, D state width, A attention width,
V vocabulary.
"""
from __future__ import annotations

from typing import Callable

import tensorflow as tf

# Added to masked scores: large enough to zero a softmax, small enough to stay finite.
MASK_VALUE = -1e9


def padding_mask(lengths: tf.Tensor, max_len: int) -> tf.Tensor:
    """(B,) lengths -> (B, max_len) bool mask, True at real tokens, False at padding."""
    positions = tf.range(max_len, dtype=lengths.dtype)  # (S,)
    return positions[None, :] < lengths[:, None]  # (1, S) < (B, 1) -> (B, S)


def masked_cross_entropy(logits: tf.Tensor, targets: tf.Tensor, pad_id: int) -> tf.Tensor:
    """Mean cross-entropy over the non-padding target tokens. logits (B, T, V), targets (B, T)."""
    per_token = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)  # (B, T)
    keep = tf.cast(tf.not_equal(targets, pad_id), per_token.dtype)  # (B, T)
    return tf.reduce_sum(per_token * keep) / tf.maximum(tf.reduce_sum(keep), 1.0)


def greedy_decode(step: Callable, state, batch_size: int, bos_id: int, eos_id: int,
                  pad_id: int, max_len: int) -> tf.Tensor:
    """Decode greedily with `step(prev_tokens (B,), state) -> (logits (B, V), state)`.

    Returns (B, L) int32 token ids, L <= max_len; positions after a sequence's EOS hold pad_id.
    Stops early once every sequence has produced EOS.
    """
    prev = tf.fill([batch_size], tf.constant(bos_id, tf.int32))
    done = tf.zeros([batch_size], dtype=tf.bool)
    outputs = []
    for _ in range(max_len):
        logits, state = step(prev, state)
        token = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (B, V) -> (B,)
        token = tf.where(done, tf.constant(pad_id, tf.int32), token)
        outputs.append(token)
        done = tf.logical_or(done, tf.equal(token, eos_id))
        prev = token
        if bool(tf.reduce_all(done)):
            break
    return tf.stack(outputs, axis=1)  # L x (B,) -> (B, L)


def additive_scores(query: tf.Tensor, keys: tf.Tensor, w_q: tf.Tensor,
                    w_k: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
    """Bahdanau scores e_j = v^T tanh(s W_q + h_j W_k).

    query (B, D), keys (B, S, D), w_q (D, A), w_k (D, A), v (A,) -> scores (B, S).
    """
    projected_query = query @ w_q  # (B, D) @ (D, A) -> (B, A)
    projected_keys = keys @ w_k  # (B, S, D) @ (D, A) -> (B, S, A)
    hidden = tf.tanh(projected_query[:, None, :] + projected_keys)  # (B, 1, A) + (B, S, A)
    return tf.linalg.matvec(hidden, v)  # (B, S, A) @ (A,) -> (B, S)


def masked_softmax(scores: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Softmax over the last axis where mask is True; masked positions get weight 0."""
    scores = tf.where(mask, scores, tf.constant(MASK_VALUE, scores.dtype))
    return tf.nn.softmax(scores, axis=-1)


def context_vector(weights: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """Weighted sum of values: weights (B, S), values (B, S, D) -> (B, D)."""
    return tf.squeeze(weights[:, None, :] @ values, axis=1)  # (B, 1, S) @ (B, S, D) -> (B, 1, D) -> (B, D)


def last_real_state(outputs: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
    """Each sequence's state at its last real token: outputs (B, S, D), lengths (B,) -> (B, D).

    The RNN ran over the padding too, so outputs[:, -1] is a state after padding tokens.
    """
    return tf.gather(outputs, lengths - 1, batch_dims=1)  # row b at position lengths[b] - 1 -> (B, D)


def attention_step(embedded: tf.Tensor, state: tf.Tensor, attend: Callable, cell: Callable,
                   output_layer: Callable):
    """One Bahdanau decoder step: attend with s_{i-1}, run the GRU on [y_{i-1}; c_i], predict from [s_i; c_i].

    embedded (B, E) is the previous target token's embedding, state (B, D) is s_{i-1};
    attend(state) -> (context (B, Dm), weights (B, S)); cell(x, state) -> new state (B, D);
    output_layer(x) -> logits (B, V). Returns (logits, new_state, weights).
    """
    context, weights = attend(state)  # (B, D) -> (B, Dm), (B, S)
    new_state = cell(tf.concat([embedded, context], axis=-1), state)  # (B, E + Dm), (B, D) -> (B, D)
    logits = output_layer(tf.concat([new_state, context], axis=-1))  # (B, D + Dm) -> (B, V)
    return logits, new_state, weights


def _check_smoothing_inputs(logits_shape: tuple, targets_shape: tuple, smoothing: float) -> None:
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    if len(logits_shape) != 3 or tuple(targets_shape) != tuple(logits_shape[:2]):
        raise ValueError(f"targets have shape {tuple(targets_shape)} but logits {tuple(logits_shape)}: "
                         f"expected logits (B, T, V) and targets (B, T)")


def label_smoothed_cross_entropy(logits: tf.Tensor, targets: tf.Tensor, pad_id: int,
                                 smoothing: float = 0.1) -> tf.Tensor:
    """Cross-entropy against (1 - eps) one-hot + eps / V on every class, mean over non-padding targets.

    logits (B, T, V), targets (B, T). Per token: (1 - eps) * (-log p_y) + eps * mean_v(-log p_v).
    """
    _check_smoothing_inputs(tuple(logits.shape), tuple(targets.shape), smoothing)
    log_probs = tf.nn.log_softmax(logits, axis=-1)  # (B, T, V)
    nll = -tf.gather(log_probs, targets, batch_dims=2)  # (B, T, V) at (B, T) -> (B, T)
    uniform = -tf.reduce_mean(log_probs, axis=-1)  # (B, T, V) -> (B, T)
    per_token = (1.0 - smoothing) * nll + smoothing * uniform  # (B, T)
    keep = tf.cast(tf.not_equal(targets, pad_id), per_token.dtype)  # (B, T)
    return tf.reduce_sum(per_token * keep) / tf.maximum(tf.reduce_sum(keep), 1.0)
