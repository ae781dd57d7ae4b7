"""Every number of lesson 05's worked examples, recomputed, must appear in the lesson as printed.

Quiz 05's numeric answers and explanations must agree with the same recomputed values. Numbers are
recomputed twice where the package has the function: by formula here, and with seq2bert itself
(schedules, ops.label_smoothed_cross_entropy, count_parameters, decoding.beam_search_step and beam_search).
The shared worked examples are listed in /work/briefs/worked05.md.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seq2bert.quiz import load_quiz, score_answer
from seq2bert.configs import TransformerConfig
from seq2bert.schedules import transformer_learning_rate, vaswani_peak
from seq2bert.torch.decoding import TableModel, beam_search, beam_search_step, wu_length_penalty
from seq2bert.torch.ops import label_smoothed_cross_entropy
from seq2bert.torch.transformer import Transformer, count_parameters
from seq2bert.units import course_root

D, HEADS, FFN, LAYERS = 128, 4, 256, 2


def flat(text: str) -> str:
    """Text with every run of whitespace collapsed to one space; the typographic minus read as ASCII."""
    return " ".join(text.split()).replace("−", "-")


def f4(value: float) -> str:
    return f"{value:.4f}"


def vec(values) -> str:
    return "[" + ", ".join(f4(x) for x in values) + "]"


@pytest.fixture(scope="module")
def lesson() -> str:
    return flat((course_root() / "lessons" / "05_transformer.md").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def quiz():
    return load_quiz("05")


def assert_printed(lesson: str, *snippets: str) -> None:
    for snippet in snippets:
        assert flat(snippet) in lesson, f"lesson 05 does not print {snippet!r}"


# ---------------------------------------------------------------- A. label smoothing

def log_softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=float)
    return z - z.max() - np.log(np.exp(z - z.max()).sum())


def smoothed(z, target: int = 0, eps: float = 0.1) -> float:
    """-sum_v q(v) log p(v) with q = (1 - eps) one-hot + eps / V."""
    logp = log_softmax(z)
    q = np.full(len(logp), eps / len(logp))
    q[target] += 1 - eps
    return float(-(q * logp).sum())


def package_smoothed(z, target: int = 0, eps: float = 0.1) -> float:
    logits = torch.tensor([[z]], dtype=torch.float64)  # (B, T, V) = (1, 1, V)
    return float(label_smoothed_cross_entropy(logits, torch.tensor([[target]]), pad_id=-1, smoothing=eps))


Z = [3.0, 1.0, 0.0, -1.0]
Q = np.array([0.925, 0.025, 0.025, 0.025])


def test_label_smoothing_worked_example(lesson):
    logp = log_softmax(Z)
    assert smoothed(Z) == pytest.approx(0.9 * -logp[0] + 0.1 * np.mean(-logp))
    assert package_smoothed(Z) == pytest.approx(smoothed(Z), abs=1e-12)
    assert package_smoothed(Z, eps=0.0) == pytest.approx(-logp[0], abs=1e-12)
    assert_printed(lesson,
                   f"softmax(z) = {vec(np.exp(logp))}, so −log p = {vec(-logp)}",
                   f"−log p(y) = **{f4(-logp[0])}**",
                   f"0.9 · {f4(-logp[0])} + 0.1 · {f4(np.mean(-logp))} = **{f4(smoothed(Z))}** "
                   f"({f4(np.mean(-logp))} is the mean of the four −log p)")


def test_label_smoothing_floor_for_the_toy_vocabulary(lesson, vocab_sizes):
    target_vocab = vocab_sizes[1]
    q = np.full(target_vocab, 0.1 / target_vocab)
    q[0] += 0.9
    floor = float(-(q * np.log(q)).sum())
    assert package_smoothed(np.log(q).tolist()) == pytest.approx(floor, abs=1e-9)  # reached at p = q
    assert_printed(lesson, f"V = {target_vocab}, the floor is **{f4(floor)}**")


def test_label_smoothing_floor_and_overconfidence(lesson):
    entropy = float(-(Q * np.log(Q)).sum())
    gap = math.log(Q[0] / Q[1])
    assert smoothed([gap, 0, 0, 0]) == pytest.approx(entropy, abs=1e-12)  # p = q is the minimum ...
    for other in ([gap + 0.5, 0, 0, 0], [gap - 0.5, 0, 0, 0], Z):
        assert smoothed(other) > entropy  # ... and anything else is worse
    assert package_smoothed([10.0, 0, 0, 0]) == pytest.approx(smoothed([10, 0, 0, 0]), abs=1e-12)
    ce_10 = -log_softmax([10, 0, 0, 0])[0]
    assert smoothed([10, 0, 0, 0]) > smoothed(Z)
    assert_printed(lesson,
                   f"the entropy of q, **{f4(entropy)}**",
                   f"ln(0.925 / 0.025) = ln 37 = **{f4(gap)}**",
                   f"cross-entropy of only {f4(ce_10)} but a smoothed loss of **{f4(smoothed([10, 0, 0, 0]))}**")


# ---------------------------------------------------------------- B. the schedule

def lr_formula(step: int, peak: float = 2e-3, warmup: int = 200) -> float:
    return peak * min(step / warmup, math.sqrt(warmup / step))


def paper_lr(step: int, width: int, warmup: int) -> float:
    return width ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


def lr_text(value: float) -> str:
    """The lesson's table style: 1e-05, 2e-03, 1.4142e-03."""
    mantissa, exponent = f"{value:.4e}".split("e")
    return f"{round(float(mantissa))}e{exponent}" if float(mantissa).is_integer() else f"{mantissa}e{exponent}"


def test_schedule_table(lesson):
    steps = [1, 50, 100, 200, 400, 800, 1500, 3200]
    for step in steps:
        assert transformer_learning_rate(step, 2e-3, 200) == pytest.approx(lr_formula(step), rel=1e-12)
    assert_printed(lesson, "| step n | " + " | ".join(map(str, steps)) + " |",
                   "| lr | " + " | ".join(lr_text(lr_formula(s)) for s in steps) + " |")
    assert lr_formula(3200) == pytest.approx(lr_formula(800) / 2)  # "four times the steps, half the rate"


def test_paper_form_is_the_same_curve(lesson):
    for width, warmup in ((512, 4000), (128, 200)):
        peak = vaswani_peak(width, warmup)
        assert peak == pytest.approx(width ** -0.5 * warmup ** -0.5)
        for step in (1, 7, warmup - 1, warmup, warmup + 1, 5 * warmup):
            assert transformer_learning_rate(step, peak, warmup) == pytest.approx(paper_lr(step, width, warmup))
    ours = vaswani_peak(128, 200)
    assert_printed(lesson, f"peaks at {vaswani_peak(512, 4000):.3e}",
                   f"would peak at {ours:.2e}; we use 2e-3, {2e-3 / ours:.2f} times that")


# ---------------------------------------------------------------- C. parameter count

def parts(width: int = D, ffn: int = FFN) -> dict[str, int]:
    mha, ff, norm = 4 * width * width + 4 * width, 2 * width * ffn + ffn + width, 2 * width
    return {"mha": mha, "ffn": ff, "norm": norm, "enc_layer": mha + ff + 2 * norm, "dec_layer": 2 * mha + ff + 3 * norm}


def total(src: int, tgt: int, enc: int = LAYERS, dec: int = LAYERS, tied: bool = True, final_norms: bool = True) -> int:
    p = parts()
    stacks = enc * p["enc_layer"] + dec * p["dec_layer"] + (2 * p["norm"] if final_norms else 0)
    return src * D + tgt * D + tgt + stacks + (0 if tied else tgt * D)


@pytest.fixture(scope="module")
def vocab_sizes() -> tuple[int, int]:
    from seq2bert.experiments.tasks import toy_task

    sizes = {(len(t.src_vocab), len(t.tgt_vocab)) for t in (toy_task(500, 50, seed=0), toy_task(4000, 200, seed=1))}
    assert len(sizes) == 1, f"the toy vocabularies depend on the training size: {sizes}"
    return sizes.pop()


def test_parameter_table(lesson, vocab_sizes):
    src, tgt = vocab_sizes
    p = parts()
    reference = torch.nn.Transformer(D, HEADS, LAYERS, LAYERS, FFN, norm_first=True)  # final LNs included
    assert sum(w.numel() for w in reference.parameters()) + src * D + tgt * D + tgt == total(src, tgt)
    assert_printed(lesson,
                   f"hold {src} source and {tgt} target tokens",
                   f"| multi-head attention | 4D² + 4D | {p['mha']:,} |",
                   f"| feed-forward | 2DF + F + D | {p['ffn']:,} |",
                   f"| LayerNorm | 2D | {p['norm']:,} |",
                   f"| encoder layer | MHA + FFN + 2 LN | {p['enc_layer']:,} |",
                   f"| decoder layer | 2 MHA + FFN + 3 LN | {p['dec_layer']:,} |",
                   f"| encoder stack | 2 layers + final LN | {2 * p['enc_layer'] + p['norm']:,} |",
                   f"| decoder stack | 2 layers + final LN | {2 * p['dec_layer'] + p['norm']:,} |",
                   f"| source embedding | {src} · 128 | {src * D:,} |",
                   f"| target embedding = output matrix | {tgt} · 128 | {tgt * D:,} |",
                   f"| output bias | V | {tgt} |",
                   f"| **total** | | **{total(src, tgt):,}** |",
                   f"its own {tgt} · 128 matrix: {total(src, tgt, tied=False):,}",
                   f"Our model: {total(src, tgt):,} parameters")


@pytest.mark.parametrize("changes", [{}, {"tie_embeddings": False}, {"norm": "post"},
                                     {"encoder_layers": 3, "decoder_layers": 3}])
def test_parameter_count_matches_the_model(vocab_sizes, changes):
    src, tgt = vocab_sizes
    model = Transformer(TransformerConfig(src_vocab=src, tgt_vocab=tgt, **changes))
    layers = changes.get("encoder_layers", LAYERS)
    assert count_parameters(model) == total(src, tgt, layers, layers, tied=changes.get("tie_embeddings", True),
                                 final_norms=changes.get("norm", "pre") == "pre")


# ---------------------------------------------------------------- D. the key/value cache

def test_cache_work_table(lesson):
    rows_uncached, pairs_uncached, steps = sum(range(1, 41)), sum(t * t for t in range(1, 41)), 40
    assert rows_uncached == 40 * 41 // 2 and pairs_uncached == 40 * 41 * 81 // 6
    assert_printed(lesson,
                   f"| token rows through projections and FFN | 1 + 2 + … + 40 = {rows_uncached} | {steps} | "
                   f"{rows_uncached / steps:g} |",
                   f"| self-attention (query, key) pairs | 1² + 2² + … + 40² = {pairs_uncached:,} | "
                   f"1 + 2 + … + 40 = {rows_uncached} | {pairs_uncached / rows_uncached:g} |",
                   f"2 · 2 · 40 · 128 = **{2 * 2 * 40 * D:,}** floats, {2 * 2 * 40 * D * 4 // 1024} KiB")


# ---------------------------------------------------------------- E. the "why" moment

def test_drowned_embeddings_numbers(lesson):
    rng = np.random.default_rng(0)
    drowned = rng.standard_normal((2000, D)) * math.sqrt(D)  # N(0, 1) times sqrt(D)
    intended = rng.standard_normal((2000, D)) * math.sqrt(1 / D) * math.sqrt(D)  # N(0, 1/D) times sqrt(D)
    positions = np.arange(64)[:, None] * 10000.0 ** (-2 * np.arange(D // 2) / D)  # (P, D/2) angles
    pe = np.stack([np.sin(positions), np.cos(positions)], axis=-1).reshape(64, D)  # (P, D/2, 2) -> (P, D)
    rms = lambda a: float(np.sqrt((a ** 2).mean()))  # noqa: E731
    assert rms(pe) == pytest.approx(math.sqrt(0.5), abs=1e-9)
    assert rms(drowned) == pytest.approx(math.sqrt(D), rel=0.01) and rms(intended) == pytest.approx(1, rel=0.01)
    assert_printed(lesson, f"RMS √128 = **{math.sqrt(D):.2f}**", f"RMS √(1/2) = **{f4(math.sqrt(0.5))}**",
                   f"are {math.sqrt(D) / math.sqrt(0.5):.0f} times larger per entry",
                   f"the ratio is 1 / {f4(math.sqrt(0.5))} = {1 / math.sqrt(0.5):.2f}")


# ---------------------------------------------------------------- F. beam search

A, B, EOS = "a", "b", "</s>"
TREE = {(): {A: 0.5, B: 0.4, EOS: 0.1}, (A,): {A: 0.4, B: 0.25, EOS: 0.35}, (B,): {A: 0.1, B: 0.1, EOS: 0.8},
        (A, A): {A: 0.2, B: 0.2, EOS: 0.6}}
# Prefixes the lesson never expands still need a distribution for the search to be defined.
DEFAULT = {A: 0.2, B: 0.2, EOS: 0.6}


def next_probs(tree: dict, prefix: tuple) -> dict:
    return tree.get(prefix, DEFAULT)


def beam(tree: dict, k: int, max_len: int = 6) -> list[list[tuple[tuple, float, bool]]]:
    """Plain beam search by the lesson's rules; one list of (prefix, score, finished) per step, best first."""
    beams, history = [((), 0.0, False)], []
    for _ in range(max_len):
        candidates = []
        for prefix, score, finished in beams:
            if finished:
                candidates.append((prefix, score, True))
                continue
            for token, p in next_probs(tree, prefix).items():
                candidates.append((prefix + (token,), score + math.log(p), token == EOS))
        candidates.sort(key=lambda c: -c[1])
        beams = candidates[:k]
        history.append(candidates)
        if all(finished for _, _, finished in beams):
            break
    return history


def lp(length: int, alpha: float = 0.6) -> float:
    return ((5 + length) / 6) ** alpha


def words(prefix: tuple) -> str:
    return " ".join(f"`{t}`" if t == EOS else t for t in prefix)


def test_beam_table_and_greedy(lesson):
    history = beam(TREE, k=2)
    assert len(history) == 3
    kept = [[c for c in step[:2]] for step in history]
    assert [c[0] for c in kept[-1]] == [(B, EOS), (A, A, EOS)]
    greedy = beam(TREE, k=1)[-1][0]
    assert greedy[0] == (A, A, EOS) and math.exp(greedy[1]) == pytest.approx(0.12)
    assert math.exp(kept[-1][0][1]) == pytest.approx(0.32)
    assert_printed(lesson, f"probability 0.12 (log {f4(greedy[1])})")
    for step, row in enumerate(kept, start=1):
        shown = [f"{words(prefix)} {f4(score)}" for prefix, score, _ in row]
        assert_printed(lesson, f"| {step} | {shown[0]}")
        assert_printed(lesson, shown[1])
    dropped_step2 = {prefix: score for prefix, score, _ in history[1][2:]}
    assert_printed(lesson, f"a `</s>` {f4(dropped_step2[(A, EOS)])}, a b {f4(dropped_step2[(A, B)])}, "
                           f"b a and b b {f4(dropped_step2[(B, A)])}")
    assert dropped_step2[(B, A)] == pytest.approx(dropped_step2[(B, B)])


def test_beam_steps_match_the_package():
    step = beam_search_step
    ids = {A: 3, B: 4, EOS: 2}  # PAD 0, BOS 1
    history = beam(TREE, k=2)
    prefixes = [()]
    scores = torch.tensor([[0.0, -math.inf]], dtype=torch.float64)  # (B, K)
    finished = torch.zeros(1, 2, dtype=torch.bool)
    for expected in history:
        log_probs = torch.full((1, 2, 5), -math.inf, dtype=torch.float64)  # (B, K, V)
        for k, prefix in enumerate(prefixes + [prefixes[0]] * (2 - len(prefixes))):
            for token, p in next_probs(TREE, prefix).items():
                log_probs[0, k, ids[token]] = math.log(p)
        scores, parents, tokens = step(log_probs, scores, finished, eos_id=2, pad_id=0)
        assert scores[0].tolist() == pytest.approx([c[1] for c in expected[:2]])
        names = {value: name for name, value in ids.items()}
        # A finished beam's one candidate is PAD: its prefix stays as it was.
        prefixes = [prefixes[parent] if token == 0 else prefixes[parent] + (names[token],)
                    for parent, token in zip(parents[0].tolist(), tokens[0].tolist())]
        finished = torch.tensor([[prefix[-1] == EOS for prefix in prefixes]])
        assert prefixes == [c[0] for c in expected[:2]]


def test_beam_search_on_the_table_gives_the_lesson_s_winners():
    """The package's whole beam search (length penalty included) on the lesson's table, through TableModel."""
    ids = {A: 3, B: 4, EOS: 2}
    names = {value: name for name, value in ids.items()}

    def table(prefixes: np.ndarray) -> np.ndarray:  # (N, t) ids, BOS first -> (N, V) log-probabilities
        out = np.full((len(prefixes), 5), -np.inf)
        for row, fed in enumerate(prefixes):
            for token, p in next_probs(TREE, tuple(names[int(i)] for i in fed[1:])).items():
                out[row, ids[token]] = math.log(p)
        return out

    src, src_len = torch.ones(1, 2, dtype=torch.long), torch.tensor([2])
    for k, expected in ((2, [ids[B], ids[EOS]]), (1, [ids[A], ids[A], ids[EOS]])):
        for alpha in (0.0, 0.6):
            tokens = beam_search(TableModel(table), src, src_len, beam_size=k, max_len=6, length_penalty=alpha)
            assert tokens[0].tolist() == expected, (k, alpha)


def test_length_penalty(lesson):
    lengths = [2, 3, 6, 10]
    assert wu_length_penalty(torch.tensor(lengths), 0.6).tolist() == pytest.approx([lp(n) for n in lengths], rel=1e-6)
    assert_printed(lesson, f"lp(2) = **{f4(lp(2))}**", f"lp(3) = {f4(lp(3))}", f"lp(6) = **{f4(lp(6))}**",
                   f"lp(10) = {f4(lp(10))}")
    best, runner_up = beam(TREE, k=2)[-1][:2]
    assert_printed(lesson, f"−1.1394 / {f4(lp(2))} = {f4(best[1] / lp(2))}",
                   f"{f4(runner_up[1])} / {f4(lp(3))} = {f4(runner_up[1] / lp(3))}")
    short, long = -1.20 / lp(2), -1.40 / lp(6)
    assert -1.20 > -1.40 and long > short  # the penalty reverses the order
    assert_printed(lesson, f"−1.20 / {f4(lp(2))} = **{f4(short)}**", f"−1.40 / {f4(lp(6))} = **{f4(long)}**")


# ---------------------------------------------------------------- quiz 05

def numeric_ok(quiz, question_id: str, value: float, wrong: float | None = None) -> None:
    question = quiz.question(question_id)
    assert score_answer(question, value) == 1, (question_id, value, question.answer)
    if wrong is not None:
        assert score_answer(question, wrong) == 0, (question_id, wrong)


def test_quiz_params_three_layers(quiz, vocab_sizes):
    numeric_ok(quiz, "params_three_layers", total(*vocab_sizes, 3, 3), wrong=total(*vocab_sizes))
    p = parts()
    explanation = quiz.question("params_three_layers").explanation
    for value in (p["enc_layer"], p["dec_layer"], total(*vocab_sizes, 3, 3)):
        assert f"{value:,}" in explanation


def test_quiz_label_smoothing(quiz):
    z = [2.0, 1.0, 0.0, 0.0]
    numeric_ok(quiz, "smoothed_loss", package_smoothed(z), wrong=-log_softmax(z)[0])
    assert smoothed(z) == pytest.approx(package_smoothed(z), abs=1e-12)
    explanation = quiz.question("smoothed_loss").explanation
    assert vec(np.exp(log_softmax(z))) in explanation and vec(-log_softmax(z)) in explanation
    gap = math.log(0.91 / 0.01)
    logits = np.zeros(10)
    logits[0] = gap
    q = np.full(10, 0.01)
    q[0] = 0.91
    assert smoothed(logits) == pytest.approx(float(-(q * np.log(q)).sum()))  # p = q at this gap
    numeric_ok(quiz, "smoothing_best_gap", gap, wrong=math.log(37))


def test_quiz_schedule(quiz):
    numeric_ok(quiz, "schedule_step", transformer_learning_rate(1800, 2e-3, 200),
               wrong=transformer_learning_rate(1800, 2e-3, 200) * 1.001)
    numeric_ok(quiz, "paper_peak", vaswani_peak(256, 1000), wrong=vaswani_peak(512, 4000))
    assert max(paper_lr(n, 256, 1000) for n in range(1, 5000)) == pytest.approx(vaswani_peak(256, 1000))


def test_quiz_cache_pairs(quiz):
    numeric_ok(quiz, "cache_pairs", sum(t * t for t in range(1, 21)), wrong=sum(range(1, 21)))
    assert "210" in quiz.question("cache_pairs").explanation


def test_quiz_beam_result(quiz):
    changed = dict(TREE)
    changed[(B,)] = {A: 0.2, B: 0.2, EOS: 0.6}
    best = beam(changed, k=2)[-1][0]
    greedy = beam(changed, k=1)[-1][0]
    assert best[0] == (B, EOS) and greedy[0] == (A, A, EOS)
    numeric_ok(quiz, "beam_result", math.exp(best[1]), wrong=math.exp(greedy[1]))


def test_quiz_length_penalty(quiz):
    numeric_ok(quiz, "length_penalty", -2.0 / lp(7), wrong=-2.0)
    explanation = quiz.question("length_penalty").explanation.replace("−", "-")
    assert f4(-1.5 / lp(3)) in explanation and f4(lp(7)) in explanation and -1.5 / lp(3) > -2.0 / lp(7)


@pytest.mark.parametrize("answer, points", [("causal mask", 1), ("Causal  mask", 1), ("look-ahead mask", 1),
                                            ("causal attention mask", 1), ("padding mask", 0), ("mask", 0)])
def test_quiz_mask_name(quiz, answer, points):
    assert score_answer(quiz.question("mask_name"), answer) == points
