"""Listening logs: one event schema, readers for every supported format, catalogue matching.

The canonical event frame (:data:`EVENT_SCHEMA`)::

    user_id (str), song_id (str), ts (datetime[ms, UTC]), ms_played (int64),
    event (enum: play / skip / like / dislike / add_to_playlist), duration_ms (int64, nullable)

Supported inputs (see :func:`detect_log_format`); a folder is read file by file, recursively:

* CSV, Parquet and JSON Lines tables with columns ``user_id, ts, ms_played, event`` and the song
  as ``song_id`` or ``track_uri`` or ``title`` + ``artist`` (``duration_ms`` is optional);
* Spotify's "Extended streaming history" export: ``*.json`` files holding one JSON array of
  streams (``ts``, ``ms_played``, ``master_metadata_track_name``,
  ``master_metadata_album_artist_name``, ``spotify_track_uri``, ``skipped``, ``reason_end``...).
  A stream with ``skipped`` true or ``reason_end == "fwdbtn"`` is a skip, any other a play; one
  that ended with ``reason_end == "trackdone"`` played the whole track, so its ``ms_played`` is
  the track's duration. The user is the ``username`` field where the export has it, else the
  name of the folder holding the file (lay out several people's exports as ``logs/<user>/``).
  Podcast episodes and audiobooks are not songs: they are counted (``non_music``), not read.

Times are ISO 8601 text (``2021-03-04T18:22:11Z``, ``2021-03-04 18:22:11``, with or without a
UTC offset or fractions of a second; no offset means UTC) or integer epoch times (seconds, or
milliseconds for values above 10^11), or a Parquet datetime column.

Bad rows (an unparseable time, a negative ``ms_played``, an unknown event, a missing value...)
are fatal with ``on_error="fail"`` (a :class:`DataError` naming the file, the row and the field)
or go to a JSON Lines quarantine file with ``on_error="quarantine"``, exactly as the playlist
readers do (``file, row, field, reason, detail, raw``). Events whose song the catalogue does not
have are not bad rows: :func:`match_songs` counts them and lists the songs, so that nothing is
lost silently.

CSV rows are located by line number, which assumes one record per line; a file with a quoted
field that spans lines is read by the exact (slower) line-by-line parser instead.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.readers.core import (
    R_FIELDS,
    R_JSON,
    R_MISSING,
    R_NOT_INT,
    R_TRUNCATED,
    R_TYPE,
    R_UNREADABLE,
    _Issue,
    _natural_key,
    _read_text,
    _Sink,
    find_files,
    unreadable_reason,
)
from pipelines.readers.tables import (
    _missing_column,
    _parse_csv,
    _parse_jsonl,
    _read_parquet_file,
)
from pipelines.schemas import DataError, OnError
from recsys.catalog import normalise_text
from recsys.profiles import EVENTS

logger = logging.getLogger(__name__)

__all__ = [
    "EVENTS",
    "EVENT_SCHEMA",
    "LOG_REASONS",
    "Listening",
    "LogReport",
    "core_title",
    "detect_log_format",
    "match_songs",
    "read_logs",
]

EventType = pl.Enum(EVENTS)
EVENT_SCHEMA: dict[str, pl.DataType] = {
    "user_id": pl.Utf8(),
    "song_id": pl.Utf8(),
    "ts": pl.Datetime("ms", "UTC"),
    "ms_played": pl.Int64(),
    "event": EventType,
    "duration_ms": pl.Int64(),
}
# Before matching, an event names its song by any of these; matching fills song_id.
SONG_KEYS: tuple[str, ...] = ("song_id", "track_uri", "title", "artist")
_RAW_SCHEMA: dict[str, pl.DataType] = {
    **EVENT_SCHEMA,
    "track_uri": pl.Utf8(),
    "title": pl.Utf8(),
    "artist": pl.Utf8(),
}

R_BAD_TS = "bad timestamp"
R_NEGATIVE = "negative ms_played"
R_EVENT = "unknown event"
R_DURATION = "bad duration"
LOG_REASONS: tuple[str, ...] = (
    R_BAD_TS, R_NEGATIVE, R_EVENT, R_DURATION, R_MISSING, R_NOT_INT, R_TYPE, R_JSON,
    R_TRUNCATED, R_FIELDS, R_UNREADABLE,
)

_TABLE_COLUMNS = ("user_id", "ts", "ms_played", "event", "duration_ms", *SONG_KEYS)
_REQUIRED = ("user_id", "ts", "ms_played", "event")
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl", ".ndjson": "jsonl",
             ".json": "spotify"}
# Epoch integers above this are milliseconds: 10^11 seconds is the year 5138.
_EPOCH_MS_ABOVE = 10**11
_TIME_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%.fZ",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f",
)
_SPOTIFY_NON_MUSIC = ("spotify_episode_uri", "episode_name", "audiobook_uri", "audiobook_title")


@dataclass
class LogReport:
    """What reading and matching did with every event: each is read, quarantined, set aside
    as non-music, or matched / unmatched, and counted here."""

    files: list[str] = field(default_factory=list)
    events_read: int = 0
    quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    quarantine_file: str | None = None
    non_music: int = 0
    matched_events: int = 0
    matched_by: dict[str, int] = field(default_factory=dict)
    unmatched_events: int = 0
    unmatched_songs: int = 0
    # "file: why" of each file found that could not be read (quarantine mode; else an error)
    unreadable_files: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Listening:
    """Events in the canonical schema, plus the song keys they came with.

    events : the good rows; after :func:`match_songs`, only those whose song the catalogue has,
        with ``song_id`` set to the catalogue's id.
    unmatched : after matching, one row per song key the catalogue lacks with its event count
        (``song_id, track_uri, title, artist, events``), most played first.
    """

    events: pl.DataFrame
    report: LogReport
    unmatched: pl.DataFrame | None = None


# --------------------------------------------------------------------------------------------
# Format detection
# --------------------------------------------------------------------------------------------


def detect_log_format(path: str | Path) -> str:
    """The format of one log file from its name: csv, parquet, jsonl or spotify (``.json``).

    Raises
    ------
    DataError
        If the file does not exist or its suffix names no supported format.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(str(p), None, None, "no such file")
    fmt = _SUFFIXES.get(p.suffix.lower())
    if fmt is None:
        raise DataError(
            str(p), None, None,
            f"cannot tell the log format from the file name: expected one of "
            f"{', '.join(sorted(_SUFFIXES))} (.json is Spotify's extended streaming history)",
        )
    return fmt


def _log_files(path: Path, sink: _Sink | None = None) -> list[Path]:
    """The log files of a file or folder; an unreadable one (a dangling or looping link, no
    permission) is an error, or a quarantine record when `sink` quarantines."""
    reason = unreadable_reason(path)
    if reason is not None or not path.exists():
        raise DataError(str(path), None, None, reason or "no such file or folder")
    if path.is_file():
        return [path]
    files, unreadable = find_files(path, _SUFFIXES)  # hidden files (.DS_Store) are not logs
    for n, (file, why) in enumerate(unreadable):
        issue = _Issue(str(file), None, None, R_UNREADABLE, why, None, n)
        if sink is None:
            raise issue.error()
        sink.take([issue])
    if not files and not unreadable:
        raise DataError(str(path), None, None, "no log files in this folder: expected "
                        f"{', '.join(sorted(_SUFFIXES))} files")
    return sorted(files, key=lambda p: [*map(str, p.parent.relative_to(path).parts),
                                        *_natural_key(p)])


# --------------------------------------------------------------------------------------------
# Parsing into text columns, one reader per format
# --------------------------------------------------------------------------------------------


@dataclass
class _Raw:
    """One file's rows before validation: a frame with the table columns (any dtype), the
    location of each row, and the raw text of rows, built only for the rows that go wrong."""

    file: str
    frame: pl.DataFrame
    row: Callable[[int], int | str]
    raws: Callable[[Sequence[int]], list[str]]
    issues: list[_Issue] = field(default_factory=list)
    non_music: int = 0


def _require(file: str, present: Sequence[str]) -> None:
    for name in _REQUIRED:
        if name not in present:
            raise _missing_column(file, None, name, _REQUIRED, present)
    if not ({"song_id", "track_uri"} & set(present) or {"title", "artist"} <= set(present)):
        raise DataError(
            file, None, "song_id",
            "missing column 'song_id': name the song by song_id, track_uri, or title and artist "
            f"(found: {', '.join(present) or 'none'})",
        )


def _with_all_columns(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in _TABLE_COLUMNS if c not in frame.columns]
    return frame.with_columns(pl.lit(None, pl.Utf8).alias(c) for c in missing).select(
        _TABLE_COLUMNS
    )


def _lines_at(path: Path, wanted: Sequence[int]) -> list[str]:
    """The text of a few lines of a large file, read in one streaming pass."""
    targets = set(wanted)
    found: dict[int, str] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        for n, line in enumerate(handle, start=1):
            if n in targets:
                found[n] = line.rstrip("\r\n")
                if len(found) == len(targets):
                    break
    return [found.get(n, "") for n in wanted]


def _parse_csv_fast(path: Path) -> _Raw | None:
    """Read a CSV with polars, or None when only the exact line-by-line parser can locate its
    rows (a ragged or unparseable file, or a quoted field spanning lines)."""
    file = str(path)
    try:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except pl.exceptions.NoDataError:
        raise DataError(file, None, None, "empty file: expected a header line") from None
    except pl.exceptions.PolarsError:
        return None
    frame = frame.rename({c: c.strip() for c in frame.columns})
    _require(file, frame.columns)
    if frame.height and frame.select(
        pl.any_horizontal(pl.all().str.contains("\n", literal=True).any())
    ).item():
        return None
    # Line numbers: the header is line 1 and polars keeps a blank line as a row of nulls, so
    # row i sits on line i + 2; blank lines are then dropped, as they carry no event.
    frame = frame.with_row_index("_line", offset=2).filter(
        ~pl.all_horizontal(pl.exclude("_line").is_null())
    )
    lines = frame["_line"]
    return _Raw(file, _with_all_columns(frame.drop("_line")), lambda k: int(lines[k]),
                lambda ks: _lines_at(path, [int(lines[k]) for k in ks]))


def _csv_header(path: Path) -> list[str]:
    for line in _read_text(path).split("\n"):
        if line.strip():
            return [name.strip() for name in next(csv.reader([line]))]
    return []


def _parse_csv_exact(path: Path) -> _Raw:
    _require(str(path), _csv_header(path))
    table = _parse_csv(path, dict.fromkeys(_TABLE_COLUMNS, "text"), _REQUIRED)
    frame = pl.DataFrame({c: pl.Series(v, dtype=pl.Utf8) for c, v in table.columns.items()})
    rows = table.row
    return _Raw(table.file, frame, lambda k: rows[k], lambda ks: [table.raw(k) for k in ks],
                list(table.issues))


def _parse_log_jsonl(path: Path) -> _Raw:
    table = _parse_jsonl(path, dict.fromkeys(_TABLE_COLUMNS, "text"), _REQUIRED)
    frame = pl.DataFrame({c: pl.Series(v, dtype=pl.Utf8) for c, v in table.columns.items()})
    if frame.height:
        _require(table.file, [c for c in frame.columns if frame[c].null_count() < frame.height])
    rows = table.row
    return _Raw(table.file, frame, lambda k: rows[k], lambda ks: [table.raw(k) for k in ks],
                list(table.issues))


def _parse_log_parquet(path: Path) -> _Raw:
    file = str(path)
    frame = _read_parquet_file(path)
    _require(file, frame.columns)
    for name in _TABLE_COLUMNS:
        if name in frame.columns and isinstance(frame[name].dtype, pl.List | pl.Struct | pl.Array):
            raise DataError(file, None, name,
                            f"column {name!r} has type {frame[name].dtype}, expected a scalar")
    full = frame

    def raws(ks: Sequence[int]) -> list[str]:
        return [json.dumps(full.row(k, named=True), default=str, ensure_ascii=False) for k in ks]

    return _Raw(file, _with_all_columns(frame), lambda k: k + 1, raws)


def _spotify_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str | int | float):
        return str(value)
    # A bool or a container where text or a number belongs: kept visible so the row fails.
    return json.dumps(value)


def _parse_spotify(path: Path) -> _Raw:
    file = str(path)
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise DataError(
            file, None, None,
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            "(is the file truncated?)",
        ) from None
    if not isinstance(data, list):
        raise DataError(
            file, None, None,
            "expected a JSON array of streams (Spotify's extended streaming history); a "
            "playlist file belongs to `songspace ingest`",
        )
    default_user = path.parent.name
    columns: dict[str, list[str | None]] = {c: [] for c in _TABLE_COLUMNS}
    kept: list[int] = []
    issues: list[_Issue] = []
    non_music = 0
    for i, entry in enumerate(data):
        if not isinstance(entry, dict):
            detail = f"expected a stream object, got {type(entry).__name__}"
            issues.append(_Issue(file, f"[{i}]", None, R_TYPE, detail, json.dumps(entry), i))
            continue
        uri = entry.get("spotify_track_uri")
        title = entry.get("master_metadata_track_name")
        if not uri and not title and any(entry.get(k) for k in _SPOTIFY_NON_MUSIC):
            non_music += 1
            continue
        ms = entry.get("ms_played")
        skipped = entry.get("skipped") is True or entry.get("reason_end") == "fwdbtn"
        values = {
            "user_id": _spotify_text(entry.get("username")) or default_user,
            "ts": _spotify_text(entry.get("ts")),
            "ms_played": _spotify_text(ms),
            "event": "skip" if skipped else "play",
            # Played to the end: what was played is the whole track.
            "duration_ms": _spotify_text(ms) if entry.get("reason_end") == "trackdone" else None,
            "song_id": None,
            "track_uri": _spotify_text(uri),
            "title": _spotify_text(title),
            "artist": _spotify_text(entry.get("master_metadata_album_artist_name")),
        }
        for name, value in values.items():
            columns[name].append(value)
        kept.append(i)
    frame = pl.DataFrame({c: pl.Series(v, dtype=pl.Utf8) for c, v in columns.items()})

    def raws(ks: Sequence[int]) -> list[str]:
        return [json.dumps(data[kept[k]], ensure_ascii=False, default=str) for k in ks]

    return _Raw(file, frame, lambda k: f"[{kept[k]}]", raws, issues, non_music)


def _parse_file(path: Path) -> _Raw:
    fmt = detect_log_format(path)
    if fmt == "csv":
        return _parse_csv_fast(path) or _parse_csv_exact(path)
    if fmt == "parquet":
        return _parse_log_parquet(path)
    if fmt == "jsonl":
        return _parse_log_jsonl(path)
    return _parse_spotify(path)


# --------------------------------------------------------------------------------------------
# Validation: every check at once, in polars
# --------------------------------------------------------------------------------------------


def _integer(name: str, dtype: pl.DataType) -> tuple[pl.Expr, pl.Expr]:
    """(value as Int64, whether the value is present but not an integer) for a column."""
    col = pl.col(name)
    if dtype.is_integer():
        return col.cast(pl.Int64), pl.lit(False)
    if dtype.is_float():
        whole = col.is_finite() & (col == col.round(0))
        return pl.when(whole).then(col.cast(pl.Int64, strict=False)), col.is_not_null() & ~whole
    text = col.cast(pl.Utf8).str.strip_chars()
    ok = text.str.contains(r"^[+-]?[0-9]+$")
    value = pl.when(ok).then(text.cast(pl.Int64, strict=False))
    return value, text.is_not_null() & (text != "") & value.is_null()


def _epoch(value: pl.Expr) -> pl.Expr:
    millis = pl.when(value.abs() > _EPOCH_MS_ABOVE).then(value).otherwise(value * 1000)
    return pl.from_epoch(millis, time_unit="ms").dt.replace_time_zone("UTC")


def _timestamp(dtype: pl.DataType) -> pl.Expr:
    col = pl.col("ts")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            col = col.dt.replace_time_zone("UTC")
        return col.dt.convert_time_zone("UTC").dt.cast_time_unit("ms")
    if dtype.is_integer():
        return _epoch(col.cast(pl.Int64))
    text = col.cast(pl.Utf8).str.strip_chars()
    parsed = [text.str.to_datetime(f, time_zone="UTC", time_unit="ms", strict=False)
              for f in _TIME_FORMATS]
    digits = pl.when(text.str.contains(r"^[0-9]+$")).then(text.cast(pl.Int64, strict=False))
    return pl.coalesce(*parsed, _epoch(digits))


def _validate(raw: _Raw) -> tuple[pl.DataFrame, list[_Issue]]:
    """The valid rows in the raw event schema, and one issue per bad row (its first fault)."""
    # One chunk: polars 2.1 panics formatting the messages of several bad rows over a frame that
    # a large CSV left in chunks ("assertion failed: i < self.len()").
    df = raw.frame.rechunk().with_row_index("_k")
    dtypes = dict(df.schema)
    text = [c for c in ("user_id", "event", *SONG_KEYS) if c in df.columns]
    df = df.with_columns(pl.col(c).cast(pl.Utf8).str.strip_chars() for c in text)
    ms, ms_bad = _integer("ms_played", dtypes["ms_played"])
    duration, duration_bad = _integer("duration_ms", dtypes["duration_ms"])
    event = pl.col("event").str.to_lowercase()
    df = df.with_columns(
        _ts=_timestamp(dtypes["ts"]),
        _ms=ms,
        _ms_bad=ms_bad,
        _dur=duration,
        _dur_bad=duration_bad,
        _event=event.cast(EventType, strict=False),
    )

    def blank(c: str) -> pl.Expr:
        if df.schema[c] in (pl.Utf8, pl.Null):
            return pl.col(c).is_null() | (pl.col(c).cast(pl.Utf8) == "")
        return pl.col(c).is_null()

    no_song = blank("song_id") & blank("track_uri") & (blank("title") | blank("artist"))
    timed = pl.col("_event").is_in(["play", "skip"])
    checks: list[tuple[pl.Expr, str, str, pl.Expr]] = [
        (blank("user_id"), "user_id", R_MISSING, pl.lit("missing value: expected a user_id")),
        (no_song, "song_id", R_MISSING,
         pl.lit("missing value: expected a song_id, a track_uri, or a title and an artist")),
        (blank("ts"), "ts", R_MISSING, pl.lit("missing value: expected a time")),
        (pl.col("_ts").is_null(), "ts", R_BAD_TS,
         pl.format("expected a time (ISO 8601 such as 2021-03-04T18:22:11Z, or epoch seconds "
                   "or milliseconds), got '{}'", pl.col("ts").cast(pl.Utf8))),
        (blank("event"), "event", R_MISSING, pl.lit("missing value: expected an event")),
        (pl.col("_event").is_null(), "event", R_EVENT,
         pl.format(f"expected one of {', '.join(EVENTS)}, got '{{}}'", pl.col("event"))),
        (pl.col("_ms_bad"), "ms_played", R_NOT_INT,
         pl.format("expected an integer number of milliseconds, got '{}'",
                   pl.col("ms_played").cast(pl.Utf8))),
        (pl.col("_ms").is_null() & timed, "ms_played", R_MISSING,
         pl.lit("missing value: a play or a skip needs ms_played")),
        (pl.col("_ms") < 0, "ms_played", R_NEGATIVE,
         pl.format("expected ms_played >= 0, got {}", pl.col("_ms"))),
        (pl.col("_dur_bad") | (pl.col("_dur") <= 0), "duration_ms", R_DURATION,
         pl.format("expected a positive integer duration_ms (or none), got '{}'",
                   pl.col("duration_ms").cast(pl.Utf8))),
    ]
    failing = pl.when(checks[0][0]).then(pl.lit(0))
    for n, (condition, _, _, _) in enumerate(checks[1:], start=1):
        failing = failing.when(condition).then(pl.lit(n))
    df = df.with_columns(_check=failing.otherwise(None).cast(pl.Int8))

    issues: list[_Issue] = []
    bad = df.filter(pl.col("_check").is_not_null())
    if bad.height:
        details = bad.select(
            "_k", "_check",
            pl.coalesce(*[pl.when(pl.col("_check") == n).then(d)
                          for n, (_, _, _, d) in enumerate(checks)]).alias("_detail"),
        )
        texts = raw.raws(details["_k"].to_list())
        for (k, check, detail), text in zip(details.iter_rows(), texts, strict=True):
            _, fld, reason, _ = checks[check]
            row = raw.row(k)
            order = row if isinstance(row, int) else int(row.strip("[]"))
            issues.append(_Issue(raw.file, row, fld, reason, detail, text, order))
    good = df.filter(pl.col("_check").is_null()).select(
        "user_id",
        pl.when(blank("song_id")).then(None).otherwise(pl.col("song_id")).alias("song_id"),
        pl.col("_ts").alias("ts"),
        pl.col("_ms").fill_null(0).alias("ms_played"),
        pl.col("_event").alias("event"),
        pl.col("_dur").alias("duration_ms"),
        *[pl.when(blank(c)).then(None).otherwise(pl.col(c)).alias(c)
          for c in ("track_uri", "title", "artist")],
    )
    return good.cast(_RAW_SCHEMA), issues  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def read_logs(
    path: str | Path,
    *,
    songs: pl.DataFrame | None = None,
    on_error: OnError = "fail",
    quarantine_path: str | Path | None = None,
) -> Listening:
    """Read listening events from a file or a folder of files in any supported format.

    Parameters
    ----------
    path : str or Path
        A ``.csv`` / ``.parquet`` / ``.jsonl`` / ``.ndjson`` table, a Spotify extended streaming
        history ``.json`` file, or a folder holding any mix of them (read recursively, hidden
        files skipped).
    songs : polars.DataFrame, optional
        The catalogue (``song_id, title, artist``). When given, events are matched to it (see
        :func:`match_songs`) and only matched events are returned.
    on_error : {"fail", "quarantine"}
        ``"fail"`` raises :class:`DataError` on the first bad row of a file; ``"quarantine"``
        writes every bad row to ``quarantine_path`` as JSON Lines and reads the rest.
    quarantine_path : str or Path, optional
        Required with ``on_error="quarantine"``; always written in that mode.

    Returns
    -------
    Listening
        Events in file order, with the read report.

    Raises
    ------
    DataError
        On a bad row (``"fail"``), or a file that cannot be read at all in either mode (a
        missing column, broken JSON, a corrupt Parquet file, an unknown suffix).
    """
    sink = _Sink(on_error, quarantine_path)
    report = LogReport()
    started = time.perf_counter()
    parts: list[pl.DataFrame] = []
    try:
        for file in _log_files(Path(path), sink):
            report.files.append(str(file))
            raw = _parse_file(file)
            good, issues = _validate(raw)
            sink.take(raw.issues + issues)
            report.events_read += good.height + len(raw.issues) + len(issues) + raw.non_music
            report.non_music += raw.non_music
            parts.append(good)
    finally:
        sink.finish()
    if sink.on_error == "quarantine":
        rows = [i for i in sink.issues if i.reason != R_UNREADABLE]
        report.unreadable_files = [f"{i.file}: {i.detail}" for i in sink.issues
                                   if i.reason == R_UNREADABLE]
        report.quarantine_file = str(sink.path)
        report.quarantined = len(rows)
        report.quarantined_by_reason = dict(Counter(i.reason for i in rows))
    events = pl.concat(parts) if parts else pl.DataFrame(schema=_RAW_SCHEMA)
    logger.info("read %d events from %d files (%d quarantined) in %.2fs", report.events_read,
                len(report.files), report.quarantined, time.perf_counter() - started)
    listening = Listening(events, report)
    return match_songs(listening, songs) if songs is not None else listening


# "Hotel California - 2013 Remaster", "Song (feat. X) [Live]": the song, not its edition.
_EDITION = re.compile(r"\s+-\s+.*$")
_BRACKETS = re.compile(r"[(\[][^)\]]*[)\]]")


def core_title(title: str) -> str:
    """A title without its edition (" - Remastered 2011") or bracketed parts ("(w/ Drake)"),
    normalised; the whole normalised title where nothing would be left."""
    core = normalise_text(_BRACKETS.sub(" ", _EDITION.sub("", title)))
    return core or normalise_text(title)


def _name_keys(frame: pl.DataFrame) -> pl.DataFrame:
    """Distinct (title, artist) pairs of a frame with two matching keys: the normalised title
    and artist, and the core title and artist. normalise_text is per string, so it runs once
    per distinct pair, not once per event."""
    pairs = frame.select("title", "artist").drop_nulls().unique(maintain_order=True)
    exact, core = [], []
    for title, artist in pairs.iter_rows():
        who = normalise_text(artist)
        exact.append(f"{normalise_text(title)}\x1f{who}")
        core.append(f"{core_title(title)}\x1f{who}")
    return pairs.with_columns(_exact=pl.Series(exact, dtype=pl.Utf8),
                              _core=pl.Series(core, dtype=pl.Utf8))


MATCH_KINDS = ("song_id", "track_uri", "title_artist", "core_title_artist")


def match_songs(listening: Listening, songs: pl.DataFrame) -> Listening:
    """Give each event the catalogue's song id, or count it as unmatched.

    An event matches, in this order, by its ``song_id`` when the catalogue has it; by its
    ``track_uri`` when the catalogue uses uris as ids (as a Spotify-derived one does); by
    normalised title and artist (case, accents and punctuation ignored); and by core title and
    artist (:func:`core_title`: "Hotel California - 2013 Remaster" is "Hotel California").
    Where the catalogue repeats a key, its first song wins.

    Parameters
    ----------
    listening : Listening
        As read by :func:`read_logs` without a catalogue.
    songs : polars.DataFrame
        ``song_id, title, artist`` of the catalogue.

    Returns
    -------
    Listening
        Only the matched events, in the canonical :data:`EVENT_SCHEMA`; ``unmatched`` lists the
        song keys that did not match with their event counts; the report counts both, and
        ``matched_by`` how many events each rule matched.
    """
    events = listening.events.with_row_index("_i")
    ids = songs["song_id"]
    by_id = pl.col("song_id").is_in(ids.implode())
    hits = [events.filter(by_id)]
    counts = {"song_id": hits[0].height}
    rest = events.filter(~by_id | pl.col("song_id").is_null())
    if rest.height:
        found = rest.filter(pl.col("track_uri").is_in(ids.implode()))
        hits.append(found.with_columns(song_id=pl.col("track_uri")))
        counts["track_uri"] = found.height
        rest = rest.filter(~pl.col("track_uri").is_in(ids.implode())
                           | pl.col("track_uri").is_null())
    if rest.height and rest["title"].is_not_null().any():
        # Placeholders ("-" by "-": an empty title or artist) are never matched by a name.
        catalogue = _name_keys(songs).filter(
            ~pl.col("_exact").str.starts_with("\x1f") & ~pl.col("_exact").str.ends_with("\x1f")
        ).join(songs.select("title", "artist", "song_id").with_row_index("_pos"),
               on=["title", "artist"])
        keyed = rest.join(_name_keys(rest), on=["title", "artist"], how="left",
                          maintain_order="left")
        for kind, key in (("title_artist", "_exact"), ("core_title_artist", "_core")):
            # Catalogue order, not id order, decides between namesakes.
            table = (catalogue.sort("_pos").unique(key, keep="first", maintain_order=True)
                     .select(key, pl.col("song_id").alias("_match")))
            keyed = keyed.join(table, on=key, how="left", maintain_order="left")
            found = keyed.filter(pl.col("_match").is_not_null())
            hits.append(found.with_columns(song_id=pl.col("_match")).select(events.columns))
            counts[kind] = found.height
            keyed = keyed.filter(pl.col("_match").is_null()).drop("_match")
        rest = keyed.select(events.columns)
    matched = pl.concat(hits).sort("_i") if len(hits) > 1 else hits[0]
    unmatched = (
        rest.group_by("song_id", "track_uri", "title", "artist")
        .agg(events=pl.len())
        .sort(["events", "song_id", "track_uri", "title", "artist"],
              descending=[True, False, False, False, False], nulls_last=True)
    )
    report = listening.report
    report.matched_events = matched.height
    report.matched_by = {kind: counts.get(kind, 0) for kind in MATCH_KINDS}
    report.unmatched_events = rest.height
    report.unmatched_songs = unmatched.height
    if rest.height:
        logger.warning("%d events of %d songs did not match the catalogue", rest.height,
                       unmatched.height)
    good = matched.select(*EVENT_SCHEMA).cast(EVENT_SCHEMA)  # type: ignore[arg-type]
    return Listening(good, report, unmatched)
