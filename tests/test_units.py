"""The catalogue: per-unit typed sizes, budgets, check modules, and adding a unit at run time."""
from __future__ import annotations

import os
import subprocess
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import pytest

from seq2bert import runner, settings, units
from seq2bert.build import SkippedUnitWarning, generate
from seq2bert.settings import AttentionSizes, DotProductSizes, ModeSizes, Seq2SeqSizes, TransformerSizes
from seq2bert.units import UNITS, Catalogue, CourseError, Unit, get_unit, register, registered

SRC = Path(__file__).resolve().parents[1] / "src"


@dataclass(frozen=True)
class TinySizes:
    """A later unit's own sizes: nothing in common with Seq2SeqSizes."""

    heads: int  # attention heads
    steps: int  # optimiser steps


def tiny_unit(number: str = "90", topic: str = "tiny_fixture", **changes) -> Unit:
    fields = dict(title="A fixture unit", sizes=ModeSizes(fast=TinySizes(2, 10), full=TinySizes(4, 1000)),
                  budget_seconds=5, checks=("tiny_fixture_checks",))
    fields.update(changes)
    return Unit(number, topic, **fields)


# Units 01-02's sizes as they were before sizes moved into the catalogue: they must not change.
SEQ2SEQ_SIZES = {
    ("01", True): dict(date_train=6000, date_steps=400, toy_train=8000, toy_steps=400, eval_pairs=400,
                       batch_size=64, embed=64, hidden=128, learning_rate=6e-3),
    ("01", False): dict(date_train=20000, date_steps=2000, toy_train=40000, toy_steps=2000, eval_pairs=1000,
                        batch_size=64, embed=64, hidden=128, learning_rate=4e-3),
    ("02", True): dict(date_train=6000, date_steps=400, toy_train=8000, toy_steps=200, eval_pairs=400,
                       batch_size=64, embed=64, hidden=128, learning_rate=6e-3,
                       attention_steps=200, short_words=20, short_steps=150,
                       short_plain_steps=0, bidirectional_steps=0),
    ("02", False): dict(date_train=20000, date_steps=600, toy_train=40000, toy_steps=1200, eval_pairs=1000,
                        batch_size=64, embed=64, hidden=128, learning_rate=4e-3,
                        attention_steps=1200, short_words=20, short_steps=600,
                        short_plain_steps=600, bidirectional_steps=600),
}
SIZE_TYPES = {"01": Seq2SeqSizes, "02": AttentionSizes}


@pytest.mark.parametrize("unit, fast", sorted(SEQ2SEQ_SIZES))
def test_seq2seq_units_keep_their_sizes(unit, fast):
    chosen = settings.sizes(unit, fast=fast)
    assert type(chosen) is SIZE_TYPES[unit]
    assert asdict(chosen) == SEQ2SEQ_SIZES[unit, fast]



@pytest.mark.parametrize("fast", [True, False])
def test_unit03_sizes_fit_its_notebook(fast):
    chosen = settings.sizes("03", fast=fast)
    assert type(chosen) is DotProductSizes
    assert 256 in chosen.cost_lengths  # the notebook reports ours / library at length 256
    # The notebook's saturation asserts read the widest d_k of an increasing sweep.
    assert list(chosen.sweep_widths) == sorted(set(chosen.sweep_widths)) and chosen.sweep_widths[-1] >= 256

@pytest.mark.parametrize("fast", [True, False])
def test_unit05_sizes_fit_its_notebook(fast):
    chosen = settings.sizes("05", fast=fast)
    assert type(chosen) is TransformerSizes
    # Beam search and the quality checkpoints decode the first pairs of the held-out set.
    assert 0 < chosen.beam_pairs <= chosen.eval_pairs and chosen.checkpoint_pairs <= chosen.eval_pairs
    assert bool(chosen.checkpoint_every) == bool(chosen.checkpoint_pairs)
    if not fast:  # full mode reports the 31-40-word bucket, the RNN race, the ablations and the "why" run
        assert chosen.max_words == 40 and chosen.rnn_steps and chosen.plain_steps and chosen.checkpoint_every
        assert chosen.ablation_steps and chosen.warmup_steps and chosen.why_steps


def test_fast_or_full_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("SEQ2BERT_FAST", "1")
    assert settings.sizes("01") is get_unit("01").sizes.fast
    monkeypatch.setenv("SEQ2BERT_FAST", "0")
    assert settings.sizes("1") is get_unit("01").sizes.full
    monkeypatch.delenv("SEQ2BERT_FAST")
    assert settings.sizes(2) is get_unit("02").sizes.full


def test_sizes_of_an_unknown_unit():
    with pytest.raises(CourseError, match="there is no unit '99'"):
        settings.sizes("99")


def test_session_carries_the_units_sizes(monkeypatch):
    from seq2bert.session import setup

    monkeypatch.setenv("SEQ2BERT_FAST", "1")
    session = setup("2", "torch", plots=False)
    assert session.sizes is get_unit("02").sizes.fast
    assert session.sizes.date_steps == 400  # the attribute the notebooks read


def test_catalogue_entries_name_budgets_and_check_modules():
    assert [(u.number, u.budget_seconds) for u in UNITS] == [("01", 60), ("02", 160), ("03", 75), ("04", 60),
                                                           ("05", 60)]
    from seq2bert.check import exercise_names

    # Every unit's check modules register exactly the exercises its notebooks ask for.
    assert sorted(exercise_names("01")) == ["greedy_decode", "last_real_state", "masked_cross_entropy", "padding_mask"]
    assert sorted(exercise_names("02")) == ["additive_scores", "attention_step", "context_vector", "masked_softmax"]
    assert sorted(exercise_names("03")) == ["causal_mask", "combine_masks", "online_softmax_update",
                                            "scaled_dot_product_attention"]
    assert sorted(exercise_names("04")) == ["apply_rope", "merge_heads", "multi_head_attention", "sinusoidal_encoding",
                                            "split_heads"]
    assert sorted(exercise_names("05")) == ["beam_search_step", "decoder_layer", "label_smoothed_cross_entropy",
                                            "transformer_learning_rate"]


def test_a_registered_unit_is_seen_everywhere(tmp_path):
    unit = tiny_unit()
    with registered(unit) as entry:
        assert entry is unit
        assert get_unit("90") is unit and get_unit("tiny_fixture") is unit
        assert settings.sizes("90", fast=True) == TinySizes(2, 10)
        assert settings.sizes("90", fast=False) == TinySizes(4, 1000)
        assert [u.number for u in UNITS] == ["01", "02", "03", "04", "05", "90"]
        assert runner.budget_for("90") == 5 and runner.budget_for("90", fast=False) is None
        assert runner.notebook_paths(tmp_path, frameworks=["pytorch"])[-1] == unit.notebook(tmp_path, "pytorch", solution=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            generate(tmp_path)  # an empty course: every unit of the catalogue is skipped, the new one too
        skipped = [str(w.message) for w in caught if issubclass(w.category, SkippedUnitWarning)]
        assert any(message.startswith("skipping unit 90") for message in skipped), skipped
        from seq2bert.grade import find_releases

        release = unit.notebook(tmp_path, "tensorflow")
        release.parent.mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")]), str(release))
        assert list(find_releases(tmp_path)) == [("90", "tensorflow")]
    with pytest.raises(CourseError, match="there is no unit '90'"):
        get_unit("90")
    assert len(UNITS) == 5


def test_register_returns_the_unit_and_refuses_clashes():
    unit = tiny_unit("91", "another_fixture")
    try:
        assert register(unit) is unit
        assert register(unit) is unit  # the identical entry again: a no-op
        assert len(UNITS) == 6
        with pytest.raises(CourseError, match="cannot add unit 91_other: unit 91_another_fixture"):
            register(tiny_unit("91", "other"))
        with pytest.raises(CourseError, match="unit 02_bahdanau_attention .* already has that number or topic"):
            register(tiny_unit("92", "bahdanau_attention"))
        with registered(unit):  # already there: the block must not remove it
            pass
        assert get_unit("91") is unit
    finally:
        units.UNITS.unregister(unit)
    assert len(UNITS) == 5
    with pytest.raises(CourseError, match="not in the catalogue"):
        units.UNITS.unregister(unit)


@dataclass
class MutableSizes:
    steps: int  # a config that is not frozen


@pytest.mark.parametrize("changes, error, message", [
    (dict(number="9"), ValueError, "two digits"),
    (dict(number=9), ValueError, "two digits"),
    (dict(topic="Tiny Fixture"), ValueError, "snake_case"),
    (dict(sizes={"fast": TinySizes(1, 1), "full": TinySizes(1, 1)}), ValueError, "ModeSizes"),
    (dict(budget_seconds=0), ValueError, "positive number"),
    (dict(budget_seconds=float("nan")), ValueError, "positive number"),
    (dict(budget_seconds=True), ValueError, "positive number"),
    (dict(checks="seq2bert.check.seq2seq"), ValueError, "tuple of module names"),
    (dict(checks=("not a module",)), ValueError, "tuple of module names"),
])
def test_bad_catalogue_entries_are_refused(changes, error, message):
    number = changes.pop("number", "90")
    topic = changes.pop("topic", "tiny_fixture")
    with pytest.raises(error, match=message):
        tiny_unit(number, topic, **changes)


def test_mode_sizes_need_one_frozen_dataclass_for_both_modes():
    with pytest.raises(TypeError, match="same dataclass, got TinySizes and Seq2SeqSizes"):
        ModeSizes(fast=TinySizes(1, 1), full=get_unit("01").sizes.full)
    with pytest.raises(TypeError, match="fast sizes must be a frozen dataclass"):
        ModeSizes(fast=MutableSizes(1), full=MutableSizes(2))
    with pytest.raises(TypeError, match="full sizes must be a frozen dataclass"):
        ModeSizes(fast=TinySizes(1, 1), full={"heads": 1})


def test_extra_units_from_the_environment_reach_other_processes(tmp_path):
    """A kernel or grading sandbox started with SEQ2BERT_EXTRA_UNITS sees the extra unit too."""
    (tmp_path / "extra_catalogue.py").write_text(
        "from dataclasses import dataclass\n"
        "from seq2bert.settings import ModeSizes\n"
        "from seq2bert.units import Unit, register\n\n"
        "@dataclass(frozen=True)\n"
        "class ExtraSizes:\n"
        "    width: int  # model width\n\n"
        "register(Unit('93', 'extra', 'Extra', sizes=ModeSizes(ExtraSizes(8), ExtraSizes(64)), budget_seconds=3))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(SRC), str(tmp_path)]),
               SEQ2BERT_EXTRA_UNITS="extra_catalogue", SEQ2BERT_FAST="1")
    code = "from seq2bert import settings, units; print([u.number for u in units.UNITS], settings.sizes('93'))"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['01', '02', '03', '04', '05', '93'] ExtraSizes(width=8)"


def test_extra_units_that_cannot_be_imported_get_a_one_line_error(monkeypatch):
    monkeypatch.setenv("SEQ2BERT_EXTRA_UNITS", "no_such_catalogue_module")
    catalogue = Catalogue(())
    for _ in range(2):  # still an error on the second look, not an empty catalogue
        with pytest.raises(CourseError, match="SEQ2BERT_EXTRA_UNITS: cannot import 'no_such_catalogue_module' "
                                              r"\(ModuleNotFoundError"):
            list(catalogue)


def test_unicode_digits_are_not_a_unit_number():
    with pytest.raises(CourseError, match="there is no unit '²'"):
        get_unit("²")
