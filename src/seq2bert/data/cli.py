"""`seq2bert data tatoeba [--download] [--cache-dir DIR]`: fetch or inspect the optional real data."""
from __future__ import annotations

import argparse

from seq2bert.data import tatoeba


def configure(parser: argparse.ArgumentParser) -> None:
    datasets = parser.add_subparsers(dest="dataset", metavar="DATASET", required=True)
    tato = datasets.add_parser(
        "tatoeba", help="Tatoeba English–French pairs (manythings.org fra-eng.zip)",
        description="Show where the Tatoeba English–French pairs are and how many there are; "
                    "with --download, fetch them first if they are missing. The course works "
                    "offline without them.")
    tato.add_argument("--download", action="store_true",
                      help=f"download {tatoeba.URL} into the cache if it is not there")
    tato.add_argument("--cache-dir", metavar="DIR", default=None,
                      help=f"cache folder (default: ${tatoeba.CACHE_ENV}, else $XDG_CACHE_HOME/seq2bert, "
                           "else ~/.cache/seq2bert)")
    tato.add_argument("--sha256", metavar="HEX", default=None,
                      help="expected SHA-256 of the zip, checked before it is used")


def run(args: argparse.Namespace) -> int:
    pairs, path, malformed = tatoeba.load_with_info(download=args.download, cache_dir=args.cache_dir,
                                                    sha256=args.sha256)
    print(f"Tatoeba English–French: {path}")
    skipped = f" ({malformed} malformed lines skipped)" if malformed else ""
    print(f"  {len(pairs):,} pairs{skipped}")
    english, french = pairs[len(pairs) // 2]
    print(f"  e.g. {english}  ->  {french}")
    return 0
