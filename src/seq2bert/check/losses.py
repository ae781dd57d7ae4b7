"""Exercises on training losses: masked_cross_entropy (unit 01).

Shape legend: B batch, T target length, V vocabulary.
"""
from __future__ import annotations

import numpy as np

from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output, lengths_mask, log_softmax, softmax


# ---------------------------------------------------------------- masked_cross_entropy


def _cross_entropy_case(rng, label, lengths, steps, vocab, pad_id) -> Case:
    batch = len(lengths)
    logits = rng.normal(0.0, 2.0, size=(batch, steps, vocab)).astype(np.float32)
    real_ids = np.array([t for t in range(vocab) if t != pad_id])
    targets = rng.choice(real_ids, size=(batch, steps))
    targets[0, 0] = real_ids[0]  # token 0 appears as a real token whenever pad_id != 0
    targets[~lengths_mask(lengths, steps)] = pad_id
    return Case(label, {"logits": logits, "targets": targets.astype(np.int64), "pad_id": pad_id})


def _cross_entropy_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _cross_entropy_case(rng, "random, padded tails", [5, 3, 1], 5, 7, 0),
        _cross_entropy_case(rng, "pad_id is not 0", [4, 2, 3], 4, 6, 3),
        _cross_entropy_case(rng, "batch of 1 without padding", [4], 4, 5, 0),
        _cross_entropy_case(rng, "length-1 sequences", [1, 1], 1, 5, 0),
        _cross_entropy_case(rng, "one long sequence, the others one token", [6, 1, 1], 6, 8, 0),
    ]


def _token_losses(logits, targets, axis=-1):
    """(B, T, V), (B, T) -> (B, T) negative log-likelihood, log-softmax over `axis`."""
    log_probs = log_softmax(logits, axis=axis)
    return -np.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]


def _mean_over_real(losses, targets, pad_id):
    keep = targets != pad_id  # (B, T)
    return np.asarray((losses * keep).sum() / max(keep.sum(), 1))


def _masked_cross_entropy(logits, targets, pad_id):
    return _mean_over_real(_token_losses(logits, targets), targets, pad_id)


def _per_sequence_mean(logits, targets, pad_id):
    keep = targets != pad_id
    per_sequence = (_token_losses(logits, targets) * keep).sum(axis=1) / keep.sum(axis=1)  # (B,)
    return np.asarray(per_sequence.mean())


def _log_of_logits(logits, targets, pad_id):
    with np.errstate(invalid="ignore", divide="ignore"):
        losses = -np.log(np.take_along_axis(logits.astype(np.float64), targets[..., None], axis=-1)[..., 0])
    return _mean_over_real(losses, targets, pad_id)


def _raw_logits_as_log_probs(logits, targets, pad_id):
    losses = -np.take_along_axis(logits.astype(np.float64), targets[..., None], axis=-1)[..., 0]
    return _mean_over_real(losses, targets, pad_id)


MASKED_CROSS_ENTROPY = Exercise(
    name="masked_cross_entropy",
    references=references("masked_cross_entropy"),
    unit="01",
    outputs=(Output("the loss has", "float"),),
    grad_arg="logits",
    make_cases=_cross_entropy_cases,
    reference=_masked_cross_entropy,
    mistakes=(
        Mistake("mean_with_padding",
                lambda logits, targets, pad_id: np.asarray(_token_losses(logits, targets).mean()),
                "the loss also averages over padding positions: leave out targets equal to pad_id "
                "(multiply by the mask targets != pad_id) and divide by the number of real tokens"),
        Mistake("divide_by_all_positions", lambda logits, targets, pad_id: np.asarray(
                    (_token_losses(logits, targets) * (targets != pad_id)).sum() / targets.size),
                "padding is left out of the sum but you still divide by all B*T positions: divide by "
                "the number of non-padding tokens"),
        Mistake("sum", lambda logits, targets, pad_id: np.asarray(
                    (_token_losses(logits, targets) * (targets != pad_id)).sum()),
                "this is the sum of the per-token losses: divide it by the number of non-padding "
                "tokens to get the mean"),
        Mistake("per_sequence_mean", _per_sequence_mean,
                "you averaged each sequence and then the sequences, which gives a short sequence's "
                "tokens more weight: average over all real tokens of the batch at once"),
        Mistake("pad_id_fixed_0",
                lambda logits, targets, pad_id: _masked_cross_entropy(logits, targets, 0),
                lambda case, got: "you treat token 0 as padding: use the pad_id argument "
                                  f"(this case has pad_id={case.args['pad_id']}), not a fixed number"),
        Mistake("softmax_before_cross_entropy", lambda logits, targets, pad_id: _mean_over_real(
                    _token_losses(softmax(logits), targets), targets, pad_id),
                "the logits went through a softmax before the cross-entropy: cross-entropy takes raw "
                "logits (it applies log-softmax itself)"),
        Mistake("logits_as_log_probs", _raw_logits_as_log_probs,
                "you used the raw logits as log-probabilities: apply log_softmax over the vocabulary "
                "axis first (or use a cross-entropy function, which does it for you)"),
        Mistake("log_of_logits", _log_of_logits,
                "the loss is NaN: you took the log of raw logits, which can be negative; logits are "
                "not probabilities, use log_softmax (or a cross-entropy function) on them"),
        Mistake("log_softmax_over_time", lambda logits, targets, pad_id: _mean_over_real(
                    _token_losses(logits, targets, axis=1), targets, pad_id),
                "the log-softmax ran over axis 1 (time steps): normalise over the vocabulary axis, "
                "the last one"),
        Mistake("no_reduction",
                lambda logits, targets, pad_id: _token_losses(logits, targets) * (targets != pad_id),
                "return one number: the mean of the per-token losses over the non-padding tokens"),
    ),
)


register(MASKED_CROSS_ENTROPY)
