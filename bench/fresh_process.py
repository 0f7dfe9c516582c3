"""Run one setting of a bench in a fresh Python process, so that its timing and peak memory
are its own: the bench calls itself with ``--one`` and prints that setting's row as its last
line of JSON."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path


def parse_or_answer(parser: argparse.ArgumentParser, one_setting) -> argparse.Namespace | None:
    """The bench's arguments; or, called with ``--one``, print ``one_setting(args)`` as the
    row :func:`one_row` reads and return None."""
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.one:
        return args
    print(json.dumps(one_setting(args)))
    return None


def one_row(script: str | Path, flags: list[str], cwd: str | Path | None = None) -> dict:
    """The JSON row ``script --one FLAGS`` prints last (its error shown if it fails)."""
    done = subprocess.run([sys.executable, str(script), "--one", *flags], capture_output=True,
                          text=True, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"{Path(script).name} --one {' '.join(flags)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
