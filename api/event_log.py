"""The durable log of listening events posted to the API: SQLite in WAL mode with
``synchronous=FULL``, so an event acknowledged with a 2xx has reached the disk.

Every server process (uvicorn worker) appends to the same file and applies, before it answers
about a user, the rows it has not applied yet: the log, not the process, holds the truth, and a
restart replays it onto the published profiles.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from pipelines.logs import EVENT_SCHEMA

_COLUMNS = ("user_id", "song_id", "ts_ms", "ms_played", "event", "duration_ms")


def event_frame(rows: Sequence[tuple]) -> pl.DataFrame:
    """Rows ``(user_id, song_id, ts_ms, ms_played, event, duration_ms)`` as the canonical event
    frame (pipelines.logs.EVENT_SCHEMA)."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(_COLUMNS)
    users, songs, ts, played, kinds, durations = columns
    return pl.DataFrame({
        "user_id": pl.Series(users, dtype=pl.Utf8), "song_id": pl.Series(songs, dtype=pl.Utf8),
        "ts": pl.Series(ts, dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
        "ms_played": pl.Series(played, dtype=pl.Int64), "event": pl.Series(kinds, dtype=pl.Utf8),
        "duration_ms": pl.Series(durations, dtype=pl.Int64),
    }).cast(EVENT_SCHEMA)  # type: ignore[arg-type]


class EventLog:
    """Append-only event rows, numbered by ``seq``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the server's threads, used under a lock.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=30.0)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                "user_id TEXT NOT NULL, song_id TEXT NOT NULL, ts_ms INTEGER NOT NULL, "
                "ms_played INTEGER NOT NULL, event TEXT NOT NULL, duration_ms INTEGER, "
                "received TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))")

    def append(self, rows: Sequence[tuple]) -> int:
        """Append rows ``(user_id, song_id, ts_ms, ms_played, event, duration_ms)`` in one
        transaction; returns the seq of the last one. Durable when it returns."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    f"INSERT INTO events ({', '.join(_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
                    rows)
                last = self._db.execute("SELECT max(seq) FROM events").fetchone()[0]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return int(last)

    def last_seq(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT coalesce(max(seq), 0) FROM events")
                       .fetchone()[0])

    def since(self, seq: int) -> tuple[pl.DataFrame, int]:
        """Events after ``seq`` in the canonical event frame (pipelines.logs.EVENT_SCHEMA),
        and the seq of the last one (``seq`` itself when there is none)."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, {', '.join(_COLUMNS)} FROM events WHERE seq > ? ORDER BY seq",
                (seq,)).fetchall()
        if not rows:
            return event_frame([]), seq
        return event_frame([row[1:] for row in rows]), int(rows[-1][0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
