"""Loading the artifacts once per process, and swapping them atomically on reload.

A request takes the current `Resources` once, through a dependency, and keeps using that
object to the end: a reload builds a complete new one aside and then replaces one reference,
so requests in flight finish on the old artifacts and none sees a half-loaded state.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from api.event_log import EventLog
from api.generation import load_generator
from api.settings import Settings
from api.taste import Taste
from pipelines.run_manifest import served
from recsys.artifact import ArtifactError, load_artifact
from recsys.profile_artifact import load_profiles, model_reference
from recsys.search import SongSearch

logger = logging.getLogger(__name__)


def model_folder(artifacts: Path) -> Path:
    """The folder to serve: ``artifacts/current`` when that pointer exists (a symlink, or a
    file holding a path relative to `artifacts`), else `artifacts` itself. The folder is a model
    artifact, or a pipeline run (see :func:`served_paths`)."""
    pointer = artifacts / "current"
    if pointer.is_symlink() or pointer.is_dir():
        return pointer.resolve()
    if pointer.is_file():
        target = Path(pointer.read_text().strip())
        return (target if target.is_absolute() else artifacts / target).resolve()
    return artifacts.resolve()


def served_paths(settings: Settings) -> tuple[Path, Path | None]:
    """(model folder, profiles folder or None) to load now. A pipeline run (a folder with a
    ``run.json``, what ``songspace pipeline run --out DIR`` publishes at ``DIR/current``) holds
    both; its profiles are served unless the settings name other ones."""
    folder = model_folder(settings.artifacts)
    if not (folder / "run.json").is_file():
        return folder, settings.profiles
    run = served(folder)
    profiles = settings.profiles
    if profiles is None and run["profiles"].is_dir():
        profiles = run["profiles"]
    return run["model"], profiles


@dataclass
class Resources:
    """Everything one artifact version serves."""

    version: str
    model_path: Path
    created: str | None
    songs: SongSearch
    taste: Taste | None
    profiles_version: str | None
    loaded_at: dt.datetime
    seconds: float
    cache_size: int = 0

    def __post_init__(self) -> None:
        # Similar songs are a pure function of the artifact version, so they are cached per
        # Resources object: a reload starts an empty cache with the new version. The cached
        # lists are shared between requests and must not be modified.
        self.similar = functools.lru_cache(maxsize=self.cache_size)(self.songs.similar) \
            if self.cache_size else self.songs.similar

    @property
    def songs_with_vector(self) -> int:
        return int(np.count_nonzero(self.songs.known))


def _version(folder: Path) -> str:
    """``name@digest``; the name of a pipeline run's artifact is the run's."""
    digest = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    run = folder.parents[1] if len(folder.parents) > 1 else folder
    name = run.name if (run / "run.json").is_file() else folder.name
    return f"{name}@{digest[:12]}"


def load_resources(settings: Settings, log: EventLog | None) -> Resources:
    """Load the model (and profiles) the settings point at.

    Raises
    ------
    ArtifactError
        When a folder is missing or corrupted, or the profiles were built from another model.
    """
    started = time.perf_counter()
    folder, profiles_folder = served_paths(settings)
    artifact = load_artifact(folder, verify=settings.verify)
    songs = SongSearch.from_artifact(artifact)
    taste, profiles_version = None, None
    if profiles_folder is not None:
        profiles = load_profiles(profiles_folder, verify=settings.verify)
        built_from, serving = profiles.manifest["model"], model_reference(artifact)
        if (built_from["fingerprint"], built_from["songs"]) != (serving["fingerprint"],
                                                                serving["songs"]):
            raise ArtifactError(
                f"{profiles_folder} was built from the model at {built_from['path']}, not "
                f"from the one served ({folder}); rebuild them with `songspace profiles build`")
        taste = Taste(profiles, artifact, log)
        profiles_version = _version(profiles_folder)
    seconds = time.perf_counter() - started
    logger.info("loaded %s in %.1fs", folder, seconds)
    return Resources(_version(folder), folder, artifact.manifest.get("created"), songs, taste,
                     profiles_version, dt.datetime.now(dt.UTC), seconds, settings.cache_size)


class ResourceHolder:
    """The current Resources, replaced whole by `reload`."""

    def __init__(self, settings: Settings, log: EventLog | None) -> None:
        self.settings, self.log = settings, log
        self._reloading = threading.Lock()
        self.current = load_resources(settings, log)

    def reload(self) -> tuple[Resources, Resources]:
        """Load what the settings point at now and swap it in; returns (old, new). The old
        one stays in use until this returns, and for requests that already hold it."""
        with self._reloading:
            old = self.current
            new = load_resources(self.settings, self.log)
            self.current = new  # one reference assignment: atomic for every reader
            return old, new


async def reload_now(app: FastAPI) -> tuple[Resources, Resources]:
    """Reload off the event loop and count it; returns (old, new), raises what loading
    raised (ArtifactError, OSError, ValueError) with the old resources still in place."""
    holder, metrics = app.state.holder, app.state.metrics
    try:
        old, new = await run_in_threadpool(holder.reload)
    except (ArtifactError, OSError, ValueError):
        metrics.reloads.labels("failed").inc()
        raise
    metrics.reloads.labels("ok").inc()
    metrics.artifact_loaded(new, old)
    return old, new


async def watch_pointer(app: FastAPI, every: float) -> None:
    """Reload when `artifacts/current` starts leading to another folder. A target that fails
    to load is logged once and tried again only when the pointer moves on."""
    holder: ResourceHolder = app.state.holder
    failed: Path | None = None
    while True:
        await asyncio.sleep(every)
        try:
            target, _ = served_paths(holder.settings)
        except OSError:
            continue
        if target in (holder.current.model_path, failed):
            continue
        try:
            await reload_now(app)
        except (ArtifactError, OSError, ValueError) as error:
            failed = target
            logger.warning("kept %s: %s", holder.current.version, error)
        else:
            failed = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    path = settings.event_log_path()
    if path is None and served_paths(settings)[1] is not None:
        # Profiles that come with a pipeline run: the events outlive any one run.
        path = settings.artifacts / "events.sqlite"
    log = EventLog(path) if path is not None else None
    watcher = None
    try:
        app.state.holder = ResourceHolder(settings, log)
        app.state.metrics.artifact_loaded(app.state.holder.current)
        app.state.generator, app.state.generator_status = await run_in_threadpool(
            load_generator, settings.generator, settings.generation_slots)
        if settings.watch_seconds:
            watcher = asyncio.create_task(watch_pointer(app, settings.watch_seconds))
        yield
    finally:
        if watcher is not None:
            watcher.cancel()
        if log is not None:
            log.close()
