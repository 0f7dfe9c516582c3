"""`songspace continue` and POST /playlists/continue driven as a user would: the ranker behind
them, temperature draws that a seed reproduces, temperature 0 equal to the top k, and grown
playlists without repeats or too many songs of one artist."""

from __future__ import annotations

import json
from collections import Counter

import polars as pl
import pytest

from tests.conftest import run

SEEDS = ("Hotel California", "Bohemian Rhapsody")


def continue_json(model, *args) -> list[dict]:
    return json.loads(run("continue", *SEEDS, "--model", model, *args, "--json").stdout)


def test_temperature_zero_is_the_top_k_and_a_seed_repeats_its_draw(model):
    best = continue_json(model, "--k", "10")
    assert len(best) == 10 and set(best[0]) >= {"song_id", "title", "artist", "score"}
    assert [r["score"] for r in best] == sorted((r["score"] for r in best), reverse=True)
    assert continue_json(model, "--k", "10", "--temperature", "0", "--seed", "5") == best
    drawn = continue_json(model, "--k", "10", "--temperature", "1", "--seed", "3")
    assert drawn == continue_json(model, "--k", "10", "--temperature", "1", "--seed", "3")
    assert len({r["song_id"] for r in drawn}) == 10
    others = [continue_json(model, "--k", "10", "--temperature", "1", "--seed", str(s))
              for s in (4, 5)]
    assert any(o != drawn for o in others)
    given = {r["title"] for r in drawn} & set(SEEDS)
    assert not given


def test_grow_makes_a_playlist_without_repeats_within_the_artist_cap(model):
    songs = pl.read_parquet(model / "songs.parquet")
    artist_of = dict(zip(songs["song_id"], songs["artist"], strict=True))
    grown = continue_json(model, "--k", "15", "--grow", "--temperature", "0.5", "--seed", "1",
                          "--max-per-artist", "1")
    ids = [r["song_id"] for r in grown]
    assert len(ids) == 15 and len(set(ids)) == 15
    artists = Counter(artist_of[i] for i in ids)
    assert max(artists.values()) == 1
    assert not {"Queen", "Eagles"} & set(artists)  # the seeds' artists are at their cap
    again = continue_json(model, "--k", "15", "--grow", "--temperature", "0.5", "--seed", "1",
                          "--max-per-artist", "1")
    assert again == grown


def test_continue_over_http_is_the_cli_answer(client, model):
    body = {"songs": list(SEEDS), "k": 8, "temperature": 0.7, "seed": 11}
    rows = client.post("/playlists/continue", json=body).json()["results"]
    assert rows == continue_json(model, "--k", "8", "--temperature", "0.7", "--seed", "11")
    grown = client.post("/playlists/continue", json={
        "songs": list(SEEDS), "k": 6, "grow": True, "max_per_artist": 2}).json()["results"]
    assert len({r["song_id"] for r in grown}) == 6


@pytest.mark.parametrize("bad", [{"temperature": -1}, {"temperature": True},
                                 {"max_per_artist": 0}])
def test_continue_rejects_bad_settings(client, bad):
    response = client.post("/playlists/continue", json={"songs": list(SEEDS), **bad})
    assert response.status_code == 422


STARTED_THREADS = """
import asyncio, json, sys
from pathlib import Path
from threadpoolctl import threadpool_info
from api.lifespan import lifespan
from api.main import create_app
from tests.api.conftest import make_settings

def blas():
    return sorted({lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"})

async def started(blas_threads):
    folder = Path(sys.argv[2]) / str(blas_threads)
    folder.mkdir()
    settings = make_settings(Path(sys.argv[1]), None, folder, blas_threads=blas_threads)
    async with lifespan(create_app(settings)):
        return blas()

before = blas()
# The untouched start first: the limited one changes the process's BLAS for good.
after = {n: asyncio.run(started(n)) for n in (0, 1)}
print(json.dumps({"before": before, "untouched": after[0], "limited": after[1]}))
"""


def test_the_server_runs_one_blas_thread_per_worker(model, tmp_path):
    """Requests already run side by side; BLAS threads inside each would fight over the cores
    (on 2 cores they made continuations 3x slower under load). The starts run in a fresh
    process (BLAS settings are process-wide), the untouched one first; the lifespan runs in its
    main thread, as uvicorn runs it in a worker's."""
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env = {k: v for k, v in env.items() if not k.endswith("_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", STARTED_THREADS, str(model), str(tmp_path)],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    started = json.loads(out.stdout.splitlines()[-1])
    if started["before"] == [1]:
        pytest.skip("BLAS runs one thread here by default (one core): nothing to limit")
    assert started["untouched"] == started["before"]
    assert started["limited"] == [1]
