"""Run folders, their manifests and the ``current`` pointer.

    DIR/current -> runs/<time>-<hash>      symlink, swapped atomically by `publish`
    DIR/runs/<time>-<hash>/
        run.json                           the run manifest (below)
        steps/<step>.json                  one record per finished step (its fingerprint)
        logs/<step>.log                    what each step logged
        <step>/                            each step's outputs

The hash is that of every step's fingerprint (the plan), so a rerun with the same inputs and
config finds its earlier run folder and resumes it. ``run.json`` holds the config, the raw
inputs with their sha256, each step's fingerprint, status, timings and metrics, the package
versions and the run's status (running, failed, complete).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from importlib import metadata
from pathlib import Path

from recsys.artifact import package_versions

RUN_FILE = "run.json"
CURRENT = "current"
# Where a run keeps what a server loads, relative to the run folder (`current/...`).
SERVED = {"model": Path("train/model"), "profiles": Path("profiles/profiles"),
          "song_indexes": Path("index"), "recommendations": Path("recommend/top"),
          "report": Path("report/report.html")}
_EXTRA_PACKAGES = ("ray", "pyarrow", "matplotlib", "scipy")


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def versions() -> dict[str, str]:
    """The versions of the packages a model records, plus the pipeline's own."""
    installed = {d.metadata["Name"].lower(): d.version for d in metadata.distributions()}
    extra = {name: installed.get(name, "not installed") for name in _EXTRA_PACKAGES}
    return {**package_versions(), **extra}


def runs_of(out: Path) -> list[Path]:
    """The run folders under ``out/runs``, oldest first."""
    folder = out / "runs"
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) \
        if folder.is_dir() else []


def run_folder(out: Path, plan_hash: str) -> Path:
    """The latest run of this plan (to resume or to find complete), else a new folder name."""
    same = [p for p in runs_of(out) if p.name.endswith(f"-{plan_hash}")]
    if same:
        return same[-1]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return out / "runs" / f"{stamp}-{plan_hash}"


def read_manifest(run: Path) -> dict | None:
    """The run's manifest; a run marked running whose process is gone reads "interrupted"."""
    path = run / RUN_FILE
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    if manifest.get("status") == "running" and not _alive(manifest.get("pid")):
        manifest["status"] = "interrupted"
    return manifest


def _alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_record(run: Path, step: str) -> dict | None:
    """The record of a finished step whose output folder is there, else None."""
    path = run / "steps" / f"{step}.json"
    if not path.is_file() or not (run / step).is_dir():
        return None
    return json.loads(path.read_text())


def find_record(out: Path, step: str, fingerprint: str, exclude: Path) -> Path | None:
    """Another run of `out` holding a finished `step` with this fingerprint (newest first)."""
    for run in reversed(runs_of(out)):
        if run == exclude:
            continue
        record = read_record(run, step)
        if record and record["fingerprint"] == fingerprint:
            return run
    return None


def current_run(out: Path) -> Path | None:
    link = out / CURRENT
    return link.resolve() if link.is_symlink() else None


def served(run: Path) -> dict[str, Path]:
    """The paths of what a server loads from a run (or from ``DIR/current``): the song2vec
    model artifact, the profiles artifact, the song indexes, the recommendations, the report."""
    return {name: run / path for name, path in SERVED.items()}


def publish(out: Path, run: Path) -> None:
    """Point ``out/current`` at `run` atomically: a new relative symlink is made beside it
    and renamed over the old one, so a reader sees the old run or the new one, never none."""
    tmp = out / f".{CURRENT}.{uuid.uuid4().hex[:8]}.tmp"
    os.symlink(os.path.relpath(run, out), tmp)
    os.replace(tmp, out / CURRENT)
    fd = os.open(out, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
