"""Run one setting of a bench in a fresh Python process, so that its timing and peak memory
are its own: the bench calls itself with ``--one`` and prints that setting's row as its last
line of JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def one_row(script: str | Path, flags: list[str], cwd: str | Path | None = None) -> dict:
    """The JSON row ``script --one FLAGS`` prints last (its error shown if it fails)."""
    done = subprocess.run([sys.executable, str(script), "--one", *flags], capture_output=True,
                          text=True, cwd=cwd)
    if done.returncode != 0:
        raise SystemExit(f"{Path(script).name} --one {' '.join(flags)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])
