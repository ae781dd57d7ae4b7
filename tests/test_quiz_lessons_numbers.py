"""Every number of the lessons' worked examples, recomputed, must appear in the lesson as printed.

The quiz questions that reuse these examples must agree with the recomputed values too.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

from seq2bert.metrics import token_accuracy
from seq2bert.quiz import load_quiz, score_answer
from seq2bert.units import UNITS, course_root, get_unit


def lesson_text(unit: str) -> str:
    return get_unit(unit).lesson(course_root()).read_text(encoding="utf-8")


def flat(text: str) -> str:
    """Text with every run of whitespace collapsed to one space, so line breaks do not matter."""
    return " ".join(text.split())


def f4(value: float) -> str:
    return f"{value:.4f}"


def gru_parameters(inputs: int, hidden: int) -> int:
    """The lesson's formula for one GRU layer with input width `inputs`."""
    return 3 * (inputs * hidden + hidden * hidden + 2 * hidden)


def count(module) -> int:
    return sum(p.numel() for p in module.parameters())


def torch_model(attention: bool, vocab: int = 40, embed: int = 64, hidden: int = 128, attention_width: int = 0):
    """The course's PyTorch Seq2Seq with the given sizes (the same vocabulary on both sides)."""
    import torch

    from seq2bert.configs import Seq2SeqConfig
    from seq2bert.torch.seq2seq import Seq2Seq

    torch.manual_seed(0)
    return Seq2Seq(Seq2SeqConfig(src_vocab=vocab, tgt_vocab=vocab, embed=embed, hidden=hidden,
                                 attention=attention, attention_width=attention_width))


def table_rows(text: str) -> dict[str, int]:
    """The `| part | formula | parameters |` rows of a lesson's parameter table."""
    return {name: int(value) for name, value in re.findall(r"^\| ([a-zA-Z ]+) \|[^|]*\| (\d+) \|$", text, flags=re.MULTILINE)}


# ---------------------------------------------------------------- unit 01

LOSS_P = np.array([[0.5, 0.25, 0.8, 0.9], [0.6, 0.3, 0.01, 0.01]])  # p of the correct token
LOSS_MASK = np.array([[True, True, True, True], [True, True, False, False]])


@pytest.mark.parametrize("inputs, hidden", [(4, 3), (7, 3), (64, 128), (32, 64), (96, 64), (192, 128)])
def test_gru_formula_matches_pytorch(inputs, hidden):
    import torch

    assert count(torch.nn.GRU(inputs, hidden, batch_first=True)) == gru_parameters(inputs, hidden)
    assert count(torch.nn.GRUCell(inputs, hidden)) == gru_parameters(inputs, hidden)


def test_lesson_layer_widths_match_the_code():
    """Unit 01's decoder GRU reads [embedding; c] (E + D) and predicts from D; unit 02's predicts from 2D."""
    embed, hidden = 64, 128
    plain, attending = torch_model(False).decoder, torch_model(True).decoder
    assert (plain.rnn.input_size, plain.rnn.hidden_size, plain.output_layer.in_features) == (embed + hidden, hidden, hidden)
    assert (attending.cell.input_size, attending.output_layer.in_features) == (embed + hidden, 2 * hidden)


def test_unit01_parameter_counts_are_printed_correctly():
    text = lesson_text("01")
    assert gru_parameters(4, 3) == 81 and "3 (12 + 9 + 6) = **81**" in text
    assert gru_parameters(4 + 3, 3) == 108 and "3 (21 + 9 + 6) = **108**" in text
    assert gru_parameters(64, 128) == 74496 and "3 · 24832 = **74496**" in text
    assert gru_parameters(64 + 128, 128) == 123648 and "3 · 41216 = **123648**" in text
    vocab, embed, hidden = 40, 64, 128
    parts = {
        "encoder embedding": vocab * embed,
        "encoder GRU": gru_parameters(embed, hidden),
        "decoder embedding": vocab * embed,
        "decoder GRU": gru_parameters(embed + hidden, hidden),
        "output layer": hidden * vocab + vocab,
    }
    rows = table_rows(text)
    assert rows == {**parts, "total": sum(parts.values())}
    extra = gru_parameters(embed + hidden, hidden) - gru_parameters(embed, hidden)
    assert extra == 3 * hidden * hidden and f"3·D·D = {extra} extra weights" in flat(text)
    # The table is the course's own model, part by part.
    model = torch_model(attention=False, vocab=vocab, embed=embed, hidden=hidden)
    modules = {"encoder embedding": model.encoder.embedding, "encoder GRU": model.encoder.rnn,
               "decoder embedding": model.decoder.embedding, "decoder GRU": model.decoder.rnn,
               "output layer": model.decoder.output_layer}
    assert {name: count(module) for name, module in modules.items()} == parts
    assert count(model) == rows["total"]


def test_unit01_masked_loss_example_is_printed_correctly():
    text = lesson_text("01")
    nll = -np.log(LOSS_P)
    for row in nll:
        assert " | ".join(f4(v) for v in row[:2]) in text
    assert " | ".join(f4(v) for v in nll[0]) in text
    masked_sum, real = nll[LOSS_MASK].sum(), LOSS_MASK.sum()
    assert real == 6
    assert f"= {f4(masked_sum)}, divided by N = 6 gives **L = {f4(masked_sum / real)}**" in text
    assert f"over all 8 positions: {f4(nll.mean())}" in text
    per_sentence = [nll[i][LOSS_MASK[i]].mean() for i in range(2)]
    assert f"({f4(per_sentence[0])} + {f4(per_sentence[1])}) / 2 = {f4(np.mean(per_sentence))}" in text
    # The claims around the numbers: unmasked is more than twice the masked loss.
    assert nll.mean() > 2 * masked_sum / real


def test_unit01_quiz_reuses_the_lesson_numbers():
    quiz = load_quiz("01")
    variant_mask = LOSS_MASK.copy()
    variant_mask[0, 3] = False
    variant = (-np.log(LOSS_P))[variant_mask].mean()
    question = quiz.question("masked_loss_by_hand")
    assert "0.5, 0.25, 0.8, 0.9" in question.prompt and "0.6, 0.3" in question.prompt
    assert score_answer(question, float(variant)) == 1 and abs(question.answer - variant) < 1e-4
    assert score_answer(question, float(-np.log(LOSS_P)[LOSS_MASK].mean())) == 0  # the lesson's own value
    assert quiz.question("gru_param_count").answer == gru_parameters(32, 64)


def test_unit01_quiz_matches_the_decoder_in_the_code():
    quiz = load_quiz("01")
    decoder = torch_model(attention=False, vocab=50, embed=32, hidden=64).decoder
    question = quiz.question("decoder_gru_params")
    assert question.answer == gru_parameters(32 + 64, 64) == count(decoder.rnn)
    assert score_answer(question, gru_parameters(32, 64)) == 0  # the decoder that reads only E
    extra = gru_parameters(32 + 64, 64) - gru_parameters(32, 64)
    assert f"adds 3·D·D = {extra} weights to the {gru_parameters(32, 64)}" in flat(question.explanation)


def test_unit01_final_state_shape_question_matches_the_encoder():
    import torch

    question = load_quiz("01").question("final_state_shape")
    encoder = torch_model(attention=False, vocab=50, embed=64, hidden=128).encoder
    src = torch.ones(8, 12, dtype=torch.long)
    outputs, final = encoder(src, torch.tensor([12, 5, 3, 12, 7, 1, 9, 4]))
    right = question.choices[question.choice_ids.index(question.answer)].text
    assert right == f"outputs {tuple(outputs.shape)} and h_enc {tuple(final.shape)}"


def test_unit01_measured_numbers_agree_between_lesson_and_quiz():
    """The fast-mode measurements of the decoder that reads c at every step are quoted the same way."""
    lesson, explanation = flat(lesson_text("01")), flat(load_quiz("01").question("c_at_every_step").explanation)
    for number in ("0.7–0.8", "0.45", "0.13–0.15", "4–10-word", "31–40-word"):
        assert number in lesson and number in explanation, number


def test_unit01_exact_match_falls_as_accuracy_to_the_power_length():
    """Lesson, quiz and explanation quote a^T correctly, and exact match is not offered as evidence."""
    lesson = flat(lesson_text("01"))
    assert f"0.997^10 ≈ {0.997 ** 10:.2f}" in lesson and f"0.997^40 ≈ {0.997 ** 40:.2f}" in lesson
    assert "token accuracy / BLEU\n  high |" in lesson_text("01") and "exact match / BLEU" not in lesson
    quiz = load_quiz("01")
    question = quiz.question("exact_match_by_length")
    assert "0.98" in question.prompt and "40 tokens" in question.prompt
    assert score_answer(question, 0.98 ** 40) == 1 and score_answer(question, 0.98) == 0
    assert score_answer(question, round(0.98 ** 40, 3)) == 1  # "Give 3 decimals" is accepted
    explanation = flat(question.explanation)
    assert f"0.98^40 = {0.98 ** 40:.3f}" in explanation and f"0.98^10 = {0.98 ** 10:.3f}" in explanation
    # A model that makes independent per-token errors loses exact match with length, as computed.
    rng = np.random.default_rng(0)
    right = rng.random((20000, 40)) < 0.98
    assert abs(right.all(axis=1).mean() - 0.98 ** 40) < 0.02
    evidence = quiz.question("bottleneck_evidence")
    texts = dict(zip(evidence.choice_ids, (choice.text for choice in evidence.choices)))
    exact = next(cid for cid, text in texts.items() if text.startswith("Exact match"))
    assert exact not in evidence.answer
    assert all("exact match" not in texts[cid].lower() for cid in evidence.answer)
    assert f"0.997^40 ≈ {0.997 ** 40:.2f}" in flat(evidence.explanation)


GREEDY_TABLE = {"A": (0.6, {"x": 0.55, "y": 0.45}), "B": (0.4, {"x": 0.9, "y": 0.1})}


def two_step_outputs():
    """Every two-token output of the quiz's decoder with its probability."""
    return {(first, second): p_first * p_second
            for first, (p_first, nexts) in GREEDY_TABLE.items() for second, p_second in nexts.items()}


def beam_search(width: int):
    beams = sorted(((p, (first,)) for first, (p, _) in GREEDY_TABLE.items()), reverse=True)[:width]
    grown = [(p * p_next, seq + (nxt,)) for p, seq in beams for nxt, p_next in GREEDY_TABLE[seq[0]][1].items()]
    return max(grown)


def test_unit01_greedy_versus_beam_question():
    question = load_quiz("01").question("greedy_vs_beam")
    prompt = flat(question.prompt)
    for first, (p_first, nexts) in GREEDY_TABLE.items():
        assert f"P({first}) = {p_first}" in prompt
        for nxt, p_next in nexts.items():
            assert f"P({nxt} | {first}) = {p_next}" in prompt
    greedy_first = max(GREEDY_TABLE, key=lambda w: GREEDY_TABLE[w][0])
    greedy_next = max(GREEDY_TABLE[greedy_first][1], key=GREEDY_TABLE[greedy_first][1].get)
    p_greedy = GREEDY_TABLE[greedy_first][0] * GREEDY_TABLE[greedy_first][1][greedy_next]
    p_beam, beam = beam_search(2)
    outputs = two_step_outputs()
    assert max(outputs.values()) == p_beam and beam != (greedy_first, greedy_next) and p_beam > p_greedy
    right = question.choices[question.choice_ids.index(question.answer)].text
    assert right == (f"Greedy: {greedy_first} {greedy_next} ({p_greedy:.2f}); "
                     f"beam search: {' '.join(beam)} ({p_beam:.2f}).")
    explanation = flat(question.explanation)
    assert f"= {p_greedy:.2f}" in explanation
    assert ", ".join(f"{' '.join(o)} {p:.2f}" for o, p in outputs.items()) in explanation


def test_unit01_token_accuracy_question():
    pairs = [("2021-05-03", "2021-03-05"), ("1999-12-31", "1999-12-31")]
    question = load_quiz("01").question("token_accuracy")
    for output, reference in pairs:
        assert f"`{output}` for the reference `{reference}`" in " ".join(question.prompt.split())
    same = sum(a == b for output, reference in pairs for a, b in zip(output, reference))
    total = sum(len(reference) for _, reference in pairs)
    assert question.answer == pytest.approx(same / total)
    assert token_accuracy([list(o) for o, _ in pairs], [list(r) for _, r in pairs]) == pytest.approx(question.answer)
    assert "0.9 token accuracy" in lesson_text("01")  # a date wrong in one digit: 9 of 10
    assert token_accuracy([list("2021-03-06")], [list("2021-03-05")]) == pytest.approx(0.9)


def test_unit01_teacher_forcing_table():
    text = lesson_text("01")
    target = list("2021-03-05")

    def row(label):
        line = next(line for line in text.splitlines() if line.startswith(f"| {label} |"))
        return [cell.strip().strip("`") for cell in line.strip("|").split("|")[1:]]

    assert row("step t") == [str(t) for t in range(1, len(target) + 2)]
    assert row("decoder input") == ["<bos>", *target]
    assert row("expected output") == [*target, "<eos>"]
    assert f"length T = {len(target) + 1} here" in text


# ---------------------------------------------------------------- unit 02

S_PREV = np.array([1.0, 0.0])
W_Q = np.array([[0.5, -0.5], [1.0, 0.0]])  # (D, A)
W_K = np.array([[1.0, 0.0], [0.0, -1.0]])  # (D, A)
V = np.array([2.0, 1.0])  # (A,)
ENC = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # (S, D)


def attend(mask: np.ndarray, v: np.ndarray = V):
    """One additive attention step exactly as the lesson writes it, returning every intermediate."""
    query = S_PREV @ W_Q  # (D,) @ (D, A) -> (A,)
    keys = ENC @ W_K  # (S, D) @ (D, A) -> (S, A)
    hidden = np.tanh(query[None, :] + keys)  # (S, A)
    scores = hidden @ v  # (S, A) @ (A,) -> (S,)
    exp = np.where(mask, np.exp(np.where(mask, scores, 0.0)), 0.0)
    alpha = exp / exp.sum()
    return query, keys, hidden, scores, exp, alpha, alpha @ ENC  # (S,) @ (S, D) -> (D,)


def test_unit02_inputs_are_the_ones_printed():
    text = lesson_text("02")
    assert "s_{i-1} = [1, 0]" in text and "v = [2, 1]" in text
    assert "W_q = [[0.5, -0.5]," in text and "[1.0,  0.0]]" in text
    assert "W_k = [[1,  0]," in text and "[0, -1]]" in text
    assert "h_1 = [1, 0]    h_2 = [0, 1]    h_3 = [1, 1]" in text


def test_unit02_worked_attention_step_is_printed_correctly():
    text = lesson_text("02")
    query, keys, hidden, scores, exp, alpha, context = attend(np.array([True, True, True]))
    assert query.tolist() == [0.5, -0.5] and "= [0.5, −0.5]" in text
    assert keys.tolist() == [[1, 0], [0, -1], [1, -1]]
    assert "k_1 = [1, 0], k_2 = [0, −1], k_3 = [1, −1]" in text
    for j in range(3):
        pre = (query + keys[j]).tolist()
        row = f"| {j + 1} | [{pre[0]:g}, {pre[1]:g}] | [{f4(hidden[j, 0])}, {f4(hidden[j, 1])}] |".replace("-", "−")
        assert row in text, row
        assert f"= {f4(scores[j])} |" in text
    assert f"exp(e) = [{', '.join(f4(x) for x in exp)}], their sum is {f4(exp.sum())}" in text
    assert f"**[{', '.join(f4(x) for x in alpha)}]**" in text
    assert f"**[{f4(context[0])}, {f4(context[1])}]**" in text
    assert abs(alpha.sum() - 1) < 1e-12 and alpha.argmax() == 0


def test_unit02_masked_step_is_printed_correctly():
    text = lesson_text("02")
    *_, exp, alpha, context = attend(np.array([True, True, False]))
    assert alpha[2] == 0 and abs(alpha.sum() - 1) < 1e-12
    assert f"/ ({f4(exp[0])} + {f4(exp[1])}) = **[{f4(alpha[0])}, {f4(alpha[1])}, 0]**" in text
    assert f"c_i = [{f4(context[0])}, {f4(context[1])}]" in text
    # The -inf of the equations and the -1e9 of the code give the same weights.
    scores = attend(np.array([True, True, True]))[3]
    masked = np.where([True, True, False], scores, -np.inf)
    assert np.allclose(np.exp(masked - masked.max()) / np.exp(masked - masked.max()).sum(), alpha)
    import torch

    from seq2bert.torch import ops

    weights = ops.masked_softmax(torch.tensor(scores, dtype=torch.float32)[None], torch.tensor([[True, True, False]]))
    assert weights[0, 2].item() == 0.0 and np.allclose(weights[0].numpy(), alpha, atol=1e-6)


def test_unit02_mask_constant_is_the_codes():
    import torch

    from seq2bert.torch import ops

    text = flat(lesson_text("02"))
    assert ops.MASK_VALUE == -1e9 and "−10⁹ (`ops.MASK_VALUE`)" in text
    assert "scores = where(mask, scores, -1e9)" in text and "where(mask, scores, -inf)" not in text
    # The quiz's reasons: -1e9 gives weight exactly 0 in float32, and an all-padding row stays
    # finite, where -inf gives NaN.
    scores = torch.tensor([[1.5, -0.3, 2.0]])
    assert ops.masked_softmax(scores, torch.tensor([[True, False, True]]))[0, 1].item() == 0.0
    none_real = torch.tensor([[False, False, False]])
    assert torch.isfinite(ops.masked_softmax(scores, none_real)).all()
    assert torch.isnan(torch.softmax(scores.masked_fill(~none_real, float("-inf")), dim=-1)).all()
    question = load_quiz("02").question("mask_constant")
    assert "exactly 0" in question.choices[question.choice_ids.index(question.answer)].text


def test_unit02_worked_step_is_the_codes_attention_layer():
    """The course's AdditiveAttention, given the example's weights, reproduces the printed step."""
    import torch

    from seq2bert.configs import Seq2SeqConfig
    from seq2bert.torch.seq2seq import AdditiveAttention

    layer = AdditiveAttention(Seq2SeqConfig(src_vocab=5, tgt_vocab=5, embed=2, hidden=2))
    with torch.no_grad():  # nn.Linear stores (out, in): the transpose of the lesson's (D, A)
        layer.w_q.weight.copy_(torch.tensor(W_Q.T))
        layer.w_k.weight.copy_(torch.tensor(W_K.T))
        layer.v.weight.copy_(torch.tensor(V[None]))
    values = torch.tensor(ENC, dtype=torch.float32)[None]  # (1, S, D)
    query = torch.tensor(S_PREV, dtype=torch.float32)[None]  # (1, D)
    for mask in ([True, True, True], [True, True, False]):
        context, weights = layer(query, layer.project_keys(values), values, torch.tensor([mask]))
        *_, alpha, expected = attend(np.array(mask))
        assert np.allclose(weights[0].detach().numpy(), alpha, atol=1e-6)
        assert np.allclose(context[0].detach().numpy(), expected, atol=1e-6)


def test_unit02_quiz_reuses_the_worked_example():
    quiz = load_quiz("02")
    scores = attend(np.array([True, True, True]))[3]
    question = quiz.question("masked_weight_by_hand")
    assert f"{f4(np.exp(scores[2]))} / ({f4(np.exp(scores[1]))} + {f4(np.exp(scores[2]))})" in flat(question.explanation)
    assert f"[{', '.join(f4(x) for x in scores)}]" in question.prompt
    alpha = attend(np.array([False, True, True]))[5]
    assert score_answer(question, float(alpha[2])) == 1
    assert score_answer(question, float(attend(np.array([True, True, True]))[5][2])) == 0
    # Doubling v: scores double, order kept, weights sharper.
    doubled = attend(np.array([True, True, True]), v=2 * V)
    sharper = quiz.question("sharper_v")
    assert f"[{', '.join(f4(x) for x in doubled[3])}]" in sharper.explanation
    assert f"[{', '.join(f'{x:.2f}' for x in doubled[5])}]" in sharper.explanation
    assert np.argsort(doubled[5]).tolist() == np.argsort(attend(np.array([True] * 3))[5]).tolist()
    assert doubled[5][0] > attend(np.array([True] * 3))[5][0]
    assert sharper.answer == "b"


def test_unit02_additive_attention_is_not_a_similarity():
    """The worked example's point: dot products pick position 3 (k_3 = 2q), additive attention position 1."""
    text = flat(lesson_text("02"))
    query, keys, hidden, scores, *_ = attend(np.array([True, True, True]))
    assert np.allclose(keys[2], 2 * query)
    dots = keys @ query  # (S, A) @ (A,) -> (S,)
    assert f"q·k_j = [{', '.join(f'{x:.1f}' for x in dots)}] would pick position 3" in text
    assert dots.argmax() == 2 and scores.argmax() == 0
    for value in (1.5, -1.5, -0.5):
        assert f"tanh({value:g}) = {f4(np.tanh(value))}".replace("-", "−") in text
    assert "beyond about ±2 a coordinate adds almost nothing more" in text and np.tanh(2) > 0.96
    question = load_quiz("02").question("additive_not_similarity")
    prompt, explanation = flat(question.prompt), flat(question.explanation)
    assert "q = [0.5, −0.5]" in prompt and "k_3 = [1, −1] = 2q" in prompt and "v = [2, 1]" in prompt
    assert f"tanh(1.5) = {f4(np.tanh(1.5))}" in explanation and f"tanh(−1.5) = −{f4(np.tanh(1.5))}" in explanation
    assert f"Scores {f4(scores[0])} and {f4(scores[2])}" in explanation


def test_unit02_unmasked_padding_weight_question():
    """Zero encoder outputs at padding still get a score; the quiz's total weight is recomputed."""
    import torch

    question = load_quiz("02").question("padding_weight_unmasked")
    query, _, _, scores, exp, *_ = attend(np.array([True, True, True]))
    padding_score = np.tanh(query) @ V  # a zero key: v^T tanh(q + 0)
    assert f"[{', '.join(f4(x) for x in scores)}]" in question.prompt
    total = 2 * np.exp(padding_score) / (exp.sum() + 2 * np.exp(padding_score))
    assert score_answer(question, float(total)) == 1 and score_answer(question, 0.0) == 0
    explanation = flat(question.explanation)
    assert f"= {f4(padding_score)}" in explanation and f"exp({f4(padding_score)}) = {f4(np.exp(padding_score))}" in explanation
    assert f"2·{f4(np.exp(padding_score))} / ({f4(exp.sum())} + 2·{f4(np.exp(padding_score))}) = {total:.3f}" in explanation
    # The course's encoder really leaves zeros at padding, and its attention layer agrees.
    encoder = torch_model(attention=True, vocab=20, embed=8, hidden=6).encoder
    outputs, _ = encoder(torch.tensor([[4, 5, 6, 0, 0]]), torch.tensor([3]))
    assert outputs[0, 3:].abs().max().item() == 0.0
    from seq2bert.configs import Seq2SeqConfig
    from seq2bert.torch.seq2seq import AdditiveAttention

    layer = AdditiveAttention(Seq2SeqConfig(src_vocab=5, tgt_vocab=5, embed=2, hidden=2))
    with torch.no_grad():
        layer.w_q.weight.copy_(torch.tensor(W_Q.T))
        layer.w_k.weight.copy_(torch.tensor(W_K.T))
        layer.v.weight.copy_(torch.tensor(V[None]))
    values = torch.tensor(np.vstack([ENC, np.zeros((2, 2))]), dtype=torch.float32)[None]  # (1, 5, D)
    s_prev = torch.tensor(S_PREV, dtype=torch.float32)[None]
    for mask, padding_weight in (([True] * 5, total), ([True] * 3 + [False] * 2, 0.0)):
        _, weights = layer(s_prev, layer.project_keys(values), values, torch.tensor([mask]))
        assert abs(weights[0, 3:].sum().item() - padding_weight) < 1e-6


def test_unit02_encoder_state_has_seen_only_the_words_to_its_left():
    """The lessons and quiz say h_j depends on words 1..j only: true of the course's encoder."""
    import torch

    encoder = torch_model(attention=True, vocab=20, embed=8, hidden=6).encoder
    first, _ = encoder(torch.tensor([[4, 5, 6, 7, 8, 9]]), torch.tensor([6]))
    changed, _ = encoder(torch.tensor([[4, 5, 16, 17, 18, 19]]), torch.tensor([6]))
    assert torch.equal(first[0, :2], changed[0, :2]) and not torch.allclose(first[0, 2:], changed[0, 2:])
    assert "h_j has seen words 1..j and nothing after them" in flat(lesson_text("02"))
    question = load_quiz("02").question("encoder_sees_left")
    right = question.choices[question.choice_ids.index(question.answer)].text
    assert right == 'The words "the black", and nothing after them.'


def test_lessons_and_quizzes_write_row_vector_projections():
    """One notation: s_{i-1} W_q and h_j W_k with W_q, W_k of shape (D, A), as the code computes `query @ w_q`."""
    texts = {"lesson 01": lesson_text("01"), "lesson 02": lesson_text("02")}
    for unit in ("01", "02"):
        quiz = load_quiz(unit)
        texts[f"quiz {unit}"] = " ".join(q.prompt + " " + q.explanation + " " + " ".join(c.text for c in q.choices)
                                         for q in quiz.questions)
    for name, text in texts.items():
        # A matrix written before its vector (W_q s_{i-1}), or H for the GRU width, is the old notation.
        found = re.findall(r"W_[qko] (?:s_|h_|s\b|h\b|\[)|2HA", text)
        assert not found, f"{name}: {found}"
    lesson = lesson_text("02")
    assert "e_ij = vᵀ tanh(s_{i-1} W_q + h_j W_k)" in lesson and "logits_i = [s_i; c_i] W_o + b_o" in lesson
    assert "| W_q | projects the query: s_{i-1} W_q | (D, A) |" in lesson
    assert "| W_k | projects the keys: h_j W_k | (D, A) |" in lesson
    assert "logits_t = s_t W_o + b_o" in lesson_text("01")
    assert "tanh(s_{i-1} W_q + h_j W_k)" in flat(load_quiz("02").question("attention_params").prompt)


@pytest.mark.parametrize("unit", [unit.number for unit in UNITS])
def test_lesson_section_references_exist(unit):
    text = lesson_text(unit)
    headings = dict(re.findall(r"^## (\d+)\. (.+)$", text, flags=re.MULTILINE))
    sections = re.split(r"^## ", text, flags=re.MULTILINE)
    for number in re.findall(r"[Ss]ection (\d+)", text):
        assert number in headings, f"lesson {unit} refers to section {number}, which does not exist"
    if unit == "02":
        assert "Multiplicative attention (section 9)" in flat(text)
        relatives = next(s for s in sections if s.startswith("9. "))
        assert "Luong (multiplicative) attention" in relatives
    elif unit == "01":
        assert "(about a^T, section 8)" in flat(text) and headings["8"] == "Metrics"


def test_unit02_names_query_keys_and_values():
    for unit in ("01", "02"):
        text = flat(lesson_text(unit))
        assert all(f"**{name}**" in text for name in ("query", "keys", "values")), unit
    assert "gradients clipped to a global norm of 1.0" in flat(lesson_text("02"))
    assert "clipped** to a global norm of at most 1.0" in flat(lesson_text("01"))


def test_gradient_clipping_in_the_lessons_is_the_training_default():
    import inspect

    from seq2bert.torch.train import train_seq2seq

    assert inspect.signature(train_seq2seq).parameters["clip"].default == 1.0


def test_unit02_parameter_counts():
    text = lesson_text("02")
    assert 2 * 128 * 128 + 128 == 32896 and "that is 32896" in text
    assert gru_parameters(64 + 128, 128) == 123648 and "that is 123648 in both units" in flat(text)
    assert gru_parameters(64, 128) == 74496 and "has 74496" in flat(text)
    vocab, embed, hidden = 40, 64, 128
    parts = {
        "encoder embedding": vocab * embed,
        "encoder GRU": gru_parameters(embed, hidden),
        "decoder embedding": vocab * embed,
        "attention": 2 * hidden * hidden + hidden,
        "decoder GRU": gru_parameters(embed + hidden, hidden),
        "output layer": 2 * hidden * vocab + vocab,
    }
    rows = table_rows(text)
    assert rows == {**parts, "total": sum(parts.values())}
    model = torch_model(attention=True, vocab=vocab, embed=embed, hidden=hidden)
    modules = {"encoder embedding": model.encoder.embedding, "encoder GRU": model.encoder.rnn,
               "decoder embedding": model.decoder.embedding, "attention": model.decoder.attention,
               "decoder GRU": model.decoder.cell, "output layer": model.decoder.output_layer}
    assert {name: count(module) for name, module in modules.items()} == parts
    plain = count(torch_model(attention=False, vocab=vocab, embed=embed, hidden=hidden))
    assert plain == table_rows(lesson_text("01"))["total"]
    extra = count(model) - plain
    assert extra == parts["attention"] + hidden * vocab
    assert f"Against unit 01's {plain} that is {extra} more: the attention's {parts['attention']} plus D·V = {hidden * vocab}" in flat(text)


def test_unit02_quiz_parameter_questions_match_the_code():
    quiz = load_quiz("02")
    attention = torch_model(attention=True, hidden=128, attention_width=64).decoder.attention
    assert quiz.question("attention_params").answer == 2 * 128 * 64 + 64 == count(attention)
    assert "2·128·64 + 64 = 16448" in quiz.question("attention_params").explanation
    width = quiz.question("decoder_input_width")
    assert all(score_answer(width, answer) == 1 for answer in ("E + D", "d+e", "E+D", "E + H"))
    assert all(score_answer(width, answer) == 0 for answer in ("E", "D", "2D", "E + 2D"))
    output = quiz.question("output_layer_width")
    assert score_answer(output, "2D") == 1 and score_answer(output, "D") == 0


def test_unit02_heatmap_illustration_rows_sum_to_one():
    """Rows sum to 1; the article `les` looks mostly at its noun, some at `the`; the swap shows."""
    text = lesson_text("02")
    rows = re.findall(r"^\| (les|chats|noirs|dorment|`<eos>`) \| ([\d.| ]+)\|$", text, flags=re.MULTILINE)
    assert len(rows) == 5
    weights = np.array([[float(x) for x in cells.split("|")] for _, cells in rows])
    assert weights.shape == (5, 4)
    assert np.allclose(weights.sum(axis=1), 1.0)
    # The article needs its noun's gender and number: most of `les` on cats, some on the.
    # The adjective-noun swap: chats -> cats (column 2), noirs -> black (column 1).
    assert weights.argmax(axis=1).tolist() == [2, 2, 1, 3, 3]
    les = weights[0]
    assert les[2] > les[0] > max(les[1], les[3]) and les[0] + les[2] >= 0.8
    assert "Putting much of the weight of `les` on `cats`, some on `the`" in flat(text)


def test_unit02_examples_of_articles_and_dates_are_real_data():
    """The article and date examples of lesson and quiz are what the course's data produce."""
    from datetime import date

    from seq2bert.data import dates, toy

    lesson = flat(lesson_text("02"))
    assert dates.render(date(2021, 3, 5), "mdy_slashes") == "03/05/2021" and "`03/05/2021` (5 March)" in lesson
    assert dates.render(date(2021, 5, 3), "dmy_dots") == "03.05.2021" and "`03.05.2021` (3 May)" in lesson
    quiz = load_quiz("02")
    source = "the black cats see a dog"
    target = toy.translate(source).split()
    assert target[0] == "les" and toy.article("the", "m", False) == "le" and toy.article("the", "f", False) == "la"
    for question_id in ("encoder_sees_left", "article_looks_at_noun"):
        assert f'"{source}"' in flat(quiz.question(question_id).prompt)
    # The gold alignment links the article to the determiner, as the lesson says.
    assert (0, 0) in toy.alignment(source, " ".join(target))


def test_unit01_quiz_explanations_show_the_recomputed_steps():
    """The intermediate numbers of the worked answers, not only the final answers, are right."""
    quiz = load_quiz("01")
    e, d = 32, 64
    encoder = flat(quiz.question("gru_param_count").explanation)
    assert f"3 × ({e * d} + {d * d} + {2 * d}) = 3 × {e * d + d * d + 2 * d} = {gru_parameters(e, d)}" in encoder
    decoder = flat(quiz.question("decoder_gru_params").explanation)
    i = e + d
    assert f"The input width is E + D = {i}" in decoder
    assert (f"3 × ({i}·{d} + {d}·{d} + 2·{d}) = 3 × ({i * d} + {d * d} + {2 * d}) "
            f"= 3 × {i * d + d * d + 2 * d} = {gru_parameters(i, d)}") in decoder
    mask = LOSS_MASK.copy()
    mask[0, 3] = False
    terms = -np.log(LOSS_P[mask])
    loss = flat(quiz.question("masked_loss_by_hand").explanation)
    assert f"= {' + '.join(f4(x) for x in terms)} = {f4(terms.sum())} over N = {mask.sum()} real tokens: {f4(terms.mean())}" in loss
    pairs = [("2021-05-03", "2021-03-05"), ("1999-12-31", "1999-12-31")]
    right = sum(a == b for o, r in pairs for a, b in zip(o, r))
    total = sum(len(r) for _, r in pairs)
    exact = sum(o == r for o, r in pairs)
    accuracy = flat(quiz.question("token_accuracy").explanation)
    assert f"{right} of {total} positions are right, {right / total:g}" in accuracy
    assert f"Exact match is {exact} of {len(pairs)}, {exact / len(pairs):g}" in accuracy
