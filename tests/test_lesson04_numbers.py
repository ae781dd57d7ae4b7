"""Every number of lesson 04's worked examples, recomputed, must appear in the lesson as printed.

Quiz 04's answers and explanations must agree with the same recomputed values.
(Carried over from /work/briefs/worked04_check.py.)
"""
from __future__ import annotations

import itertools
import math
from collections import Counter

import numpy as np
import pytest

from seq2bert.quiz import load_quiz, score_answer
from seq2bert.units import course_root, get_unit


def lesson_text(unit: str) -> str:
    return get_unit(unit).lesson(course_root()).read_text(encoding="utf-8")


def flat(text: str) -> str:
    """Text with every run of whitespace collapsed to one space, so line breaks do not matter.

    The typographic minus is read as an ASCII one, so "−0.5" and "-0.5" compare equal.
    """
    return " ".join(text.split()).replace("−", "-")


def f4(value: float) -> str:
    return f"{value:.4f}"


def vec(values) -> str:
    return "[" + ", ".join(f4(x) for x in values) + "]"


def softmax(scores: np.ndarray) -> np.ndarray:
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.fixture(scope="module")
def lesson() -> str:
    return flat(lesson_text("04"))


@pytest.fixture(scope="module")
def quiz():
    return load_quiz("04")


def assert_printed(lesson: str, *snippets: str) -> None:
    for snippet in snippets:
        assert snippet.replace("−", "-") in lesson, f"lesson 04 does not print {snippet!r}"


# ---------------------------------------------------------------- A. multi-head worked example

X = np.array([[1.0, 0, 0, 1], [0, 1, 0, 1], [1, 1, 1, 0]])
T, D, H = 3, 4, 2
DH = D // H


def split_heads(x: np.ndarray) -> np.ndarray:
    return x.reshape(T, H, DH).transpose(1, 0, 2)  # (T, D) -> (T, H, Dh) -> (H, T, Dh)


def multi_head(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weights (H, T, T), per-head outputs (H, T, Dh) and merged output (T, D), with Q = K = V = the heads of x."""
    heads = split_heads(x)
    weights = softmax(heads @ heads.transpose(0, 2, 1) / math.sqrt(DH))
    outputs = weights @ heads
    return weights, outputs, outputs.transpose(1, 0, 2).reshape(T, D)  # (H, T, Dh) -> (T, H, Dh) -> (T, D)


HEADS = split_heads(X)
DOTS = HEADS @ HEADS.transpose(0, 2, 1)  # (H, T, Dh) @ (H, Dh, T) -> (H, T, T)
A, O, Y = multi_head(X)
WRONG = O.reshape(T, D)  # merging without the transpose
A1 = softmax(X @ X.T / 2)  # one head of width 4


def test_multi_head_split_and_scores(lesson):
    assert_printed(lesson, "X = [[1, 0, 0, 1], token 1 [0, 1, 0, 1], token 2 [1, 1, 1, 0]] token 3")
    for t in range(T):
        assert_printed(lesson, f"| {t+1} | [{HEADS[0, t, 0]:g}, {HEADS[0, t, 1]:g}] | [{HEADS[1, t, 0]:g}, {HEADS[1, t, 1]:g}] |")
    assert_printed(lesson, f"are {DOTS[0].astype(int).tolist()} in head 1 and {DOTS[1].astype(int).tolist()} in head 2")


def test_multi_head_weights_outputs_and_merge(lesson):
    for t in range(T):
        assert_printed(lesson, f"| token {t+1} | {vec(A[0, t])} | {vec(A[1, t])} |")
    e = math.exp(1 / math.sqrt(2))
    assert_printed(lesson, f"exp = [{f4(e)}, 1, {f4(e)}], sum {f4(2 * e + 1)}")
    assert_printed(lesson,
                   "head 1 [" + ", ".join(vec(r) for r in O[0]) + "]",
                   "head 2 [" + ", ".join(vec(r) for r in O[1]) + "]",
                   "Y = [" + ", ".join(vec(r) for r in Y) + "]",
                   f"rows come out as {vec(WRONG[0])}, {vec(WRONG[1])}",
                   f"weights {vec(A1[0])}: one compromise")


def test_multi_head_permutation_equivariance(lesson):
    P = np.eye(3)[[2, 0, 1]]
    _, _, Yp = multi_head(P @ X)
    assert np.allclose(Yp, P @ Y)
    assert_printed(lesson, "come out as " + ", ".join(vec(r) for r in Yp) + ": the same three rows")


def test_multi_head_parameter_counts(lesson):
    assert_printed(lesson, f"D = 4: {4*16+16} D = 64: {4*64*64+4*64}")


# ---------------------------------------------------------------- B. sinusoidal encoding

def pe(p: float, d: int = 4) -> np.ndarray:
    w = 10000.0 ** (-2 * np.arange(d // 2) / d)
    out = np.empty(d)
    out[0::2], out[1::2] = np.sin(p * w), np.cos(p * w)
    return out


def shift_matrix() -> np.ndarray:
    """M_1 for D = 4: PE(p) M_1 = PE(p + 1)."""
    m = np.zeros((4, 4))
    for i, w in enumerate([1, 0.01]):
        m[2*i:2*i+2, 2*i:2*i+2] = [[math.cos(w), -math.sin(w)], [math.sin(w), math.cos(w)]]
    return m


def test_sinusoidal_table_and_shift_matrix(lesson):
    for p in range(4):
        row = "[" + ", ".join("0" if p == 0 and x == 0 else ("1" if p == 0 else f4(x)) for x in pe(p)) + "]"
        assert_printed(lesson, f"| {p} | {row} |")
    m1 = shift_matrix()
    for p in range(10):
        assert np.allclose(pe(p) @ m1, pe(p + 1))
    assert_printed(lesson,
                   f"M_1 = [[{f4(m1[0,0])}, {f4(m1[0,1])}, 0, 0 ], [{f4(m1[1,0])}, {f4(m1[1,1])}, 0, 0 ], "
                   f"[0, 0, {f4(m1[2,2])}, {f4(m1[2,3])}], [0, 0, {f4(m1[3,2])}, {f4(m1[3,3])}]]",
                   f"PE(2) M_1 = {vec(pe(2) @ m1)} = PE(3)")


def test_sinusoidal_dot_products(lesson):
    assert abs(pe(0) @ pe(2) - pe(5) @ pe(7)) < 1e-12
    assert_printed(lesson, f"= cos 2 + cos 0.02 = **{f4(pe(0) @ pe(2))}**", f"PE(0)·PE(1) = {f4(pe(0) @ pe(1))}")
    p64 = np.array([pe(p, 64) for p in range(30)])
    assert_printed(lesson, "p = 10: " + ", ".join(f4(p64[10] @ p64[10 + k]) for k in range(4)) + " for offsets 0–3")
    assert np.allclose([p64[10] @ p64[10 + k] for k in range(6)], [p64[20] @ p64[20 + k] for k in range(6)])
    assert_printed(lesson,
                   f"(for D = 64: 2π·{round(10000 ** (62 / 64))} ≈ {round(2 * math.pi * 10000 ** (62 / 64))} positions)",
                   f"√(D/2), {math.sqrt(32):.2f} for D = 64")


# ---------------------------------------------------------------- C. RoPE

def rot(x: np.ndarray, p: float, base: float = 10000.0) -> np.ndarray:
    dh = len(x)
    angle = p * base ** (-2 * np.arange(dh // 2) / dh)
    out = np.empty(dh)
    out[0::2] = x[0::2] * np.cos(angle) - x[1::2] * np.sin(angle)
    out[1::2] = x[0::2] * np.sin(angle) + x[1::2] * np.cos(angle)
    return out


Q_VEC = np.array([1.0, 0, 1, 0])
K_VEC = np.array([1.0, 1, 0, 1])


def test_rope_table(lesson):
    for p, s in [(2, 5), (7, 10), (4, 5), (10, 11), (5, 2)]:
        assert_printed(lesson, f"| {p} | {s} | {vec(rot(Q_VEC, p))} | {vec(rot(K_VEC, s))} | {f4(rot(Q_VEC, p) @ rot(K_VEC, s))} |")
        assert abs(rot(Q_VEC, p) @ rot(K_VEC, s) - Q_VEC @ rot(K_VEC, s - p)) < 1e-12
    assert_printed(lesson,
                   f"| 0 | 3 | [1, 0, 1, 0] | {vec(rot(K_VEC, 3))} | {f4(Q_VEC @ rot(K_VEC, 3))} |",
                   f"|R_2 q| = |q| = {f4(np.linalg.norm(rot(Q_VEC, 2)))}")


def test_rope_frequencies_and_near_wraparound(lesson):
    th16 = 10000.0 ** (-2 * np.arange(8) / 16)
    assert_printed(lesson, f"turn by 1 and {f4(th16[1])} radians per position "
                           f"(wavelengths {2 * math.pi:.1f} and {2 * math.pi / th16[1]:.1f} positions)")

    def dist(d):
        return np.abs(((d + 1) * th16 + np.pi) % (2 * np.pi) - np.pi)

    assert dist(-20)[0] < 0.16 and dist(18)[0] < 0.16 and dist(-20)[1] < 0.28 and dist(18)[1] < 0.28
    assert_printed(lesson, "within 0.15 and 0.27 radians")


# ---------------------------------------------------------------- D. position-blind ceiling

def ceiling(seq) -> float:
    """Best token accuracy of a position-blind predictor of the previous token, by the lesson's formula."""
    bag = Counter(seq)
    n_tokens = len(seq)
    return sum(n * max([1] + [m for t, m in bag.items() if t != a] + [n - 1]) for a, n in bag.items()) / n_tokens ** 2


def brute(seq) -> float:
    """The same ceiling by enumerating every arrangement and every token -> guess map."""
    arrangements = sorted(set(itertools.permutations(seq)))
    toks = sorted(set(seq))
    return max(np.mean([np.mean([f[x] == y for x, y in zip(a, ("<s>",) + a[:-1])]) for a in arrangements])
               for f in (dict(zip(toks, c)) for c in itertools.product(toks + ["<s>"], repeat=len(toks))))


def test_position_blind_ceiling_formula_matches_brute_force(lesson):
    assert abs(ceiling("cabaad") - brute("cabaad")) < 1e-12 and abs(ceiling("cabbad") - brute("cabbad")) < 1e-12
    assert_printed(lesson, f"15/36 = **{f4(ceiling('cabaad'))}**", "(6!/3! = 120 of them)")
    assert math.factorial(6) // 6 == 120


def test_position_blind_ceiling_on_random_sequences(lesson):
    rng = np.random.default_rng(0)
    mc = np.mean([ceiling(rng.integers(0, 16, 12).tolist()) for _ in range(20000)])
    assert abs(mc - 0.204) < 0.003, mc
    assert_printed(lesson, "about 0.204")


# ---------------------------------------------------------------- quiz 04

def test_quiz_single_head_weight(quiz):
    question = quiz.question("single_head_weight")
    assert score_answer(question, float(A1[2, 2])) == 1 and score_answer(question, float(A[0, 2, 2])) == 0
    assert f4(A1[2, 2]) in question.explanation and f4(A[0, 2, 2]) in question.explanation


def test_quiz_ceiling_toy(quiz):
    question = quiz.question("ceiling_toy")
    assert score_answer(question, ceiling("cabbad")) == 1 and score_answer(question, ceiling("cabaad")) == 0


def test_quiz_sinusoidal_dot(quiz):
    assert score_answer(quiz.question("sinusoidal_dot"), float(pe(10) @ pe(13))) == 1


def test_quiz_rope_score_and_facts(quiz):
    question = quiz.question("rope_score")
    assert score_answer(question, float(rot(Q_VEC, 20) @ rot(K_VEC, 23))) == 1
    assert score_answer(question, float(Q_VEC @ rot(K_VEC, -3))) == 0
    assert f4(Q_VEC @ rot(K_VEC, -3)) in quiz.question("rope_facts").explanation.replace("−", "-")


def test_quiz_mha_params(quiz):
    assert quiz.question("mha_params").answer == 4 * 64 * 64 + 4 * 64


def test_quiz_merge_without_transpose_explanation(quiz):
    explanation = quiz.question("merge_without_transpose").explanation
    assert vec(WRONG[0]) in explanation and vec(Y[0]) in explanation


@pytest.mark.parametrize("answer, points", [("Permutation equivariance", 1), ("permutation-equivariant", 1),
                                            ("permutation  equivariance", 1), ("permutation invariance", 0),
                                            ("equivariance", 0)])
def test_quiz_equivariance_name(quiz, answer, points):
    assert score_answer(quiz.question("equivariance_name"), answer) == points
