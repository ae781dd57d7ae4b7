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
NORMS = ("pre", "post")  # where LayerNorm sits: x + f(LN(x)) (pre) or LN(x + f(x)) (post, the paper)
ACTIVATIONS = ("relu", "gelu")  # the feed-forward network's nonlinearity


def _check_choice(name: str, value: str, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}, not {value!r}")


def _check_sizes(config, names: tuple) -> None:
    """Shared checks of a Transformer-style config: positive sizes, heads divide width, dropout in [0, 1)."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, not {value!r}")
    if config.width % config.heads:
        raise ValueError(f"width {config.width} is not divisible by {config.heads} heads")
    if config.positions == "sinusoidal" and config.width % 2:
        raise ValueError(f"sinusoidal positions need an even width, not {config.width}")
    if isinstance(config.dropout, bool) or not isinstance(config.dropout, (int, float)) \
            or not 0.0 <= config.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), not {config.dropout!r}")


@dataclass(frozen=True)
class EncoderConfig:
    """A stack of self-attention layers over a token sequence (unit 04; reused by units 05-07)."""

    vocab: int  # token vocabulary size (V), inputs and per-position outputs alike
    width: int = 64  # model width (D)
    heads: int = 4  # attention heads (H); each has width Dh = D / H
    layers: int = 2  # encoder layers
    ffn: int = 128  # hidden width of the position-wise feed-forward network
    positions: str = "sinusoidal"  # "none" | "sinusoidal" | "learned" | "rotary"
    max_length: int = 64  # longest sequence (the learned positions' table size)
    dropout: float = 0.0  # dropout on embeddings and residual branches while training
    norm: str = "pre"  # "pre": x + f(LN(x)) and a final LN; "post": LN(x + f(x)), no final LN (the paper)
    activation: str = "relu"  # the feed-forward nonlinearity: "relu" (the paper) or "gelu" (BERT)

    def __post_init__(self) -> None:
        _check_choice("positions", self.positions, POSITIONS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_sizes(self, ("vocab", "width", "heads", "layers", "ffn", "max_length"))
        if self.positions == "rotary" and self.head_width % 2:
            raise ValueError(f"rotary positions need an even head width, not {self.head_width}")

    @property
    def head_width(self) -> int:
        """Dh = D / H."""
        return self.width // self.heads


# --- Unit 05: the encoder-decoder Transformer (its encoder is an EncoderConfig's) ---

TRANSFORMER_POSITIONS = ("none", "sinusoidal", "learned")  # rotary is not offered for the encoder-decoder


@dataclass(frozen=True)
class TransformerConfig:
    """An encoder-decoder Transformer (Vaswani et al. 2017) for translation."""

    src_vocab: int  # source vocabulary size
    tgt_vocab: int  # target vocabulary size (V)
    width: int = 128  # model width (D), encoder and decoder alike
    heads: int = 4  # attention heads (H) in every attention layer; Dh = D / H
    encoder_layers: int = 2  # encoder layers
    decoder_layers: int = 2  # decoder layers
    ffn: int = 256  # hidden width of the position-wise feed-forward network (F)
    positions: str = "sinusoidal"  # "none" | "sinusoidal" | "learned", added to both stacks' embeddings
    norm: str = "pre"  # "pre": x + f(LN(x)) and a final LN per stack; "post": LN(x + f(x)), no final LN (the paper)
    activation: str = "relu"  # the feed-forward nonlinearity: "relu" or "gelu"
    max_length: int = 64  # longest source and longest target (BOS/EOS included)
    dropout: float = 0.1  # on embeddings (after adding positions) and on every residual branch
    tie_embeddings: bool = True  # output projection reuses the target embedding matrix (plus its own bias)

    def __post_init__(self) -> None:
        if self.positions == "rotary":
            raise ValueError(f"positions must be one of {', '.join(map(repr, TRANSFORMER_POSITIONS))}, not "
                             "'rotary' (the encoder-decoder adds its positions to the embeddings)")
        _check_choice("positions", self.positions, TRANSFORMER_POSITIONS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_sizes(self, ("src_vocab", "tgt_vocab", "width", "heads", "encoder_layers", "decoder_layers",
                            "ffn", "max_length"))
        if not isinstance(self.tie_embeddings, bool):
            raise ValueError(f"tie_embeddings must be True or False, not {self.tie_embeddings!r}")

    @property
    def head_width(self) -> int:
        """Dh = D / H."""
        return self.width // self.heads

    def encoder_config(self) -> EncoderConfig:
        """The encoder's own config: the source vocabulary and every shared size."""
        return EncoderConfig(vocab=self.src_vocab, width=self.width, heads=self.heads, layers=self.encoder_layers,
                             ffn=self.ffn, positions=self.positions, max_length=self.max_length,
                             dropout=self.dropout, norm=self.norm, activation=self.activation)
