"""`seq2bert units`: list the units with their notebooks, lesson and quiz."""
from __future__ import annotations

import argparse

from seq2bert.units import FRAMEWORKS, UNITS, course_root


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--paths", action="store_true", help="also print every file of each unit")


def run(args: argparse.Namespace) -> int:
    root = course_root()
    for unit in UNITS:
        print(f"{unit.number}  {unit.title}")
        if args.paths:
            for path in [unit.lesson(root), unit.quiz(root)] + [
                unit.notebook(root, fw, sol) for fw in FRAMEWORKS for sol in (False, True)
            ]:
                print(f"      {path.relative_to(root)}")
    return 0
