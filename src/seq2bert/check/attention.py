"""Unit 02 exercises: additive_scores, masked_softmax and context_vector.

NumPy references, test cases and plausible mistakes; the same table serves both frameworks.
Shape legend: B batch, S source length, H state width, A attention width.
"""
from __future__ import annotations

import numpy as np

from seq2bert.check.spec import Case, Exercise, Mistake, lengths_mask, softmax

# Same constant as the framework references (seq2bert.torch.ops.MASK_VALUE).
MASK_VALUE = -1e9

# ---------------------------------------------------------------- additive_scores


def _additive_case(rng, label, batch, source, width, attention) -> Case:
    def normal(*shape, scale=1.0):
        return (scale * rng.normal(size=shape)).astype(np.float32)

    return Case(label, {"query": normal(batch, width), "keys": normal(batch, source, width),
                        "w_q": normal(width, attention, scale=0.5), "w_k": normal(width, attention, scale=0.5),
                        "v": normal(attention)})


def _additive_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _additive_case(rng, "random", 2, 5, 3, 4),
        _additive_case(rng, "batch of 1, one source token", 1, 1, 3, 2),
        _additive_case(rng, "state width = attention width", 2, 4, 3, 3),
        _additive_case(rng, "batch size = source length", 3, 3, 2, 4),
        _additive_case(rng, "longer source", 4, 7, 5, 6),
    ]


def _additive_hidden(query, keys, w_q, w_k):
    """tanh(W_q s + W_k h_j): (B, H), (B, S, H) -> (B, S, A)."""
    return np.tanh((query @ w_q)[:, None, :] + keys @ w_k)  # (B, 1, A) + (B, S, A)


def _additive_scores(query, keys, w_q, w_k, v):
    return _additive_hidden(query, keys, w_q, w_k) @ v  # (B, S, A) @ (A,) -> (B, S)


ADDITIVE_SCORES = Exercise(
    name="additive_scores",
    unit="02",
    output="the scores have",
    kind="float",
    grad_arg="query",
    make_cases=_additive_cases,
    reference=_additive_scores,
    mistakes=(
        Mistake("no_tanh", lambda query, keys, w_q, w_k, v: ((query @ w_q)[:, None, :] + keys @ w_k) @ v,
                "the tanh is missing: apply tanh to W_q s + W_k h_j, then take the dot product with v"),
        Mistake("v_inside_tanh",
                lambda query, keys, w_q, w_k, v: np.tanh(((query @ w_q)[:, None, :] + keys @ w_k) @ v),
                "v is applied inside the tanh: first tanh(W_q s + W_k h_j), then the dot product with v"),
        Mistake("sum_instead_of_v",
                lambda query, keys, w_q, w_k, v: _additive_hidden(query, keys, w_q, w_k).sum(axis=-1),
                "you summed the hidden features: take their dot product with v instead (hidden @ v)"),
        Mistake("no_v", lambda query, keys, w_q, w_k, v: _additive_hidden(query, keys, w_q, w_k),
                "finish with the dot product with v, which turns (B, S, A) into one score per "
                "source position (B, S)"),
        Mistake("sum_over_source",
                lambda query, keys, w_q, w_k, v: (_additive_hidden(query, keys, w_q, w_k) * v).sum(axis=1),
                "you summed over the source axis: keep one score per source position (B, S); the dot "
                "product with v runs over the attention width A (the last axis)"),
        Mistake("raw_keys",
                lambda query, keys, w_q, w_k, v: np.tanh((query @ w_q)[:, None, :] + keys) @ v,
                "the keys must be projected too: use keys @ w_k, not the raw keys"),
        Mistake("raw_query",
                lambda query, keys, w_q, w_k, v: np.tanh(query[:, None, :] + keys @ w_k) @ v,
                "the query must be projected too: use query @ w_q, not the raw query"),
        Mistake("transposed_weights",
                lambda query, keys, w_q, w_k, v: _additive_hidden(query, keys, w_q.T, w_k.T) @ v,
                "multiply by w_q and w_k as given (H, A) matrices, query @ w_q and keys @ w_k, "
                "not by their transposes"),
        Mistake("swapped_weights",
                lambda query, keys, w_q, w_k, v: _additive_hidden(query, keys, w_k, w_q) @ v,
                "w_q and w_k are swapped: the query goes through w_q and the keys through w_k"),
        Mistake("query_not_broadcast",
                lambda query, keys, w_q, w_k, v: np.tanh((query @ w_q)[None, :, :] + keys @ w_k) @ v,
                "the projected query is added along the wrong axis: give it a source axis, "
                "(B, A) -> (B, 1, A), so it is added to every key of its own sequence"),
    ),
)

# ---------------------------------------------------------------- masked_softmax


def _softmax_case(rng, label, mask) -> Case:
    mask = np.asarray(mask, dtype=bool)
    scores = rng.normal(0.0, 2.0, size=mask.shape).astype(np.float32)
    return Case(label, {"scores": scores, "mask": mask})


def _softmax_cases(rng: np.random.Generator) -> list[Case]:
    gaps = rng.random((2, 5)) < 0.6
    gaps[:, 1] = True
    return [
        _softmax_case(rng, "random lengths", lengths_mask([6, 4, 1], 6)),
        _softmax_case(rng, "batch of 1 without padding", lengths_mask([5], 5)),
        _softmax_case(rng, "one source token", lengths_mask([1, 1], 1)),
        _softmax_case(rng, "one real position per row", lengths_mask([1, 1, 1], 4)),
        _softmax_case(rng, "mask with gaps", gaps),
    ]


def _masked_softmax(scores, mask, axis=-1):
    return softmax(np.where(mask, scores, MASK_VALUE), axis=axis)


def _weight_on_padding(case: Case, got: np.ndarray) -> float:
    return float(np.max(np.where(case.args["mask"], 0.0, got)))


def _nan_from_infinity(scores, mask):
    with np.errstate(invalid="ignore"):
        return softmax(scores * mask + (1.0 - mask) * -np.inf)


MASKED_SOFTMAX = Exercise(
    name="masked_softmax",
    unit="02",
    output="the weights have",
    kind="float",
    grad_arg="scores",
    make_cases=_softmax_cases,
    reference=_masked_softmax,
    mistakes=(
        Mistake("no_mask", lambda scores, mask: softmax(scores),
                lambda case, got: f"masked positions got weight {_weight_on_padding(case, got):.2f}: "
                                  "apply the mask BEFORE the softmax, by setting masked scores to a large "
                                  "negative number (MASK_VALUE = -1e9)"),
        Mistake("mask_by_zero", lambda scores, mask: softmax(scores * mask),
                lambda case, got: f"masked positions got weight {_weight_on_padding(case, got):.2f}: "
                                  "setting masked scores to 0 (or multiplying by the mask) is not enough, "
                                  "exp(0) = 1 still gets weight; set them to a large negative number "
                                  "(MASK_VALUE = -1e9)"),
        Mistake("mask_after_softmax", lambda scores, mask: softmax(scores) * mask,
                lambda case, got: f"a row of weights sums to {float(np.min(got.sum(axis=-1))):.3g}, not 1: "
                                  "zeroing masked weights after the softmax leaves the rest unnormalised; "
                                  "mask the scores before the softmax instead"),
        Mistake("softmax_over_batch", lambda scores, mask: _masked_softmax(scores, mask, axis=0),
                "the weights sum to 1 down the batch axis instead of along each row: take the softmax "
                "over the last axis (dim=-1 / axis=-1)"),
        Mistake("inverted_mask", lambda scores, mask: _masked_softmax(scores, ~mask),
                "the weight sits on the padding: the mask is True at real positions, so fill the scores "
                "where the mask is False (~mask in PyTorch, tf.logical_not(mask) in TensorFlow)"),
        Mistake("nan_from_inf", _nan_from_infinity,
                "the weights are NaN: 0 * -inf is NaN; set the masked scores with masked_fill / tf.where "
                "to a large finite negative number (MASK_VALUE = -1e9) instead of multiplying by infinity"),
    ),
)

# ---------------------------------------------------------------- context_vector


def _context_case(rng, label, lengths, source, width) -> Case:
    batch = len(lengths)
    scores = rng.normal(size=(batch, source))
    weights = _masked_softmax(scores, lengths_mask(lengths, source)).astype(np.float32)
    values = rng.normal(size=(batch, source, width)).astype(np.float32)
    return Case(label, {"weights": weights, "values": values})


def _context_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _context_case(rng, "random", [5, 2], 5, 3),
        _context_case(rng, "batch of 1", [3], 4, 2),
        _context_case(rng, "one source token", [1, 1, 1], 1, 4),
        _context_case(rng, "padded weights", [6, 3, 1], 6, 4),
    ]


def _context_vector(weights, values):
    return np.einsum("bs,bsh->bh", weights.astype(np.float64), values)  # (B, S), (B, S, H) -> (B, H)


CONTEXT_VECTOR = Exercise(
    name="context_vector",
    unit="02",
    output="the context vectors have",
    kind="float",
    grad_arg="weights",
    make_cases=_context_cases,
    reference=_context_vector,
    mistakes=(
        Mistake("mean_unweighted", lambda weights, values: values.mean(axis=1),
                "you averaged the values without the attention weights: multiply each value by its "
                "weight, then sum over the source axis"),
        Mistake("sum_unweighted", lambda weights, values: values.sum(axis=1),
                "you summed the values without the attention weights: multiply each value by its "
                "weight first"),
        Mistake("weighted_mean", lambda weights, values: (weights[:, :, None] * values).mean(axis=1),
                "you took the mean of the weighted values: the weights already sum to 1, so take their "
                "sum over the source axis"),
        Mistake("sum_over_features", lambda weights, values: (weights[:, :, None] * values).sum(axis=-1),
                "you summed over the feature axis H: sum the weighted values over the source axis S "
                "(axis 1) to get (B, H)"),
        Mistake("no_squeeze", lambda weights, values: weights[:, None, :] @ values,
                "remove the middle axis of the result: (B, 1, H) -> (B, H) (squeeze axis 1)"),
        Mistake("matmul_without_axis", lambda weights, values: np.matmul(weights, values),
                "weights (B, S) need a middle axis to be multiplied with values (B, S, H) sequence by "
                "sequence: weights[:, None, :] @ values is (B, 1, H), then squeeze axis 1"),
    ),
)

EXERCISES = (ADDITIVE_SCORES, MASKED_SOFTMAX, CONTEXT_VECTOR)
