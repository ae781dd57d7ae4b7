"""The `seq2bert` command (also `python -m seq2bert`).

Each verb lives in its own module, which provides `configure(parser)` and `run(args) -> int`;
modules are imported only when their verb is used, so `--help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from seq2bert.units import CourseError

# verb -> (module, one-line help)
VERBS = {
    "build": ("seq2bert.build", "generate student and solution notebooks from course/ sources"),
    "run": ("seq2bert.runner", "execute every solution notebook in fast mode and write a summary"),
    "doctor": ("seq2bert.doctor", "check that this machine can run the course"),
    "quiz": ("seq2bert.quiz.cli", "take a unit's quiz in the terminal, or grade response files"),
    "grade": ("seq2bert.grade", "grade student notebooks (each in its own sandboxed process)"),
    "data": ("seq2bert.data.cli", "download optional real datasets into the user cache"),
    "units": ("seq2bert.catalog_cli", "list the course's units and their files"),
    "figures": ("seq2bert.diagrams", "redraw the architecture diagrams in lessons/figures/ (--check: list stale ones)"),
}


def whole_number(low: int, high: int | None = None):
    """An argparse type for an integer in [low, high], with a one-line message otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not between {low} and {high}")
        if value < low:
            raise argparse.ArgumentTypeError(f"{text!r} must be positive" if low == 1 else f"{text!r} must not be negative"
                                             if low == 0 else f"{text!r} must be at least {low}")
        return value

    return parse


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seq2bert", description="seq2bert: attention from Seq2Seq to BERT.")
    sub = parser.add_subparsers(dest="verb", metavar="VERB")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for verb, (module_name, help_text) in VERBS.items():
        verb_parser = sub.add_parser(verb, help=help_text, description=help_text)
        # Only the module of the verb being run is imported (its options need it).
        if verb == chosen:
            module = importlib.import_module(module_name)
            module.configure(verb_parser)
            verb_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.verb is None:
        parser.print_help()
        return 0
    try:
        return int(args._module.run(args) or 0)
    except CourseError as error:
        print(f"seq2bert {args.verb}: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # a file or folder the user named cannot be read or written
        print(f"seq2bert {args.verb}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
