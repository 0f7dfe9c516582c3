"""Load on `songspace serve`: similar-song requests (or, with `--continue`, playlist
continuations by the two-stage ranker) over keep-alive connections on 127.0.0.1, bounded in
count and time, with a hot reload (the `current` pointer flipped to another published run, then
POST /admin/reload) in the middle of the run.

    python bench/api_load.py --artifacts models/yes_big [--requests 30000] [--seconds 40]
        [--connections 32] [--workers 1] [--songs N] [--continue] [--json]

A continuation request sends the first 1 to 5 songs of a training playlist drawn at random
(seeded), as a listener's playlist so far.

The client is a minimal HTTP/1.1 client on asyncio streams (one request in flight per
connection), so that it costs the shared cores as little as possible; it runs in this process
while the server runs in its own. Songs are drawn uniformly (seeded) from those with a vector.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
KEY = "bench-key"
KEY_HEADER = f"X-API-Key: {KEY}\r\n"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def publish_runs(model: Path, root: Path) -> None:
    """root/runs/{a,b}: hard-linked copies of the model (two versions to swap between), and
    root/current -> runs/a."""
    for name in ("a", "b"):
        shutil.copytree(model, root / "runs" / name, copy_function=os.link)
    (root / "current").symlink_to("runs/a")


def song_ids(model: Path, n: int, pool: int | None, seed: int) -> list[str]:
    """n draws, uniform over `pool` songs with a vector picked at random (all by default)."""
    ids = pl.read_parquet(model / "songs.parquet")["song_id"].to_list()
    trained = np.flatnonzero(np.load(model / "trained.npy")).tolist()
    rng = random.Random(seed)
    if pool is not None:
        trained = rng.sample(trained, min(pool, len(trained)))
    return [ids[i] for i in rng.choices(trained, k=n)]


def continuation_bodies(model: Path, n: int, k: int, seed: int) -> list[bytes]:
    """n JSON bodies for POST /playlists/continue: the first 1-5 songs with a vector of random
    playlists (a song without one cannot be continued from)."""
    songs = pl.read_parquet(model / "songs.parquet")["song_id"]
    with_vector = set(songs.filter(np.load(model / "trained.npy")).to_list())
    sequences = (pl.read_parquet(model / "playlists.parquet").sort("playlist_id", "position")
                 .filter(pl.col("song_id").is_in(with_vector))
                 .group_by("playlist_id", maintain_order=True).agg("song_id")["song_id"]
                 .to_list())
    rng = random.Random(seed)
    bodies = []
    for _ in range(n):
        songs = rng.choice(sequences)
        songs = songs[:rng.randint(1, min(5, len(songs)))]
        bodies.append(json.dumps({"songs": songs, "k": k}).encode())
    return bodies


Job = tuple[str, str, bytes]  # method, path, body


async def request(reader, writer, method: str, path: str, headers: str = "",
                  body: bytes = b"") -> tuple[int, bytes]:
    if body:
        headers += "Content-Type: application/json\r\n"
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


async def load(port: int, jobs: list[Job], connections: int, seconds: float,
               reload_after: int, flip) -> dict:
    latencies = np.zeros(len(jobs))
    statuses = np.zeros(len(jobs), np.int16)
    next_job, done = 0, 0
    deadline = time.perf_counter() + seconds
    reload_info: dict = {}
    reload_started = asyncio.Event()

    async def worker() -> None:
        nonlocal next_job, done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while next_job < len(jobs) and time.perf_counter() < deadline:
                job = next_job
                next_job += 1
                started = time.perf_counter()
                try:
                    method, path, body = jobs[job]
                    status, _ = await request(reader, writer, method, path, KEY_HEADER, body)
                except (OSError, asyncio.IncompleteReadError):
                    status = 0
                    writer.close()
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                latencies[job] = time.perf_counter() - started
                statuses[job] = status
                done += 1
                if done == reload_after:
                    reload_started.set()
        finally:
            writer.close()

    async def reloader() -> None:
        await reload_started.wait()
        flip()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.perf_counter()
        status, body = await request(reader, writer, "POST", "/admin/reload", KEY_HEADER)
        reload_info.update(status=status, seconds=time.perf_counter() - started,
                           answer=json.loads(body), at_request=next_job)
        writer.close()

    started = time.perf_counter()
    reload_task = asyncio.create_task(reloader())
    await asyncio.gather(*(worker() for _ in range(connections)))
    wall = time.perf_counter() - started
    if not reload_task.done():
        reload_task.cancel()
    sent = next_job
    ms = np.sort(latencies[:sent]) * 1000
    failed = statuses[:sent][statuses[:sent] != 200]
    errors = {str(code): count for code, count in Counter(failed.tolist()).items()}
    return {"requests": sent, "seconds": round(wall, 2), "requests_per_s": round(sent / wall),
            "p50_ms": round(float(np.percentile(ms, 50)), 2),
            "p90_ms": round(float(np.percentile(ms, 90)), 2),
            "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "max_ms": round(float(ms[-1]), 2), "errors": sum(errors.values()),
            "errors_by_status": errors,
            "reload": reload_info or "not reached"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=Path, required=True,
                        help="A model folder written by `songspace train`.")
    parser.add_argument("--requests", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=40.0, help="Stop sending after this.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--songs", type=int, default=None,
                        help="Draw from this many songs only (default: every song with a "
                             "vector); a small pool shows the server's answer cache at work.")
    parser.add_argument("--continue", dest="continuation", action="store_true",
                        help="POST /playlists/continue (the two-stage ranker) instead of GET "
                             "similar songs.")
    parser.add_argument("--no-reload", action="store_true",
                        help="Leave out the hot reload halfway (steady-state latency only).")
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import uvloop

    with tempfile.TemporaryDirectory(prefix="songspace-bench-") as tmp:
        root = Path(tmp)
        publish_runs(args.artifacts.resolve(), root)
        port = free_port()
        # Every worker watches the pointer (the POST reaches only one of them).
        env = {**os.environ, "SONGSPACE_API_KEY": KEY, "SONGSPACE_WATCH_SECONDS": "1",
               "SONGSPACE_RATE_LIMIT": "0",  # one client measuring throughput
               "SONGSPACE_GENERATOR": ""}
        server = subprocess.Popen(
            [str(Path(sys.executable).with_name("songspace")), "serve", "--artifacts",
             str(root), "--port", str(port), "--workers", str(args.workers)], env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_ready(port, server)
            n = args.warmup + args.requests
            if args.continuation:
                jobs = [("POST", "/playlists/continue", body)
                        for body in continuation_bodies(root / "current", n, args.k, args.seed)]
            else:
                jobs = [("GET", f"/songs/{i}/similar?k={args.k}", b"")
                        for i in song_ids(root / "current", n, args.songs, args.seed)]

            def flip() -> None:
                (root / "current").unlink()
                (root / "current").symlink_to("runs/b")

            uvloop.run(load(port, jobs[:args.warmup], 4, 30, -1, lambda: None))
            result = uvloop.run(load(port, jobs[args.warmup:], args.connections, args.seconds,
                                     -1 if args.no_reload else args.requests // 2, flip))
            time.sleep(2.0)  # longer than the watch period
            result["versions_after"] = sorted(served_versions(port, 8 * args.workers))
        finally:
            server.terminate()
            server.wait(timeout=30)
    result.update(endpoint="POST /playlists/continue" if args.continuation else
                  "GET /songs/{id}/similar", workers=args.workers,
                  connections=args.connections, k=args.k,
                  songs_drawn_from=args.songs or "all",
                  songs_with_vector=len(np.flatnonzero(np.load(args.artifacts /
                                                               "trained.npy"))))
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        print(f"{key:>18}: {value}", file=sys.stderr)


def served_versions(port: int, probes: int) -> set[str]:
    """The versions answered on `probes` fresh connections (they spread over the workers)."""
    import httpx

    return {httpx.get(f"http://127.0.0.1:{port}/ready").json()["version"]
            for _ in range(probes)}


def wait_ready(port: int, server: subprocess.Popen, timeout: float = 120.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("songspace serve exited before it was ready")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise SystemExit("songspace serve was not ready in time")


if __name__ == "__main__":
    main()
