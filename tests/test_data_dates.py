"""Date normalisation pairs: determinism, correctness read back by an independent parser."""
from __future__ import annotations

import re
from datetime import date

import pytest

from seq2bert.data import dates

MONTH_NAMES = ["january", "february", "march", "april", "may", "june", "july", "august",
               "september", "october", "november", "december"]
WEEKDAY_NAMES = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTH_OF = {**{m: i + 1 for i, m in enumerate(MONTH_NAMES)}, **{m[:3]: i + 1 for i, m in enumerate(MONTH_NAMES)}}
WEEKDAY_OF = {**{w: i for i, w in enumerate(WEEKDAY_NAMES)}, **{w[:3]: i for i, w in enumerate(WEEKDAY_NAMES)}}


def two_digit(yy: str) -> int:
    """The documented century rule, written out independently."""
    return int(yy) + (1900 if int(yy) >= 50 else 2000)


def english_suffix(day: int) -> str:
    if day in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def parse(text: str) -> date:
    """Read a human date back, checking weekday names and ordinal suffixes on the way."""
    if m := re.fullmatch(r"(\d{4})年(\d{1,2})月(\d{1,2})日", text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text):
        return date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.fullmatch(r"(\d{1,2})\.(\d{1,2})\.(\d{4}|\d{2})", text):
        year = int(m[3]) if len(m[3]) == 4 else two_digit(m[3])
        return date(year, int(m[2]), int(m[1]))
    if m := re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4}|\d{2})", text):
        year = int(m[3]) if len(m[3]) == 4 else two_digit(m[3])
        return date(year, int(m[1]), int(m[2]))
    year = month = day = weekday = None
    for token in re.findall(r"[a-z]+|'\d{2}|\d+", text.lower()):
        if token in WEEKDAY_OF:
            weekday = WEEKDAY_OF[token]
        elif token in MONTH_OF:
            month = MONTH_OF[token]
        elif token.startswith("'"):
            year = two_digit(token[1:])
        elif len(token) == 4:
            year = int(token)
        elif token.isdigit():
            day = int(token)
        elif token in ("st", "nd", "rd", "th"):
            assert token == english_suffix(day), f"wrong ordinal suffix in {text!r}"
        else:
            assert token == "of", f"unexpected word {token!r} in {text!r}"
    result = date(year, month, day)
    if weekday is not None:
        assert result.weekday() == weekday, f"{text!r} names the wrong weekday"
    return result


def test_same_seed_same_pairs_and_different_seeds_differ():
    assert dates.generate(300, seed=7) == dates.generate(300, seed=7)
    assert dates.generate(300, seed=7) != dates.generate(300, seed=8)


def test_every_input_denotes_its_iso_output():
    for text, iso, fmt in dates.generate_labelled(3000, seed=1):
        day = date.fromisoformat(iso)
        assert day.isoformat() == iso and re.fullmatch(r"\d{4}-\d{2}-\d{2}", iso)
        assert dates.FIRST_DAY <= day <= dates.LAST_DAY
        assert parse(text) == day, (text, iso, fmt)
        assert len(text) <= dates.MAX_INPUT_CHARS


def test_weekdays_are_the_true_weekday():
    with_weekday = [(t, iso) for t, iso, f in dates.generate_labelled(2000, seed=2) if "week" in f or "wkd" in f]
    assert len(with_weekday) > 100
    for text, iso in with_weekday:
        named = next(w for w in re.findall(r"[a-z]+", text.lower()) if w in WEEKDAY_OF)
        assert WEEKDAY_OF[named] == date.fromisoformat(iso).weekday(), text


def test_every_format_appears_and_pairs_match_generate():
    labelled = dates.generate_labelled(2000, seed=3)
    assert {fmt for _, _, fmt in labelled} == set(dates.FORMATS)
    assert [(t, iso) for t, iso, _ in labelled] == dates.generate(2000, seed=3)


def test_longest_possible_input_fits():
    longest = max(dates.render(date(y, m, 30 if m != 2 else 28), f)
                  for y in (2000, 2021) for m in range(1, 13) for f in dates.FORMATS)
    assert len(longest) <= dates.MAX_INPUT_CHARS <= 32


def test_examples_of_the_spec():
    shown = dates.examples(date(2021, 3, 5))
    assert list(shown) == list(dates.FORMATS)
    assert shown["weekday_month_day_year"] == "Friday, March 5, 2021"
    assert shown["ordinal_of_month_year"] == "5th of March 2021"
    assert shown["chinese"] == "2021年3月5日"
    assert shown["dmy_dots"] == "05.03.2021"
    assert shown["mdy_slashes"] == "03/05/2021"
    assert shown["ymd_dashes"] == "2021-3-5"
    assert shown["mon_day_short_year"] == "Mar 5 '21"
    values = list(shown.values())
    assert any(v.islower() for v in values) and any(v.isupper() for v in values)
    assert len(set(values)) == len(values)


@pytest.mark.parametrize("day, text", [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"),
                                       (12, "12th"), (13, "13th"), (21, "21st"), (22, "22nd"),
                                       (23, "23rd"), (30, "30th"), (31, "31st")])
def test_ordinals(day, text):
    assert dates.ordinal(day) == text


def test_century_rule():
    assert [dates.full_year(y) for y in (0, 21, 49, 50, 99)] == [2000, 2021, 2049, 1950, 1999]
    with pytest.raises(ValueError):
        dates.full_year(100)


def test_two_digit_years_use_the_century_rule():
    assert dates.render(date(1951, 12, 31), "mdy_slashes_short") == "12/31/51"
    assert dates.render(date(2049, 1, 2), "dmy_dots_short") == "2.1.49"


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="unknown date format"):
        dates.render(date(2021, 3, 5), "nope")
    with pytest.raises(ValueError):
        dates.generate(-1, seed=0)
    assert dates.generate(0, seed=0) == []
