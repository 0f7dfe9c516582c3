"""The public entry points: read any supported playlist input, write the canonical form."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import polars as pl

from pipelines.readers.core import (
    PLAYLIST_COLUMNS,
    _derived_catalogue,
    _Rows,
    _Sink,
    _validate_rows,
    detect_format,
)
from pipelines.readers.mpd import _read_mpd
from pipelines.readers.tables import _parse_table, _read_songs_any
from pipelines.readers.yes import _read_yes
from pipelines.schemas import PLAYLIST_SCHEMA, SONG_SCHEMA, Dataset, OnError, ReadReport
from recsys.catalog import placeholder_mask

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


def _read_table_playlists(
    path: Path, fmt: str, songs: pl.DataFrame | None, catalogue: str | None, sink: _Sink
) -> pl.DataFrame:
    wanted = dict.fromkeys(PLAYLIST_COLUMNS, "text")
    table = _parse_table(path, fmt, wanted, PLAYLIST_COLUMNS)
    rows = _Rows(
        file=table.file,
        playlist_id=table.columns["playlist_id"],
        position=table.columns["position"],
        song_id=table.columns["song_id"],
        row=table.row,
        order=table.row,
        raw=table.raw,
    )
    known = songs["song_id"] if songs is not None else None
    valid, issues = _validate_rows(rows, known, catalogue)
    sink.take(table.issues + issues)
    return valid.drop("_k")


def read_playlists(
    path: str | Path,
    *,
    songs_path: str | Path | None = None,
    split: str = "train",
    on_error: OnError = "fail",
    quarantine_path: str | Path | None = None,
) -> Dataset:
    """Read playlists (and their catalogue) from any supported format.

    Parameters
    ----------
    path : str or Path
        A yes.com folder or its ``train.txt``/``test.txt``; a canonical folder; an MPD ``.json``
        slice or a folder of them; or a CSV / Parquet / JSON Lines table with columns
        ``playlist_id, position, song_id`` (extra columns are ignored).
    songs_path : str or Path, optional
        Catalogue for a table or canonical input (see :func:`read_songs`). When given, rows
        whose song id is not in it are bad rows. Without it the catalogue is derived from the
        playlists (empty title, artist and tags). yes.com and MPD inputs bring their own.
    split : str
        For a yes.com folder, which ``<split>.txt`` to read (``"train"`` or ``"test"``).
    on_error : {"fail", "quarantine"}
        ``"fail"`` raises :class:`DataError` on the first bad row. ``"quarantine"`` writes each
        bad row to ``quarantine_path`` as JSON Lines (``file, row, field, reason, detail,
        raw``) and reads the rest.
    quarantine_path : str or Path, optional
        Required with ``on_error="quarantine"``. Always written (possibly empty) in that mode.

    Returns
    -------
    Dataset
        Songs and playlists in the canonical schema. Playlists come in order of first
        appearance; positions are renumbered 0..n-1 inside each playlist in the order of the
        original positions. ``report`` counts files, songs, playlists, rows and quarantined
        rows by reason.

    Raises
    ------
    DataError
        On a bad row (``"fail"``), or on a file that cannot be read at all (both modes): a
        missing file or column, invalid MPD JSON, a corrupt Parquet file.
    ValueError
        On bad arguments, such as ``on_error="quarantine"`` without ``quarantine_path`` or a
        ``songs_path`` for a format that carries its own catalogue.
    """
    sink = _Sink(on_error, quarantine_path)
    report = ReadReport()
    started = time.perf_counter()
    p = Path(path)
    fmt = detect_format(p)
    if songs_path is not None and fmt in ("yes", "mpd"):
        raise ValueError(
            f"songs_path does not apply to {fmt} input, which carries its own catalogue"
        )
    try:
        songs: pl.DataFrame | None = None
        if fmt == "yes":
            songs, playlists = _read_yes(p, split, sink, report.files)
        elif fmt == "mpd":
            songs, playlists = _read_mpd(p, sink, report.files)
        else:
            catalogue: str | None = None
            if songs_path is not None:
                catalogue = str(songs_path)
                songs = _read_songs_any(Path(songs_path), sink, report.files)
            if fmt == "canonical":
                if songs is None and (p / "songs.parquet").is_file():
                    catalogue = str(p / "songs.parquet")
                    songs = _read_songs_any(p / "songs.parquet", sink, report.files)
                p, fmt = p / "playlists.parquet", "parquet"
            report.files.append(str(p))
            playlists = _read_table_playlists(p, fmt, songs, catalogue, sink)
            if songs is None:
                songs = _derived_catalogue(playlists)
    finally:
        sink.finish(report)
    report.songs = songs.height
    report.placeholder_songs = int(placeholder_mask(songs["title"].to_list(),
                                                    songs["artist"].to_list()).sum())
    report.playlists = playlists["playlist_id"].n_unique()
    report.playlist_rows = playlists.height
    logger.info(
        "read %s (%s): %d songs (%d placeholders), %d playlists, %d rows, %d quarantined in "
        "%.2fs",
        path,
        fmt,
        report.songs,
        report.placeholder_songs,
        report.playlists,
        report.playlist_rows,
        report.quarantined,
        time.perf_counter() - started,
    )
    return Dataset(songs=songs, playlists=playlists, report=report)


def _conform(frame: pl.DataFrame, schema: dict[str, pl.DataType], what: str) -> pl.DataFrame:
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} frame lacks columns {missing}; expected {list(schema)}")
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())


def write_dataset(dataset: Dataset, folder: str | Path) -> None:
    """Write a dataset as a canonical folder: ``songs.parquet`` and ``playlists.parquet``.

    Each file is written to a temporary file in the same folder and then moved over the
    target with :func:`os.replace`, so a reader never sees a half-written file.

    Parameters
    ----------
    dataset : Dataset
        Songs and playlists in the canonical schema (extra columns are dropped).
    folder : str or Path
        Created if absent.
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    frames = {
        "songs.parquet": _conform(dataset.songs, SONG_SCHEMA, "songs"),
        "playlists.parquet": _conform(dataset.playlists, PLAYLIST_SCHEMA, "playlists"),
    }
    temps: dict[str, str] = {}
    try:
        # Both temporaries first, then both renames: the window in which the folder holds one
        # new and one old file is as short as it can be.
        for name, frame in frames.items():
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".tmp")
            os.close(fd)
            temps[name] = tmp
            frame.write_parquet(tmp)
            # mkstemp makes the file private; published data gets the usual permissions.
            os.chmod(tmp, 0o644)
        for name, tmp in temps.items():
            os.replace(tmp, out / name)
    finally:
        for tmp in temps.values():
            Path(tmp).unlink(missing_ok=True)
    logger.info(
        "wrote %d songs and %d playlist rows to %s",
        frames["songs.parquet"].height,
        frames["playlists.parquet"].height,
        out,
    )
