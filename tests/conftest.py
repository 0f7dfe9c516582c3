from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parents[1]
# Trainings in the tests describe songs with the weight-free hashing encoder (a second, where
# all-MiniLM-L6-v2 takes a minute on the embedded catalogue); the tests of the real encoder
# name it. Set before any command runs, so `songspace` subprocesses inherit it too.
os.environ.setdefault("SONGSPACE_TEXT_ENCODER", "hashing-64")
SHARED_DATA = Path(os.environ.get("SONGSPACE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real data sets beside the checkout (CI lays a copy of shared/ there)."""
    if not (SHARED_DATA / "yes_playlists").is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA}")
    return SHARED_DATA


def run(*args, code: int = 0):
    """Run the songspace CLI in-process as a user would; check its exit code."""
    from cli.main import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def once_per_session(tmp_path_factory, name: str, make: Callable[[Path], None]) -> Path:
    """The folder `name`, made by `make(folder)` once in the whole test session: the parallel
    test workers share it (the first to need it makes it while the others wait), so a
    training every worker needs runs once, not once per worker."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is a folder of the run's base, which they share.
    shared = base.parent if base.name.startswith("popen-gw") else base
    folder = shared / "once" / name
    folder.parent.mkdir(exist_ok=True)
    with open(folder.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder.parent / f"{name}.done").exists():
            make(folder)
            (folder.parent / f"{name}.done").touch()
    return folder


@pytest.fixture(scope="session")
def splits(tmp_path_factory) -> Path:
    """The embedded data split as `songspace split` does it."""
    from foundation.paths import DEFAULT_DATA

    return once_per_session(tmp_path_factory, "splits", lambda out: run(
        "split", DEFAULT_DATA, "--out", out, "--valid", "0.05", "--test", "0.05", "--seed", "1"))


def train_small_model(splits: Path, out: Path) -> None:
    """`songspace train` of the session's shared model: seeded, 5 epochs, the ranker on 300
    cases cross-fitted over two folds (the default three cost half as much again)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    config = out.parent / f"{out.name}.toml"
    config.write_text("[next_song]\nfolds = 2\n")
    run("train", "--playlists", splits / "train", "--out", out, "--config", config,
        "--epochs", "5", "--seed", "1", "--ranker-cases", "300")


@pytest.fixture(scope="session")
def model(splits, tmp_path_factory) -> Path:
    """A small seeded song2vec model trained through the CLI on the embedded data."""
    return once_per_session(tmp_path_factory, "models",
                            lambda folder: train_small_model(splits, folder / "model")) / "model"


# The README's chains by how long they run (on an idle machine: the trained model's chain about
# two minutes, make demo a minute and a half, text-to-music and the pipeline under one).
LONGEST_FIRST = ("tests/readme/test_using_it.py", "tests/readme/test_set_up.py",
                 "tests/readme/test_text_to_music.py", "tests/readme/test_batch_pipeline.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest files first, then the others marked slow: the test workers hand out files in
    this order, so the long ones start at once rather than one of them starting last and keeping
    a worker busy alone at the end (longest-first scheduling)."""

    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::")[0]
        if path in LONGEST_FIRST:
            return LONGEST_FIRST.index(path)
        return len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)

    items.sort(key=rank)
