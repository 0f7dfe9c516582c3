"""Issue 16: a service that always comes back up and refuses abuse by default.

Each test here failed on the code before the fix: events naming songs a new catalogue lacks
blocked reload and start-up (1), a broken run killed the pointer watcher and answered 500 (2),
writes were open without a word and nothing limited a client (3), a reload onto a run without
profiles was accepted (5). The chaos test at the end runs all of it against a real server.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import polars as pl
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import API_KEY, free_port, make_settings
from tests.api.test_api import WRITE, assert_error
from tests.conftest import run
from tests.test_cli_profiles import as_events, write_csv


@pytest.fixture(scope="session")
def lacking(listeners) -> str:
    """A song the smaller catalogue lacks: the first song of the first listener."""
    return next(iter(listeners.values()))[0]


@pytest.fixture(scope="session")
def smaller(splits, listeners, lacking, tmp_path_factory) -> tuple[Path, Path]:
    """(model, profiles) over a catalogue without `lacking`: a model published later."""
    folder = tmp_path_factory.mktemp("smaller")
    data = folder / "data"
    data.mkdir()
    pl.read_parquet(splits / "train" / "playlists.parquet").filter(
        pl.col("song_id") != lacking).write_parquet(data / "playlists.parquet")
    pl.read_parquet(splits / "train" / "songs.parquet").filter(
        pl.col("song_id") != lacking).write_parquet(data / "songs.parquet")
    run("train", "--playlists", data, "--out", folder / "model", "--epochs", "1", "--seed", "2",
        "--no-ranker", "--no-text-map")
    rows = [e for user, songs in listeners.items()
            for e in as_events(user, [s for s in songs if s != lacking])]
    run("profiles", "build", "--logs", write_csv(folder / "logs.csv", rows), "--model",
        folder / "model", "--out", folder / "profiles")
    return folder / "model", folder / "profiles"


def publish(root: Path, name: str, model: Path, profiles: Path | None) -> Path:
    """A pipeline run folder (``runs/NAME`` with ``train/model`` and ``profiles/profiles``)."""
    folder = root / "runs" / name
    shutil.copytree(model, folder / "train" / "model")
    if profiles is not None:
        shutil.copytree(profiles, folder / "profiles" / "profiles")
    (folder / "run.json").write_text("{}")
    return folder


def point(root: Path, name: str) -> None:
    """Flip ``current`` atomically (a new symlink renamed over the old one)."""
    staging = root / f".current-{name}"
    staging.unlink(missing_ok=True)
    staging.symlink_to(f"runs/{name}")
    os.replace(staging, root / "current")


def broken(root: Path, name: str, model: Path, profiles: Path) -> None:
    """A run whose model manifest lacks its `files` (a KeyError deep in loading)."""
    folder = publish(root, name, model, profiles)
    manifest = folder / "train" / "model" / "manifest.json"
    values = json.loads(manifest.read_text())
    del values["files"]
    manifest.write_text(json.dumps(values))


def run_settings(root: Path, tmp: Path, **extra):
    extra.setdefault("api_key", API_KEY)
    settings = make_settings(root, None, tmp, **extra)
    settings.events_db = root / "events.sqlite"
    return settings


# -- 1: events for songs the catalogue lacks never block start-up or reload -----------------
def test_events_for_songs_a_new_catalogue_lacks_wait_in_the_log(model, profiles, smaller,
                                                                 lacking, tmp_path):
    root = tmp_path / "out"
    publish(root, "full", model, profiles)
    publish(root, "small", *smaller)
    point(root, "full")
    settings = run_settings(root, tmp_path)
    event = {"events": [{"song": lacking, "event": "like"}] * 13}
    with TestClient(create_app(settings)) as client:
        assert client.post("/users/fan/events", json=event, headers=WRITE).status_code == 202
        point(root, "small")
        answer = client.post("/admin/reload", headers=WRITE)
        assert answer.status_code == 200, answer.text  # was 409
        ready = client.get("/ready").json()
        assert ready["version"].startswith("small@") and ready["events_waiting"] == 13
        assert "songspace_events_waiting 13.0" in client.get("/metrics").text
        assert_error(client.get("/users/fan/profile"), 404, "user_not_found")
    with TestClient(create_app(settings)) as client:  # a fresh start on it: was exit 3
        assert client.get("/ready").json()["events_waiting"] == 13
    point(root, "full")  # a catalogue with the song again applies them
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready").json()
        assert ready["version"].startswith("full@") and ready["events_waiting"] == 0
        assert client.get("/users/fan/profile").json()["events"] == 13
    rows = sqlite3.connect(root / "events.sqlite").execute(
        "SELECT count(*) FROM events WHERE song_id = ?", (lacking,)).fetchone()[0]
    assert rows == 13  # nothing lost


def test_profiles_build_and_update_count_unmatched_events_instead_of_failing(
        smaller, listeners, lacking, tmp_path):
    _, profiles = smaller
    copy = tmp_path / "profiles"
    shutil.copytree(profiles, copy)
    user = next(iter(listeners))
    logs = write_csv(tmp_path / "new.csv", as_events(user, [lacking, listeners[user][1]]))
    report = json.loads(run("profiles", "update", "--logs", logs, "--profiles", copy,
                            "--json").stdout)
    assert report["unmatched_events"] == 1 and report["events_used"] + \
        report["events_without_vector"] == 1


# -- 2: the watcher survives every error; a bad run is 409, never 5xx ------------------------
def test_the_watcher_survives_a_broken_run_and_keeps_watching(model, profiles, tmp_path):
    root = tmp_path / "out"
    publish(root, "a", model, profiles)
    broken(root, "broken", model, profiles)
    publish(root, "b", model, profiles)
    point(root, "a")
    settings = run_settings(root, tmp_path, watch_seconds=0.1)
    with TestClient(create_app(settings)) as client:
        point(root, "broken")
        time.sleep(1.0)  # the watcher tries it (and fails)
        assert client.get("/ready").json()["version"].startswith("a@")
        body = assert_error(client.post("/admin/reload", headers=WRITE), 409, "reload_failed")
        # was a 500; now a 409 naming the manifest's missing table, the old run still served
        assert "'files'" in body["message"] and "a@" in body["message"]
        assert 'songspace_reloads_total{outcome="failed"} 2.0' in client.get("/metrics").text
        point(root, "b")
        deadline = time.monotonic() + 20
        while not client.get("/ready").json()["version"].startswith("b@"):
            assert time.monotonic() < deadline, "the watcher died: b was never picked up"
            time.sleep(0.1)


# -- 5: a run must be complete to be served ------------------------------------------------
def test_a_reload_onto_a_run_without_profiles_is_refused(model, profiles, tmp_path, listeners):
    root = tmp_path / "out"
    publish(root, "a", model, profiles)
    publish(root, "bare", model, None)
    point(root, "a")
    with TestClient(create_app(run_settings(root, tmp_path))) as client:
        point(root, "bare")
        body = assert_error(client.post("/admin/reload", headers=WRITE), 409, "reload_failed")
        assert "profiles" in body["message"]  # was 200, and /users went 503
        assert client.get("/ready").json()["version"].startswith("a@")
        user = next(iter(listeners))
        assert client.get(f"/users/{user}/profile").status_code == 200


# -- 3: safe defaults --------------------------------------------------------------------
def test_serve_refuses_open_writes_unless_told(model, tmp_path, monkeypatch):
    monkeypatch.delenv("SONGSPACE_API_KEY", raising=False)
    monkeypatch.delenv("SONGSPACE_INSECURE_OPEN_WRITES", raising=False)
    monkeypatch.setenv("SONGSPACE_ARTIFACTS", "restored-after-the-test")  # serve sets it
    monkeypatch.chdir(tmp_path)  # no .env
    result = run("serve", "--artifacts", model, code=2)
    assert "SONGSPACE_API_KEY" in result.stderr and "--insecure-open-writes" in result.stderr
    settings = make_settings(model, None, tmp_path, insecure_open_writes=False)
    with pytest.raises(RuntimeError, match="insecure-open-writes"), \
            TestClient(create_app(settings)):  # create_app alone refuses too
        pass


def test_a_client_over_its_rate_gets_429_with_retry_after(model, tmp_path):
    settings = make_settings(model, None, tmp_path, api_key=API_KEY, rate_limit=0.5,
                             rate_burst=5)
    with TestClient(create_app(settings)) as client:
        assert [client.get("/health").status_code for _ in range(5)] == [200] * 5
        limited = assert_error(client.get("/health"), 429, "rate_limited")
        assert "try again" in limited["message"]
        assert int(client.get("/songs?q=a").headers["retry-after"]) >= 1
        # the right key is a client of its own: another address's flood does not block it
        assert client.get("/health", headers=WRITE).status_code == 200
        assert 'songspace_rate_limited_total{limit="rate"}' in client.get(
            "/metrics", headers=WRITE).text


def test_failed_authentications_are_limited_harder(model, tmp_path):
    settings = make_settings(model, None, tmp_path, api_key=API_KEY, auth_failures_per_minute=3)
    with TestClient(create_app(settings)) as client:
        wrong = {"X-API-Key": "guess"}
        statuses = [client.post("/admin/reload", headers=wrong).status_code for _ in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        locked = client.post("/admin/reload", headers=WRITE)  # even the right key, for now
        assert_error(locked, 429, "rate_limited")
        assert 15 <= int(locked.headers["retry-after"]) <= 20


# -- chaos: writers, flips between good, broken and smaller runs, kill -9 and restart --------
def start_serve(root: Path, port: int, log: Path) -> subprocess.Popen:
    songspace = Path(sys.executable).with_name("songspace")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONGSPACE_")}
    env.update(SONGSPACE_API_KEY=API_KEY, SONGSPACE_GENERATOR="", SONGSPACE_WATCH_SECONDS="0.2")
    with log.open("a") as out:
        return subprocess.Popen([str(songspace), "serve", "--artifacts", str(root), "--port",
                                 str(port)], env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_ready(base: str, process: subprocess.Popen, log: Path, prefix: str = "",
               timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"serve exited:\n{log.read_text()}"
        try:
            ready = httpx.get(base + "/ready", headers=WRITE, timeout=2.0)
            if ready.status_code == 200 and ready.json()["version"].startswith(prefix):
                return ready.json()
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready with {prefix!r} in {timeout}s:\n{log.read_text()[-3000:]}")


def test_chaos_writers_flips_and_kill_9_lose_no_acknowledged_event(
        model, profiles, smaller, listeners, lacking, tmp_path):
    root = tmp_path / "out"
    publish(root, "a", model, profiles)
    broken(root, "broken", model, profiles)
    publish(root, "small", *smaller)
    publish(root, "b", model, profiles)
    point(root, "a")
    port, log = free_port(), tmp_path / "serve.log"
    base = f"http://127.0.0.1:{port}"
    process = start_serve(root, port, log)
    songs = [s for user_songs in listeners.values() for s in user_songs if s != lacking][:20]
    acknowledged: list[tuple[str, int]] = []
    unexpected: list[str] = []
    writers: list[threading.Thread] = []
    stop = threading.Event()

    def writer(n: int) -> None:
        with httpx.Client(headers=WRITE, timeout=5.0) as http:
            i = 0
            while not stop.is_set():
                i += 1
                ts = 1_300_000_000_000 + n * 10_000_000 + i * 1000
                event = {"song": songs[i % len(songs)], "event": "play", "ms_played": 200_000,
                         "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts / 1000))
                         + "Z"}
                if n == 0 and i % 3 == 0:
                    event["song"] = lacking  # 404 on the smaller catalogue, 202 elsewhere
                try:
                    answer = http.post(f"{base}/users/writer{n}/events",
                                       json={"events": [event]})
                except httpx.TransportError:
                    time.sleep(0.05)  # the server is down: nothing acknowledged
                    continue
                if answer.status_code == 202:
                    acknowledged.append((f"writer{n}", ts))
                elif answer.status_code not in (404, 429, 503):
                    unexpected.append(answer.text)
                time.sleep(0.01)

    try:
        wait_ready(base, process, log, "a@")
        writers = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
        for thread in writers:
            thread.start()
        time.sleep(1.0)
        for name in ("broken", "small"):
            point(root, name)
            time.sleep(1.0)
        wait_ready(base, process, log, "small@")
        process.send_signal(signal.SIGKILL)  # kill -9 while writes go on
        process.wait()
        process = start_serve(root, port, log)  # restarts onto the smaller catalogue
        ready = wait_ready(base, process, log, "small@")
        assert ready["events_waiting"] > 0
        for name in ("broken", "a", "broken", "b"):
            point(root, name)
            time.sleep(0.8)
        ready = wait_ready(base, process, log, "b@")  # the newest good run
        time.sleep(0.5)
    except BaseException:
        process.kill()
        raise
    finally:
        stop.set()
        for thread in writers:
            thread.join()
    assert not unexpected and len(acknowledged) > 30
    stored = set(sqlite3.connect(root / "events.sqlite").execute(
        "SELECT user_id, ts_ms FROM events").fetchall())
    assert not set(acknowledged) - stored, "an acknowledged event is missing from the log"
    assert ready["events_waiting"] == 0  # the full catalogue applied what waited
    metrics = httpx.get(base + "/metrics", headers=WRITE).text
    assert 'songspace_reloads_total{outcome="failed"}' in metrics
    assert httpx.get(base + "/health").status_code == 200
    process.terminate()
    process.wait(timeout=10)
