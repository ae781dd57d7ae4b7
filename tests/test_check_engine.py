"""The check engine beyond units 01-02, on the fixture unit's exercises (tests/fixtures/unit_fixture):
tuple results, a per-exercise tolerance, forbidden library functions, and random functions.

Learner functions here are written the way a learner would, in each framework.
"""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from seq2bert.check import evaluate, exercises, registry

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "unit_fixture"


@pytest.fixture(scope="module", autouse=True)
def fixture_checks():
    sys.path.insert(0, str(FIXTURE))
    with registry.restored():
        sys.modules.pop("statistics_checks", None)
        yield importlib.import_module("statistics_checks")
    sys.modules.pop("statistics_checks", None)
    sys.path.remove(str(FIXTURE))


@pytest.fixture(scope="module")
def torch():
    return pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tf():
    return pytest.importorskip("tensorflow")


def check(name, framework, function):
    return evaluate(name, exercises(framework).framework, function)


# ---------------------------------------------------------------- tuple results, tolerance


def torch_stats(torch, ddof=0, swap=False, single=False, scale=1.0):
    def masked_mean_std(x, mask):
        keep = mask.float()
        n = keep.sum(-1)
        mean = (x * keep).sum(-1) / n
        var = ((x - mean[:, None]) ** 2 * keep).sum(-1) / (n - ddof).clamp(min=1)
        spread = var.sqrt() * scale
        if single:
            return mean
        return (spread, mean) if swap else (mean, spread)
    return masked_mean_std


def test_tuple_result_correct_passes(torch):
    result = check("masked_mean_std", "pytorch", torch_stats(torch))
    assert result.status == "passed", result.hint


def test_tuple_result_known_mistake_names_its_hint(torch):
    result = check("masked_mean_std", "pytorch", torch_stats(torch, ddof=1))
    assert result.mistake == "sample_std" and "not n - 1" in result.hint
    result = check("masked_mean_std", "pytorch", torch_stats(torch, swap=True))
    assert result.mistake == "swapped"


def test_tuple_result_single_tensor_is_a_type_problem(torch):
    result = check("masked_mean_std", "pytorch", torch_stats(torch, single=True))
    assert result.status == "failed"
    assert "returned a Tensor, expected a tuple of 2 torch.Tensors: the means, the spreads" in result.hint


def test_tuple_result_unknown_error_names_the_wrong_output(torch):
    result = check("masked_mean_std", "pytorch", torch_stats(torch, scale=1.01))
    assert result.mistake == "" and result.hint.startswith("wrong values in the spreads on case 1 of 4")


def test_tuple_result_second_item_not_a_tensor(torch):
    def half_numpy(x, mask):
        mean, spread = torch_stats(torch)(x, mask)
        return mean, spread.numpy()
    result = check("masked_mean_std", "pytorch", half_numpy)
    assert result.hint.startswith("second of the 2 results: your function returned a NumPy array")


def test_per_exercise_tolerance_is_used(torch):
    # Off by a relative 3e-5: inside this exercise's rtol of 1e-4 (the default is 1e-5).
    assert check("masked_mean_std", "pytorch", torch_stats(torch, scale=1 + 3e-5)).status == "passed"
    assert check("masked_mean_std", "pytorch", torch_stats(torch, scale=1 + 1e-3)).status == "failed"


def test_forbidden_library_function_earns_no_credit(torch, tf):
    def with_std_mean(x, mask):
        return torch.std_mean(x, dim=-1, unbiased=False)[::-1]
    result = check("masked_mean_std", "pytorch", with_std_mean)
    assert result.hint.startswith("this exercise asks for your own code, but your function uses `torch.std_mean`")

    def with_moments(x, mask):
        mean, var = tf.nn.moments(x, axes=[-1])
        return mean, tf.sqrt(var)
    result = check("masked_mean_std", "tensorflow", with_moments)
    assert "your function uses `tensorflow.nn.moments`" in result.hint


def test_tensorflow_tuple_result_passes(tf):
    def masked_mean_std(x, mask):
        keep = tf.cast(mask, tf.float32)
        n = tf.reduce_sum(keep, -1)
        mean = tf.reduce_sum(x * keep, -1) / n
        return mean, tf.sqrt(tf.reduce_sum(tf.square(x - mean[:, None]) * keep, -1) / n)
    assert check("masked_mean_std", "tensorflow", masked_mean_std).status == "passed"


# ---------------------------------------------------------------- random functions


def test_random_function_drawing_from_the_generator_passes(torch, tf):
    def torch_keep(x, p, generator):
        return torch.rand(x.shape, generator=generator) > p

    def tf_keep(x, p, generator):
        return generator.uniform(x.shape) > p

    assert check("keep_mask", "pytorch", torch_keep).status == "passed"
    assert check("keep_mask", "tensorflow", tf_keep).status == "passed"


def test_random_function_with_global_random_state_is_not_reproducible(torch, tf):
    def torch_global(x, p, generator):
        return torch.rand(x.shape) >= p

    def tf_global(x, p, generator):
        return tf.random.uniform(tf.shape(x)) >= p

    for framework, learner in (("pytorch", torch_global), ("tensorflow", tf_global)):
        result = check("keep_mask", framework, learner)
        assert result.status == "failed"
        assert "called twice with generators of the same seed" in result.hint


def test_random_function_with_wrong_statistics_gets_the_judges_hint(torch):
    def keeps_p(x, p, generator):  # keeps with probability p instead of 1 - p
        return torch.rand(x.shape, generator=generator) < p

    result = check("keep_mask", "pytorch", keeps_p)
    assert "of the positions are kept but about 0.900 should be" in result.hint and "(case 1: p = 0.1)" in result.hint


def test_random_function_wrong_shape_and_dtype(torch):
    result = check("keep_mask", "pytorch", lambda x, p, generator: torch.rand(x.shape[0], generator=generator) >= p)
    assert "the mask has shape (64,) but expected (64, 64)" in result.hint
    result = check("keep_mask", "pytorch", lambda x, p, generator: (torch.rand(x.shape, generator=generator) >= p).float())
    assert "the mask has dtype float32 but should be bool" in result.hint


def test_seeded_argument_becomes_the_frameworks_generator(torch, tf):
    seen = {}

    def spy(framework):
        def keep_mask(x, p, generator):
            seen[framework] = generator
            raise NotImplementedError
        return keep_mask

    check("keep_mask", "pytorch", spy("pytorch"))
    check("keep_mask", "tensorflow", spy("tensorflow"))
    assert isinstance(seen["pytorch"], torch.Generator) and isinstance(seen["tensorflow"], tf.random.Generator)


def test_random_function_that_ignores_the_seed_fails(torch):
    def fixed_seed(x, p, generator):
        local = torch.Generator().manual_seed(0)
        return torch.rand(x.shape, generator=local) >= p

    def stripes(x, p, generator):  # the right fraction of True, but no randomness at all
        width = x.shape[-1]
        kept = round((1 - p) * width)
        return (torch.arange(width) < kept).expand(x.shape).clone()

    for learner in (fixed_seed, stripes):
        result = check("keep_mask", "pytorch", learner)
        assert result.hint.startswith("your function gives the same result whatever the generator's seed"), result.hint
