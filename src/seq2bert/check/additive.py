"""Exercises on additive (Bahdanau) attention: additive_scores and context_vector (unit 02).

Shape legend: B batch, S source length, D state width, A attention width.
"""
from __future__ import annotations

import numpy as np

from seq2bert.check.masking import numpy_masked_softmax
from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output, lengths_mask


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
    """tanh(s W_q + h_j W_k): (B, D), (B, S, D) -> (B, S, A)."""
    return np.tanh((query @ w_q)[:, None, :] + keys @ w_k)  # (B, 1, A) + (B, S, A)


def _additive_scores(query, keys, w_q, w_k, v):
    return _additive_hidden(query, keys, w_q, w_k) @ v  # (B, S, A) @ (A,) -> (B, S)


ADDITIVE_SCORES = Exercise(
    name="additive_scores",
    references=references("additive_scores"),
    unit="02",
    outputs=(Output("the scores have", "float"),),
    grad_arg="query",
    make_cases=_additive_cases,
    reference=_additive_scores,
    mistakes=(
        Mistake("no_tanh", lambda query, keys, w_q, w_k, v: ((query @ w_q)[:, None, :] + keys @ w_k) @ v,
                "the tanh is missing: apply tanh to s W_q + h_j W_k, then take the dot product with v"),
        Mistake("v_inside_tanh",
                lambda query, keys, w_q, w_k, v: np.tanh(((query @ w_q)[:, None, :] + keys @ w_k) @ v),
                "v is applied inside the tanh: first tanh(s W_q + h_j W_k), then the dot product with v"),
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
                "multiply by w_q and w_k as given (D, A) matrices, query @ w_q and keys @ w_k, "
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

# ---------------------------------------------------------------- context_vector


def _context_case(rng, label, lengths, source, width) -> Case:
    batch = len(lengths)
    scores = rng.normal(size=(batch, source))
    weights = numpy_masked_softmax(scores, lengths_mask(lengths, source)).astype(np.float32)
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
    return np.einsum("bs,bsh->bh", weights.astype(np.float64), values)  # (B, S), (B, S, D) -> (B, D)


CONTEXT_VECTOR = Exercise(
    name="context_vector",
    references=references("context_vector"),
    unit="02",
    outputs=(Output("the context vectors have", "float"),),
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
                "you summed over the feature axis D: sum the weighted values over the source axis S "
                "(axis 1) to get (B, D)"),
        Mistake("no_squeeze", lambda weights, values: weights[:, None, :] @ values,
                "remove the middle axis of the result: (B, 1, D) -> (B, D) (squeeze axis 1)"),
        Mistake("matmul_without_axis", lambda weights, values: np.matmul(weights, values),
                "weights (B, S) need a middle axis to be multiplied with values (B, S, D) sequence by "
                "sequence: weights[:, None, :] @ values is (B, 1, D), then squeeze axis 1"),
    ),
)


register(ADDITIVE_SCORES, CONTEXT_VECTOR)
