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
from threadpoolctl import threadpool_limits

from api.event_log import EventLog
from api.generation import load_generator
from api.settings import Settings
from api.taste import Taste
from api.text import load_text_playlists
from pipelines.run_manifest import served
from recsys.artifact import ArtifactError, load_artifact
from recsys.profile_artifact import load_profiles, model_reference
from recsys.search import SongSearch
from recsys.text_playlist import TextPlaylists

logger = logging.getLogger(__name__)

OPEN_WRITES_REFUSED = (
    "no API key: set SONGSPACE_API_KEY (writes, reloads and /generate then need it in "
    "X-API-Key), or pass --insecure-open-writes (SONGSPACE_INSECURE_OPEN_WRITES=1) to let "
    "anyone who can reach the server post events, reload and generate")


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
    source: Path | None = None  # where the `current` pointer led when this was loaded
    text: TextPlaylists | None = None  # playlists from descriptions
    text_status: str | None = None  # why there are none

    def __post_init__(self) -> None:
        # Similar songs are a pure function of the artifact version, so they are cached per
        # Resources object: a reload starts an empty cache with the new version. The cached
        # lists are shared between requests and must not be modified.
        self.similar = functools.lru_cache(maxsize=self.cache_size)(self.songs.similar) \
            if self.cache_size else self.songs.similar

    @property
    def songs_with_vector(self) -> int:
        return int(np.count_nonzero(self.songs.known))

    @property
    def events_waiting(self) -> int:
        """Logged events this catalogue lacks the songs of (kept in the log, not applied)."""
        return self.taste.waiting if self.taste is not None else 0

    def summary(self) -> str:
        """The start-up / reload line."""
        line = (f"serving {self.version} ({len(self.songs.catalog):,} songs, profiles "
                f"{self.profiles_version or 'none'})")
        if self.taste is not None and self.taste.waiting:
            songs = sorted(self.taste.waiting_songs)
            line += (f"; {self.taste.waiting:,} logged events name {len(songs):,} songs this "
                     f"catalogue lacks (e.g. {songs[:3]}): kept in the log, applied when a "
                     "catalogue has them again")
        return line


def _version(folder: Path) -> str:
    """``name@digest``; the name of a pipeline run's artifact is the run's."""
    digest = hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()
    run = folder.parents[1] if len(folder.parents) > 1 else folder
    name = run.name if (run / "run.json").is_file() else folder.name
    return f"{name}@{digest[:12]}"


def load_resources(settings: Settings, log: EventLog | None,
                   need_profiles: bool = False) -> Resources:
    """Load the model (and profiles) the settings point at.

    Parameters
    ----------
    need_profiles : refuse a run without profiles (a reload while profiles are served: a
        run must be complete to replace one).

    Raises
    ------
    ArtifactError
        When a folder is missing or corrupted, the profiles were built from another model, or
        profiles are needed and the run has none.
    """
    started = time.perf_counter()
    source = model_folder(settings.artifacts)
    folder, profiles_folder = served_paths(settings)
    if need_profiles and profiles_folder is None:
        raise ArtifactError(f"{source} has no taste profiles, and the version served has: "
                            "a run must bring its model and its profiles to replace it")
    artifact = load_artifact(folder, verify=settings.verify)
    songs = SongSearch.from_artifact(artifact)
    songs.continuation  # noqa: B018 - loaded now, not by the first request that continues
    text, text_status = load_text_playlists(artifact, songs)
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
                     profiles_version, dt.datetime.now(dt.UTC), seconds, settings.cache_size,
                     source, text, text_status)


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
            new = load_resources(self.settings, self.log, need_profiles=old.taste is not None)
            self.current = new  # one reference assignment: atomic for every reader
            return old, new


async def reload_now(app: FastAPI) -> tuple[Resources, Resources]:
    """Reload off the event loop and count it; returns (old, new), raises what loading
    raised (any exception: a run can be broken in many ways) with the old resources still in
    place, after logging it and counting it as a failed reload."""
    holder, metrics = app.state.holder, app.state.metrics
    try:
        old, new = await run_in_threadpool(holder.reload)
    except Exception as error:
        metrics.reloads.labels("failed").inc()
        logger.error("reload failed, kept %s: %s: %s", holder.current.version,
                     type(error).__name__, error)
        raise
    metrics.reloads.labels("ok").inc()
    metrics.artifact_loaded(new, old)
    logger.warning("%s (reloaded in %.1fs)", new.summary(), new.seconds)
    return old, new


async def watch_pointer(app: FastAPI, every: float) -> None:
    """Reload when `artifacts/current` starts leading to another folder. Survives every
    error: a target that fails to load is logged and counted once (by `reload_now`), the old
    version stays, and it is tried again only when the pointer moves on."""
    holder: ResourceHolder = app.state.holder
    failed: Path | None = None
    while True:
        await asyncio.sleep(every)
        try:
            target = model_folder(holder.settings.artifacts)
        except (OSError, RuntimeError):
            continue  # a pointer being rewritten (or a symlink loop): look again next time
        if target in (holder.current.source, failed):
            continue
        try:
            await reload_now(app)
        except Exception:  # logged and counted by reload_now; CancelledError still stops us
            failed = target
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
        if settings.api_key is None and not settings.insecure_open_writes:
            raise RuntimeError(OPEN_WRITES_REFUSED)
        app.state.holder = ResourceHolder(settings, log)
        if settings.blas_threads:
            # Process-wide and lasting, for the BLAS libraries loaded by now (numpy's, scipy's):
            # every request thread and reload runs under it; torch, loaded next for the
            # generator, keeps its own setting.
            threadpool_limits(settings.blas_threads, user_api="blas")
        app.state.metrics.artifact_loaded(app.state.holder.current)
        app.state.metrics.events_waiting.set_function(
            lambda: app.state.holder.current.events_waiting)
        logger.warning("%s%s", app.state.holder.current.summary(),
                       "" if settings.api_key is not None else
                       "; OPEN WRITES: anyone who can reach this server may post events, "
                       "reload and generate (--insecure-open-writes)")
        app.state.generator, app.state.generator_status = await run_in_threadpool(
            functools.partial(load_generator, settings.generator, settings.generation_slots,
                              queue=settings.generation_queue,
                              wait=settings.generation_wait_seconds,
                              budget=settings.generation_budget_seconds))
        if settings.watch_seconds:
            watcher = asyncio.create_task(watch_pointer(app, settings.watch_seconds))
        yield
    finally:
        if watcher is not None:
            watcher.cancel()
        if log is not None:
            log.close()
