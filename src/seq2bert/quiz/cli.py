"""`seq2bert quiz`: take a quiz in the terminal, grade response files, validate quizzes, print a key."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seq2bert.quiz.grading import collect_response_paths, grade_files, summary_table, write_grades_csv
from seq2bert.quiz.key import key_template
from seq2bert.quiz.model import QuizFormatError, load_quiz, load_quiz_file
from seq2bert.quiz.responses import DEFAULT_RESPONSE_DIR
from seq2bert.quiz.terminal import take_quiz
from seq2bert.units import UNITS, CourseError, get_unit


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    take = actions.add_parser("take", help="answer a unit's quiz in the terminal, with feedback after each question")
    take.add_argument("unit", help="unit number, e.g. 02")
    take.add_argument("--name", help="your name (asked for if not given)")
    take.add_argument("--out", default=DEFAULT_RESPONSE_DIR, help="folder for the response file (default: %(default)s)")
    grade = actions.add_parser("grade", help="grade response files (a folder of *.json, or files) into a table/CSV")
    grade.add_argument("paths", nargs="+", help="response files and/or folders holding them")
    grade.add_argument("--csv", help="write the grades to this CSV file")
    grade.add_argument("--key", help="answer key (YAML) kept outside the repo; overrides the quiz file's answers")
    grade.add_argument("--quiz", help="only accept responses to this unit's quiz (others are reported as errors)")
    validate = actions.add_parser("validate", help="check quiz files against the format (default: every unit's quiz)")
    validate.add_argument("files", nargs="*", help="quiz YAML files or unit numbers")
    key = actions.add_parser("key", help="print an answer-key template for a unit's quiz (redirect it to key.yml)")
    key.add_argument("unit", help="unit number, e.g. 02")


def _run_take(args: argparse.Namespace) -> int:
    path = take_quiz(load_quiz(args.unit), name=args.name, out_dir=args.out)
    return 0 if path is not None else 1


def _run_grade(args: argparse.Namespace) -> int:
    paths = collect_response_paths(args.paths)
    batch = grade_files(paths, quiz=args.quiz, key=args.key)
    if args.csv:
        write_grades_csv(batch, args.csv, protected=paths)
    print(summary_table(batch))
    print(f"\ngraded {batch.graded_count} of {len(batch.grades)} file(s); {batch.error_count} had errors"
          + (" (see the error column)" if batch.error_count else "")
          + (f"; wrote {args.csv}" if args.csv else ""))
    if batch.graded_count == 0:
        print("nothing could be graded", file=sys.stderr)
        return 1
    return 0


def _validate_targets(items: list[str]) -> list[tuple[str, Path | None]]:
    if not items:
        return [(unit.number, None) for unit in UNITS]
    targets = []
    for item in items:
        if Path(item).is_file():
            targets.append((item, Path(item)))
        elif Path(item).suffix in (".yml", ".yaml"):
            raise CourseError(f"{item}: no such quiz file")
        else:
            targets.append((get_unit(item).number, None))
    return targets


def _run_validate(args: argparse.Namespace) -> int:
    failures = 0
    for label, path in _validate_targets(args.files):
        try:
            quiz = load_quiz_file(path) if path is not None else load_quiz(label)
        except QuizFormatError as error:
            failures += 1
            print("\n".join(error.problems), file=sys.stderr)
            continue
        except CourseError as error:
            failures += 1
            print(str(error), file=sys.stderr)
            continue
        kinds = sorted({q.type for q in quiz.questions})
        print(f"ok  {quiz.source}: quiz {quiz.unit}, {len(quiz.questions)} questions, "
              f"{quiz.max_score:g} points ({', '.join(kinds)})")
    if failures:
        print(f"{failures} quiz file(s) have problems", file=sys.stderr)
    return 1 if failures else 0


def _run_key(args: argparse.Namespace) -> int:
    sys.stdout.write(key_template(load_quiz(args.unit)))
    return 0


def run(args: argparse.Namespace) -> int:
    actions = {"take": _run_take, "grade": _run_grade, "validate": _run_validate, "key": _run_key}
    return actions[args.action](args)
