"""Date normalisation: human-written dates -> ISO "YYYY-MM-DD" (the first seq2seq task).

Every date lies in 1950-01-01 .. 2049-12-31. Purely numeric formats stay unambiguous because
each field order has its own separator:

- ``-`` means year-month-day ("2021-3-5"), and 8 bare digits are "YYYYMMDD";
- ``.`` means day.month.year ("05.03.2021", "5.3.21");
- ``/`` means month/day/year ("03/05/2021", "3/5/21").

Two-digit years follow one century rule (see :func:`full_year`): 50-99 -> 1950-1999 and
00-49 -> 2000-2049, so every two-digit year names exactly one year of the range.
Weekday names are always the true weekday of the date. Inputs are at most 32 characters.
"""
from __future__ import annotations

import random
from datetime import date

FIRST_DAY = date(1950, 1, 1)
LAST_DAY = date(2049, 12, 31)
MAX_INPUT_CHARS = 32  # no rendered input is longer than this

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EXAMPLE_DAY = date(2021, 3, 5)  # a Friday; what the format examples below show
_SUFFIXES = {1: "st", 2: "nd", 3: "rd"}  # ordinal suffixes other than "th"


def full_year(two_digits: int) -> int:
    """The four-digit year a two-digit year means: 50-99 -> 19xx, 00-49 -> 20xx."""
    if not 0 <= two_digits <= 99:
        raise ValueError(f"a two-digit year is 0..99, got {two_digits}")
    return (1900 if two_digits >= 50 else 2000) + two_digits


def ordinal(day: int) -> str:
    """English ordinal of a day of the month: 1st, 2nd, 3rd, 4th, 11th, 21st, ..."""
    if 11 <= day % 100 <= 13:
        return f"{day}th"
    return f"{day}{_SUFFIXES.get(day % 10, 'th')}"


def _fields(d: date) -> dict[str, str]:
    """Every piece a format may use, for one date."""
    month, weekday = MONTHS[d.month - 1], WEEKDAYS[d.weekday()]
    return {
        "y": f"{d.year:04d}", "yy": f"{d.year % 100:02d}",
        "m": str(d.month), "mm": f"{d.month:02d}", "d": str(d.day), "dd": f"{d.day:02d}",
        "month": month, "mon": month[:3], "weekday": weekday, "wkd": weekday[:3],
        "dth": ordinal(d.day),
    }


# format name -> (template over _fields, letter case applied afterwards)
_TEMPLATES = {
    "ymd_dashes": ("{y}-{m}-{d}", None),  # 2021-3-5
    "ymd_compact": ("{y}{mm}{dd}", None),  # 20210305
    "dmy_dots": ("{dd}.{mm}.{y}", None),  # 05.03.2021
    "dmy_dots_short": ("{d}.{m}.{yy}", None),  # 5.3.21
    "mdy_slashes": ("{mm}/{dd}/{y}", None),  # 03/05/2021
    "mdy_slashes_short": ("{m}/{d}/{yy}", None),  # 3/5/21
    "month_day_year": ("{month} {d}, {y}", None),  # March 5, 2021
    "day_month_year": ("{d} {month} {y}", None),  # 5 March 2021
    "mon_day_year": ("{mon} {d}, {y}", None),  # Mar 5, 2021
    "day_mon_year": ("{d} {mon} {y}", None),  # 5 Mar 2021
    "mon_day_short_year": ("{mon} {d} '{yy}", None),  # Mar 5 '21
    "weekday_month_day_year": ("{weekday}, {month} {d}, {y}", None),  # Friday, March 5, 2021
    "wkd_day_mon_year": ("{wkd} {d} {mon} {y}", None),  # Fri 5 Mar 2021
    "ordinal_of_month_year": ("{dth} of {month} {y}", None),  # 5th of March 2021
    "month_ordinal_year": ("{month} {dth}, {y}", None),  # March 5th, 2021
    "chinese": ("{y}年{m}月{d}日", None),  # 2021年3月5日
    "lower_day_month_year": ("{d} {month} {y}", "lower"),  # 5 march 2021
    "lower_month_ordinal_year": ("{month} {dth}, {y}", "lower"),  # march 5th, 2021
    "upper_day_mon_year": ("{dd} {mon} {y}", "upper"),  # 05 MAR 2021
    "upper_weekday_month_day_year": ("{weekday}, {month} {d}, {y}", "upper"),  # FRIDAY, MARCH 5, 2021
}
FORMATS: tuple[str, ...] = tuple(_TEMPLATES)


def render(d: date, fmt: str) -> str:
    """Write date `d` in the named format (one of FORMATS)."""
    if fmt not in _TEMPLATES:
        raise ValueError(f"unknown date format {fmt!r}; the formats are: {', '.join(FORMATS)}")
    template, case = _TEMPLATES[fmt]
    text = template.format(**_fields(d))
    return text.lower() if case == "lower" else text.upper() if case == "upper" else text


def examples(d: date = EXAMPLE_DAY) -> dict[str, str]:
    """One rendering of `d` per format, in FORMATS order (for showing the task)."""
    return {fmt: render(d, fmt) for fmt in FORMATS}


def generate_labelled(n: int, seed: int) -> list[tuple[str, str, str]]:
    """`n` triples (human date, ISO date, format name); dates and formats drawn uniformly."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    first, last = FIRST_DAY.toordinal(), LAST_DAY.toordinal()
    triples = []
    for _ in range(n):
        d = date.fromordinal(rng.randint(first, last))
        fmt = rng.choice(FORMATS)
        triples.append((render(d, fmt), d.isoformat(), fmt))
    return triples


def generate(n: int, seed: int) -> list[tuple[str, str]]:
    """`n` pairs (human-written date, ISO "YYYY-MM-DD"), the same for the same seed."""
    return [(text, iso) for text, iso, _ in generate_labelled(n, seed)]
