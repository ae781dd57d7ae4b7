"""Exercises on masks: padding_mask (unit 01) and masked_softmax (unit 02).

Convention, everywhere in the course: a mask is True where a position may be attended to (a
real token) and False at padding. Ruling: padding_mask must return booleans (0/1 integers are
rejected with a hint, because masked_fill and tf.where need bool masks). masked_softmax's cases
always have at least one real position per row (what a row with none gets is unit 03's topic).
Shape legend: B batch, S source length.
"""
from __future__ import annotations

import numpy as np

from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output, lengths_mask, softmax

# Same constant as the framework references (seq2bert.torch.ops.MASK_VALUE).
MASK_VALUE = -1e9


# ---------------------------------------------------------------- padding_mask


def _padding_mask_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, lengths, max_len):
        return Case(label, {"lengths": np.asarray(lengths, dtype=np.int64), "max_len": max_len})

    random_lengths = rng.integers(1, 7, size=4)
    random_lengths[rng.integers(4)] = 6
    return [
        case("random lengths", random_lengths, 6),
        case("every sequence shorter than max_len", [3, 5, 2], 7),
        case("one real token per sequence", [1, 1, 1], 5),
        case("batch of 1", [4], 4),
        case("length-1 sequences", [1, 1], 1),
        case("an empty sequence", [0, 3, 5], 5),
        case("as many sequences as positions", [2, 4, 1, 3], 4),
    ]


PADDING_MASK = Exercise(
    name="padding_mask",
    references=references("padding_mask"),
    unit="01",
    outputs=(Output("the mask has", "bool"),),
    make_cases=_padding_mask_cases,
    reference=lengths_mask,
    mistakes=(
        Mistake("inverted", lambda lengths, max_len: ~lengths_mask(lengths, max_len),
                "True and False are swapped: the mask is True at real tokens (position < length) "
                "and False at padding"),
        Mistake("one_too_many", lambda lengths, max_len: lengths_mask(lengths + 1, max_len),
                "each sequence has one True too many: position j is a real token when j < length, "
                "not j <= length (positions count from 0)"),
        Mistake("one_too_few", lambda lengths, max_len: lengths_mask(lengths - 1, max_len),
                "each sequence has one True too few: position j is a real token when j < length "
                "(positions count from 0, so a length-3 sequence has positions 0, 1, 2)"),
        Mistake("longest_length_width",
                lambda lengths, max_len: lengths_mask(lengths, int(lengths.max())),
                "the mask must have max_len columns even when every sequence is shorter (it lines up "
                "with the padded batch): use max_len, not lengths.max()"),
        Mistake("transposed", lambda lengths, max_len: lengths_mask(lengths, max_len).T,
                "rows are sequences and columns positions: compare positions[None, :] with "
                "lengths[:, None] to get (B, max_len)"),
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


def numpy_masked_softmax(scores, mask, axis=-1):
    return softmax(np.where(mask, scores, MASK_VALUE), axis=axis)


def _weight_on_padding(case: Case, got: np.ndarray) -> float:
    return float(np.max(np.where(case.args["mask"], 0.0, got)))


def _nan_from_infinity(scores, mask):
    with np.errstate(invalid="ignore"):
        return softmax(scores * mask + (1.0 - mask) * -np.inf)


MASKED_SOFTMAX = Exercise(
    name="masked_softmax",
    references=references("masked_softmax"),
    unit="02",
    outputs=(Output("the weights have", "float"),),
    grad_arg="scores",
    make_cases=_softmax_cases,
    reference=numpy_masked_softmax,
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
        Mistake("softmax_over_batch", lambda scores, mask: numpy_masked_softmax(scores, mask, axis=0),
                "the weights sum to 1 down the batch axis instead of along each row: take the softmax "
                "over the last axis (dim=-1 / axis=-1)"),
        Mistake("inverted_mask", lambda scores, mask: numpy_masked_softmax(scores, ~mask),
                "the weight sits on the padding: the mask is True at real positions, so fill the scores "
                "where the mask is False (~mask in PyTorch, tf.logical_not(mask) in TensorFlow)"),
        Mistake("nan_from_inf", _nan_from_infinity,
                "the weights are NaN: 0 * -inf is NaN; set the masked scores with masked_fill / tf.where "
                "to a large finite negative number (MASK_VALUE = -1e9) instead of multiplying by infinity"),
    ),
)


register(PADDING_MASK, MASKED_SOFTMAX)
