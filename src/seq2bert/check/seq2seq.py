"""Unit 01 exercises: padding_mask, masked_cross_entropy and greedy_decode.

NumPy references, test cases and plausible mistakes; the same table serves both frameworks.
Two rulings: padding_mask must return booleans (0/1 integers are rejected with a hint, because
masked_fill and tf.where need bool masks); greedy_decode outputs are compared after dropping
trailing columns that are all pad_id, so decoding on to max_len after every sequence has ended
is accepted (stopping early saves time but changes no token).
Shape legend: B batch, T target length, V vocabulary, L decoded length.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from seq2bert.check.decoder import FakeDecoder
from seq2bert.check.spec import Case, Exercise, Mistake, lengths_mask, log_softmax, softmax

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
        case("as many sequences as positions", [2, 4, 1, 3], 4),
    ]


PADDING_MASK = Exercise(
    name="padding_mask",
    unit="01",
    output="the mask has",
    kind="bool",
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
    unit="01",
    output="the loss has",
    kind="float",
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

# ---------------------------------------------------------------- greedy_decode


def _decode_case(rng, label, vocab, ends, max_len, bos_id=1, eos_id=2, pad_id=0) -> Case:
    decoder = FakeDecoder.build(rng, vocab, ends, bos_id, eos_id, pad_id, max_len)
    return Case(label, {"step": decoder, "state": decoder.initial_state(), "batch_size": len(ends),
                        "bos_id": bos_id, "eos_id": eos_id, "pad_id": pad_id, "max_len": max_len})


def _decode_cases(rng: np.random.Generator) -> list[Case]:
    return [
        _decode_case(rng, "sequences ending at different steps", 9, [2, 4, 3], 6),
        _decode_case(rng, "one sequence never ends", 8, [3, None, 1], 5),
        _decode_case(rng, "batch of 1 ending at once", 6, [1], 4),
        _decode_case(rng, "other special ids", 10, [4, 2], 6, bos_id=5, eos_id=3, pad_id=7),
        _decode_case(rng, "max_len 1", 7, [None, 1], 1),
        _decode_case(rng, "batch of 1 that never ends", 5, [None], 3),
    ]


def _greedy(step, state, batch_size, bos_id, eos_id, pad_id, max_len, *, feed_back=True,
            keep_state=True, pad_after_eos=True, pad_eos_too=False, stop="all", steps=0,
            with_bos=False, fixed_ids=False):
    """Greedy decoding in NumPy; the keyword switches turn it into plausible mistakes."""
    if fixed_ids:
        bos_id, eos_id, pad_id = 1, 2, 0
    start = np.full(batch_size, bos_id)
    prev, first_state = start, state
    done = np.zeros(batch_size, dtype=bool)
    outputs = [start] if with_bos else []
    for _ in range(max_len + steps):
        logits, new_state = step(prev, state)
        state = new_state if keep_state else first_state
        token = logits.argmax(axis=-1)  # (B, V) -> (B,)
        if pad_eos_too:
            done = done | (token == eos_id)
        if pad_after_eos:
            token = np.where(done, pad_id, token)
        done = done | (token == eos_id)
        outputs.append(token)
        prev = token if feed_back else start
        if (stop == "all" and done.all()) or (stop == "any" and done.any()):
            break
    return np.stack(outputs, axis=1)  # L x (B,) -> (B, L)


def _trim_trailing_padding(tokens: np.ndarray, case: Case) -> np.ndarray:
    """Drop trailing columns that are all pad_id: decoding on after every sequence ended is allowed."""
    if tokens.ndim != 2:
        return tokens
    width = tokens.shape[1]
    while width > 0 and np.all(tokens[:, width - 1] == case.args["pad_id"]):
        width -= 1
    return tokens[:, :width]


_KEEPS_GOING = ("a sequence keeps producing tokens after its EOS: once a sequence has produced EOS, "
                "fill the rest of its row with pad_id")

GREEDY_DECODE = Exercise(
    name="greedy_decode",
    unit="01",
    output="the decoded tokens have",
    kind="int",
    make_cases=_decode_cases,
    reference=_greedy,
    normalise=_trim_trailing_padding,
    mistakes=(
        Mistake("no_padding_never_stops",
                partial(_greedy, pad_after_eos=False, stop="never"), _KEEPS_GOING),
        Mistake("no_padding", partial(_greedy, pad_after_eos=False), _KEEPS_GOING),
        Mistake("eos_replaced", partial(_greedy, pad_eos_too=True),
                "the EOS tokens are missing: keep each sequence's EOS and put pad_id only in the "
                "positions after it (mark a sequence done after padding the new token, not before)"),
        Mistake("always_bos", partial(_greedy, feed_back=False),
                "every step was fed BOS again: feed each step's predictions back in as the next "
                "prev_tokens"),
        Mistake("state_dropped", partial(_greedy, keep_state=False),
                "the decoder state never advances: keep the state that step() returns and pass it "
                "to the next call"),
        Mistake("stops_at_first_eos", partial(_greedy, stop="any"),
                "decoding stopped when the first sequence finished: keep going until every sequence "
                "has produced EOS (all, not any)"),
        Mistake("bos_in_output", partial(_greedy, with_bos=True),
                "the output starts with the BOS token: return only the predicted tokens (the first "
                "column is the first prediction)"),
        Mistake("one_step_short", partial(_greedy, steps=-1),
                "decoding stopped one step early: a sequence that never produces EOS must get "
                "exactly max_len tokens"),
        Mistake("time_major", lambda *args: _greedy(*args).T,
                "rows are sequences: stack the per-step tokens along axis 1 to get (B, L), not (L, B)"),
        Mistake("fixed_special_ids", partial(_greedy, fixed_ids=True),
                lambda case, got: "use the bos_id, eos_id and pad_id arguments, not fixed numbers "
                                  f"(this case has bos_id={case.args['bos_id']}, "
                                  f"eos_id={case.args['eos_id']}, pad_id={case.args['pad_id']})"),
    ),
)

EXERCISES = (PADDING_MASK, MASKED_CROSS_ENTROPY, GREEDY_DECODE)
