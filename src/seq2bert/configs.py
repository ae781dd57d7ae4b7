"""Model configurations shared by the PyTorch and TensorFlow twins (same fields, same names).

Shape letters: B batch, S source length, T target length, D model width, H heads, Dh head
width, V vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass

SCORES = ("additive", "scaled_dot")  # Seq2SeqConfig.score: how the decoder scores encoder states


@dataclass(frozen=True)
class Seq2SeqConfig:
    """An RNN encoder–decoder, with or without Bahdanau attention."""

    src_vocab: int  # source vocabulary size
    tgt_vocab: int  # target vocabulary size (V)
    embed: int = 64  # token embedding width (E)
    hidden: int = 128  # GRU state width (D, the model width), for encoder and decoder
    attention: bool = True  # Bahdanau attention (unit 02) or a plain encoder–decoder (unit 01)
    attention_width: int = 0  # width A of the attention scorer; 0 means "same as hidden" (D)
    bidirectional: bool = False  # encoder reads the source both ways (Bahdanau et al. 2015, sec. 3.2)
    score: str = "additive"  # "additive" (Bahdanau, unit 02) or "scaled_dot" (Vaswani et al. 2017, unit 03)

    def __post_init__(self) -> None:
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(map(repr, SCORES))}, got {self.score!r}")

    @property
    def attention_dim(self) -> int:
        return self.attention_width or self.hidden

    @property
    def memory_width(self) -> int:
        """Width Dm of each encoder state h_j: 2D with a bidirectional encoder ([forward; backward]), else D."""
        return 2 * self.hidden if self.bidirectional else self.hidden
