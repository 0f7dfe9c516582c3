"""Every command and HTTP example of README.md, run as written: the helpers of the tests in
this folder (one file per independent chain of blocks, so that the test workers run the chains
side by side).

The README's ```bash blocks are read from the file and each is run by bash, line by line, in
one scratch working folder holding a copy of `data/` (the embedded data, the sample listening
log, the quick pipeline config), with the venv's `songspace` on the PATH and no SONGSPACE_*
settings, as a new user's shell after `. .venv/bin/activate`. Variables carry from line to line
within a block (`M=models/yes_small`); a line's exit code must be 0, and where the README says
what a command prints (`--json` shapes, HTTP answers, WAV files) the output is checked. Blocks
that build on each other run in the README's order: the model trained in "Using it" serves
"Asking the model", the profiles and the HTTP API.

Two things are not exactly as written: `make test` is not run (it is this suite: it would
recurse), and the HTTP block's port 8000 becomes a free loopback port. `make demo` runs in the
checkout, as the README's set-up says.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

README = REPO / "README.md"
VENV_BIN = Path(sys.executable).parent
# Lines of the README's bash blocks that the suite does not run, and why.
NOT_RUN = {"make test": "it is this test suite: running it from inside the suite would recurse"}
# The sections whose bash blocks the tests below run (a new block needs a test).
SECTIONS = {
    "Set-up: two commands": 1,
    "Using it": 1,
    "Asking the model": 1,
    "Taste profiles from listening logs": 1,
    "Text-to-music": 2,
    "Batch pipeline": 1,
    "HTTP API": 1,
}
SONG = {"song_id", "title", "artist"}
ENGINES = {"songspace", "song2vec", "popularity", "cooccurrence", "als", "bpr", "sknn", "vsknn",
           "vstan", "iknn"}


@dataclass
class Block:
    heading: str
    line: int  # of the README, where the block starts
    commands: list[str]


@dataclass
class Ran:
    command: str
    code: int
    stdout: str
    stderr: str
    seconds: float

    def json(self):
        return json.loads(self.stdout)


def bash_blocks(text: str) -> list[Block]:
    """The ```bash blocks of a Markdown text with the heading above each; a block's commands
    are its lines less blank and comment-only lines."""
    blocks: list[Block] = []
    heading, inside, start = "", False, 0
    lines: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        if not inside and line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif not inside and line.strip() == "```bash":
            inside, start, lines = True, n, []
        elif inside and line.strip() == "```":
            inside = False
            blocks.append(Block(heading, start, [c.strip() for c in lines if
                                                 c.strip() and not c.strip().startswith("#")]))
        elif inside:
            lines.append(line)
    return blocks


def blocks_of(heading: str) -> list[Block]:
    return [b for b in bash_blocks(README.read_text()) if b.heading == heading]


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONGSPACE_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(VENV_BIN.parent)
    return env


def run_block(commands: list[str], cwd: Path, timeout: float = 600) -> list[Ran]:
    """Run the commands in order in one bash process (so variables carry), stopping at the
    first that fails; each one's exit code, output and time. Whatever a block leaves running
    in the background is stopped at the end."""
    logs = Path(tempfile.mkdtemp(prefix="readme-run-"))
    script = []
    for i, command in enumerate(commands):
        # The newline before "}" ends any trailing comment of the README's line.
        script.append(f"__t=$EPOCHREALTIME\n{{ {command}\n}} >{logs}/{i}.out 2>{logs}/{i}.err\n"
                      f"__rc=$?\necho \"$__rc $__t $EPOCHREALTIME\" >{logs}/{i}.rc\n"
                      f"[ $__rc -eq 0 ] || exit $__rc\n")
    process = subprocess.Popen(["bash", "-c", "".join(script)], cwd=cwd, env=environment(),
                               start_new_session=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        _, errors = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        errors = f"timed out after {timeout:.0f}s"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    results = []
    for i, command in enumerate(commands):
        if not (logs / f"{i}.rc").exists():
            break
        code, started, ended = (logs / f"{i}.rc").read_text().split()
        results.append(Ran(command, int(code), (logs / f"{i}.out").read_text(),
                           (logs / f"{i}.err").read_text(),
                           float(ended.replace(",", ".")) - float(started.replace(",", "."))))
    ran = len(results)
    unfinished = logs / f"{ran}.err"
    said = unfinished.read_text()[-3000:] if unfinished.exists() else ""
    shutil.rmtree(logs, ignore_errors=True)
    if ran < len(commands) and not (results and results[-1].code):
        raise AssertionError(f"`{commands[ran]}` did not finish ({errors.strip()}):\n{said}")
    return results


def check_ran(results: list[Ran], commands: list[str]) -> dict[str, Ran]:
    """Every command ran and exited 0; the results by command."""
    for r in results:
        assert r.code == 0, (f"`{r.command}` exited {r.code}\nstdout: {r.stdout[-2000:]}\n"
                             f"stderr: {r.stderr[-3000:]}")
    assert [r.command for r in results] == commands
    return {r.command: r for r in results}


def only(results: dict[str, Ran], pattern: str) -> Ran:
    hits = [r for c, r in results.items() if re.search(pattern, c)]
    assert len(hits) == 1, f"{len(hits)} commands match {pattern!r}"
    return hits[0]


def is_wav(path: Path) -> bool:
    data = path.read_bytes()
    return len(data) > 44 and data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

