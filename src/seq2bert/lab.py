"""`python -m seq2bert.lab` (and `make lab`): JupyterLab on the course, with START.ipynb open.

JupyterLab is started from this same interpreter (``python -m jupyterlab``), replacing this
process, with the course folder as ``ServerApp.root_dir`` and ``LabApp.default_url`` pointing at
``/lab/tree/START.ipynb``: the browser opens there and ``/`` redirects there.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from seq2bert.cli import whole_number
from seq2bert.units import CourseError, course_root

START_PAGE = "START.ipynb"


def lab_command(root: Path, *, port: int | None = None, ip: str = "127.0.0.1", open_browser: bool = True,
                token: str | None = None, python: str = sys.executable) -> list[str]:
    """The command that starts JupyterLab on `root` with the start page as the default URL."""
    start = f"/lab/tree/{START_PAGE}" if (root / START_PAGE).is_file() else "/lab"
    command = [python, "-m", "jupyterlab", f"--ServerApp.root_dir={root}", f"--LabApp.default_url={start}",
               f"--ServerApp.ip={ip}"]
    if port is not None:
        command.append(f"--ServerApp.port={port}")
    if not open_browser:
        command.append("--no-browser")
    if token is not None:
        command.append(f"--IdentityProvider.token={token}")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # containers often run as root; Jupyter refuses without this
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m seq2bert.lab",
                                     description="Start JupyterLab on the seq2bert course with START.ipynb open.")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--port", type=whole_number(1, 65535), default=None, help="port to listen on (default: 8888 or the next free one)")
    parser.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--token", default=None, help="login token (default: a random one, printed by Jupyter)")
    parser.add_argument("--course", type=Path, default=None, help="course root (default: this checkout)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.course is not None and not Path(args.course).is_dir():
            raise CourseError(f"--course {args.course}: no such folder")
        root = Path(args.course).resolve() if args.course else course_root()
    except CourseError as error:
        print(f"seq2bert lab: {error}", file=sys.stderr)
        return 2
    if not (root / START_PAGE).is_file():
        print(f"seq2bert lab: {START_PAGE} is not built yet (run `seq2bert build`); opening the file browser instead",
              file=sys.stderr)
    command = lab_command(root, port=args.port, ip=args.ip, open_browser=not args.no_browser, token=args.token)
    print(f"Starting JupyterLab on {root} (stop it with Ctrl+C) ...", file=sys.stderr, flush=True)
    os.execv(command[0], command)
    return 0  # not reached: execv replaces this process


if __name__ == "__main__":
    sys.exit(main())
