"""Fast mode, and the dataclasses that hold each unit's sizes.

Fast mode (``SEQ2BERT_FAST=1``, set by tests and ``make run``) only shrinks sizes and step
counts; the code path is the same in both modes. Each unit's fast and full sizes are part of
its catalogue entry in `seq2bert.units`; `sizes(unit)` picks one of the two. A unit's sizes
dataclass (frozen, one comment per field) lives here, free of torch and TensorFlow, so the
catalogue can import it; a new kind of unit adds its own (e.g. a TransformerSizes).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, is_dataclass
from typing import Any

FAST_ENV = "SEQ2BERT_FAST"


def fast_mode() -> bool:
    """True when SEQ2BERT_FAST is set to a true value (1, true, yes, on)."""
    return os.environ.get(FAST_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Seq2SeqSizes:
    """How much data and how many optimiser steps a GRU encoder–decoder experiment uses."""

    date_train: int  # training pairs for the date-normalisation task
    date_steps: int  # optimiser steps on dates
    toy_train: int  # training pairs for the toy translation task
    toy_steps: int  # optimiser steps on toy translation
    eval_pairs: int  # held-out pairs for every reported metric
    batch_size: int  # pairs per optimiser step
    embed: int  # token embedding width
    hidden: int  # GRU state width (D in the shape legend), also the attention width
    learning_rate: float  # Adam step size


@dataclass(frozen=True)
class AttentionSizes(Seq2SeqSizes):
    """Unit 02's sizes: unit 01's, plus the attention model's steps and the short-sentences experiment."""

    attention_steps: int  # optimiser steps of the toy attention model trained on every length
    short_words: int  # the short-sentences experiment trains on sources of at most this many words
    short_steps: int  # optimiser steps of the attention model trained on short sentences only
    short_plain_steps: int  # the same without attention (0 skips it: fast mode reports it only in full mode)
    bidirectional_steps: int  # the bidirectional encoder on short sentences (0 skips it, as in fast mode)



@dataclass(frozen=True)
class DotProductSizes:
    """Unit 03's sizes: unit 02's toy model trained with each attention score, the 1/sqrt(d_k) sweep, a cost table."""

    toy_train: int  # training pairs for the toy translation task
    eval_pairs: int  # held-out pairs for every reported metric
    max_words: int  # longest toy source sentence (fast mode trains on shorter ones: each step costs less)
    attention_steps: int  # optimiser steps of each toy model (additive and scaled dot-product attention)
    batch_size: int  # pairs per optimiser step
    embed: int  # token embedding width
    hidden: int  # GRU state width (D in the shape legend), also the attention width A
    learning_rate: float  # Adam step size
    sweep_widths: tuple[int, ...]  # key widths d_k of the 1/sqrt(d_k) sweep
    sweep_queries: int  # random queries per d_k in the sweep
    sweep_keys: int  # keys each random query attends over (S)
    cost_lengths: tuple[int, ...]  # sequence lengths of the in-notebook timing (256 must be one of them)
    cost_repeats: int  # timed runs per length and implementation (the fastest is shown)


@dataclass(frozen=True)
class MultiHeadSizes:
    """Unit 04's sizes: the order-task experiment (seq2bert.experiments.order reads these fields).

    The encoder itself is EncoderConfig's default: D 64, 2 pre-LN layers, 4 heads, FFN 128.
    """

    steps: int  # optimiser steps per positions setting (none, sinusoidal, learned, rotary) on "previous"
    reverse_steps: int  # optimiser steps per setting on "reverse" (0: skip the reversing contrast)
    eval_sequences: int  # held-out sequences per evaluated length
    length: int = 12  # training length (T)
    vocab: int = 16  # input tokens (V); the tagger adds a start symbol for position 0
    eval_lengths: tuple[int, ...] = (12, 16, 24)  # lengths tested after training on `length`
    batch_size: int = 64  # sequences per optimiser step
    learning_rate: float = 2e-3  # Adam's step size after warm-up
    warmup: int = 100  # steps of linear learning-rate warm-up


@dataclass(frozen=True)
class TransformerSizes:
    """Unit 05's sizes: the toy task, the Transformer and its training recipe, the experiments around it.

    seq2bert.experiments.transformer reads these fields. The model fields default to issue 8's
    calibration (D 128, 4 heads, 2 + 2 pre-LN layers, FFN 256, Adam(0.9, 0.98, 1e-9), peak lr
    2e-3 after 200 warm-up steps, inverse-square-root decay, clipping 1.0, dropout 0.1, batch 64,
    label smoothing 0.1).
    """

    toy_train: int  # training pairs for the toy translation task
    eval_pairs: int  # held-out pairs for every reported metric (the same pairs for every model)
    max_words: int  # longest toy source sentence (fast mode trains and tests on shorter ones: cheaper steps)
    steps: int  # optimiser steps of the main Transformer
    rnn_steps: int  # optimiser steps of unit 02's attention RNN in the quality-against-seconds race (0: skip)
    plain_steps: int  # optimiser steps of unit 01's RNN on the same pairs (0: skip)
    checkpoint_every: int  # steps between two quality checkpoints of the race
    checkpoint_pairs: int  # held-out pairs decoded at each checkpoint (the first ones of the test set)
    beam_pairs: int  # held-out pairs decoded by beam search as well as greedily (0: skip beam search)
    ablation_steps: int  # optimiser steps of each ablation model: no positions, 1 head, post-LN (0: skip)
    warmup_steps: int  # optimiser steps of each model in the warm-up experiment (0: skip)
    why_steps: int  # optimiser steps of the model with N(0, 1) x sqrt(D) embeddings (0: skip)
    width: int = 128  # model width (D)
    heads: int = 4  # attention heads (H)
    layers: int = 2  # encoder layers, and as many decoder layers
    ffn: int = 256  # hidden width of the position-wise feed-forward network (F)
    dropout: float = 0.1  # dropout on embeddings and every residual branch
    batch_size: int = 64  # pairs per optimiser step
    peak_learning_rate: float = 2e-3  # learning rate at the end of the warm-up
    warmup: int = 200  # steps of linear warm-up before the inverse-square-root decay
    warmup_experiment_peak: float = 1e-2  # peak learning rate of the warm-up experiment's four runs
    betas: tuple[float, float] = (0.9, 0.98)  # Adam's moment decay rates (Vaswani et al. 2017)
    eps: float = 1e-9  # Adam's epsilon (Vaswani et al. 2017)
    clip: float = 1.0  # largest gradient norm
    label_smoothing: float = 0.1  # probability mass spread over the vocabulary in the loss
    beam_size: int = 4  # hypotheses kept by beam search (K)
    length_penalty: float = 0.6  # beam search's alpha (Wu et al. 2016)
    rnn_learning_rate: float = 4e-3  # Adam step size of the RNN baselines (unit 02's full mode)


def _is_frozen_dataclass(value: Any) -> bool:
    return is_dataclass(value) and not isinstance(value, type) and value.__dataclass_params__.frozen


@dataclass(frozen=True)
class ModeSizes:
    """A unit's sizes in fast mode (tests, CI) and full mode (learners): one dataclass, two instances."""

    fast: Any  # a frozen dataclass instance, e.g. Seq2SeqSizes
    full: Any  # the same dataclass with the learners' values

    def __post_init__(self) -> None:
        for mode in ("fast", "full"):
            if not _is_frozen_dataclass(getattr(self, mode)):
                raise TypeError(f"{mode} sizes must be a frozen dataclass instance, got {getattr(self, mode)!r}")
        if type(self.fast) is not type(self.full):
            raise TypeError(f"fast and full sizes must be the same dataclass, got "
                            f"{type(self.fast).__name__} and {type(self.full).__name__}")

    def pick(self, fast: bool) -> Any:
        return self.fast if fast else self.full


def sizes(unit: str | int, fast: bool | None = None) -> Any:
    """The sizes dataclass of `unit` ("01", "02", ...) in fast or full mode (default: from the env)."""
    # Imported here because the catalogue imports this module for the size dataclasses.
    from seq2bert.units import get_unit

    return get_unit(unit).sizes.pick(fast_mode() if fast is None else fast)


def quiet() -> bool:
    """Progress bars stay quiet in fast mode and on CI; learners in full mode see them."""
    return fast_mode() or bool(os.environ.get("CI"))


# Small recurrent models on a CPU: one thread per process is 2-3x faster than two here
# (measured: attention step 0.08 s vs 0.16 s at batch 64), because thread hand-offs cost more
# than these small matrix products gain. It also lets two notebooks run side by side.
CPU_THREADS = 1
