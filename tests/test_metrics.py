"""Metrics against values worked out by hand."""
from __future__ import annotations

import math

import numpy as np
import pytest

from seq2bert.metrics import (BUCKET_ORDER, LENGTH_BUCKETS, OTHER_BUCKET, bleu, by_bucket, check_buckets, evaluate,
                              exact_match, length_bucket, token_accuracy)


def test_exact_match_counts_identical_sequences():
    predictions = [["a", "b"], ["c"], ["d", "e"]]
    references = [["a", "b"], ["c", "x"], ["d", "e"]]
    assert exact_match(predictions, references) == pytest.approx(2 / 3)


def test_exact_match_accepts_int_tokens_and_arrays():
    predictions = [np.array([1, 2, 3]), [4, 5]]
    references = [[1, 2, 3], [4, 6]]
    assert exact_match(predictions, references) == pytest.approx(0.5)


def test_token_accuracy_pools_positions_truncates_and_pads():
    predictions = [["a", "b", "c"], ["x", "y"], ["p", "q", "r", "s"]]
    references = [["a", "z", "c", "d"], ["x", "y"], ["p", "q"]]
    # 2 of 4 (the missing 4th position is wrong) + 2 of 2 + 2 of 2 (extra tokens ignored) = 6 / 8;
    # the mean of per-example ratios would be 0.8333.
    assert token_accuracy(predictions, references) == pytest.approx(6 / 8)


def test_token_accuracy_with_int_tokens():
    assert token_accuracy([[1, 2, 3]], [[1, 2, 4]]) == pytest.approx(2 / 3)


@pytest.mark.parametrize("predictions, references, message", [
    ([["a"]], [["a"], ["b"]], "1 predictions but 2 references"),
    ([], [], "no examples"),
    (["ab"], [["a", "b"]], "is a string"),
    ([[1, 2]], [["1", "2"]], "int tokens but reference 0 holds str"),
    ([["a", 1]], [["a", "b"]], "mixes str and int"),
    ([[True]], [[1]], "tokens must be str or int"),
    ([["a"]], [[]], "reference 0 is empty"),
])
def test_token_accuracy_rejects_bad_input(predictions, references, message):
    with pytest.raises(ValueError, match=message):
        token_accuracy(predictions, references)


def test_bleu_identical_is_100():
    assert bleu([["a", "b", "c", "d"], [7, 8, 9, 10]], [["a", "b", "c", "d"], [7, 8, 9, 10]]) == pytest.approx(100.0)


def test_bleu_one_sentence_by_hand():
    # n-gram precisions 4/5, 3/4, 2/3, 1/2; same length so no brevity penalty.
    expected = 100 * (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert bleu([["a", "b", "c", "d", "e"]], [["a", "b", "c", "d", "f"]]) == pytest.approx(expected, abs=1e-6)


def test_bleu_brevity_penalty_by_hand():
    # Every n-gram matches but the hypothesis has 4 of 6 tokens: BP = exp(1 - 6/4).
    expected = 100 * math.exp(1 - 6 / 4)
    assert bleu([["a", "b", "c", "d"]], [["a", "b", "c", "d", "e", "f"]]) == pytest.approx(expected, abs=1e-6)


def test_bleu_is_corpus_level_not_a_mean_of_sentences():
    predictions = [["a", "b", "c", "d", "e"], ["a", "b", "c", "d"]]
    references = [["a", "b", "c", "d", "f"], ["a", "b", "c", "d", "e", "f"]]
    # Pooled counts: matches 8, 6, 4, 2 of 9, 7, 5, 3 n-grams; lengths 9 vs 11.
    expected = 100 * math.exp(1 - 11 / 9) * (8 / 9 * 6 / 7 * 4 / 5 * 2 / 3) ** 0.25
    assert bleu(predictions, references) == pytest.approx(expected, abs=1e-6)


def test_bleu_does_not_split_tokens_further():
    # With sacrebleu's default tokeniser "x-y" would become three tokens and partly match.
    assert bleu([["x-y"]], [["x", "-", "y"]]) == pytest.approx(0.0)


@pytest.mark.parametrize("length, bucket", [(4, "4–10"), (10, "4–10"), (11, "11–20"), (20, "11–20"),
                                            (21, "21–30"), (30, "21–30"), (31, "31–40"), (40, "31–40"),
                                            (np.int64(15), "11–20")])
def test_length_bucket_edges(length, bucket):
    assert length_bucket(length) == bucket


@pytest.mark.parametrize("length", [0, 1, 3, 41, 500])
def test_length_bucket_puts_other_lengths_in_the_catch_all(length):
    assert length_bucket(length) == OTHER_BUCKET == "other"


@pytest.mark.parametrize("length, message", [(True, "must be an int"), (12.0, "must be an int"),
                                             ("7", "must be an int"), (-1, "cannot be negative")])
def test_length_bucket_rejects_bad_lengths(length, message):
    with pytest.raises(ValueError, match=message):
        length_bucket(length)


def test_length_bucket_with_given_buckets():
    subword = (("1–32", 1, 32), ("33–128", 33, 128))
    assert [length_bucket(n, subword) for n in (1, 32, 33, 128, 129, 0)] == ["1–32", "1–32", "33–128", "33–128",
                                                                               "other", "other"]


def test_default_buckets_are_bahdanau_figure_2():
    assert LENGTH_BUCKETS == (("4–10", 4, 10), ("11–20", 11, 20), ("21–30", 21, 30), ("31–40", 31, 40))
    assert BUCKET_ORDER == ("4–10", "11–20", "21–30", "31–40")


@pytest.mark.parametrize("buckets, message", [
    ((), "no length buckets"),
    ((("a", 1, 5), ("b", 5, 9)), "'a' and 'b' overlap"),
    ((("wide", 1, 50), ("inner", 10, 20)), "'wide' and 'inner' overlap"),
    ((("a", 1, 5), ("a", 6, 9)), "must be unique"),
    ((("other", 1, 5),), "must be unique and not 'other'"),
    ((("a", 5, 1),), "0 <= shortest <= longest"),
    ((("a", -1, 3),), "0 <= shortest <= longest"),
    ((("a", 1.0, 3),), "0 <= shortest <= longest"),
    ((("a", 1),), "is \\(name, shortest, longest\\)"),
    (((1, 1, 3),), "is \\(name, shortest, longest\\)"),
])
def test_check_buckets_rejects_bad_buckets(buckets, message):
    with pytest.raises(ValueError, match=message):
        check_buckets(buckets)
    with pytest.raises(ValueError, match=message):
        evaluate([["a"]], [["a"]], source_lengths=[3], buckets=buckets)


def test_by_bucket_means_in_the_given_order():
    result = by_bucket([1.0, 0.0, 1.0, 1.0, 0.0], ["a", "b", "a", "c", "c"], order=["c", "a", "b", "d"])
    assert list(result) == ["c", "a", "b"]  # "d" has no examples and is left out
    assert result == {"c": 0.5, "a": 1.0, "b": 0.0}


def test_by_bucket_weighted_mean():
    assert by_bucket([1.0, 0.5], ["a", "a"], order=["a"], weights=[1, 3]) == {"a": pytest.approx(0.625)}


def test_by_bucket_rejects_unknown_buckets_and_length_mismatch():
    with pytest.raises(ValueError, match="not in the order"):
        by_bucket([1.0], ["z"], order=["a"])
    with pytest.raises(ValueError, match="match one to one"):
        by_bucket([1.0, 0.0], ["a"], order=["a"])


def test_evaluate_overall_and_by_length():
    predictions = [["a", "b", "c", "d"], ["a", "b"], ["x", "y", "z", "w"], []]
    references = [["a", "b", "c", "d"], ["a", "c"], ["x", "y", "z", "w"], ["q", "r"]]
    result = evaluate(predictions, references, source_lengths=[5, 12, 15, 35])
    assert result["count"] == 4
    assert result["exact_match"] == pytest.approx(0.5)
    assert result["token_accuracy"] == pytest.approx(9 / 12)
    # Hypothesis n-grams 10, 7, 4, 2 with 9, 6, 4, 2 matches; 10 hypothesis vs 12 reference tokens.
    expected_bleu = 100 * math.exp(1 - 12 / 10) * (9 / 10 * 6 / 7 * 1 * 1) ** 0.25
    assert result["bleu"] == pytest.approx(expected_bleu, abs=1e-6)
    assert result["count_by_length"] == {"4–10": 1, "11–20": 2, "31–40": 1}
    assert result["exact_match_by_length"] == {"4–10": 1.0, "11–20": 0.5, "31–40": 0.0}
    # Pooled within the bucket: (1 + 4) / (2 + 4), not the mean of 1/2 and 4/4.
    assert result["token_accuracy_by_length"] == pytest.approx({"4–10": 1.0, "11–20": 5 / 6, "31–40": 0.0})
    assert result["bleu_by_length"]["4–10"] == pytest.approx(100.0)
    assert result["bleu_by_length"]["31–40"] == pytest.approx(0.0)
    assert list(result["exact_match_by_length"]) == [b for b in BUCKET_ORDER if b != "21–30"]


def test_evaluate_reports_lengths_outside_every_bucket_as_other():
    predictions = [["a", "b"], ["c"], ["d", "e"], ["f"]]
    references = [["a", "b"], ["x"], ["d", "e"], ["f"]]
    result = evaluate(predictions, references, source_lengths=[2, 55, 7, 0])
    assert result["count"] == 4
    assert list(result["count_by_length"]) == ["4–10", "other"]  # "other" comes after the named buckets
    assert result["count_by_length"] == {"4–10": 1, "other": 3}
    assert result["exact_match_by_length"] == {"4–10": 1.0, "other": pytest.approx(2 / 3)}
    assert result["token_accuracy_by_length"] == {"4–10": 1.0, "other": pytest.approx(3 / 4)}
    assert list(result["bleu_by_length"]) == ["4–10", "other"]


def test_evaluate_with_given_buckets():
    predictions = [["a"], ["b"], ["c"], ["z"]]
    references = [["a"], ["b"], ["c"], ["d"]]
    buckets = (("long", 50, 99), ("short", 1, 49))
    result = evaluate(predictions, references, source_lengths=[3, 60, 70, 120], buckets=buckets)
    assert list(result["count_by_length"]) == ["long", "short", "other"]  # the order given, then "other"
    assert result["count_by_length"] == {"long": 2, "short": 1, "other": 1}
    assert result["exact_match_by_length"] == {"long": 1.0, "short": 1.0, "other": 0.0}


def test_evaluate_rejects_bad_source_lengths():
    with pytest.raises(ValueError, match="cannot be negative"):
        evaluate([["a"]], [["a"]], source_lengths=[-2])
    with pytest.raises(ValueError, match="must be an int"):
        evaluate([["a"]], [["a"]], source_lengths=[2.5])


def test_evaluate_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="2 source lengths for 1 examples"):
        evaluate([["a"]], [["a"]], source_lengths=[5, 6])
