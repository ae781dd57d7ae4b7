"""PyTorch exercise checks against wrong answers written the way a learner would write them."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import seq2bert.check.dot_product  # noqa: F401  registers unit 03's exercises (until units.py lists them)
import seq2bert.check.heads  # noqa: F401  (unit 04's checks; the catalogue does not list them yet)
import seq2bert.check.positional  # noqa: F401
from seq2bert import report
from seq2bert.check import all_exercises, evaluate, exercise_names, exercises
from seq2bert.torch.attention import scaled_dot_product_attention

EXERCISES = all_exercises()

MASK_VALUE = -1e9


@pytest.fixture(scope="module")
def check():
    return exercises("pytorch")


@pytest.fixture
def shown(monkeypatch):
    calls = []
    monkeypatch.setattr(report, "show_check", lambda payload, text: calls.append((payload, text)))
    return calls


# ---------------------------------------------------------------- padding_mask


def mask_inverted(lengths, max_len):
    return torch.arange(max_len)[None, :] >= lengths[:, None]


def mask_less_equal(lengths, max_len):
    return torch.arange(max_len)[None, :] <= lengths[:, None]


def mask_longest(lengths, max_len):
    return torch.arange(int(lengths.max()))[None, :] < lengths[:, None]


def mask_transposed(lengths, max_len):
    return torch.arange(max_len)[:, None] < lengths[None, :]


def mask_as_ints(lengths, max_len):
    return (torch.arange(max_len)[None, :] < lengths[:, None]).long()


def mask_loop(lengths, max_len):  # correct, just slower
    mask = torch.zeros(len(lengths), max_len, dtype=torch.bool)
    for row, length in enumerate(lengths.tolist()):
        mask[row, :length] = True
    return mask


# ---------------------------------------------------------------- masked_cross_entropy


def ce_with_padding(logits, targets, pad_id):
    return F.cross_entropy(logits.transpose(1, 2), targets)


def ce_sum(logits, targets, pad_id):
    return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=pad_id, reduction="sum")


def ce_per_sequence(logits, targets, pad_id):
    losses = F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")
    keep = (targets != pad_id).float()
    return ((losses * keep).sum(dim=1) / keep.sum(dim=1)).mean()


def ce_pad_zero(logits, targets, pad_id):
    return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=0)


def ce_double_softmax(logits, targets, pad_id):
    return F.cross_entropy(logits.softmax(dim=-1).transpose(1, 2), targets, ignore_index=pad_id)


def ce_nll_on_logits(logits, targets, pad_id):
    return F.nll_loss(logits.transpose(1, 2), targets, ignore_index=pad_id)


def ce_log_of_logits(logits, targets, pad_id):
    picked = logits.gather(-1, targets[..., None]).squeeze(-1)
    keep = (targets != pad_id).float()
    return (-(picked.log()) * keep).sum() / keep.sum()


def ce_item(logits, targets, pad_id):
    return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=pad_id).item()


def ce_flat_ignore_index(logits, targets, pad_id):  # correct
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=pad_id)


def ce_rebuilt_tensor(logits, targets, pad_id):  # right value, but the graph is cut
    return torch.tensor(ce_flat_ignore_index(logits, targets, pad_id).item())


# ---------------------------------------------------------------- greedy_decode


def decode(step, state, batch_size, bos_id, eos_id, pad_id, max_len, *, feed_back=True, keep_state=True,
           pad=True, done_first=False, until="all", steps=None, axis=-1):
    """A learner's greedy loop; each keyword reproduces one slip."""
    prev = torch.full((batch_size,), bos_id, dtype=torch.long)
    done = torch.zeros(batch_size, dtype=torch.bool)
    outputs = []
    for _ in range(max_len if steps is None else steps(max_len)):
        logits, new_state = step(prev, state)
        state = new_state if keep_state else state
        token = logits.argmax(dim=axis)
        if done_first:
            done = done | (token == eos_id)
        if pad:
            token = torch.where(done, torch.full_like(token, pad_id), token)
        if not done_first:
            done = done | (token == eos_id)
        outputs.append(token)
        prev = token if feed_back else torch.full((batch_size,), bos_id, dtype=torch.long)
        if (until == "all" and done.all()) or (until == "any" and done.any()):
            break
    return torch.stack(outputs, dim=1)


def decode_forever(step, state, batch_size, bos_id, eos_id, pad_id, max_len):
    prev, outputs = torch.full((batch_size,), bos_id), []
    done = torch.zeros(batch_size, dtype=torch.bool)
    while not done.all():
        logits, state = step(prev, state)
        prev = torch.where(done, pad_id, logits.argmax(-1))
        done = done | (prev == eos_id)
        outputs.append(prev)
    return torch.stack(outputs, dim=1)


def bind(**slips):
    return lambda *args: decode(*args, **slips)


# ---------------------------------------------------------------- additive_scores


def scores_no_tanh(query, keys, w_q, w_k, v):
    return ((query @ w_q)[:, None, :] + keys @ w_k) @ v


def scores_raw_keys(query, keys, w_q, w_k, v):
    return torch.tanh((query @ w_q)[:, None, :] + keys) @ v


def scores_query_not_broadcast(query, keys, w_q, w_k, v):
    return torch.tanh(query @ w_q + keys @ w_k) @ v


def scores_sum_over_source(query, keys, w_q, w_k, v):
    return (torch.tanh((query @ w_q).unsqueeze(1) + keys @ w_k) * v).sum(dim=1)


def scores_v_inside(query, keys, w_q, w_k, v):
    return torch.tanh(((query @ w_q).unsqueeze(1) + keys @ w_k) @ v)


def scores_einsum(query, keys, w_q, w_k, v):  # correct
    hidden = torch.tanh(torch.einsum("bh,ha->ba", query, w_q)[:, None] + torch.einsum("bsh,ha->bsa", keys, w_k))
    return torch.einsum("bsa,a->bs", hidden, v)


# ---------------------------------------------------------------- masked_softmax


def softmax_unmasked(scores, mask):
    return torch.softmax(scores, dim=-1)


def softmax_then_mask(scores, mask):
    return torch.softmax(scores, dim=-1) * mask


def softmax_batch_axis(scores, mask):
    return torch.softmax(scores.masked_fill(~mask, MASK_VALUE), dim=0)


def softmax_times_mask(scores, mask):
    return torch.softmax(scores * mask, dim=-1)


def softmax_inf_product(scores, mask):
    return torch.softmax(scores * mask + (~mask) * float("-inf"), dim=-1)


def softmax_in_place(scores, mask):
    return torch.softmax(scores.masked_fill_(~mask, MASK_VALUE), dim=-1)


def softmax_renormalised(scores, mask):  # correct
    weights = torch.softmax(scores, dim=-1) * mask
    return weights / weights.sum(dim=-1, keepdim=True)


def softmax_minus_inf(scores, mask):  # correct: no row is fully masked
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)


# ---------------------------------------------------------------- context_vector


def context_mean(weights, values):
    return values.mean(dim=1)


def context_wrong_axis(weights, values):
    return (weights[:, :, None] * values).sum(dim=-1)


def context_no_squeeze(weights, values):
    return weights.unsqueeze(1) @ values


def context_plain_matmul(weights, values):
    return weights @ values


def context_broadcast(weights, values):  # correct
    return (weights.unsqueeze(-1) * values).sum(dim=1)


# ---------------------------------------------------------------- last_real_state and attention_step


def last_state_at_end(outputs, lengths):
    return outputs[:, -1]


def last_state_off_by_one(outputs, lengths):
    return outputs[torch.arange(outputs.shape[0]), torch.clamp(lengths, max=outputs.shape[1] - 1)]


def last_state_mean(outputs, lengths):
    keep = (torch.arange(outputs.shape[1])[None, :] < lengths[:, None]).float()[:, :, None]
    return (outputs * keep).sum(dim=1) / lengths[:, None].float()


def last_state_gather(outputs, lengths):  # correct
    index = (lengths - 1)[:, None, None].expand(-1, 1, outputs.shape[2])
    return outputs.gather(1, index).squeeze(1)


def step_luong(embedded, state, attend, cell, output_layer):
    context, _ = attend(state)
    new_state = cell(torch.cat([embedded, context], -1), state)
    context, weights = attend(new_state)
    return output_layer(torch.cat([new_state, context], -1)), new_state, weights


def step_old_state(embedded, state, attend, cell, output_layer):
    context, weights = attend(state)
    new_state = cell(torch.cat([embedded, context], -1), state)
    return output_layer(torch.cat([new_state, context], -1)), state, weights


def step_gru_swapped(embedded, state, attend, cell, output_layer):
    context, weights = attend(state)
    new_state = cell(torch.cat([context, embedded], -1), state)
    return output_layer(torch.cat([new_state, context], -1)), new_state, weights


def step_unpacked(embedded, state, attend, cell, output_layer):  # correct, written differently
    attended = attend(state)
    gru_input = torch.concat((embedded, attended[0]), dim=1)
    s_i = cell(gru_input, state)
    return output_layer(torch.concat((s_i, attended[0]), dim=1)), s_i, attended[1]


# ---------------------------------------------------------------- unit 03: scaled dot-product attention


def attention(query, key, value, mask, scale=None, dim=-1, zero_empty=True, fill=MASK_VALUE):
    """A learner's attention with the usual slips as switches (defaults are right)."""
    scale = 1 / query.shape[-1] ** 0.5 if scale is None else scale
    scores = query @ key.transpose(-2, -1) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, fill)
    weights = torch.softmax(scores, dim=dim)
    if mask is not None and zero_empty:
        weights = weights * mask  # a query with no key at all reads nothing
    return weights @ value, weights


def sdpa_unscaled(query, key, value, mask):
    return attention(query, key, value, mask, scale=1.0)


def sdpa_over_dk(query, key, value, mask):
    return attention(query, key, value, mask, scale=1 / query.shape[-1])


def sdpa_uniform_empty_rows(query, key, value, mask):
    return attention(query, key, value, mask, zero_empty=False)


def sdpa_minus_inf(query, key, value, mask):
    return attention(query, key, value, mask, zero_empty=False, fill=float("-inf"))


def sdpa_over_queries(query, key, value, mask):
    return attention(query, key, value, mask, dim=-2)


def sdpa_mask_after(query, key, value, mask):
    weights = torch.softmax(query @ key.transpose(-2, -1) / math.sqrt(key.shape[-1]), dim=-1)
    if mask is not None:
        weights = weights * mask
    return weights @ value, weights


def sdpa_swapped(query, key, value, mask):
    output, weights = attention(query, key, value, mask)
    return weights, output


def sdpa_einsum(query, key, value, mask):  # correct, written differently
    scores = torch.einsum("...td,...sd->...ts", query, key) / math.sqrt(query.size(-1))
    if mask is None:
        mask = torch.ones_like(scores, dtype=torch.bool)
    scores = torch.where(mask, scores, torch.tensor(float("-inf")))
    has_key = mask.any(dim=-1, keepdim=True)  # (..., T, 1)
    weights = torch.where(has_key, torch.softmax(torch.where(has_key, scores, 0.0), dim=-1), 0.0)
    return torch.einsum("...ts,...sd->...td", weights, value), weights


def causal_upper(length):
    return torch.ones(length, length).triu().bool()


def causal_strict(length):
    return torch.tril(torch.ones(length, length, dtype=torch.bool), diagonal=-1)


def causal_float(length):
    return torch.tril(torch.ones(length, length))


def causal_blocked(length):
    return torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)


def causal_compare(length):  # correct, written differently
    positions = torch.arange(length)
    return positions[:, None] >= positions[None, :]


def combine_or(key_padding, causal):
    return key_padding[:, None, None, :] | causal[None, None, :, :]


def combine_queries_before_heads(key_padding, causal):
    return key_padding[:, None, None, :] & causal[None, :, None, :]


def combine_padding_on_queries(key_padding, causal):
    return key_padding[:, None, :, None] & causal[None, None, :, :]


def combine_no_heads(key_padding, causal):
    if key_padding is None:
        return causal[None]
    if causal is None:
        return key_padding[:, None, :]
    return key_padding[:, None, :] & causal[None]


def combine_inverted(key_padding, causal):
    blocked = key_padding.logical_not()
    return blocked[:, None, None, :] & causal[None, None, :, :]


def combine_unsqueeze(key_padding, causal):  # correct, written differently
    parts = []
    if key_padding is not None:
        parts.append(key_padding.unsqueeze(1).unsqueeze(2))  # (B, S) -> (B, 1, 1, S)
    if causal is not None:
        parts.append(causal.unsqueeze(0).unsqueeze(0))  # (T, S) -> (1, 1, T, S)
    combined = parts[0]
    for part in parts[1:]:
        combined = torch.logical_and(combined, part)
    return combined


def online_no_rescale(running_max, running_sum, running_output, scores, values):
    new_max = torch.maximum(running_max, scores.amax(dim=-1))
    shift = torch.where(torch.isinf(new_max), torch.zeros_like(new_max), new_max)
    p = torch.exp(scores - shift[..., None])
    return new_max, running_sum + p.sum(dim=-1), running_output + p @ values


def online_unguarded(running_max, running_sum, running_output, scores, values):
    new_max = torch.maximum(running_max, scores.amax(dim=-1))
    alpha = torch.exp(running_max - new_max)
    p = torch.exp(scores - new_max[..., None])
    return new_max, running_sum * alpha + p.sum(dim=-1), running_output * alpha[..., None] + p @ values


def online_block_max(running_max, running_sum, running_output, scores, values):
    new_max = scores.amax(dim=-1)
    shift = torch.where(torch.isinf(new_max), torch.zeros_like(new_max), new_max)
    alpha = torch.exp(running_max - shift)
    p = torch.exp(scores - shift[..., None])
    return new_max, running_sum * alpha + p.sum(dim=-1), running_output * alpha[..., None] + p @ values


def online_naive_exp(running_max, running_sum, running_output, scores, values):
    p = torch.exp(scores)
    return torch.maximum(running_max, scores.amax(dim=-1)), running_sum + p.sum(dim=-1), running_output + p @ values


def online_normalised(running_max, running_sum, running_output, scores, values):
    new_max = torch.maximum(running_max, scores.amax(dim=-1))
    shift = torch.where(torch.isinf(new_max), torch.zeros_like(new_max), new_max)
    alpha = torch.exp(running_max - shift)
    p = torch.exp(scores - shift[..., None])
    total = running_sum * alpha + p.sum(dim=-1)
    return new_max, total, (running_output * alpha[..., None] + p @ values) / total[..., None]


def online_einsum(running_max, running_sum, running_output, scores, values):  # correct, written differently
    new_max = torch.max(running_max, scores.max(dim=-1).values)
    reference = torch.where(torch.isfinite(new_max), new_max, torch.zeros_like(new_max))
    alpha = torch.exp(running_max - reference)
    p = torch.exp(scores - reference.unsqueeze(-1))
    output = alpha.unsqueeze(-1) * running_output + torch.einsum("...ts,...sd->...td", p, values)
    return new_max, alpha * running_sum + p.sum(dim=-1), output
# ---------------------------------------------------------------- unit 04: split_heads, merge_heads


def split_view_only(x, heads):
    batch, length, width = x.shape
    return x.view(batch, heads, length, width // heads)


def split_strided(x, heads):
    batch, length, width = x.shape
    return x.view(batch, length, width // heads, heads).permute(0, 3, 1, 2)


def split_no_transpose(x, heads):
    batch, length, width = x.shape
    return x.view(batch, length, heads, width // heads)


def split_chunks(x, heads):  # correct, written differently
    return torch.stack(x.chunk(heads, dim=-1), dim=1)


def merge_view_only(x):
    batch, heads, length, head_width = x.shape
    return x.reshape(batch, length, heads * head_width)


def merge_strided(x):
    batch, heads, length, head_width = x.shape
    return x.permute(0, 2, 3, 1).reshape(batch, length, heads * head_width)


def merge_transpose_only(x):
    return x.transpose(1, 2)


def merge_mean(x):
    return x.mean(dim=1)


def merge_cat(x):  # correct, written differently
    return torch.cat(x.unbind(dim=1), dim=-1)


# ---------------------------------------------------------------- unit 04: sinusoidal_encoding, apply_rope


def sinusoid_parts(length, width, start=0, exponent_step=2):
    positions = torch.arange(start, start + length).float()[:, None]  # (T, 1)
    return positions / 10000 ** (torch.arange(0, width // 2 * exponent_step, exponent_step).float() / width)


def sinusoid_swapped(length, width):
    angles = sinusoid_parts(length, width)
    pe = torch.zeros(length, width)
    pe[:, 0::2] = torch.cos(angles)
    pe[:, 1::2] = torch.sin(angles)
    return pe


def sinusoid_i_over_d(length, width):
    angles = sinusoid_parts(length, width, exponent_step=1)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(length, width)


def sinusoid_halves(length, width):
    angles = sinusoid_parts(length, width)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


def sinusoid_from_one(length, width):
    angles = sinusoid_parts(length, width, start=1)
    return torch.stack([angles.sin(), angles.cos()], dim=-1).reshape(length, width)


def sinusoid_column_frequencies(length, width):
    positions = torch.arange(length).float()[:, None]
    div = 10000 ** (torch.arange(width).float() / width)
    pe = torch.zeros(length, width)
    pe[:, 0::2] = torch.sin(positions / div[0::2])
    pe[:, 1::2] = torch.cos(positions / div[1::2])
    return pe


def sinusoid_exp_log(length, width):  # correct: the Annotated Transformer's exp(-log(10000) 2i/D)
    pe = torch.zeros(length, width)
    positions = torch.arange(0, length).unsqueeze(1).float()
    div_term = torch.exp(torch.arange(0, width, 2).float() * -(math.log(10000.0) / width))
    pe[:, 0::2] = torch.sin(positions * div_term)
    pe[:, 1::2] = torch.cos(positions * div_term)
    return pe


def rope_angles(x, positions):
    if positions is None:
        positions = torch.arange(x.shape[-2])
    width = x.shape[-1]
    return positions.float()[:, None] * 10000 ** (-torch.arange(0, width, 2).float() / width)  # (T, Dh/2)


def rope_negative(x, positions=None):
    angles = rope_angles(x, positions)
    even, odd = x[..., 0::2], x[..., 1::2]
    rotated = torch.stack([even * angles.cos() + odd * angles.sin(), odd * angles.cos() - even * angles.sin()], -1)
    return rotated.flatten(-2)


def rope_rotate_half(x, positions=None):
    angles = rope_angles(x, positions)
    cos, sin = torch.cat([angles.cos()] * 2, -1), torch.cat([angles.sin()] * 2, -1)
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


def rope_evens_then_odds(x, positions=None):
    angles = rope_angles(x, positions)
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.cat([even * angles.cos() - odd * angles.sin(), even * angles.sin() + odd * angles.cos()], -1)


def rope_own_positions(x, positions=None):
    angles = rope_angles(x, None)  # always 0 .. T-1
    even, odd = x[..., 0::2], x[..., 1::2]
    return torch.stack([even * angles.cos() - odd * angles.sin(), even * angles.sin() + odd * angles.cos()], -1).flatten(-2)


def rope_complex(x, positions=None):  # correct: multiply each pair, as a complex number, by e^(i angle)
    angles = rope_angles(x, positions)
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], -1, 2).contiguous())
    return torch.view_as_real(pairs * torch.polar(torch.ones_like(angles), angles)).flatten(-2)


# ---------------------------------------------------------------- unit 04: multi_head_attention


def mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None, *, scale=None, project_out=True, merge=None, linear=False):
    """A learner's multi-head attention on the course's scaled_dot_product_attention; keywords are slips."""
    def project(x, w):
        return F.linear(x, w) if linear else x @ w

    def split(x):
        batch, length, width = x.shape
        return x.view(batch, length, heads, width // heads).transpose(1, 2)

    q, k, v = split(project(x_q, w_q)), split(project(x_kv, w_k)), split(project(x_kv, w_v))
    context, weights = scaled_dot_product_attention(q, k, v, mask, scale=scale)
    batch, _, length, head_width = context.shape
    if merge is None:
        merged = context.transpose(1, 2).reshape(batch, length, heads * head_width)
    else:
        merged = merge(context)
    return (project(merged, w_o) if project_out else merged), weights


def mha_scaled_by_d(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    return mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask, scale=1 / math.sqrt(x_q.shape[-1]))


def mha_no_w_o(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    return mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask, project_out=False)


def mha_view_merge(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    return mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask,
               merge=lambda c: c.reshape(c.shape[0], c.shape[2], -1))


def mha_linear_layout(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):
    return mha(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask, linear=True)


def mha_einsum(x_q, x_kv, w_q, w_k, w_v, w_o, heads, mask=None):  # correct, written out with einsum
    batch, length, width = x_q.shape
    head_width = width // heads
    q = torch.einsum("btd,de->bte", x_q, w_q).reshape(batch, length, heads, head_width)
    k = torch.einsum("bsd,de->bse", x_kv, w_k).reshape(batch, x_kv.shape[1], heads, head_width)
    v = torch.einsum("bsd,de->bse", x_kv, w_v).reshape(batch, x_kv.shape[1], heads, head_width)
    scores = torch.einsum("bthe,bshe->bhts", q, k) / head_width ** 0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    context = torch.einsum("bhts,bshe->bthe", weights, v).reshape(batch, length, width)
    return context @ w_o, weights


WRONG = [
    ("padding_mask", mask_inverted, "True and False are swapped"),
    ("padding_mask", mask_less_equal, "one True too many"),
    ("padding_mask", mask_longest, "use max_len, not lengths.max()"),
    ("padding_mask", mask_transposed, "rows are sequences and columns positions"),
    ("padding_mask", mask_as_ints, "the mask has dtype int64 but should be bool"),
    ("masked_cross_entropy", ce_with_padding, "averages over padding positions"),
    ("masked_cross_entropy", ce_sum, "this is the sum of the per-token losses"),
    ("masked_cross_entropy", ce_per_sequence, "gives a short sequence's tokens more weight"),
    ("masked_cross_entropy", ce_pad_zero, "you treat token 0 as padding: use the pad_id argument (this case has pad_id=3)"),
    ("masked_cross_entropy", ce_double_softmax, "went through a softmax before the cross-entropy"),
    ("masked_cross_entropy", ce_nll_on_logits, "raw logits as log-probabilities"),
    ("masked_cross_entropy", ce_log_of_logits, "the loss is NaN: you took the log of raw logits"),
    ("masked_cross_entropy", ce_item, "returned a Python float, expected a torch.Tensor"),
    ("masked_cross_entropy", ce_rebuilt_tensor, "cannot be differentiated with respect to `logits`"),
    ("greedy_decode", bind(pad=False, until="never"), "fill the rest of its row with pad_id"),
    ("greedy_decode", bind(feed_back=False), "feed each step's predictions back in"),
    ("greedy_decode", bind(axis=0), "take the argmax over the last (vocabulary) axis"),
    ("greedy_decode", bind(steps=lambda n: n + 1), "step() was called 6 times but max_len is 5"),
    ("greedy_decode", bind(steps=lambda n: n - 1), "decoding stopped one step early"),
    ("greedy_decode", bind(until="any"), "keep going until every sequence has produced EOS"),
    ("greedy_decode", bind(done_first=True), "the EOS tokens are missing"),
    ("greedy_decode", bind(keep_state=False), "keep the state that step() returns"),
    ("greedy_decode", decode_forever, "decode at most max_len tokens"),
    ("additive_scores", scores_no_tanh, "the tanh is missing"),
    ("additive_scores", scores_raw_keys, "use keys @ w_k, not the raw keys"),
    ("additive_scores", scores_query_not_broadcast, "(B, A) -> (B, 1, A)"),
    ("additive_scores", scores_sum_over_source, "you summed over the source axis"),
    ("additive_scores", scores_v_inside, "v is applied inside the tanh"),
    ("masked_softmax", softmax_unmasked, "apply the mask BEFORE the softmax"),
    ("masked_softmax", softmax_then_mask, "leaves the rest unnormalised"),
    ("masked_softmax", softmax_batch_axis, "take the softmax over the last axis"),
    ("masked_softmax", softmax_times_mask, "exp(0) = 1 still gets weight"),
    ("masked_softmax", softmax_inf_product, "0 * -inf is NaN"),
    ("masked_softmax", softmax_in_place, "changed its argument `scores` in place"),
    ("context_vector", context_mean, "you averaged the values without the attention weights"),
    ("context_vector", context_wrong_axis, "you summed over the feature axis D"),
    ("context_vector", context_no_squeeze, "(B, 1, D) -> (B, D)"),
    ("context_vector", context_plain_matmul, "the context vectors have shape (2, 2, 3) but expected (2, 3)"),
    ("last_real_state", last_state_at_end, "outputs[:, -1] is the state after the padding"),
    ("last_real_state", last_state_off_by_one, "off by one: positions count from 0"),
    ("last_real_state", last_state_mean, "you averaged the real states"),
    ("attention_step", step_luong, "(Luong's order)"),
    ("attention_step", step_old_state, "you returned the state you were given"),
    ("attention_step", step_gru_swapped, "not [context; embedded]"),
    # unit 03
    ("scaled_dot_product_attention", sdpa_unscaled, "divide the scores q·k by sqrt(d_k)"),
    ("scaled_dot_product_attention", sdpa_over_dk, "you divided the scores by d_k"),
    ("scaled_dot_product_attention", sdpa_uniform_empty_rows, "got equal weights on every key"),
    ("scaled_dot_product_attention", sdpa_minus_inf, "a query whose keys are all masked got NaN"),
    ("scaled_dot_product_attention", sdpa_over_queries, "take the softmax over the last axis, the keys"),
    ("scaled_dot_product_attention", sdpa_mask_after, "zeroing masked weights after the softmax"),
    ("scaled_dot_product_attention", sdpa_swapped, "return (output, weights) in this order"),
    ("causal_mask", causal_upper, "keep the LOWER triangle"),
    ("causal_mask", causal_strict, "a position may attend to itself"),
    ("causal_mask", causal_float, "the mask has dtype float32 but should be bool"),
    ("causal_mask", causal_blocked, "True marks the future here"),
    ("combine_masks", combine_or, "combine them with & (tf.logical_and), not |"),
    ("combine_masks", combine_queries_before_heads, "the result (B, 1, T, S), not (B, T, 1, S)"),
    ("combine_masks", combine_padding_on_queries, "it must vary along the last axis (S)"),
    ("combine_masks", combine_no_heads, "the result needs an axis for the heads"),
    ("combine_masks", combine_inverted, "use it as it is, don't invert it"),
    ("online_softmax_update", online_no_rescale, "computed relative to the OLD maximum"),
    ("online_softmax_update", online_unguarded, "-inf - (-inf) is NaN"),
    ("online_softmax_update", online_block_max, "not this block's maximum alone"),
    ("online_softmax_update", online_naive_exp, "exp(score) overflows for large scores"),
    ("online_softmax_update", online_normalised, "running_output must stay UNnormalised"),
    # unit 04
    ("split_heads", split_view_only, "reshape to (B, T, H, Dh) first"),
    ("split_heads", split_strided, "reshape the last axis as (H, Dh), not (Dh, H)"),
    ("split_heads", split_no_transpose, "left the head axis behind the time axis"),
    ("merge_heads", merge_view_only, "first swap axes 1 and 2 back"),
    ("merge_heads", merge_strided, "the heads' features are interleaved"),
    ("merge_heads", merge_transpose_only, "did not join the heads"),
    ("merge_heads", merge_mean, "you averaged the heads: concatenate them instead"),
    ("sinusoidal_encoding", sinusoid_swapped, "sin and cos are swapped"),
    ("sinusoidal_encoding", sinusoid_i_over_d, "you used 10000^(i/D)"),
    ("sinusoidal_encoding", sinusoid_halves, "interleave them"),
    ("sinusoidal_encoding", sinusoid_from_one, "positions start at 0"),
    ("sinusoidal_encoding", sinusoid_column_frequencies, "the SAME angle"),
    ("apply_rope", rope_negative, "you rotated by minus the angle"),
    ("apply_rope", rope_rotate_half, "the 'rotate half' layout"),
    ("apply_rope", rope_evens_then_odds, "not put back in place"),
    ("apply_rope", rope_own_positions, "use the `positions` argument"),
    ("multi_head_attention", mha_scaled_by_d, "not by 1/sqrt(D)"),
    ("multi_head_attention", mha_no_w_o, "finish with the output projection"),
    ("multi_head_attention", mha_view_merge, "the heads are joined wrongly"),
    ("multi_head_attention", mha_linear_layout, "nn.Linear's layout"),
]

RIGHT = [
    ("padding_mask", mask_loop),
    ("masked_cross_entropy", ce_flat_ignore_index),
    ("greedy_decode", bind(until="never")),  # decoding on after every sequence ended is accepted
    ("additive_scores", scores_einsum),
    ("masked_softmax", softmax_renormalised),
    ("masked_softmax", softmax_minus_inf),
    ("context_vector", context_broadcast),
    ("last_real_state", last_state_gather),
    ("attention_step", step_unpacked),
    # unit 03
    ("scaled_dot_product_attention", sdpa_einsum),
    ("causal_mask", causal_compare),
    ("combine_masks", combine_unsqueeze),
    ("online_softmax_update", online_einsum),
    # unit 04
    ("split_heads", split_chunks),
    ("merge_heads", merge_cat),
    ("sinusoidal_encoding", sinusoid_exp_log),
    ("apply_rope", rope_complex),
    ("multi_head_attention", mha_einsum),
]


@pytest.mark.parametrize("name, learner, phrase", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_wrong_answer_gets_its_hint_and_the_reference(check, shown, name, learner, phrase):
    assert getattr(check, name)(learner) is check.framework.reference(name)
    (payload, text), = shown
    assert payload["status"] == "failed"
    assert phrase in payload["hint"]
    assert phrase in text


@pytest.mark.parametrize("name, learner", RIGHT, ids=[n for n, _ in RIGHT])
def test_right_answer_passes_and_is_kept(check, shown, name, learner):
    assert getattr(check, name)(learner) is learner
    assert shown[0][0]["status"] == "passed", shown[0][1]


def test_greedy_decode_without_early_stop_returns_trailing_padding():
    """The accepted 'no early stop' answer really does return extra all-pad columns."""
    from seq2bert.check.fake_decoder import FakeDecoder

    decoder = FakeDecoder.build(np.random.default_rng(0), 7, [1, 2], 1, 2, 0, 5)
    step = decoder.step_function(torch.from_numpy, lambda t: t.numpy())
    tokens = decode(step, torch.from_numpy(decoder.initial_state()), 2, 1, 2, 0, 5, until="never")
    assert tokens.shape == (2, 5) and bool((tokens[:, 2:] == 0).all())


# Unit 05's learner answers, right and wrong, live in tests/test_checks_transformer.py (both frameworks).
ANSWERED_ELSEWHERE = set(exercise_names("05"))


@pytest.mark.parametrize("name", [name for name in EXERCISES if name not in ANSWERED_ELSEWHERE])
def test_each_exercise_has_three_learner_mistakes_recognised_by_name(check, name):
    """At least three of the wrong answers above are told apart as distinct known mistakes."""
    recognised = {evaluate(name, check.framework, learner).mistake for n, learner, _ in WRONG if n == name}
    assert len(recognised - {""}) >= 3, recognised
    assert name in {n for n, _ in RIGHT}  # and a correct answer written differently passes
