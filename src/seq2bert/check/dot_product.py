"""Exercises on scaled dot-product attention and its masks (unit 03): scaled_dot_product_attention,
causal_mask, combine_masks and online_softmax_update.

Convention: a bool mask is True where a query may attend. Ruling: a query whose keys are ALL
masked gets weights 0 and output 0 (no NaN, no uniform average), as seq2bert.{torch,tf}.attention
documents; the cases include such rows. Shape legend: B batch, H heads, T queries, S keys, Dk
query/key width, Dv value width, Sb keys in one block.
"""
from __future__ import annotations

import numpy as np

from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output, Plain, lengths_mask

# The finite "minus infinity" unit 02 taught (seq2bert.torch.ops.MASK_VALUE).
MASK_VALUE = -1e9
NEG_INF = -np.inf


def _normal(rng, *shape, scale=1.0) -> np.ndarray:
    return (scale * rng.normal(size=shape)).astype(np.float32)


def softmax_or_zero(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax in float64 where -inf scores get weight 0 and a row of only -inf gets all zeros."""
    scores = np.asarray(scores, dtype=np.float64)
    top = scores.max(axis=axis, keepdims=True)
    exp = np.exp(scores - np.where(np.isneginf(top), 0.0, top))
    total = exp.sum(axis=axis, keepdims=True)
    return exp / np.where(total > 0, total, 1.0)


def _plain_softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """The textbook softmax: NaN for a row of only -inf, as torch.softmax / tf.nn.softmax give."""
    scores = np.asarray(scores, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        exp = np.exp(scores - scores.max(axis=axis, keepdims=True))
        return exp / exp.sum(axis=axis, keepdims=True)


# ---------------------------------------------------------------- scaled_dot_product_attention


def _scores(query, key, scale=None):
    """q k^T * scale in float64: (..., T, Dk), (..., S, Dk) -> (..., T, S)."""
    scale = 1.0 / np.sqrt(query.shape[-1]) if scale is None else scale
    return (query.astype(np.float64) @ np.swapaxes(key, -1, -2)) * scale  # (..., T, Dk) @ (..., Dk, S)


def _blocked(scores, mask, fill=NEG_INF):
    return scores if mask is None else np.where(mask, scores, fill)


def _attention(query, key, value, mask=None):
    weights = softmax_or_zero(_blocked(_scores(query, key), mask))  # (..., T, S)
    return weights @ value, weights  # (..., T, S) @ (..., S, Dv) -> (..., T, Dv)


def _scaled_by(factor):
    """Attention whose scores are scaled by factor(Dk, Dv) instead of 1/sqrt(Dk)."""
    def wrong(query, key, value, mask):
        scores = _scores(query, key, factor(query.shape[-1], value.shape[-1]))
        weights = softmax_or_zero(_blocked(scores, mask))
        return weights @ value, weights
    return wrong


def _with_weights(make_weights):
    """Attention whose weights come from make_weights(scores, mask)."""
    def wrong(query, key, value, mask):
        weights = make_weights(_scores(query, key), mask)
        return weights @ value, weights
    return wrong


def _softmax_over_queries(scores, mask):
    weights = _plain_softmax(_blocked(scores, mask, MASK_VALUE), axis=-2)
    return weights if mask is None else weights * mask


def _uniform_when_empty(scores, mask):
    return _plain_softmax(_blocked(scores, mask, MASK_VALUE))


def _nan_when_empty(scores, mask):
    return _plain_softmax(_blocked(scores, mask))


def _mask_after(scores, mask):
    weights = _plain_softmax(scores)
    return weights if mask is None else weights * mask


def _mask_by_product(scores, mask):
    return _plain_softmax(scores if mask is None else scores * mask)


def _inverted(scores, mask):
    return softmax_or_zero(scores if mask is None else np.where(mask, NEG_INF, scores))


def _weight_on_masked(case: Case, got) -> float:
    mask = case.args["mask"]
    weights = got[1]
    if mask is None:
        return 0.0
    return float(np.max(np.where(np.broadcast_to(mask, weights.shape), 0.0, weights)))


def _attention_case(rng, label, lead, t, s, dk, dv, mask) -> Case:
    return Case(label, {"query": _normal(rng, *lead, t, dk), "key": _normal(rng, *lead, s, dk),
                        "value": _normal(rng, *lead, s, dv), "mask": Plain(None) if mask is None else mask})


def _attention_cases(rng: np.random.Generator) -> list[Case]:
    causal = np.tril(np.ones((4, 4), bool))
    empty_row = rng.random((2, 3, 5)) < 0.6
    empty_row[:, :, 0] = True
    empty_row[1, 2] = False  # this query may attend to nothing
    worked = {"query": np.array([[1, 0, 1, 0]], np.float32),
              "key": np.array([[1, 0, 1, 0], [0, 1, 0, 1], [1, 1, 0, 0]], np.float32),
              "value": np.array([[1, 0], [0, 1], [1, 1]], np.float32)}
    return [
        _attention_case(rng, "padding mask (B, 1, S)", (2,), 3, 5, 4, 6, lengths_mask([5, 2], 5)[:, None, :]),
        _attention_case(rng, "causal mask (T, S), broadcast over the batch", (2,), 4, 4, 8, 3, causal),
        _attention_case(rng, "4-D with heads, padding & causal (B, 1, T, S)", (2, 3), 4, 4, 4, 2,
                        lengths_mask([4, 2], 4)[:, None, None, :] & causal),
        _attention_case(rng, "a query whose keys are all masked", (2,), 3, 5, 6, 4, empty_row),
        _attention_case(rng, "3/4 of the keys padded", (2,), 2, 8, 4, 3, lengths_mask([8, 2], 8)[:, None, :]),
        _attention_case(rng, "batch of 1, no mask, T != S", (1,), 2, 6, 5, 3, None),
        Case("the lesson's worked example, key 3 padded", {**worked, "mask": np.array([[True, True, False]])}),
    ]


SCALED_DOT_PRODUCT_ATTENTION = Exercise(
    name="scaled_dot_product_attention",
    references=references("scaled_dot_product_attention", module="attention"),
    unit="03",
    outputs=(Output("the output has", "float"), Output("the weights have", "float")),
    grad_arg="query",
    make_cases=_attention_cases,
    reference=_attention,
    forbidden={"pytorch": ("torch.nn.functional:scaled_dot_product_attention",),
               "tensorflow": ("keras.ops:dot_product_attention",)},
    mistakes=(
        Mistake("no_scale", _scaled_by(lambda dk, dv: 1.0),
                "the weights are too sharp: divide the scores q·k by sqrt(d_k) (the width of the queries and "
                "keys, query.shape[-1]) before the softmax"),
        Mistake("scale_by_dk", _scaled_by(lambda dk, dv: 1.0 / dk),
                "you divided the scores by d_k: divide by its square root, sqrt(d_k), which keeps their "
                "variance near 1"),
        Mistake("scale_times_sqrt_dk", _scaled_by(lambda dk, dv: np.sqrt(dk)),
                "you multiplied the scores by sqrt(d_k): divide by it instead (scale = 1 / sqrt(d_k))"),
        Mistake("scale_by_value_width", _scaled_by(lambda dk, dv: 1.0 / np.sqrt(dv)),
                "you scaled by the width of the values: scale by 1 / sqrt(d_k), the width of the queries and "
                "keys (query.shape[-1])"),
        Mistake("no_mask", _with_weights(lambda scores, mask: softmax_or_zero(scores)),
                lambda case, got: f"masked keys got weight {_weight_on_masked(case, got):.2f}: set their scores "
                                  "to -inf (or a very negative number) BEFORE the softmax"),
        Mistake("mask_by_product", _with_weights(_mask_by_product),
                lambda case, got: f"masked keys got weight {_weight_on_masked(case, got):.2f}: multiplying the "
                                  "scores by the mask sets them to 0, and exp(0) = 1 still gets weight; set them "
                                  "to -inf (or a very negative number) before the softmax"),
        Mistake("mask_after_softmax", _with_weights(_mask_after),
                lambda case, got: f"a row of weights sums to {float(np.min(got[1].sum(axis=-1))):.3g}, not 1: "
                                  "zeroing masked weights after the softmax leaves the rest unnormalised; set "
                                  "masked scores to -inf (or a very negative number) BEFORE the softmax"),
        Mistake("inverted_mask", _with_weights(_inverted),
                "the weight sits on the masked keys: the mask is True where a query MAY attend, so block the "
                "scores where it is False (~mask in PyTorch, tf.logical_not(mask) in TensorFlow)"),
        Mistake("softmax_over_queries", _with_weights(_softmax_over_queries),
                "the weights sum to 1 down each column (over the queries) instead of along each row: take the "
                "softmax over the last axis, the keys (dim=-1 / axis=-1)"),
        Mistake("nan_for_empty_rows", _with_weights(_nan_when_empty),
                "a query whose keys are all masked got NaN (softmax of a row of -inf is 0/0): the course gives "
                "such a query weights 0 and output 0; e.g. mask with a very negative number and multiply the "
                "weights by the mask after the softmax"),
        Mistake("uniform_for_empty_rows", _with_weights(_uniform_when_empty),
                "a query whose keys are all masked got equal weights on every key (an average of all the "
                "values): the course gives it weights 0 and output 0 (it has nothing to read); multiply the "
                "weights by the mask after the softmax"),
        Mistake("output_transposed", lambda query, key, value, mask: (
                    np.swapaxes(_attention(query, key, value, mask)[0], -1, -2), _attention(query, key, value, mask)[1]),
                "the output is weights @ value, (..., T, S) @ (..., S, Dv) -> (..., T, Dv): don't transpose it"),
        Mistake("outputs_swapped", lambda query, key, value, mask: _attention(query, key, value, mask)[::-1],
                "return (output, weights) in this order"),
    ),
)

# ---------------------------------------------------------------- causal_mask


def _causal(length):
    return np.tril(np.ones((length, length), dtype=bool))


def _causal_cases(rng: np.random.Generator) -> list[Case]:
    return [Case(f"length {n}", {"length": n}) for n in (4, 1, 2, 7, 5)]


CAUSAL_MASK = Exercise(
    name="causal_mask",
    references=references("causal_mask", module="attention"),
    unit="03",
    outputs=(Output("the mask has", "bool"),),
    make_cases=_causal_cases,
    reference=_causal,
    mistakes=(
        Mistake("upper_triangle", lambda length: np.triu(np.ones((length, length), bool)),
                "your mask is True above the diagonal, so each position sees the future: keep the LOWER "
                "triangle, row t True at columns 0..t (torch.tril / tf.linalg.band_part(x, -1, 0))"),
        Mistake("strict", lambda length: np.tril(np.ones((length, length), bool), k=-1),
                "the diagonal is False: a position may attend to itself, so keep the diagonal (tril with "
                "diagonal=0, not -1)"),
        Mistake("blocked_convention", lambda length: ~_causal(length),
                "True marks the future here (the 'blocked' convention of nn.MultiheadAttention): the course's "
                "masks are True where a query MAY attend, i.e. on and below the diagonal"),
        Mistake("all_true", lambda length: np.ones((length, length), bool),
                "every position may see every other: a causal mask lets row t see only columns 0..t"),
        Mistake("extra_axes", lambda length: _causal(length)[None, None],
                "return the (T, T) mask itself; the batch and head axes come later, by broadcasting"),
    ),
)

# ---------------------------------------------------------------- combine_masks


def _combined(key_padding, causal, *, combine=np.logical_and, padding_axes=(slice(None), None, None, slice(None)),
              causal_axes=(None, None, slice(None), slice(None)), lift=True):
    """The reference with knobs for the mistakes: how the masks are combined and where their axes go."""
    if key_padding is None and causal is None:
        return None
    if key_padding is None:
        return causal[None, None] if lift else causal  # (T, S) -> (1, 1, T, S)
    if causal is None:
        return key_padding[:, None, None, :] if lift else key_padding  # (B, S) -> (B, 1, 1, S)
    return combine(key_padding[padding_axes], causal[causal_axes])  # (B, 1, 1, S) & (1, 1, T, S)


def _without_heads_axis(key_padding, causal):
    """(B, T, S), (B, 1, S) or (1, T, S): the masks lifted to 3-D only."""
    if key_padding is None:
        return causal[None]  # (T, S) -> (1, T, S)
    if causal is None:
        return key_padding[:, None, :]  # (B, S) -> (B, 1, S)
    return key_padding[:, None, :] & causal[None]  # (B, 1, S) & (1, T, S) -> (B, T, S)


def _combine_case(label, key_padding, causal) -> Case:
    return Case(label, {"key_padding": Plain(None) if key_padding is None else key_padding,
                        "causal": Plain(None) if causal is None else causal})


def _combine_cases(rng: np.random.Generator) -> list[Case]:
    gaps = rng.random((2, 6)) < 0.6
    gaps[:, 0] = True
    window = np.abs(np.arange(6)[:, None] - np.arange(6)[None, :]) <= 1  # a local (banded) mask
    return [
        _combine_case("padding (B, S) and causal (T, S)", lengths_mask([5, 3, 1], 5), _causal(5)),
        _combine_case("T != S: the last 3 of 6 positions query", lengths_mask([6, 4], 6),
                      np.tril(np.ones((3, 6), bool), k=3)),
        _combine_case("batch of 1 without padding", lengths_mask([4], 4), _causal(4)),
        _combine_case("padding with gaps and a banded mask", gaps, window),
        _combine_case("padding only (causal is None)", lengths_mask([3, 1, 4], 4), None),
        _combine_case("causal only (key_padding is None)", None, _causal(3)),
    ]


COMBINE_MASKS = Exercise(
    name="combine_masks",
    references=references("combine_masks", module="attention"),
    unit="03",
    outputs=(Output("the mask has", "bool"),),
    make_cases=_combine_cases,
    reference=_combined,
    mistakes=(
        Mistake("or_instead_of_and", lambda key_padding, causal: _combined(key_padding, causal, combine=np.logical_or),
                "a query may attend a key only if BOTH masks allow it: combine them with & (tf.logical_and), "
                "not |"),
        Mistake("queries_before_heads", lambda key_padding, causal: _combined(
                    key_padding, causal, causal_axes=(None, slice(None), None, slice(None))),
                "the causal mask's (T, S) must be the LAST two axes, after the heads axis: "
                "causal[None, None, :, :] is (1, 1, T, S) and the result (B, 1, T, S), not (B, T, 1, S)"),
        Mistake("no_heads_axis", _without_heads_axis,
                "the result needs an axis for the heads: key_padding[:, None, None, :] & causal[None, None] "
                "gives (B, 1, T, S), whose 1 broadcasts over the H heads"),
        Mistake("padding_on_queries", lambda key_padding, causal: _combined(
                    key_padding, causal, padding_axes=(slice(None), None, slice(None), None)),
                "key_padding says which KEYS are real, so it must vary along the last axis (S): "
                "key_padding[:, None, None, :], not key_padding[:, None, :, None]"),
        Mistake("inverted_padding", lambda key_padding, causal: _combined(
                    None if key_padding is None else ~key_padding, causal),
                "key_padding is True at REAL keys (True = may attend): use it as it is, don't invert it"),
        Mistake("none_not_lifted", lambda key_padding, causal: _combined(key_padding, causal, lift=False),
                "when one mask is None, still return a 4-D mask: key_padding[:, None, None, :] (B, 1, 1, S) or "
                "causal[None, None] (1, 1, T, S)"),
    ),
)

# ---------------------------------------------------------------- online_softmax_update


def _online(running_max, running_sum, running_output, scores, values, *, rescale=True, guard=True,
            keep_old_max=True, shift=True, normalise=False, inverse=False):
    """One online-softmax step in float64, with knobs for the mistakes."""
    scores = np.asarray(scores, np.float64)
    block_max = scores.max(axis=-1)  # (..., T)
    new_max = np.maximum(running_max, block_max) if keep_old_max else block_max
    base = np.where(np.isneginf(new_max), 0.0, new_max) if guard else new_max
    base = base if shift else np.zeros_like(base)
    with np.errstate(invalid="ignore", over="ignore"):
        factor = np.exp(base - running_max) if inverse else np.exp(running_max - base)  # (..., T)
        factor = factor if rescale else np.ones_like(factor)
        exp = np.exp(scores - base[..., None])  # (..., T, Sb)
        new_sum = running_sum * factor + exp.sum(axis=-1)
        new_output = running_output * factor[..., None] + exp @ values  # (..., T, Sb) @ (..., Sb, Dv)
        if normalise:
            new_output = new_output / new_sum[..., None]
    return new_max, new_sum, new_output


def _state_after(scores, values):
    """The running state after one block, from the start state (-inf, 0, 0)."""
    rows = scores.shape[:-1]
    start = (np.full(rows, NEG_INF), np.zeros(rows), np.zeros(rows + (values.shape[-1],)))
    return _online(*start, scores, values)


def _online_case(rng, label, lead, t, sb, dv, first=None, new=None) -> Case:
    """first / new: (scores) of the earlier block (None: start state) and of the new block."""
    values = _normal(rng, *lead, sb, dv)
    if first is None:
        state = (np.full(lead + (t,), NEG_INF), np.zeros(lead + (t,)), np.zeros(lead + (t, dv)))
    else:
        state = _state_after(first, _normal(rng, *first.shape[:-1][:-1], first.shape[-1], dv))
    args = [np.asarray(x, np.float32) for x in (*state, new, values)]
    return Case(label, dict(zip(("running_max", "running_sum", "running_output", "scores", "values"), args)))


def _online_cases(rng: np.random.Generator) -> list[Case]:
    def scores(*shape, loc=0.0, scale=1.5):
        return rng.normal(loc, scale, size=shape)

    growing = scores(2, 3, 4)
    growing[:, 0] += 3.0  # row 0's maximum grows in the new block, the others' may not
    masked_first = scores(2, 3, 4)
    masked_first[0, 1] = NEG_INF  # row 1 of sequence 0 has seen only masked keys so far
    masked_new = scores(2, 3, 5)
    masked_new[0, 1, :2] = NEG_INF
    masked_new[1, 2] = NEG_INF  # a fully masked block for this row
    masked_new[1, 0] += 3.0  # and a row whose maximum grows
    still_empty_first = scores(1, 2, 3)
    still_empty_first[0, 0] = NEG_INF
    still_empty_new = scores(1, 2, 2)
    still_empty_new[0, 0] = NEG_INF  # a row that has seen only -inf after two blocks
    return [
        _online_case(rng, "second block, the maximum grows in some rows", (2,), 3, 4, 5, scores(2, 3, 3), growing),
        _online_case(rng, "first block (start state -inf, 0, 0)", (2,), 3, 4, 5, None, scores(2, 3, 4)),
        _online_case(rng, "masked (-inf) keys, a row that saw only -inf before", (2,), 3, 5, 4, masked_first,
                     masked_new),
        _online_case(rng, "a row that has seen only -inf after two blocks", (1,), 2, 2, 3, still_empty_first,
                     still_empty_new),
        _online_case(rng, "very large scores (about 1000): a plain exp overflows", (2,), 2, 3, 4,
                     scores(2, 2, 3, loc=1000.0), scores(2, 2, 3, loc=1002.0)),
        _online_case(rng, "4-D with heads, a block of one key", (1, 2), 3, 1, 2, scores(1, 2, 3, 2), scores(1, 2, 3, 1)),
    ]


ONLINE_SOFTMAX_UPDATE = Exercise(
    name="online_softmax_update",
    references=references("online_softmax_update", module="attention"),
    unit="03",
    outputs=(Output("the new running_max has", "float"), Output("the new running_sum has", "float"),
             Output("the new running_output has", "float")),
    make_cases=_online_cases,
    reference=_online,
    mistakes=(
        Mistake("no_rescale", lambda *args: _online(*args, rescale=False),
                "the old sum and output were computed relative to the OLD maximum: multiply them by "
                "exp(running_max - new_max) before adding the new block's terms"),
        Mistake("nan_for_unseen_rows", lambda *args: _online(*args, guard=False),
                "a row that has seen only masked (-inf) scores got NaN, because -inf - (-inf) is NaN: where the "
                "new maximum is -inf, subtract 0 instead (torch.where / tf.where), so the row keeps sum 0 and "
                "output 0"),
        Mistake("inverse_rescale", lambda *args: _online(*args, inverse=True),
                "the rescaling factor is upside down: multiply the old sum and output by "
                "exp(running_max - new_max) (at most 1), not exp(new_max - running_max)"),
        Mistake("block_max_only", lambda *args: _online(*args, keep_old_max=False),
                "the new running maximum is the larger of the old one and this block's: "
                "maximum(running_max, scores.max(-1)), not this block's maximum alone"),
        Mistake("no_shift", lambda *args: _online(*args, shift=False, rescale=False),
                "exp(score) overflows for large scores: subtract the new running maximum inside the "
                "exponential, exp(scores - new_max), and rescale the old terms by exp(running_max - new_max)"),
        Mistake("normalised_output", lambda *args: _online(*args, normalise=True),
                "running_output must stay UNnormalised (the sum of exp(score - running_max) * v): divide by "
                "running_sum only once, after the last block"),
    ),
)


register(SCALED_DOT_PRODUCT_ATTENTION, CAUSAL_MASK, COMBINE_MASKS, ONLINE_SOFTMAX_UPDATE)
