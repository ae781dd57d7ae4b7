"""Exercises on positional information: sinusoidal_encoding and apply_rope (unit 04).

Contract (seq2bert.{torch,tf}.positional): sinusoidal_encoding(length, width) is the (T, D)
float32 table PE[p, 2i] = sin(p / 10000^(2i/D)), PE[p, 2i+1] = cos(p / 10000^(2i/D)), positions
p = 0 .. T-1. apply_rope(x, positions) rotates each interleaved pair (x[2i], x[2i+1]) of
x (..., T, Dh) at position p by the angle p * 10000^(-2i/Dh), counter-clockwise; positions
None means 0 .. T-1. Positions stay small (< 64) so float32 angles are exact enough for 1e-5.
Shape legend: T sequence length, D model width, Dh head width.
"""
from __future__ import annotations

import numpy as np

from seq2bert.check.references import references
from seq2bert.check.registry import register
from seq2bert.check.spec import Case, Exercise, Mistake, Output

BASE = 10000.0

# ---------------------------------------------------------------- sinusoidal_encoding


def _sinusoid_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, length, width):
        return Case(label, {"length": length, "width": width})

    return [
        case("a small table", 6, 8),
        case("one position (T = 1)", 1, 4),
        case("one pair (D = 2)", 10, 2),
        case("longer than wide", 50, 16),
        case("wider than long", 3, 32),
    ]


def _table(length, width, *, first=0, exponent=lambda i, width: 2 * i / width, even=np.sin, odd=np.cos):
    """PE with each part swappable: the first position, the exponent of pair i, the functions."""
    positions = np.arange(first, first + length, dtype=np.float64)[:, None]  # (T, 1)
    pairs = np.arange(width // 2)  # i = 0 .. D/2 - 1
    angles = positions / BASE ** exponent(pairs, width)  # (T, 1) / (D/2,) -> (T, D/2)
    table = np.empty((length, width))
    table[:, 0::2], table[:, 1::2] = even(angles), odd(angles)
    return table


def _sinusoidal_encoding(length, width):
    return _table(length, width)


def _per_column_frequency(length, width):
    """Column k uses 10000^(k/D): the cos at 2i+1 gets the next frequency, not its sin's."""
    positions = np.arange(length, dtype=np.float64)[:, None]
    angles = positions / BASE ** (np.arange(width) / width)  # (T, D)
    table = np.empty((length, width))
    table[:, 0::2], table[:, 1::2] = np.sin(angles[:, 0::2]), np.cos(angles[:, 1::2])
    return table


def _halves(length, width):
    angles = np.arange(length, dtype=np.float64)[:, None] / BASE ** (2 * np.arange(width // 2) / width)
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)  # [sin | cos] halves


SINUSOIDAL_ENCODING = Exercise(
    name="sinusoidal_encoding",
    references=references("sinusoidal_encoding", module="positional"),
    unit="04",
    outputs=(Output("the encoding has", "float"),),
    make_cases=_sinusoid_cases,
    reference=_sinusoidal_encoding,
    mistakes=(
        Mistake("sin_cos_swapped", lambda length, width: _table(length, width, even=np.cos, odd=np.sin),
                "sin and cos are swapped: the even columns 2i hold the sine, the odd columns 2i+1 the cosine"),
        Mistake("exponent_i_over_d", lambda length, width: _table(length, width, exponent=lambda i, w: i / w),
                "the frequencies are off: pair i divides p by 10000^(2i/D), where 2i is the even column's "
                "index; you used 10000^(i/D)"),
        Mistake("frequency_per_column", _per_column_frequency,
                "the cosine at column 2i+1 must use the SAME angle p / 10000^(2i/D) as the sine at column "
                "2i (one frequency per pair); you gave it the next frequency, 10000^((2i+1)/D)"),
        Mistake("halves", _halves,
                "you put all the sines in the first half and all the cosines in the second: interleave "
                "them, sine at column 2i and cosine at column 2i+1 (stack on a new last axis, then reshape)"),
        Mistake("positions_from_1", lambda length, width: _table(length, width, first=1),
                "positions start at 0: the first row must be sin(0) = 0, cos(0) = 1 (use arange(length), "
                "not 1 .. length)"),
        Mistake("multiplied", lambda length, width: _table(length, width, exponent=lambda i, w: -2 * i / w),
                "divide the position by 10000^(2i/D) (the wavelengths grow with i); you multiplied by it"),
        Mistake("transposed", lambda length, width: _table(length, width).T,
                "rows are positions and columns features: the table is (length, width)"),
    ),
)

# ---------------------------------------------------------------- apply_rope


def _rope_cases(rng: np.random.Generator) -> list[Case]:
    def case(label, shape, positions):
        x = rng.normal(size=shape).astype(np.float32)
        return Case(label, {"x": x, "positions": None if positions is None else np.asarray(positions, np.int64)})

    return [
        case("positions given", (2, 5, 8), [0, 1, 2, 3, 4]),
        case("positions in any order, repeated", (2, 6, 6), [7, 0, 3, 3, 12, 1]),
        case("positions None: 0 .. T-1", (3, 4, 4), None),
        case("with a head axis (B, H, T, Dh)", (2, 3, 4, 8), [5, 9, 2, 11]),
        case("one pair (Dh = 2)", (2, 7, 2), [1, 2, 3, 4, 5, 6, 7]),
        case("one position (T = 1)", (2, 1, 6), [9]),
    ]


def _rope(x, positions, *, sign=1.0, exponent=lambda i, width: 2 * i / width, ignore_positions=False, first=0,
          layout="interleaved"):
    """Rotary embedding with each part swappable (the known mistakes below)."""
    x = np.asarray(x, dtype=np.float64)
    length, width = x.shape[-2], x.shape[-1]
    if positions is None or ignore_positions:
        positions = np.arange(first, first + length)
    angles = sign * np.asarray(positions, np.float64)[:, None] * BASE ** -exponent(np.arange(width // 2), width)
    cos, sin = np.cos(angles), np.sin(angles)  # (T, Dh/2)
    if layout == "half":  # pairs (x[i], x[i + Dh/2])
        first_half, second_half = x[..., : width // 2], x[..., width // 2:]
        return np.concatenate([first_half * cos - second_half * sin, first_half * sin + second_half * cos], -1)
    even, odd = x[..., 0::2], x[..., 1::2]
    rotated = np.stack([even * cos - odd * sin, even * sin + odd * cos], axis=-1)  # (..., T, Dh/2, 2)
    if layout == "concatenated":
        return np.concatenate([rotated[..., 0], rotated[..., 1]], -1)  # [rotated evens | rotated odds]
    return rotated.reshape(x.shape)


APPLY_ROPE = Exercise(
    name="apply_rope",
    references=references("apply_rope", module="positional"),
    unit="04",
    outputs=(Output("the rotated vectors have", "float"),),
    grad_arg="x",
    make_cases=_rope_cases,
    reference=_rope,
    mistakes=(
        Mistake("negative_angle", lambda x, positions: _rope(x, positions, sign=-1.0),
                "you rotated by minus the angle: the pair (a, b) becomes (a cos - b sin, a sin + b cos)"),
        Mistake("half_split", lambda x, positions: _rope(x, positions, layout="half"),
                "you paired x[i] with x[i + Dh/2] (the 'rotate half' layout): here the pairs are neighbours, "
                "(x[2i], x[2i+1]), i.e. x[..., 0::2] and x[..., 1::2]"),
        Mistake("not_interleaved_back", lambda x, positions: _rope(x, positions, layout="concatenated"),
                "the rotated pairs are right but not put back in place: rotated x[2i] goes to column 2i and "
                "rotated x[2i+1] to column 2i+1 (stack them on a new last axis, then reshape), not the "
                "evens followed by the odds"),
        Mistake("exponent_i_over_dh", lambda x, positions: _rope(x, positions, exponent=lambda i, w: i / w),
                "the angles are off: pair i turns by p * 10000^(-2i/Dh), where 2i is the pair's first "
                "column; you used 10000^(-i/Dh)"),
        Mistake("positions_ignored", lambda x, positions: _rope(x, positions, ignore_positions=True),
                "use the `positions` argument when it is given (rows may be at any positions); 0 .. T-1 is "
                "only the default for positions=None"),
        Mistake("positions_from_1", lambda x, positions: _rope(x, positions, first=1) if positions is None
                else _rope(x, positions),
                "with positions=None the positions are 0 .. T-1: the first row is not rotated at all"),
    ),
)


register(SINUSOIDAL_ENCODING, APPLY_ROPE)
