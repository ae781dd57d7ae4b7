"""TensorFlow exercise checks against wrong answers written the way a learner would write them."""
from __future__ import annotations

import math

import pytest
import tensorflow as tf

import seq2bert.check.dot_product  # noqa: F401  registers unit 03's exercises (until units.py lists them)
import seq2bert.check.heads  # noqa: F401  (unit 04's checks; the catalogue does not list them yet)
import seq2bert.check.positional  # noqa: F401
from seq2bert import report
from seq2bert.check import all_exercises, evaluate, exercise_names, exercises
from seq2bert.tf.attention import scaled_dot_product_attention

EXERCISES = all_exercises()

MASK_VALUE = -1e9


@pytest.fixture(scope="module")
def check():
    return exercises("tensorflow")


@pytest.fixture
def shown(monkeypatch):
    calls = []
    monkeypatch.setattr(report, "show_check", lambda payload, text: calls.append((payload, text)))
    return calls


def positions(max_len, lengths):
    return tf.range(max_len, dtype=lengths.dtype)[None, :]


# ---------------------------------------------------------------- padding_mask


def mask_inverted(lengths, max_len):
    return positions(max_len, lengths) >= lengths[:, None]


def mask_one_short(lengths, max_len):
    return positions(max_len, lengths) < lengths[:, None] - 1


def mask_longest(lengths, max_len):
    return positions(tf.reduce_max(lengths), lengths) < lengths[:, None]


def mask_as_ints(lengths, max_len):
    return tf.cast(positions(max_len, lengths) < lengths[:, None], tf.int32)


def mask_sequence_mask(lengths, max_len):  # correct
    return tf.sequence_mask(lengths, max_len)


# ---------------------------------------------------------------- masked_cross_entropy


def token_losses(logits, targets):
    return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits)


def ce_with_padding(logits, targets, pad_id):
    return tf.reduce_mean(token_losses(logits, targets))


def ce_divide_by_all(logits, targets, pad_id):
    keep = tf.cast(targets != pad_id, tf.float32)
    return tf.reduce_sum(token_losses(logits, targets) * keep) / tf.cast(tf.size(targets), tf.float32)


def ce_per_sequence(logits, targets, pad_id):
    keep = tf.cast(targets != pad_id, tf.float32)
    return tf.reduce_mean(tf.reduce_sum(token_losses(logits, targets) * keep, axis=1) / tf.reduce_sum(keep, axis=1))


def ce_double_softmax(logits, targets, pad_id):
    keep = tf.cast(targets != pad_id, tf.float32)
    return tf.reduce_sum(token_losses(tf.nn.softmax(logits), targets) * keep) / tf.reduce_sum(keep)


def ce_softmax_over_time(logits, targets, pad_id):
    log_probs = tf.nn.log_softmax(logits, axis=1)
    picked = tf.gather(log_probs, targets, batch_dims=2)
    keep = tf.cast(targets != pad_id, tf.float32)
    return -tf.reduce_sum(picked * keep) / tf.reduce_sum(keep)


def ce_numpy_result(logits, targets, pad_id):
    keep = tf.cast(targets != pad_id, tf.float32)
    return (tf.reduce_sum(token_losses(logits, targets) * keep) / tf.reduce_sum(keep)).numpy()


def ce_rebuilt_constant(logits, targets, pad_id):
    return tf.constant(ce_numpy_result(logits, targets, pad_id))


def ce_boolean_mask(logits, targets, pad_id):  # correct
    return tf.reduce_mean(tf.boolean_mask(token_losses(logits, targets), targets != pad_id))


# ---------------------------------------------------------------- greedy_decode


def decode(step, state, batch_size, bos_id, eos_id, pad_id, max_len, *, feed_back=True, keep_state=True,
           pad=True, until="all", axis=-1):
    """A learner's greedy loop; each keyword reproduces one slip."""
    start = tf.fill([batch_size], bos_id)
    prev, done, outputs = start, tf.zeros([batch_size], tf.bool), []
    for _ in range(max_len):
        logits, new_state = step(prev, state)
        state = new_state if keep_state else state
        token = tf.argmax(logits, axis=axis, output_type=tf.int32)
        if pad:
            token = tf.where(done, pad_id, token)
        done = done | (token == eos_id)
        outputs.append(token)
        prev = token if feed_back else start
        if (until == "all" and tf.reduce_all(done)) or (until == "any" and tf.reduce_any(done)):
            break
    return tf.stack(outputs, axis=1)


def decode_time_major(*args):
    return tf.transpose(decode(*args))


def decode_list(*args):
    return tf.unstack(decode(*args), axis=1)


def bind(**slips):
    return lambda *args: decode(*args, **slips)


# ---------------------------------------------------------------- additive_scores


def project(query, keys, w_q, w_k):
    return tf.matmul(query, w_q)[:, None, :], tf.einsum("bsh,ha->bsa", keys, w_k)


def scores_no_tanh(query, keys, w_q, w_k, v):
    q, k = project(query, keys, w_q, w_k)
    return tf.reduce_sum((q + k) * v, axis=-1)


def scores_raw_query(query, keys, w_q, w_k, v):
    _, k = project(query, keys, w_q, w_k)
    return tf.reduce_sum(tf.tanh(query[:, None, :] + k) * v, axis=-1)


def scores_query_not_broadcast(query, keys, w_q, w_k, v):
    _, k = project(query, keys, w_q, w_k)
    return tf.reduce_sum(tf.tanh(tf.matmul(query, w_q) + k) * v, axis=-1)


def scores_sum_instead_of_v(query, keys, w_q, w_k, v):
    q, k = project(query, keys, w_q, w_k)
    return tf.reduce_sum(tf.tanh(q + k), axis=-1)


def scores_missing_v(query, keys, w_q, w_k, v):
    q, k = project(query, keys, w_q, w_k)
    return tf.tanh(q + k)


def scores_tensordot(query, keys, w_q, w_k, v):  # correct
    q, k = project(query, keys, w_q, w_k)
    return tf.tensordot(tf.tanh(q + k), v, axes=1)


# ---------------------------------------------------------------- masked_softmax


def softmax_unmasked(scores, mask):
    return tf.nn.softmax(scores, axis=-1)


def softmax_then_mask(scores, mask):
    return tf.nn.softmax(scores) * tf.cast(mask, tf.float32)


def softmax_batch_axis(scores, mask):
    return tf.nn.softmax(tf.where(mask, scores, MASK_VALUE), axis=0)


def softmax_times_mask(scores, mask):
    return tf.nn.softmax(scores * tf.cast(mask, tf.float32))


def softmax_inverted(scores, mask):
    return tf.nn.softmax(tf.where(mask, MASK_VALUE, scores))


def softmax_additive_mask(scores, mask):  # correct
    return tf.nn.softmax(scores + (1.0 - tf.cast(mask, tf.float32)) * MASK_VALUE)


# ---------------------------------------------------------------- context_vector


def context_unweighted_sum(weights, values):
    return tf.reduce_sum(values, axis=1)


def context_weighted_mean(weights, values):
    return tf.reduce_mean(weights[:, :, None] * values, axis=1)


def context_no_squeeze(weights, values):
    return tf.matmul(weights[:, None, :], values)


def context_wrong_axis(weights, values):
    return tf.reduce_sum(weights[:, :, None] * values, axis=2)


def context_einsum(weights, values):  # correct
    return tf.einsum("bs,bsh->bh", weights, values)


# ---------------------------------------------------------------- last_real_state and attention_step


def last_state_at_end(outputs, lengths):
    return outputs[:, -1]


def last_state_off_by_one(outputs, lengths):
    return tf.gather(outputs, tf.minimum(lengths, tf.cast(tf.shape(outputs)[1] - 1, lengths.dtype)), axis=1, batch_dims=1)


def last_state_mean(outputs, lengths):
    keep = tf.cast(tf.range(tf.shape(outputs)[1], dtype=lengths.dtype)[None, :] < lengths[:, None], outputs.dtype)
    return tf.reduce_sum(outputs * keep[:, :, None], axis=1) / tf.cast(lengths, outputs.dtype)[:, None]


def last_state_gather(outputs, lengths):  # correct
    index = tf.stack([tf.range(tf.shape(outputs)[0], dtype=lengths.dtype), lengths - 1], axis=1)
    return tf.gather_nd(outputs, index)


def step_luong(embedded, state, attend, cell, output_layer):
    context, _ = attend(state)
    new_state = cell(tf.concat([embedded, context], -1), state)
    context, weights = attend(new_state)
    return output_layer(tf.concat([new_state, context], -1)), new_state, weights


def step_old_state(embedded, state, attend, cell, output_layer):
    context, weights = attend(state)
    new_state = cell(tf.concat([embedded, context], -1), state)
    return output_layer(tf.concat([new_state, context], -1)), state, weights


def step_gru_swapped(embedded, state, attend, cell, output_layer):
    context, weights = attend(state)
    new_state = cell(tf.concat([context, embedded], -1), state)
    return output_layer(tf.concat([new_state, context], -1)), new_state, weights


def step_unpacked(embedded, state, attend, cell, output_layer):  # correct, written differently
    attended = attend(state)
    s_i = cell(tf.concat((embedded, attended[0]), axis=1), state)
    return output_layer(tf.concat((s_i, attended[0]), axis=1)), s_i, attended[1]


# ---------------------------------------------------------------- unit 03: scaled dot-product attention


def attention(query, key, value, mask, scale=None, axis=-1, zero_empty=True, fill=MASK_VALUE):
    """A learner's attention with the usual slips as switches (defaults are right)."""
    scale = 1 / math.sqrt(query.shape[-1]) if scale is None else scale
    scores = tf.matmul(query, key, transpose_b=True) * scale
    if mask is not None:
        scores = tf.where(mask, scores, fill)
    weights = tf.nn.softmax(scores, axis=axis)
    if mask is not None and zero_empty:
        weights = weights * tf.cast(mask, weights.dtype)  # a query with no key at all reads nothing
    return tf.matmul(weights, value), weights


def sdpa_unscaled(query, key, value, mask):
    return attention(query, key, value, mask, scale=1.0)


def sdpa_value_width(query, key, value, mask):
    return attention(query, key, value, mask, scale=1 / math.sqrt(value.shape[-1]))


def sdpa_uniform_empty_rows(query, key, value, mask):
    return attention(query, key, value, mask, zero_empty=False)


def sdpa_minus_inf(query, key, value, mask):
    return attention(query, key, value, mask, zero_empty=False, fill=float("-inf"))


def sdpa_times_mask(query, key, value, mask):
    scores = tf.matmul(query, key, transpose_b=True) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = scores * tf.cast(mask, scores.dtype)
    weights = tf.nn.softmax(scores)
    return tf.matmul(weights, value), weights


def sdpa_inverted(query, key, value, mask):
    scores = tf.matmul(query, key, transpose_b=True) / math.sqrt(query.shape[-1])
    if mask is not None:
        scores = tf.where(mask, float("-inf"), scores)
    weights = tf.nn.softmax(scores)
    weights = tf.where(tf.math.is_nan(weights), 0.0, weights)
    return tf.matmul(weights, value), weights


def sdpa_output_transposed(query, key, value, mask):
    output, weights = attention(query, key, value, mask)
    return tf.linalg.matrix_transpose(output), weights


def sdpa_divide_no_nan(query, key, value, mask):  # correct, written differently
    scores = tf.einsum("...td,...sd->...ts", query, key) / tf.sqrt(tf.cast(tf.shape(key)[-1], tf.float32))
    if mask is not None:
        scores = tf.where(mask, scores, float("-inf"))
    top = tf.reduce_max(scores, axis=-1, keepdims=True)
    top = tf.stop_gradient(tf.where(tf.math.is_inf(top), 0.0, top))
    exp = tf.exp(scores - top)
    weights = tf.math.divide_no_nan(exp, tf.reduce_sum(exp, axis=-1, keepdims=True))
    return tf.einsum("...ts,...sd->...td", weights, value), weights


def causal_upper(length):
    return tf.linalg.band_part(tf.ones((length, length)), 0, -1) > 0


def causal_strict(length):
    return tf.linalg.band_part(tf.ones((length, length)), -1, 0) - tf.eye(length) > 0


def causal_float(length):
    return tf.linalg.band_part(tf.ones((length, length)), -1, 0)


def causal_batched(length):
    return (tf.linalg.band_part(tf.ones((length, length)), -1, 0) > 0)[None, None]


def causal_compare(length):  # correct, written differently
    return tf.range(length)[:, None] >= tf.range(length)[None, :]


def combine_or(key_padding, causal):
    return tf.logical_or(key_padding[:, None, None, :], causal[None, None, :, :])


def combine_no_heads(key_padding, causal):
    return tf.logical_and(key_padding[:, None, :], causal[None, :, :])


def combine_padding_on_queries(key_padding, causal):
    return tf.logical_and(key_padding[:, None, :, None], causal[None, None, :, :])


def combine_raw_when_alone(key_padding, causal):
    if key_padding is None:
        return causal
    if causal is None:
        return key_padding
    return tf.logical_and(key_padding[:, None, None, :], causal[None, None, :, :])


def combine_expand_dims(key_padding, causal):  # correct, written differently
    combined = None
    if key_padding is not None:
        combined = tf.expand_dims(tf.expand_dims(key_padding, 1), 1)  # (B, S) -> (B, 1, 1, S)
    if causal is not None:
        causal = tf.reshape(causal, [1, 1, *causal.shape])  # (T, S) -> (1, 1, T, S)
        combined = causal if combined is None else tf.logical_and(combined, causal)
    return combined


def online_no_rescale(running_max, running_sum, running_output, scores, values):
    new_max = tf.maximum(running_max, tf.reduce_max(scores, axis=-1))
    shift = tf.where(tf.math.is_inf(new_max), 0.0, new_max)
    p = tf.exp(scores - shift[..., None])
    return new_max, running_sum + tf.reduce_sum(p, axis=-1), running_output + tf.matmul(p, values)


def online_unguarded(running_max, running_sum, running_output, scores, values):
    new_max = tf.maximum(running_max, tf.reduce_max(scores, axis=-1))
    alpha = tf.exp(running_max - new_max)
    p = tf.exp(scores - new_max[..., None])
    return new_max, running_sum * alpha + tf.reduce_sum(p, axis=-1), running_output * alpha[..., None] + p @ values


def online_inverse_rescale(running_max, running_sum, running_output, scores, values):
    new_max = tf.maximum(running_max, tf.reduce_max(scores, axis=-1))
    shift = tf.where(tf.math.is_inf(new_max), 0.0, new_max)
    alpha = tf.exp(shift - running_max)
    p = tf.exp(scores - shift[..., None])
    return new_max, running_sum * alpha + tf.reduce_sum(p, axis=-1), running_output * alpha[..., None] + p @ values


def online_naive_exp(running_max, running_sum, running_output, scores, values):
    p = tf.exp(scores)
    new_max = tf.maximum(running_max, tf.reduce_max(scores, axis=-1))
    return new_max, running_sum + tf.reduce_sum(p, axis=-1), running_output + p @ values


def online_normalised(running_max, running_sum, running_output, scores, values):
    new_max = tf.maximum(running_max, tf.reduce_max(scores, axis=-1))
    shift = tf.where(tf.math.is_inf(new_max), 0.0, new_max)
    alpha = tf.exp(running_max - shift)
    p = tf.exp(scores - shift[..., None])
    total = running_sum * alpha + tf.reduce_sum(p, axis=-1)
    return new_max, total, (running_output * alpha[..., None] + p @ values) / total[..., None]


def online_einsum(running_max, running_sum, running_output, scores, values):  # correct, written differently
    new_max = tf.math.maximum(running_max, tf.math.reduce_max(scores, axis=-1))
    finite = tf.math.is_finite(new_max)
    reference = tf.where(finite, new_max, tf.zeros_like(new_max))
    alpha = tf.math.exp(running_max - reference)
    p = tf.math.exp(scores - tf.expand_dims(reference, -1))
    output = tf.expand_dims(alpha, -1) * running_output + tf.einsum("...ts,...sd->...td", p, values)
    return new_max, alpha * running_sum + tf.reduce_sum(p, axis=-1), output
# ---------------------------------------------------------------- unit 04: split_heads, merge_heads


def split_reshape_only(x, heads):
    batch, length, width = x.shape
    return tf.reshape(x, (batch, heads, length, width // heads))


def split_strided(x, heads):
    batch, length, width = x.shape
    return tf.transpose(tf.reshape(x, (batch, length, width // heads, heads)), [0, 3, 1, 2])


def split_no_transpose(x, heads):
    batch, length, width = x.shape
    return tf.reshape(x, (batch, length, heads, width // heads))


def split_stacked(x, heads):  # correct, written differently
    return tf.stack(tf.split(x, heads, axis=-1), axis=1)


def merge_reshape_only(x):
    batch, heads, length, head_width = x.shape
    return tf.reshape(x, (batch, length, heads * head_width))


def merge_sum(x):
    return tf.reduce_sum(x, axis=1)


def merge_transpose_only(x):
    return tf.transpose(x, [0, 2, 1, 3])


def merge_concat(x):  # correct, written differently
    return tf.concat(tf.unstack(x, axis=1), axis=-1)


# ---------------------------------------------------------------- unit 04: sinusoidal_encoding, apply_rope


def sinusoid_angles(length, width, start=0, exponent_step=2.0):
    positions = tf.range(start, start + length, dtype=tf.float32)[:, None]  # (T, 1)
    pairs = tf.range(width // 2, dtype=tf.float32)
    return positions / tf.pow(10000.0, exponent_step * pairs / width)  # (T, D/2)


def interleave(first, second):
    return tf.reshape(tf.stack([first, second], axis=-1), tf.concat([tf.shape(first)[:-1], [-1]], 0))


def sinusoid_swapped(length, width):
    angles = sinusoid_angles(length, width)
    return interleave(tf.cos(angles), tf.sin(angles))


def sinusoid_i_over_d(length, width):
    angles = sinusoid_angles(length, width, exponent_step=1.0)
    return interleave(tf.sin(angles), tf.cos(angles))


def sinusoid_halves(length, width):
    angles = sinusoid_angles(length, width)
    return tf.concat([tf.sin(angles), tf.cos(angles)], axis=-1)


def sinusoid_from_one(length, width):
    angles = sinusoid_angles(length, width, start=1)
    return interleave(tf.sin(angles), tf.cos(angles))


def sinusoid_scatter(length, width):  # correct: sin on even columns, cos on odd, by a where on the parity
    positions = tf.cast(tf.range(length), tf.float32)[:, None]
    columns = tf.range(width)
    rates = tf.exp(-math.log(10000.0) * tf.cast(columns - columns % 2, tf.float32) / width)  # 10000^(-2i/D)
    angles = positions * rates  # (T, D)
    return tf.where(columns % 2 == 0, tf.sin(angles), tf.cos(angles))


def rope_angles(x, positions):
    if positions is None:
        positions = tf.range(x.shape[-2])
    width = x.shape[-1]
    return tf.cast(positions, tf.float32)[:, None] * tf.pow(10000.0, -tf.range(0, width, 2, dtype=tf.float32) / width)


def rope_negative(x, positions=None):
    angles = rope_angles(x, positions)
    even, odd = x[..., 0::2], x[..., 1::2]
    return interleave(even * tf.cos(angles) + odd * tf.sin(angles), odd * tf.cos(angles) - even * tf.sin(angles))


def rope_rotate_half(x, positions=None):
    angles = rope_angles(x, positions)
    cos, sin = tf.concat([tf.cos(angles)] * 2, -1), tf.concat([tf.sin(angles)] * 2, -1)
    first, second = tf.split(x, 2, axis=-1)
    return x * cos + tf.concat([-second, first], axis=-1) * sin


def rope_exponent_i(x, positions=None):
    if positions is None:
        positions = tf.range(x.shape[-2])
    width = x.shape[-1]
    angles = tf.cast(positions, tf.float32)[:, None] * tf.pow(10000.0, -tf.range(width // 2, dtype=tf.float32) / width)
    even, odd = x[..., 0::2], x[..., 1::2]
    return interleave(even * tf.cos(angles) - odd * tf.sin(angles), even * tf.sin(angles) + odd * tf.cos(angles))


def rope_complex(x, positions=None):  # correct: multiply each pair, as a complex number, by e^(i angle)
    angles = rope_angles(x, positions)
    pairs = tf.complex(x[..., 0::2], x[..., 1::2])
    turned = pairs * tf.complex(tf.cos(angles), tf.sin(angles))
    return interleave(tf.math.real(turned), tf.math.imag(turned))


# ---------------------------------------------------------------- unit 04: multi_head_attention


def mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None, *, scale=None, project_out=True, merge=None, swap=False):
    """A learner's multi-head attention on the course's scaled_dot_product_attention; keywords are slips."""
    def split(x):
        batch, length, width = x.shape
        return tf.transpose(tf.reshape(x, (batch, length, heads, width // heads)), [0, 2, 1, 3])

    w_k, w_v = (w_v, w_k) if swap else (w_k, w_v)
    q, k, v = split(x_q @ w_q), split(x_kv @ w_k), split(x_kv @ w_v)
    context, weights = scaled_dot_product_attention(q, k, v, mask, scale=scale)
    batch, _, length, head_width = context.shape
    if merge is None:
        merged = tf.reshape(tf.transpose(context, [0, 2, 1, 3]), (batch, length, heads * head_width))
    else:
        merged = merge(context)
    return (merged @ w_o if project_out else merged), weights


def mha_unscaled(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    return mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask, scale=1.0)


def mha_no_w_o(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    return mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask, project_out=False)


def mha_reshape_merge(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    return mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask,
               merge=lambda c: tf.reshape(c, (c.shape[0], c.shape[2], -1)))


def mha_swapped(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    return mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask, swap=True)


def mha_unmasked(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    return mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, None)


def mha_einsum(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):  # correct, written out with einsum
    batch, length, width = x_q.shape
    head_width = width // heads
    q = tf.reshape(tf.einsum("btd,de->bte", x_q, w_q), (batch, length, heads, head_width))
    k = tf.reshape(tf.einsum("bsd,de->bse", x_kv, w_k), (batch, x_kv.shape[1], heads, head_width))
    v = tf.reshape(tf.einsum("bsd,de->bse", x_kv, w_v), (batch, x_kv.shape[1], heads, head_width))
    scores = tf.einsum("bthe,bshe->bhts", q, k) / math.sqrt(head_width)
    if mask is not None:
        scores = tf.where(mask, scores, -1e9)
    weights = tf.nn.softmax(scores, axis=-1)
    context = tf.reshape(tf.einsum("bhts,bshe->bthe", weights, v), (batch, length, width))
    return context @ w_o, weights


WRONG = [
    ("padding_mask", mask_inverted, "True and False are swapped"),
    ("padding_mask", mask_one_short, "one True too few"),
    ("padding_mask", mask_longest, "use max_len, not lengths.max()"),
    ("padding_mask", mask_as_ints, "the mask has dtype int32 but should be bool"),
    ("masked_cross_entropy", ce_with_padding, "averages over padding positions"),
    ("masked_cross_entropy", ce_divide_by_all, "you still divide by all B*T positions"),
    ("masked_cross_entropy", ce_per_sequence, "average over all real tokens of the batch at once"),
    ("masked_cross_entropy", ce_double_softmax, "cross-entropy takes raw logits"),
    ("masked_cross_entropy", ce_softmax_over_time, "the log-softmax ran over axis 1 (time steps)"),
    ("masked_cross_entropy", ce_numpy_result, "returned a NumPy array, expected a tf.Tensor"),
    ("masked_cross_entropy", ce_rebuilt_constant, "cannot be differentiated with respect to `logits`"),
    ("greedy_decode", bind(pad=False), "fill the rest of its row with pad_id"),
    ("greedy_decode", bind(feed_back=False), "feed each step's predictions back in"),
    ("greedy_decode", bind(keep_state=False), "keep the state that step() returns"),
    ("greedy_decode", bind(until="any"), "keep going until every sequence has produced EOS"),
    ("greedy_decode", bind(axis=0), "not the batch axis"),
    ("greedy_decode", decode_time_major, "stack the per-step tokens along axis 1"),
    ("greedy_decode", decode_list, "stack the pieces into one tensor (tf.stack)"),
    ("additive_scores", scores_no_tanh, "the tanh is missing"),
    ("additive_scores", scores_raw_query, "use query @ w_q, not the raw query"),
    ("additive_scores", scores_query_not_broadcast, "give it a source axis"),
    ("additive_scores", scores_sum_instead_of_v, "take their dot product with v instead"),
    ("additive_scores", scores_missing_v, "finish with the dot product with v"),
    ("masked_softmax", softmax_unmasked, "masked positions got weight 0.60: apply the mask BEFORE the softmax"),
    ("masked_softmax", softmax_then_mask, "zeroing masked weights after the softmax"),
    ("masked_softmax", softmax_batch_axis, "instead of along each row"),
    ("masked_softmax", softmax_times_mask, "exp(0) = 1 still gets weight"),
    ("masked_softmax", softmax_inverted, "the weight sits on the padding"),
    ("context_vector", context_unweighted_sum, "you summed the values without the attention weights"),
    ("context_vector", context_weighted_mean, "the weights already sum to 1"),
    ("context_vector", context_no_squeeze, "squeeze axis 1"),
    ("context_vector", context_wrong_axis, "you summed over the feature axis D"),
    ("last_real_state", last_state_at_end, "outputs[:, -1] is the state after the padding"),
    ("last_real_state", last_state_off_by_one, "off by one: positions count from 0"),
    ("last_real_state", last_state_mean, "you averaged the real states"),
    ("attention_step", step_luong, "(Luong's order)"),
    ("attention_step", step_old_state, "you returned the state you were given"),
    ("attention_step", step_gru_swapped, "not [context; embedded]"),
    # unit 03
    ("scaled_dot_product_attention", sdpa_unscaled, "divide the scores q·k by sqrt(d_k)"),
    ("scaled_dot_product_attention", sdpa_value_width, "you scaled by the width of the values"),
    ("scaled_dot_product_attention", sdpa_uniform_empty_rows, "multiply the weights by the mask after the softmax"),
    ("scaled_dot_product_attention", sdpa_minus_inf, "softmax of a row of -inf is 0/0"),
    ("scaled_dot_product_attention", sdpa_times_mask, "exp(0) = 1 still gets weight"),
    ("scaled_dot_product_attention", sdpa_inverted, "the weight sits on the masked keys"),
    ("scaled_dot_product_attention", sdpa_output_transposed, "don't transpose it"),
    ("causal_mask", causal_upper, "each position sees the future"),
    ("causal_mask", causal_strict, "the diagonal is False"),
    ("causal_mask", causal_float, "the mask has dtype float32 but should be bool"),
    ("causal_mask", causal_batched, "the batch and head axes come later, by broadcasting"),
    ("combine_masks", combine_or, "only if BOTH masks allow it"),
    ("combine_masks", combine_no_heads, "the mask has shape (3, 5, 5) but expected (3, 1, 5, 5)"),
    ("combine_masks", combine_padding_on_queries, "not key_padding[:, None, :, None]"),
    ("combine_masks", combine_raw_when_alone, "when one mask is None, still return a 4-D mask"),
    ("online_softmax_update", online_no_rescale, "multiply them by exp(running_max - new_max)"),
    ("online_softmax_update", online_unguarded, "subtract 0 instead"),
    ("online_softmax_update", online_inverse_rescale, "the rescaling factor is upside down"),
    ("online_softmax_update", online_naive_exp, "subtract the new running maximum inside the exponential"),
    ("online_softmax_update", online_normalised, "divide by running_sum only once"),
    # unit 04
    ("split_heads", split_reshape_only, "mixes positions into the heads"),
    ("split_heads", split_strided, "the features went to the heads in the wrong order"),
    ("split_heads", split_no_transpose, "swap axes 1 and 2 to get (B, H, T, Dh)"),
    ("merge_heads", merge_reshape_only, "mixes positions across heads"),
    ("merge_heads", merge_sum, "you summed the heads"),
    ("merge_heads", merge_transpose_only, "reshape (B, T, H, Dh) to (B, T, H * Dh)"),
    ("sinusoidal_encoding", sinusoid_swapped, "the even columns 2i hold the sine"),
    ("sinusoidal_encoding", sinusoid_i_over_d, "the frequencies are off"),
    ("sinusoidal_encoding", sinusoid_halves, "all the sines in the first half"),
    ("sinusoidal_encoding", sinusoid_from_one, "sin(0) = 0, cos(0) = 1"),
    ("apply_rope", rope_negative, "you rotated by minus the angle"),
    ("apply_rope", rope_rotate_half, "the pairs are neighbours"),
    ("apply_rope", rope_exponent_i, "you used 10000^(-i/Dh)"),
    ("multi_head_attention", mha_unscaled, "the scores are not scaled"),
    ("multi_head_attention", mha_no_w_o, "then multiply by w_o"),
    ("multi_head_attention", mha_reshape_merge, "swap axes 1 and 2 back"),
    ("multi_head_attention", mha_swapped, "keys and values are swapped"),
    ("multi_head_attention", mha_unmasked, "the mask is ignored"),
]

RIGHT = [
    ("padding_mask", mask_sequence_mask),
    ("masked_cross_entropy", ce_boolean_mask),
    ("greedy_decode", bind(until="never")),  # decoding on after every sequence ended is accepted
    ("additive_scores", scores_tensordot),
    ("masked_softmax", softmax_additive_mask),
    ("context_vector", context_einsum),
    ("last_real_state", last_state_gather),
    ("attention_step", step_unpacked),
    # unit 03
    ("scaled_dot_product_attention", sdpa_divide_no_nan),
    ("causal_mask", causal_compare),
    ("combine_masks", combine_expand_dims),
    ("online_softmax_update", online_einsum),
    # unit 04
    ("split_heads", split_stacked),
    ("merge_heads", merge_concat),
    ("sinusoidal_encoding", sinusoid_scatter),
    ("apply_rope", rope_complex),
    ("multi_head_attention", mha_einsum),
]


@pytest.mark.parametrize("name, learner, phrase", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_wrong_answer_gets_its_hint_and_the_reference(check, shown, name, learner, phrase):
    assert getattr(check, name)(learner) is check.framework.reference(name)
    (payload, text), = shown
    assert payload["status"] == "failed" and payload["framework"] == "tensorflow"
    assert phrase in payload["hint"]
    assert phrase in text


@pytest.mark.parametrize("name, learner", RIGHT, ids=[n for n, _ in RIGHT])
def test_right_answer_passes_and_is_kept(check, shown, name, learner):
    assert getattr(check, name)(learner) is learner
    assert shown[0][0]["status"] == "passed", shown[0][1]


# Unit 05's learner answers, right and wrong, live in tests/test_checks_transformer.py (both frameworks).
ANSWERED_ELSEWHERE = set(exercise_names("05"))


@pytest.mark.parametrize("name", [name for name in EXERCISES if name not in ANSWERED_ELSEWHERE])
def test_each_exercise_has_three_learner_mistakes_recognised_by_name(check, name):
    """At least three of the wrong answers above are told apart as distinct known mistakes."""
    recognised = {evaluate(name, check.framework, learner).mistake for n, learner, _ in WRONG if n == name}
    assert len(recognised - {""}) >= 3, recognised
    assert name in {n for n, _ in RIGHT}  # and a correct answer written differently passes
