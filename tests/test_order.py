"""Order tasks, the position-blind ceiling (against brute force), and the encoder that learns them (PyTorch)."""
import itertools
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch

from seq2bert.configs import EncoderConfig
from seq2bert.data import order
from seq2bert.settings import MultiHeadSizes
from seq2bert.torch import tagging
from seq2bert.torch.transformer import Encoder, SequenceTagger


@pytest.fixture
def one_thread():
    """Train as the notebooks do (seq2bert.session): one thread is faster for so small a model."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_targets_of_every_task():
    tokens = np.array([[3, 1, 4, 1, 5]])
    bos = order.bos(6)
    np.testing.assert_array_equal(order.targets(tokens, "previous", 6), [[bos, 3, 1, 4, 1]])
    np.testing.assert_array_equal(order.targets(tokens, "reverse", 6), [[5, 1, 4, 1, 3]])
    np.testing.assert_array_equal(order.targets(tokens, "sort", 6), [[1, 1, 3, 4, 5]])
    assert order.SHIFT == 3
    np.testing.assert_array_equal(order.targets(tokens, "shift", 6), [[4, 1, 5, 3, 1]])  # y_i = x_(i-3 mod 5)
    assert order.output_vocab(6) == 7 and bos == 6


def test_generation_is_seeded_and_in_range():
    tokens, targets = order.generate("previous", 50, length=12, vocab=16, seed=7)
    again, _ = order.generate("previous", 50, length=12, vocab=16, seed=7)
    other, _ = order.generate("previous", 50, length=12, vocab=16, seed=8)
    assert tokens.shape == targets.shape == (50, 12)
    np.testing.assert_array_equal(tokens, again)
    assert not np.array_equal(tokens, other)
    assert tokens.min() >= 0 and tokens.max() <= 15
    np.testing.assert_array_equal(targets[:, 1:], tokens[:, :-1])
    batch_tokens, batch_targets = next(order.batches("sort", 8, 5, 4, seed=0))
    assert batch_tokens.shape == (8, 5)
    np.testing.assert_array_equal(batch_targets, np.sort(batch_tokens, axis=1))


def test_bad_task_or_tokens_are_refused():
    with pytest.raises(ValueError, match="unknown task 'rotate'"):
        order.generate("rotate", 3)
    with pytest.raises(ValueError, match="0 .. 3"):
        order.position_blind_ceiling(np.array([[0, 4]]), "previous", vocab=4)


def brute_force(length: int, vocab: int, task: str):
    """Per bag: E[count of (x_i = a, y_i = t)] over every arrangement, and the best blind predictor's accuracy."""
    by_bag = defaultdict(list)
    for sequence in itertools.product(range(vocab), repeat=length):
        by_bag[tuple(np.bincount(sequence, minlength=vocab))].append(np.array(sequence))
    results = {}
    for bag, sequences in by_bag.items():
        pairs = Counter()
        for sequence in sequences:
            pairs.update(zip(sequence.tolist(), order.targets(sequence[None], task, vocab)[0].tolist()))
        expected = np.zeros((vocab, vocab + 1))
        for (a, t), count in pairs.items():
            expected[a, t] = count / len(sequences)
        best = sum(max(count for (a2, _), count in pairs.items() if a2 == a) for a in {a for a, _ in pairs})
        results[bag] = (expected, best / (len(sequences) * length), sequences)
    return results


@pytest.mark.parametrize("task", order.TASKS)
@pytest.mark.parametrize("length, vocab", [(4, 3), (5, 3), (3, 4)])
def test_ceiling_matches_brute_force(task, length, vocab):
    """Odd and even lengths (reverse has a fixed middle at odd T), ties, repeated tokens."""
    for bag, (expected, best, sequences) in brute_force(length, vocab, task).items():
        np.testing.assert_allclose(order.expected_pair_counts(np.array(bag), task, length), expected, atol=1e-12)
        # Every arrangement of a bag has the same ceiling: the best blind table's accuracy over them.
        assert order.position_blind_ceiling(np.stack(sequences), task, vocab) == pytest.approx(best)
        assert order.position_blind_ceiling(sequences[0][None], task, vocab) == pytest.approx(best)


def test_previous_token_ceiling_is_well_above_chance():
    """Closed form for "previous": (1/T^2) sum_a n_a max(1, max_(t != a) n_t, n_a - 1)."""
    tokens, _ = order.generate("previous", 300, seed=3)
    by_formula = np.mean([sum(n_a * max(1, max(np.delete(n, a), default=0), n_a - 1) for a, n_a in enumerate(n) if n_a)
                          / 12 ** 2 for n in (np.bincount(row, minlength=16) for row in tokens)])
    ceiling = order.position_blind_ceiling(tokens, "previous")
    assert ceiling == pytest.approx(by_formula)
    assert 0.18 < ceiling < 0.23  # 1/16 = 0.0625 would be chance


def test_no_positions_is_permutation_equivariant_and_positions_break_it():
    tokens = torch.tensor(np.random.default_rng(0).integers(0, 9, (2, 7)))
    permutation = torch.tensor([3, 0, 6, 1, 5, 2, 4])
    for positions in ("none", "sinusoidal", "learned", "rotary"):
        model = SequenceTagger(EncoderConfig(vocab=9, width=16, heads=2, layers=2, ffn=16, positions=positions), seed=1)
        with torch.no_grad():
            permuted_then_run = model(tokens[:, permutation])
            run_then_permuted = model(tokens)[:, permutation]
        gap = float((permuted_then_run - run_then_permuted).abs().max())
        if positions == "none":
            assert gap < 1e-5
        else:
            assert gap > 1e-2, positions


def test_learns_previous_token_with_sinusoidal_positions(one_thread):
    """A short real run: far above the position-blind ceiling (and 0.95 accuracy) in 200 steps (1.0 by 150 for seeds 0-2)."""
    sizes = dict(length=8, vocab=8)
    config = EncoderConfig(vocab=order.output_vocab(8), width=32, heads=2, layers=1, ffn=32, positions="sinusoidal")
    model = SequenceTagger(config, seed=0)
    tagging.train_tagger(model, order.batches("previous", 64, seed=0, **sizes), steps=200, warmup=50)
    tokens, targets = order.generate("previous", 500, seed=99, **sizes)
    accuracy = order.accuracy(tagging.predict_tags(model, tokens), targets)
    assert order.position_blind_ceiling(tokens, "previous", 8) < 0.35
    assert accuracy >= 0.95


def test_config_and_input_errors():
    with pytest.raises(ValueError, match="positions must be one of"):
        EncoderConfig(vocab=5, positions="relative")
    with pytest.raises(ValueError, match="not divisible by 3 heads"):
        EncoderConfig(vocab=5, width=64, heads=3)
    encoder = Encoder(EncoderConfig(vocab=5, width=8, heads=2, ffn=8, max_length=4))
    with pytest.raises(ValueError, match="length 6 is longer than max_length 4"):
        encoder(torch.zeros(1, 6, dtype=torch.long))
    with pytest.raises(TypeError, match="mask must be bool"):
        encoder(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 3))
    with pytest.raises(ValueError, match=r"mask has shape \(1, 2\) but the tokens \(1, 3\)"):
        encoder(torch.zeros(1, 3, dtype=torch.long), torch.ones(1, 2, dtype=torch.bool))


def test_headline_check_names_each_miss():
    from seq2bert.experiments.order import PositionsResult, check_headline

    def result(name, at12, at16=0.5):
        return PositionsResult(name, {12: at12, 16: at16}, {}, [], 0.0)

    good = {"results": {"none": result("none", 0.20), "sinusoidal": result("sinusoidal", 0.99),
                        "rotary": result("rotary", 0.99, 0.97)}, "ceiling": {12: 0.2, 16: 0.18}}
    assert check_headline(good) == []
    bad = {"results": {"none": result("none", 0.25), "sinusoidal": result("sinusoidal", 0.90),
                       "rotary": result("rotary", 0.99, 0.80)}, "ceiling": {12: 0.2, 16: 0.18}}
    missed = check_headline(bad)
    assert len(missed) == 3
    assert "sinusoidal positions reached 0.900 at length 12" in missed[0]
    assert "above the position-blind ceiling 0.200" in missed[1]
    assert "rotary positions reached 0.800 at length 16" in missed[2]


def test_compare_positions_end_to_end_tiny(one_thread):
    from seq2bert.experiments import order as experiment

    sizes = MultiHeadSizes(steps=3, reverse_steps=0, eval_sequences=20, eval_lengths=(12, 16), warmup=2)
    comparison = experiment.compare_positions("pytorch", "previous", 3, sizes, settings=("none", "rotary"))
    assert set(comparison["results"]) == {"none", "rotary"}
    assert set(comparison["ceiling"]) == {12, 16}
    rotary = comparison["results"]["rotary"]
    assert len(rotary.losses) == 3 and 0.0 <= rotary.accuracy[16] <= 1.0
    assert rotary.by_position[16].shape == (16,)
    rows = experiment.table(comparison)
    assert [row["positions"] for row in rows] == ["none", "rotary", "position-blind ceiling"]
    with pytest.raises(ValueError, match="framework must be 'pytorch' or 'tensorflow'"):
        experiment.compare_positions("jax", "previous", 3, sizes)
