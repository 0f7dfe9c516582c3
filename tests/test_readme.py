"""Every command and HTTP example of README.md, run as written.

The README's ```bash blocks are read from the file and each is run by bash, line by line, in
one scratch working folder holding a copy of `data/` (the embedded data, the sample listening
log, the quick pipeline config), with the venv's `songspace` on the PATH and no SONGSPACE_*
settings, as a new user's shell after `. .venv/bin/activate`. Variables carry from line to line
within a block (`M=models/yes_small`); a line's exit code must be 0, and where the README says
what a command prints (`--json` shapes, HTTP answers, WAV files) the output is checked. Blocks
run in the README's order: the model trained in "Using it" serves "Asking the model", the
profiles and the HTTP API.

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

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

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


# --------------------------------------------------------------------------------------------
# The scratch folder and the blocks the others build on
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def scratch(tmp_path_factory) -> Path:
    """The working folder of the examples: a copy of data/ (they write beside it)."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "data", folder / "data",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder


@pytest.fixture(scope="session")
def using_it(scratch) -> dict[str, Ran]:
    """"Using it": ingest, split, train (models/yes_small), evaluate."""
    (block,) = blocks_of("Using it")
    return check_ran(run_block(block.commands, scratch), block.commands)


@pytest.fixture(scope="session")
def taste(scratch, using_it) -> dict[str, Ran]:
    """"Taste profiles from listening logs": profiles/yes_small from the sample log."""
    (block,) = blocks_of("Taste profiles from listening logs")
    return check_ran(run_block(block.commands, scratch), block.commands)


# --------------------------------------------------------------------------------------------
# The tests, in the README's order
# --------------------------------------------------------------------------------------------


def test_every_bash_block_is_run_by_a_test():
    blocks = bash_blocks(README.read_text())
    found: dict[str, int] = {}
    for block in blocks:
        found[block.heading] = found.get(block.heading, 0) + 1
    assert found == SECTIONS
    lines = {c for b in blocks for c in b.commands}
    # The lines left out are in the README: the list above cannot hide a real example.
    assert {c.split("#")[0].strip() for c in lines} >= set(NOT_RUN)


def test_set_up_make_demo():
    (block,) = blocks_of("Set-up: two commands")
    commands = [c for c in block.commands if c.split("#")[0].strip() not in NOT_RUN]
    assert [c.split("#")[0].strip() for c in commands] == ["make demo"]
    stale = subprocess.run(["make", "-q", f"{VENV_BIN.relative_to(REPO)}/songspace"],
                           cwd=REPO, capture_output=True)
    if stale.returncode:
        pytest.fail("the venv is older than pyproject.toml, so `make demo` would reinstall it "
                    "first: run `make install` (a test does not reinstall the venv it runs in)")
    (demo,) = check_ran(run_block(commands, REPO), commands).values()
    out = demo.stderr
    assert "next-song prediction" in out and all(name in out for name in ENGINES)
    assert "songs similar to Bohemian Rhapsody by Queen" in out
    assert re.search(r"quarantined 6 rows", out)
    assert "for alice" in out and "because" in out


def test_using_it(using_it):
    evaluation = only(using_it, r"^songspace evaluate .*--test .*--json").json()
    assert evaluation["cases"] > 0 and set(evaluation["models"]) == ENGINES
    for values in evaluation["models"].values():
        assert {"hr@10", "hr@100", "ndcg@10", "mrr", "coverage@10"} <= set(values)
    assert "tag_jaccard@10" in only(using_it, r"--similar").stderr


def test_asking_the_model(scratch, using_it):
    (block,) = blocks_of("Asking the model")
    results = check_ran(run_block(block.commands, scratch), block.commands)
    similar = only(results, r"^songspace similar .*--json").json()
    assert len(similar) == 10
    assert all(set(row) == {*SONG, "score"} for row in similar)
    assert "Bohemian Rhapsody" in only(results, r"^songspace search").stderr


def test_taste_profiles(taste):
    report = only(taste, r"^songspace profiles build .*--json").json()
    assert {"events_read", "events_used", "events_without_vector", "quarantined",
            "quarantined_by_reason", "unmatched_events", "unmatched_songs", "non_music",
            "users", "users_with_profile", "users_with_interests"} <= set(report)
    assert report["events_read"] == sum(report[k] for k in (
        "events_used", "events_without_vector", "quarantined", "unmatched_events",
        "non_music"))
    assert report["quarantined"] > 0 and report["users_with_profile"] == report["users"] > 1
    rows = only(taste, r"^songspace recommend .*--user alice .*--json").json()
    assert len(rows) == 10
    assert all(set(r) == {*SONG, "score", "because"} and set(r["because"]) == SONG
               for r in rows)
    assert "because" in only(taste, r"--diversity").stderr
    users = only(taste, r"^songspace similar-users .*--json").json()
    assert len(users) == 3
    assert all(set(u) == {"user_id", "score", "songs_in_common"} for u in users)


def test_text_to_music(scratch):
    block = blocks_of("Text-to-music")[0]
    results = check_ran(run_block(block.commands, scratch), block.commands)
    for result in results.values():
        match = re.search(r"--out (\S+\.wav)", result.command)
        if match:
            assert is_wav(scratch / match.group(1)), result.command
    assert (scratch / "my_audio" / "captions.csv").is_file()
    assert (scratch / "runs" / "mine" / "model").is_dir()


def test_text_to_music_training_is_bounded(scratch):
    block = blocks_of("Text-to-music")[1]
    (command,) = block.commands
    minutes = float(re.search(r"--max-minutes (\S+)", command).group(1))
    # Starting up (torch, the text encoder) and saving come on top of the bound.
    (result,) = check_ran(run_block(block.commands, scratch, timeout=minutes * 60 + 90),
                          block.commands).values()
    assert result.seconds < minutes * 60 + 60
    assert "nan" not in (result.stdout + result.stderr).lower()


def test_batch_pipeline(scratch):
    (block,) = blocks_of("Batch pipeline")
    results = check_ran(run_block(block.commands, scratch), block.commands)
    status = only(results, r"^songspace pipeline status .*--json").json()
    assert status["current"] and status["runs"][0]["status"] == "complete"
    assert (scratch / "pipelines_out" / "current" / "report" / "report.html").is_file()


def test_the_pipeline_config_shown_is_the_one_shipped():
    text = README.read_text()
    section = text[text.index("## Batch pipeline"):text.index("## HTTP API")]
    blocks = re.findall(r"```toml\n(.*?)```\n", section, flags=re.S)
    assert blocks == [(REPO / "data" / "pipeline.toml").read_text()]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_http_api(scratch, taste):
    (block,) = blocks_of("HTTP API")
    assert any("--port 8000" in c for c in block.commands)
    port = str(free_port())
    commands = [c.replace("--port 8000", f"--port {port}").replace("127.0.0.1:8000",
                                                                   f"127.0.0.1:{port}")
                for c in block.commands]
    results = check_ran(run_block(commands, scratch), commands)

    def answer(pattern: str):
        return only(results, pattern).json()

    assert answer(r"/ready")["status"] == "ready"
    search = answer(r"/songs\?q=")
    assert search["results"] and all(set(r) == {*SONG, "plays"} for r in search["results"])
    similar = answer(r"/similar\?")
    assert similar["song"]["title"] == "Hotel California" and len(similar["results"]) == 5
    mix = answer(r"/tags/search\?")
    assert len(mix["results"]) == 5 and set(mix["mix"]) == {"rock", "country"}
    assert len(answer(r"/playlists/continue")["results"]) == 5
    assert answer(r"/users/\w+/events")["accepted"] == 1
    recommended = answer(r"/recommendations")["results"]
    assert len(recommended) == 5 and all(set(r["because"]) == SONG for r in recommended)
    assert is_wav(scratch / "clip.wav")
    # The endpoint table's tag mix is the one the example runs.
    table_mix = re.search(r"GET /tags/search\?mix=([^&`]+)", README.read_text()).group(1)
    assert f"mix={table_mix}&" in only(results, r"/tags/search\?").command
