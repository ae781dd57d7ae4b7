"""Exercises on decoding: greedy_decode (unit 01).

Ruling: outputs are compared after dropping trailing columns that are all pad_id, so decoding on
to max_len after every sequence has ended is accepted (stopping early saves time but changes no
token). The decoder step is a FakeDecoder whose greedy output is known in advance.
Shape legend: B batch, V vocabulary, L decoded length.
"""
from __future__ import annotations

from functools import partial

import numpy as np

from seq2bert.check.fake_decoder import FakeDecoder
from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output


# ---------------------------------------------------------------- greedy_decode


def _decode_case(rng, label, vocab, ends, max_len, bos_id=1, eos_id=2, pad_id=0, **options) -> Case:
    decoder = FakeDecoder.build(rng, vocab, ends, bos_id, eos_id, pad_id, max_len, **options)
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
        # Close logits: sampling instead of taking the arg-max goes astray here.
        _decode_case(rng, "close logits", 20, [None, None, None], 8, boost=1.0),
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
    """Drop trailing columns that are all pad_id: decoding on after every sequence ended is allowed.

    More than max_len columns is never allowed, so such a result is left as it is (and fails).
    """
    if tokens.ndim != 2 or tokens.shape[1] > case.args["max_len"]:
        return tokens
    width = tokens.shape[1]
    while width > 0 and np.all(tokens[:, width - 1] == case.args["pad_id"]):
        width -= 1
    return tokens[:, :width]


_KEEPS_GOING = ("a sequence keeps producing tokens after its EOS: once a sequence has produced EOS, "
                "fill the rest of its row with pad_id")

GREEDY_DECODE = Exercise(
    name="greedy_decode",
    references=references("greedy_decode"),
    unit="01",
    outputs=(Output("the decoded tokens have", "int"),),
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


register(GREEDY_DECODE)
