"""An API over the session's seeded model and profiles built from the test split's playlists
as listening logs (the same users as tests/test_cli_profiles.py)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import polars as pl
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from tests.conftest import run
from tests.test_cli_profiles import as_events, write_csv

API_KEY = "test-key"


@pytest.fixture(scope="session")
def listeners(splits) -> dict[str, list[str]]:
    """30 users: the test split's playlists of 5 songs or more, as listening histories."""
    playlists = pl.read_parquet(splits / "test" / "playlists.parquet")
    grouped = (playlists.sort("playlist_id", "position")
               .group_by("playlist_id", maintain_order=True).agg("song_id")
               .filter(pl.col("song_id").list.len() >= 5).head(30))
    return {f"user{pid}": songs for pid, songs in grouped.iter_rows()}


@pytest.fixture(scope="session")
def profiles(model, listeners, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("api-profiles")
    rows = [e for user, songs in listeners.items() for e in as_events(user, songs)]
    run("profiles", "build", "--logs", write_csv(folder / "logs.csv", rows), "--model", model,
        "--out", folder / "profiles")
    return folder / "profiles"


def make_settings(model: Path, profiles: Path | None, tmp: Path, **extra) -> Settings:
    """Settings with a private copy of the profiles, so tests that post events do not leak
    into each other."""
    copy = None
    if profiles is not None:
        copy = tmp / "profiles"
        shutil.copytree(profiles, copy)
    extra.setdefault("watch_seconds", 0)  # reloads only when a test asks
    extra.setdefault("generator", None)  # text-to-music only where a test asks
    # Without a key the server refuses to start unless told that writes may be open.
    extra.setdefault("insecure_open_writes", "api_key" not in extra)
    return Settings(artifacts=model, profiles=copy, events_db=tmp / "events.sqlite",
                    _env_file=None, **extra)  # type: ignore[call-arg]


@pytest.fixture(scope="module")
def settings(model, profiles, tmp_path_factory) -> Settings:
    return make_settings(model, profiles, tmp_path_factory.mktemp("api"), api_key=API_KEY,
                         max_body_bytes=20_000, max_k=50)


@pytest.fixture(scope="module")
def client(settings):
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def known_song(client, model) -> dict:
    """The most played song of the model (it has a vector)."""
    songs = pl.read_parquet(model / "playlists.parquet")["song_id"].value_counts(sort=True)
    return client.get(f"/songs/{songs['song_id'][0]}").json()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving(*args: str | Path, env: dict[str, str | None] | None = None, timeout: float = 60.0):
    """`songspace serve ARGS` on a free loopback port; yields its base URL. `env` adds
    environment variables (None removes one)."""
    port = free_port()
    songspace = Path(sys.executable).with_name("songspace")  # the venv's console script
    command = [str(songspace), "serve", *map(str, args), "--port", str(port)]
    environment = {k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None}
    process = subprocess.Popen(command, env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"songspace serve exited:\n{process.stdout.read()}")
            try:
                if httpx.get(base + "/ready", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("songspace serve did not become ready in time")
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture(scope="session")
def live(model, profiles, tmp_path_factory) -> Iterator[str]:
    """A real `songspace serve` (uvicorn) over the session's model and a copy of its
    profiles, without an API key."""
    tmp = tmp_path_factory.mktemp("live")
    shutil.copytree(profiles, tmp / "profiles")
    with serving("--artifacts", model, "--profiles", tmp / "profiles", "--insecure-open-writes",
                 env={"SONGSPACE_API_KEY": None, "SONGSPACE_GENERATOR": ""}) as base:
        yield base
