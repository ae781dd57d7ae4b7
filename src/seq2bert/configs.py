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


# --- Unit 04: a small Transformer encoder (kept apart from Seq2SeqConfig, which unit 03 extends) ---

POSITIONS = ("none", "sinusoidal", "learned", "rotary")


@dataclass(frozen=True)
class EncoderConfig:
    """A stack of pre-LN self-attention layers over a token sequence (unit 04; reused by unit 05)."""

    vocab: int  # token vocabulary size (V), inputs and per-position outputs alike
    width: int = 64  # model width (D)
    heads: int = 4  # attention heads (H); each has width Dh = D / H
    layers: int = 2  # encoder layers
    ffn: int = 128  # hidden width of the position-wise feed-forward network
    positions: str = "sinusoidal"  # "none" | "sinusoidal" | "learned" | "rotary"
    max_length: int = 64  # longest sequence (the learned positions' table size)
    dropout: float = 0.0  # dropout on embeddings and residual branches while training

    def __post_init__(self) -> None:
        if self.positions not in POSITIONS:
            raise ValueError(f"positions must be one of {', '.join(map(repr, POSITIONS))}, not {self.positions!r}")
        for name in ("vocab", "width", "heads", "layers", "ffn", "max_length"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, not {getattr(self, name)!r}")
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not divisible by {self.heads} heads")
        if self.positions == "rotary" and self.head_width % 2:
            raise ValueError(f"rotary positions need an even head width, not {self.head_width}")
        if self.positions == "sinusoidal" and self.width % 2:
            raise ValueError(f"sinusoidal positions need an even width, not {self.width}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout}")

    @property
    def head_width(self) -> int:
        """Dh = D / H."""
        return self.width // self.heads
