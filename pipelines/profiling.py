"""From listening logs to a published profiles artifact, and incremental updates of one.

Each run, in steps: read and validate the logs (quarantining bad rows) -> match them to the
model's catalogue -> turn events into per-user evidence and profiles -> index the users ->
publish the folder atomically. The returned report counts what happened to every event:

    events_read = events_used + events_without_vector + unmatched_events + quarantined
                  + non_music
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.logs import Listening, read_logs
from pipelines.schemas import OnError
from recsys.artifact import Artifact
from recsys.colisten import CoListenConfig, CoListening, liked_rows
from recsys.profile_artifact import (
    ProfileArtifact,
    load_model_for,
    merge_unmatched,
    model_reference,
    save_profiles,
)
from recsys.profiles import (
    ProfileConfig,
    ProfileState,
    build_profiles,
    encode_events,
    song_space,
    update_from_events,
)
from recsys.user_index import build_user_index, update_user_index

Stage = Callable[[str], None]


def quarantine_beside(out: Path) -> Path:
    """Where a run's bad rows are written as they are read: beside the profiles folder
    (``<out>.quarantine.jsonl``), so the file a message names is still there when the run
    fails; a run that publishes also keeps them inside the folder."""
    return out.with_name(out.name + ".quarantine.jsonl")


def _read(logs: Path, model: Artifact, on_error: OnError,
          out: Path) -> tuple[Listening, list[str]]:
    """The matched events and the quarantined rows (read back from the quarantine file, so
    that they can be published with the profiles)."""
    listening = read_logs(
        logs, songs=model.catalog.songs, on_error=on_error,
        quarantine_path=quarantine_beside(out) if on_error == "quarantine" else None)
    file = listening.report.quarantine_file
    quarantine = (Path(file).read_text().splitlines() if file and Path(file).is_file()
                  else [])
    return listening, quarantine


def _report(listening: Listening, state: ProfileState, known: np.ndarray, item: np.ndarray,
            out: Path, seconds: dict[str, float]) -> dict:
    read = listening.report
    with_vector = int(known[item].sum())
    report = {
        "profiles": str(out),
        "events_read": read.events_read,
        "events_used": with_vector,
        "events_without_vector": len(item) - with_vector,
        "quarantined": read.quarantined,
        "quarantined_by_reason": read.quarantined_by_reason,
        "unmatched_events": read.unmatched_events,
        "unmatched_songs": read.unmatched_songs,
        "non_music": read.non_music,
        "users": len(state),
        "users_with_profile": int(state.has_profile.sum()),
        "users_with_interests": state.interests.n_users,
        "files": read.files,
        "unreadable_files": read.unreadable_files,
        "quarantine_file": (str(out / "quarantine.jsonl")
                            if read.quarantined or read.unreadable_files else None),
        "seconds": {k: round(v, 3) for k, v in seconds.items()},
    }
    if listening.unmatched is not None and listening.unmatched.height:
        report["top_unmatched"] = listening.unmatched.head(5).to_dicts()
    return report


def _history_entry(kind: str, logs: Path, report: dict) -> dict:
    entry = {"kind": kind, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
             "logs": str(logs.absolute())}
    entry.update({k: v for k, v in report.items() if k not in ("profiles", "top_unmatched")})
    return entry


def build_from_logs(
    logs: str | Path,
    model: Artifact,
    out: str | Path,
    *,
    config: ProfileConfig | None = None,
    colisten: CoListenConfig | None = None,
    on_error: OnError = "fail",
    on_stage: Stage | None = None,
) -> dict:
    """Build every user's profile from listening logs, learn co-listening from the model's
    training playlists and these listeners, and publish the artifact at `out`.

    Parameters
    ----------
    logs : str or Path
        A log file or a folder of them (see :func:`pipelines.logs.read_logs`).
    model : Artifact
        The song2vec model whose vectors and catalogue the profiles use.
    out : str or Path
        The profiles folder, replaced atomically.
    config : ProfileConfig, optional
    colisten : CoListenConfig, optional
        Settings of the co-listening model (`recsys.colisten`); ``max_songs=0`` leaves it out.
    on_error : {"fail", "quarantine"}
    on_stage : callable, optional
        Told the name of each step as it starts (for a progress display).

    Returns
    -------
    dict
        The counts of the run (the JSON of ``songspace profiles build --json``).
    """
    stage = on_stage or (lambda _: None)
    config = config or ProfileConfig()
    logs, out = Path(logs), Path(out)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    stage("reading logs")
    listening, quarantine = _read(logs, model, on_error, out)
    seconds["read"] = time.perf_counter() - started

    if not listening.events.height:
        read = listening.report
        where = f" to {read.quarantine_file}" if read.quarantined else ""
        raise ValueError(
            f"{logs}: no event matched a song of the model's catalogue "
            f"({read.events_read:,} read, {read.quarantined:,} quarantined{where}, "
            f"{read.unmatched_events:,} unmatched); nothing to build")
    stage("building profiles")
    mark = time.perf_counter()
    unit = song_space(model.model.input_vectors, model.model.trained, config)
    users, user, item, ts, signal = encode_events(
        listening.events, model.catalog.songs["song_id"], pl.Series("user_id", [], pl.Utf8),
        config)
    listening.events = listening.events.clear()  # the arrays hold it now; free the frame
    state = build_profiles(users, user, item, ts, signal, unit, config)
    seconds["profiles"] = time.perf_counter() - mark

    stage("indexing users")
    mark = time.perf_counter()
    index = build_user_index(state)
    seconds["index"] = time.perf_counter() - mark

    stage("learning co-listening")
    mark = time.perf_counter()
    learnt = learn_colisten(model, state, colisten)
    seconds["colisten"] = time.perf_counter() - mark

    stage("publishing")
    mark = time.perf_counter()
    known = np.linalg.norm(unit, axis=1) > 0
    report = _report(listening, state, known, item, out, seconds)
    unmatched = merge_unmatched([listening.unmatched])
    save_profiles(out, state, index, model=model_reference(model),
                  history=[_history_entry("build", logs, report)], unmatched=unmatched,
                  quarantine=quarantine, colisten=learnt)
    seconds["publish"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    report["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
    return report


def learn_colisten(model: Artifact, state: ProfileState,
                   config: CoListenConfig | None = None) -> CoListening | None:
    """Co-listening from the model's training playlists and the listeners' liked songs (None
    when ``config.max_songs`` is 0)."""
    config = config or CoListenConfig()
    if not config.max_songs:
        return None
    rows = [s[s >= 0] for s in model.training_sentences] + liked_rows(state)
    return CoListening.fit(rows, len(model.catalog), config)


def update_from_logs(
    logs: str | Path,
    profiles: ProfileArtifact,
    *,
    model: Artifact | None = None,
    on_error: OnError = "fail",
    on_stage: Stage | None = None,
) -> dict:
    """Apply a batch of new events to a profiles folder and publish it again in place.

    Only the users in the batch are recomputed (from their kept evidence plus the batch); the
    result equals a full build on all events so far. The same batch applied twice counts twice.

    Returns
    -------
    dict
        The counts of the run, plus ``users_updated``, ``users_new`` and ``seconds.apply`` (the
        update of the profiles and the user index in memory).
    """
    stage = on_stage or (lambda _: None)
    logs = Path(logs)
    model = model or load_model_for(profiles)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    stage("reading logs")
    listening, quarantine = _read(logs, model, on_error, Path(profiles.path))
    seconds["read"] = time.perf_counter() - started

    stage("updating profiles")
    mark = time.perf_counter()
    users_before = len(profiles.state)
    changed, unit, item = apply_events(profiles, model, listening.events)
    state = profiles.state
    seconds["apply"] = time.perf_counter() - mark

    stage("publishing")
    mark = time.perf_counter()
    known = np.linalg.norm(unit, axis=1) > 0
    report = _report(listening, state, known, item, profiles.path, seconds)
    report["users_updated"] = len(changed)
    report["users_new"] = len(state) - users_before
    history = [*profiles.manifest["history"], _history_entry("update", logs, report)]
    unmatched = merge_unmatched([profiles.unmatched, listening.unmatched])
    save_profiles(profiles.path, state, profiles.user_index,
                  model=profiles.manifest["model"], history=history, unmatched=unmatched,
                  quarantine=profiles.quarantine + quarantine, colisten=profiles.colisten)
    seconds["publish"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    report["seconds"] = {k: round(v, 3) for k, v in seconds.items()}
    if report["quarantined"] or profiles.quarantine:
        report["quarantine_file"] = str(profiles.path / "quarantine.jsonl")
    return report


def apply_events(profiles: ProfileArtifact, model: Artifact, events: pl.DataFrame
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply matched events to loaded profiles in memory, in place (``profiles.state`` and its
    user index): the rows of the users that changed, the unit song vectors and each event's
    catalogue index."""
    unit = song_space(model.model.input_vectors, model.model.trained, profiles.state.config)
    changed, item = update_from_events(profiles.state, events, model.catalog.songs["song_id"],
                                       unit)
    update_user_index(profiles.user_index, profiles.state, changed)
    return changed, unit, item


def _read_config(path: Path) -> dict:
    import tomllib

    text = path.read_text()
    return json.loads(text) if path.suffix == ".json" else tomllib.loads(text)


def config_from_file(path: Path | None) -> ProfileConfig:
    """A ProfileConfig from TOML (a ``[profiles]`` table or top-level keys) or JSON; a
    ``[colisten]`` table beside it is :func:`colisten_from_file`'s."""
    if path is None:
        return ProfileConfig()
    values = _read_config(path)
    values = values.get("profiles", {k: v for k, v in values.items() if k != "colisten"})
    return ProfileConfig.from_dict(values, str(path))


def colisten_from_file(path: Path | None) -> CoListenConfig:
    """The co-listening settings of a profiles config file (its ``[colisten]`` table)."""
    if path is None:
        return CoListenConfig()
    return CoListenConfig.from_dict(_read_config(path).get("colisten", {}), f"{path} [colisten]")
