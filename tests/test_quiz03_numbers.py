"""Quiz 03's numeric and short answers, recomputed with the course's own attention code."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seq2bert.quiz import load_quiz, score_answer
from seq2bert.torch.attention import online_softmax_update, scaled_dot_product_attention

QUERY = torch.tensor([[1.0, 0.0, 1.0, 0.0]])  # worked example, /work/briefs/worked03.md
KEYS = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
VALUES = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])


@pytest.fixture(scope="module")
def quiz():
    return load_quiz("03")


def test_worked_example_with_key_2_as_padding(quiz):
    output, weights = scaled_dot_product_attention(QUERY, KEYS, VALUES, mask=torch.tensor([[True, False, True]]))
    question = quiz.question("worked_example_padding")
    assert question.answer == pytest.approx(float(output[0, 1]), abs=5e-5)
    assert weights[0, 1] == 0 and float(output[0, 0]) == pytest.approx(1.0)
    assert score_answer(question, round(float(output[0, 1]), 3)) == 1
    # The unmasked answer (key 3 padded instead, the lesson's case) is not accepted.
    lesson_case, _ = scaled_dot_product_attention(QUERY, KEYS, VALUES, mask=torch.tensor([[True, True, False]]))
    assert score_answer(question, round(float(lesson_case[0, 1]), 3)) == 0


def test_spread_of_the_dot_product(quiz):
    assert quiz.question("dot_product_spread").answer == math.sqrt(256)
    draws = np.random.default_rng(0).standard_normal((2, 20000, 256))
    assert (draws[0] * draws[1]).sum(axis=-1).std() == pytest.approx(16, rel=0.03)


def test_online_softmax_sum_after_the_second_block(quiz):
    state = (torch.tensor([-math.inf]), torch.zeros(1), torch.zeros(1, 1))
    state = online_softmax_update(*state, torch.tensor([[1.0, 0.0]]), torch.ones(2, 1))
    assert float(state[1][0]) == pytest.approx(1 + math.exp(-1))  # the prompt's l = 1.3679
    state = online_softmax_update(*state, torch.tensor([[2.0]]), torch.ones(1, 1))
    question = quiz.question("online_softmax_sum")
    assert question.answer == pytest.approx(float(state[1][0]), abs=5e-5)
    # Forgetting the rescaling (l + 1) is wrong by more than the tolerance.
    assert score_answer(question, 1 + math.exp(-1) + 1) == 0


def test_score_matrix_memory(quiz):
    assert quiz.question("score_matrix_memory").answer == 8 * 8 * 2048 * 2048 * 4 / 2 ** 20


@pytest.mark.parametrize("answer, points", [("exp(m_old - m_new)", 1), ("e^(m_old - m_new)", 1),
                                            ("1/exp(m_new - m_old)", 1), ("exp(m_new - m_old)", 0),
                                            ("exp(m_old) - exp(m_new)", 0)])
def test_rescale_factor_accepts_the_factor_only(quiz, answer, points):
    assert score_answer(quiz.question("rescale_factor"), answer) == points
