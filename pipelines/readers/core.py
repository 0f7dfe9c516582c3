"""Readers that turn every supported playlist format into the canonical :class:`Dataset`.

Supported inputs (see :func:`detect_format`):

* a yes.com folder (``song_hash.txt``, ``tags.txt``, ``tag_hash.txt``, ``train.txt``/``test.txt``)
  or one of its ``train.txt``/``test.txt`` files;
* a canonical folder written by :func:`write_dataset` (``playlists.parquet``, ``songs.parquet``);
* Spotify Million Playlist Dataset slices (one ``.json`` file or a folder of them);
* plain tables of ``playlist_id, position, song_id`` rows as CSV, Parquet or JSON Lines.

Every bad row is either fatal (``on_error="fail"``: a :class:`DataError` naming the file, the row
and the field) or written to a quarantine file as JSON Lines (``on_error="quarantine"``) and
counted in the :class:`ReadReport`, so nothing is ever dropped silently. Faults that make a
whole file unreadable (a missing column, broken JSON, a corrupt Parquet file) are fatal in both
modes, because no row of such a file can be trusted.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipelines.schemas import (
    PLAYLIST_SCHEMA,
    SONG_SCHEMA,
    DataError,
    Dataset,
    OnError,
    ReadReport,
)

logger = logging.getLogger(__name__)

__all__ = [
    "PLAYLIST_COLUMNS",
    "REASONS",
    "SONG_COLUMNS",
    "detect_format",
    "read_playlists",
    "read_songs",
    "write_dataset",
]

PLAYLIST_COLUMNS: tuple[str, str, str] = ("playlist_id", "position", "song_id")
SONG_COLUMNS: tuple[str, str, str] = ("song_id", "title", "artist")

# Short, stable reason keys: the quarantine file and ReadReport.quarantined_by_reason use them,
# so scripts can group and filter on them. The human-readable detail travels beside them.
R_NOT_INT = "not an integer"
R_UNKNOWN_SONG = "unknown song id"
R_UNKNOWN_TAG = "unknown tag id"
R_EMPTY = "empty playlist"
R_BAD_POS = "bad position"
R_MISSING = "missing value"
R_TRUNCATED = "truncated line"
R_DUP_POS = "duplicate position"
R_DUP_SONG = "duplicate song id"
R_DUP_PLAYLIST = "duplicate playlist id"
R_FIELDS = "wrong field count"
R_JSON = "invalid json"
R_TYPE = "wrong type"
REASONS: tuple[str, ...] = (
    R_NOT_INT,
    R_UNKNOWN_SONG,
    R_UNKNOWN_TAG,
    R_EMPTY,
    R_BAD_POS,
    R_MISSING,
    R_TRUNCATED,
    R_DUP_POS,
    R_DUP_SONG,
    R_DUP_PLAYLIST,
    R_FIELDS,
    R_JSON,
    R_TYPE,
)

_YES_SONGS = "song_hash.txt"
_YES_TAGS = "tags.txt"
_YES_TAG_NAMES = "tag_hash.txt"
# yes_small's tag_hash.txt ends with a "250, NONE" pseudo-tag; it is not a tag of any song.
_YES_NO_TAG = "NONE"
_DIGITS = re.compile(r"[0-9]+")
# A yes.com playlist line holds only ASCII digits and spaces; anything else needs a closer look.
_NOT_DIGIT_OR_SPACE = re.compile(r"[^0-9 ]")

_TABLE_FORMATS = {"csv", "parquet", "jsonl"}
_SUFFIX_FORMATS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "mpd",
}


# --------------------------------------------------------------------------------------------
# Error collection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Issue:
    """One bad row: where it is, why it is bad, and its text so that nothing is lost."""

    file: str
    row: int | str | None
    field: str | None
    reason: str  # one of REASONS
    detail: str  # says what was expected; becomes the DataError message
    raw: str | None
    order: int  # position in the file, so "fail" reports the first bad row, not the first found

    def error(self) -> DataError:
        return DataError(self.file, self.row, self.field, self.detail)

    def record(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "row": self.row,
            "field": self.field,
            "reason": self.reason,
            "detail": self.detail,
            "raw": self.raw,
        }


class _Sink:
    """Applies the on_error policy to the issues of one read."""

    def __init__(self, on_error: OnError, quarantine_path: str | Path | None):
        if on_error not in ("fail", "quarantine"):
            raise ValueError(f"on_error must be 'fail' or 'quarantine', got {on_error!r}")
        if on_error == "quarantine" and quarantine_path is None:
            raise ValueError("on_error='quarantine' needs a quarantine_path to write bad rows to")
        self.on_error = on_error
        self.path = Path(quarantine_path) if quarantine_path is not None else None
        self.issues: list[_Issue] = []

    def take(self, issues: Sequence[_Issue]) -> None:
        """Raise on the first bad row of a file ("fail") or keep them all ("quarantine")."""
        if not issues:
            return
        if self.on_error == "fail":
            raise min(issues, key=lambda i: i.order).error()
        ordered = sorted(issues, key=lambda i: i.order)
        for issue in ordered:
            logger.debug("quarantined %s", issue.error())
        self.issues.extend(ordered)

    def finish(self, report: ReadReport | None = None) -> None:
        """Write the quarantine file and count it in the report.

        The file is written even when empty, so that scripts can rely on it existing after a
        quarantine-mode read.
        """
        if self.on_error != "quarantine" or self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("w", encoding="utf-8") as fh:
            for issue in self.issues:
                fh.write(json.dumps(issue.record(), ensure_ascii=False) + "\n")
        if report is not None:
            report.quarantine_file = str(self.path)
            report.quarantined = len(self.issues)
            report.quarantined_by_reason = dict(Counter(i.reason for i in self.issues))
        if self.issues:
            logger.warning("quarantined %d bad rows to %s", len(self.issues), self.path)


# --------------------------------------------------------------------------------------------
# Format detection and small file helpers
# --------------------------------------------------------------------------------------------


def detect_format(path: str | Path) -> str:
    """Tell the input format from the path alone.

    Parameters
    ----------
    path : str or Path
        A folder or a file.

    Returns
    -------
    str
        ``"yes"`` (a yes.com folder, or a ``.txt`` file with ``song_hash.txt`` beside it),
        ``"canonical"`` (a folder with ``playlists.parquet``), ``"mpd"`` (a ``.json`` file or a
        folder of ``*.json`` slices), ``"csv"``, ``"parquet"`` or ``"jsonl"``
        (``.jsonl``/``.ndjson``).

    Raises
    ------
    DataError
        If the path does not exist or its format cannot be told.
    """
    p = Path(path)
    if p.is_dir():
        if (p / _YES_SONGS).is_file():
            return "yes"
        if (p / "playlists.parquet").is_file():
            return "canonical"
        if any(p.glob("*.json")):
            return "mpd"
        raise DataError(
            str(p),
            None,
            None,
            "cannot tell the format of this folder: expected a yes.com folder (with "
            f"{_YES_SONGS}), a canonical folder (with playlists.parquet) or a folder of "
            "Million Playlist Dataset *.json slices",
        )
    if not p.exists():
        raise DataError(str(p), None, None, "no such file or folder")
    suffix = p.suffix.lower()
    if suffix == ".txt" and (p.parent / _YES_SONGS).is_file():
        return "yes"
    if suffix in _SUFFIX_FORMATS:
        return _SUFFIX_FORMATS[suffix]
    raise DataError(
        str(p),
        None,
        None,
        f"cannot tell the format from the file name: expected one of "
        f"{', '.join(sorted(_SUFFIX_FORMATS))}, or a yes.com .txt file beside {_YES_SONGS}",
    )


def _read_text(path: Path) -> str:
    """The file as text, with CRLF folded to LF so that line checks see the same thing."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError(str(path), None, None, "no such file") from None
    except OSError as exc:
        raise DataError(str(path), None, None, f"cannot read the file: {exc.strerror}") from None
    try:
        # utf-8-sig: a byte-order mark from a spreadsheet export must not become part of the
        # first column name or the first JSON token.
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise DataError(
            str(path), line, None, f"not UTF-8 text (bad byte at offset {exc.start})"
        ) from None
    return text.replace("\r\n", "\n")


def _split_lines(text: str) -> tuple[list[str], bool]:
    """Lines of a text, and whether it ended with a newline.

    A single final newline terminates the last line; it does not start an empty one.
    """
    lines = text.split("\n")
    ends_with_newline = text.endswith("\n")
    if ends_with_newline or lines == [""]:
        lines.pop()
    return lines, ends_with_newline


def _natural_key(path: Path) -> list[int | str]:
    # MPD slices are named mpd.slice.0-999.json, mpd.slice.1000-1999.json, ...: read them in
    # numeric order so that playlists come out in pid order.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _playlists_frame(
    playlist_id: pl.Series, position: pl.Series, song_id: pl.Series
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "playlist_id": playlist_id.cast(pl.Utf8),
            "position": position.cast(pl.Int32),
            "song_id": song_id.cast(pl.Utf8),
        },
        schema=PLAYLIST_SCHEMA,
    )


_TAG_SEPARATOR = "\x1f"  # ASCII unit separator: no tag name in any known data set has it


def _tags_series(tags: Sequence[list[str]]) -> pl.Series:
    """A list[str] Series built through one string split.

    Building it from Python lists directly costs polars a Series per song (about 0.5 s for
    75k songs); joining and splitting again is about five times faster.
    """
    joined = pl.Series([_TAG_SEPARATOR.join(t) for t in tags], dtype=pl.Utf8)
    separators = sum(max(len(t) - 1, 0) for t in tags)
    if joined.str.count_matches(_TAG_SEPARATOR, literal=True).sum() != separators:
        # Some tag holds the separator itself: take the slow, exact path.
        return pl.Series(list(tags), dtype=pl.List(pl.Utf8))
    return pl.select(
        pl.when(joined == "")
        .then(pl.lit([], dtype=pl.List(pl.Utf8)))
        .otherwise(joined.str.split(_TAG_SEPARATOR))
    ).to_series()


def _empty_tags(n: int) -> pl.Series:
    return pl.select(pl.repeat(pl.lit([], dtype=pl.List(pl.Utf8)), n)).to_series()


def _songs_frame(
    song_id: Sequence[str], title: Sequence[str], artist: Sequence[str], tags: Sequence[list[str]]
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "song_id": pl.Series(song_id, dtype=pl.Utf8),
            "title": pl.Series(title, dtype=pl.Utf8),
            "artist": pl.Series(artist, dtype=pl.Utf8),
            "tags": _tags_series(tags),
        },
        schema=SONG_SCHEMA,
    )


def _derived_catalogue(playlists: pl.DataFrame) -> pl.DataFrame:
    """A bare catalogue of the songs the playlists use, for formats that carry no metadata."""
    ids = playlists["song_id"].unique(maintain_order=True)
    n = len(ids)
    return pl.DataFrame(
        {
            "song_id": ids,
            "title": pl.repeat("", n, dtype=pl.Utf8, eager=True),
            "artist": pl.repeat("", n, dtype=pl.Utf8, eager=True),
            "tags": _empty_tags(n),
        },
        schema=SONG_SCHEMA,
    )


# --------------------------------------------------------------------------------------------
# Plain tables: CSV, JSON Lines, Parquet
# --------------------------------------------------------------------------------------------


@dataclass
class _Table:
    """Columns of one table file as Python values, before any type validation."""

    file: str
    # Parquet columns stay polars Series: a round trip through Python lists would cost seconds
    # on a few million rows.
    columns: dict[str, list[Any] | pl.Series]
    row: Sequence[int]  # 1-based line (CSV, JSONL) or row (Parquet) number of each entry
    raw: Callable[[int], str]  # the text of entry k, built only for the rows that go wrong
    issues: list[_Issue] = field(default_factory=list)


def _missing_column(
    file: str, row: int | None, name: str, wanted: Sequence[str], found
) -> DataError:
    return DataError(
        file,
        row,
        name,
        f"missing column {name!r}: expected columns {', '.join(wanted)} "
        f"(found: {', '.join(map(str, found)) or 'none'})",
    )


def _parse_csv(path: Path, wanted: dict[str, str], required: Sequence[str]) -> _Table:
    file = str(path)
    lines, ends_with_newline = _split_lines(_read_text(path))
    if not any(line.strip() for line in lines):
        raise DataError(
            file, None, None, f"empty file: expected a header line with {', '.join(required)}"
        )
    # The csv module, not polars, so that every record keeps its exact line numbers (quoted
    # fields may span lines) and records with a wrong number of fields can be told apart.
    reader = csv.reader(line + "\n" for line in lines)
    header: list[str] | None = None
    header_line = 0
    index: dict[str, int] = {}
    columns: dict[str, list[Any]] = {name: [] for name in wanted}
    rows: list[int] = []
    spans: list[tuple[int, int]] = []
    issues: list[_Issue] = []
    last_end = 0
    for record in reader:
        start, end = last_end + 1, reader.line_num
        last_end = end
        if not record:  # a blank line carries no row
            continue
        if header is None:
            header = [name.strip() for name in record]
            header_line = start
            for name in required:
                if name not in header:
                    raise _missing_column(file, header_line, name, required, header)
            for name in wanted:
                if name in header:
                    index[name] = header.index(name)
            continue
        if len(record) != len(header):
            raw = "\n".join(lines[start - 1 : end])
            truncated = end == len(lines) and not ends_with_newline and len(record) < len(header)
            missing = header[len(record)] if len(record) < len(header) else None
            if truncated:
                detail = (
                    f"truncated line: expected {len(header)} fields ({', '.join(header)}), got "
                    f"{len(record)}, and the file does not end with a newline (cut off?)"
                )
            else:
                detail = f"expected {len(header)} fields ({', '.join(header)}), got {len(record)}"
            reason = R_TRUNCATED if truncated else R_FIELDS
            issues.append(_Issue(file, start, missing, reason, detail, raw, start))
            continue
        for name in wanted:
            columns[name].append(record[index[name]] if name in index else None)
        rows.append(start)
        spans.append((start, end))

    def raw(k: int) -> str:
        a, b = spans[k]
        return "\n".join(lines[a - 1 : b])

    return _Table(file, columns, rows, raw, issues)


def _json_value(value: Any, kind: str) -> tuple[Any, str | None]:
    """A JSON value as the table expects it, or the type it has when it is unusable."""
    if value is None:
        return None, None
    if kind == "tags":
        if isinstance(value, str | list):
            return value, None
        return None, type(value).__name__
    if isinstance(value, str):
        return value, None
    # bool is an int subclass, but True is no playlist id or position.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value), None
    if isinstance(value, float):
        # Kept as text so the row fails with "expected a non-negative integer, got '3.5'".
        return repr(value), None
    return None, type(value).__name__


def _parse_jsonl(path: Path, wanted: dict[str, str], required: Sequence[str]) -> _Table:
    file = str(path)
    lines, ends_with_newline = _split_lines(_read_text(path))
    columns: dict[str, list[Any]] = {name: [] for name in wanted}
    present = dict.fromkeys(wanted, False)
    rows: list[int] = []
    issues: list[_Issue] = []
    objects = 0
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            if n == len(lines) and not ends_with_newline:
                reason, what = R_TRUNCATED, "truncated line: the file ends inside a JSON object"
            else:
                reason, what = R_JSON, "expected one JSON object per line"
            detail = f"{what} ({exc.msg} at column {exc.colno})"
            issues.append(_Issue(file, n, None, reason, detail, line, n))
            continue
        if not isinstance(obj, dict):
            detail = f"expected a JSON object, got {type(obj).__name__}"
            issues.append(_Issue(file, n, None, R_JSON, detail, line, n))
            continue
        objects += 1
        values = {}
        bad: tuple[str, str] | None = None
        for name, kind in wanted.items():
            if name in obj:
                present[name] = True
            value, bad_type = _json_value(obj.get(name), kind)
            if bad_type is not None:
                bad = (name, bad_type)
                break
            values[name] = value
        if bad is not None:
            name, bad_type = bad
            expected = "a list of strings" if wanted[name] == "tags" else "a string or an integer"
            detail = f"expected {expected}, got {bad_type}"
            issues.append(_Issue(file, n, name, R_TYPE, detail, line, n))
            continue
        for name in wanted:
            columns[name].append(values[name])
        rows.append(n)
    if objects:
        # A key that no object has is a wrong file, not a few bad rows.
        for name in required:
            if not present[name]:
                raise _missing_column(
                    file, None, name, required, [k for k, v in present.items() if v]
                )
    return _Table(file, columns, rows, lambda k: lines[rows[k] - 1], issues)


def _read_parquet_file(path: Path) -> pl.DataFrame:
    file = str(path)
    if not path.is_file():
        raise DataError(file, None, None, "no such file")
    try:
        return pl.read_parquet(path)
    except Exception as exc:  # polars raises several kinds for a damaged file
        raise DataError(file, None, None, f"not a readable Parquet file: {exc}") from None
    except BaseException as exc:
        # A damaged file can also make the Rust reader panic, which surfaces as a
        # BaseException; anything else (KeyboardInterrupt, SystemExit) must propagate.
        if type(exc).__name__ != "PanicException":
            raise
        raise DataError(file, None, None, f"not a readable Parquet file: {exc}") from None


def _parse_parquet(path: Path, wanted: dict[str, str], required: Sequence[str]) -> _Table:
    file = str(path)
    df = _read_parquet_file(path)
    for name in required:
        if name not in df.columns:
            raise _missing_column(file, None, name, required, df.columns)
    columns: dict[str, list[Any] | pl.Series] = {}
    for name, kind in wanted.items():
        if name not in df.columns:
            columns[name] = pl.repeat(None, df.height, dtype=pl.Utf8, eager=True)
            continue
        col = df[name]
        if kind == "tags":
            if col.dtype == pl.Null:
                columns[name] = pl.repeat(None, df.height, dtype=pl.Utf8, eager=True)
                continue
            if col.dtype == pl.Utf8 or (
                isinstance(col.dtype, pl.List) and col.dtype.inner in (pl.Utf8, pl.Null)
            ):
                columns[name] = col
                continue
            raise DataError(
                file,
                None,
                name,
                f"column {name!r} has type {col.dtype}, expected a list of strings",
            )
        if col.dtype in (pl.Boolean,) or isinstance(col.dtype, pl.List | pl.Struct | pl.Array):
            raise DataError(
                file, None, name, f"column {name!r} has type {col.dtype}, expected text or integers"
            )
        try:
            columns[name] = col.cast(pl.Utf8)
        except pl.exceptions.PolarsError:
            raise DataError(
                file, None, name, f"column {name!r} has type {col.dtype}, expected text or integers"
            ) from None

    def raw(k: int) -> str:
        return json.dumps(df.row(k, named=True), default=str, ensure_ascii=False)

    return _Table(file, columns, range(1, df.height + 1), raw)


def _parse_table(path: Path, fmt: str, wanted: dict[str, str], required: Sequence[str]) -> _Table:
    if fmt == "csv":
        return _parse_csv(path, wanted, required)
    if fmt == "jsonl":
        return _parse_jsonl(path, wanted, required)
    if fmt == "parquet":
        return _parse_parquet(path, wanted, required)
    raise DataError(str(path), None, None, f"not a table format: {fmt}")


# --------------------------------------------------------------------------------------------
# Playlist row validation, shared by the table and MPD readers
# --------------------------------------------------------------------------------------------


@dataclass
class _Rows:
    """Playlist rows of one file as text, each with its location, before validation."""

    file: str
    playlist_id: list[str | None] | pl.Series
    position: list[str | None] | pl.Series
    song_id: list[str | None] | pl.Series
    row: Sequence[int | str]
    order: Sequence[int]
    raw: Callable[[int], str]
    # The names a person sees in the file for the three canonical columns (MPD: pid, pos, ...).
    fields: tuple[str, str, str] = PLAYLIST_COLUMNS


def _validate_rows(
    rows: _Rows, known: pl.Series | None, catalogue: str | None
) -> tuple[pl.DataFrame, list[_Issue]]:
    """Check every row at once and renumber positions 0..n-1 inside each playlist.

    Returns the valid rows in the canonical schema plus a ``_k`` column (the row's index in
    ``rows``), ordered by playlist first appearance then original position, and one issue per
    bad row (the first check it fails).
    """
    f_pid, f_pos, f_sid = rows.fields
    names = dict(zip(PLAYLIST_COLUMNS, rows.fields, strict=True))
    df = pl.DataFrame(
        {"playlist_id": rows.playlist_id, "position": rows.position, "song_id": rows.song_id},
        schema=dict.fromkeys(PLAYLIST_COLUMNS, pl.Utf8),
    ).with_row_index("_k")
    # Stray spaces around ids ("p1, 3, s9" in a hand-written CSV) are not part of the id.
    df = df.with_columns(pl.col(c).str.strip_chars() for c in PLAYLIST_COLUMNS)

    def blank(c: str) -> pl.Expr:
        return pl.col(c).is_null() | (pl.col(c) == "")

    missing = pl.when(blank("playlist_id")).then(pl.lit(f_pid))
    missing = missing.when(blank("position")).then(pl.lit(f_pos))
    missing = missing.when(blank("song_id")).then(pl.lit(f_sid)).otherwise(None)
    df = df.with_columns(
        _missing=missing,
        # The regex keeps "+3", "-0" and "3.0" out; the cast turns overflow into null.
        _pos=pl.when(pl.col("position").str.contains(r"^[0-9]+$")).then(
            pl.col("position").cast(pl.Int64, strict=False)
        ),
    )
    issues: list[_Issue] = []

    def issue(k: int, fld: str | None, reason: str, detail: str) -> _Issue:
        return _Issue(rows.file, rows.row[k], fld, reason, detail, rows.raw(k), rows.order[k])

    bad = df.filter(pl.col("_missing").is_not_null())
    for k, fld in zip(bad["_k"], bad["_missing"], strict=True):
        issues.append(issue(k, fld, R_MISSING, f"missing value: expected a non-empty {fld}"))
    df = df.filter(pl.col("_missing").is_null())

    bad = df.filter(pl.col("_pos").is_null())
    for k, value in zip(bad["_k"], bad["position"], strict=True):
        detail = f"expected a non-negative integer, got {value!r}"
        issues.append(issue(k, f_pos, R_BAD_POS, detail))
    df = df.filter(pl.col("_pos").is_not_null())

    if known is not None:
        bad = df.filter(~pl.col("song_id").is_in(known.implode()))
        for k, sid in zip(bad["_k"], bad["song_id"], strict=True):
            detail = f"unknown song id {sid!r}: not in the catalogue {catalogue}"
            issues.append(issue(k, f_sid, R_UNKNOWN_SONG, detail))
        df = df.filter(pl.col("song_id").is_in(known.implode()))

    # Sorting by (first appearance, position, file order) puts each playlist in one block,
    # with duplicate positions side by side and the earliest row of a tie first; that settles
    # duplicates and renumbering with shifts instead of hashing on string ids again.
    df = df.with_columns(_first=pl.col("_k").min().over("playlist_id")).sort("_first", "_pos", "_k")
    new_block = (pl.col("_first") != pl.col("_first").shift(1)).fill_null(True)
    dup = ~new_block & (pl.col("_pos") == pl.col("_pos").shift(1))
    df = df.with_columns(_dup=dup, _owner=pl.when(~dup).then(pl.col("_k")).forward_fill())
    bad = df.filter(pl.col("_dup"))
    for k, pid, pos, owner in zip(
        bad["_k"], bad["playlist_id"], bad["_pos"], bad["_owner"], strict=True
    ):
        detail = (
            f"duplicate position {pos} in {names['playlist_id']} {pid!r}: "
            f"row {rows.row[owner]} already has it"
        )
        issues.append(issue(k, f_pos, R_DUP_POS, detail))

    # Renumber after validation so that a quarantined row leaves no gap in its playlist.
    index = pl.int_range(pl.len(), dtype=pl.Int64)
    df = df.filter(~pl.col("_dup")).select(
        "playlist_id",
        (index - pl.when(new_block).then(index).forward_fill()).cast(pl.Int32).alias("position"),
        "song_id",
        "_k",
    )
    return df, issues


# --------------------------------------------------------------------------------------------
# Song catalogues
# --------------------------------------------------------------------------------------------

_SONG_WANTED = {"song_id": "text", "title": "text", "artist": "text", "tags": "tags"}


def _split_tags(value: Any) -> tuple[list[str] | None, str | None]:
    """Tags as a list, or why they are unusable. CSV cells hold them as 'a|b|c'."""
    if value is None:
        return [], None
    if isinstance(value, str):
        return [t.strip() for t in value.split("|") if t.strip()], None
    if isinstance(value, list):
        if all(isinstance(t, str) for t in value):
            return [t for t in value if t], None
        return None, "expected a list of strings"
    return None, f"expected a list of strings, got {type(value).__name__}"


def _read_song_table(path: Path, fmt: str, sink: _Sink) -> pl.DataFrame:
    table = _parse_table(path, fmt, _SONG_WANTED, SONG_COLUMNS)
    issues = list(table.issues)
    # Catalogues are small next to playlists, and per-row Python keeps the tag rules readable.
    cols = {
        name: col.to_list() if isinstance(col, pl.Series) else col
        for name, col in table.columns.items()
    }
    ids: list[str] = []
    titles: list[str] = []
    artists: list[str] = []
    tags: list[list[str]] = []
    first_row: dict[str, int] = {}

    def bad(k: int, fld: str, reason: str, detail: str) -> None:
        row = table.row[k]
        issues.append(_Issue(table.file, row, fld, reason, detail, table.raw(k), row))

    for k, row in enumerate(table.row):
        sid, title, artist = cols["song_id"][k], cols["title"][k], cols["artist"][k]
        sid = sid.strip() if sid is not None else None
        if not sid:
            bad(k, "song_id", R_MISSING, "missing value: expected a non-empty song_id")
            continue
        # An empty title is allowed (yes.com has some); an absent one means a broken row.
        if title is None:
            bad(k, "title", R_MISSING, "missing value: expected a title (may be empty text)")
            continue
        if artist is None:
            bad(k, "artist", R_MISSING, "missing value: expected an artist (may be empty text)")
            continue
        song_tags, why = _split_tags(cols["tags"][k])
        if song_tags is None:
            bad(k, "tags", R_TYPE, why or "expected a list of strings")
            continue
        if sid in first_row:
            detail = f"duplicate song id {sid!r}: row {first_row[sid]} already has it"
            bad(k, "song_id", R_DUP_SONG, detail)
            continue
        first_row[sid] = row
        ids.append(sid)
        titles.append(title.strip())
        artists.append(artist.strip())
        tags.append(song_tags)
    sink.take(issues)
    return _songs_frame(ids, titles, artists, tags)


def _read_songs_any(path: Path, sink: _Sink, files: list[str]) -> pl.DataFrame:
    fmt = detect_format(path)
    if fmt == "yes":
        folder = path if path.is_dir() else path.parent
        songs, _ = _read_yes_catalogue(folder, sink, files)
        return songs
    if fmt == "canonical":
        path = path / "songs.parquet"
        fmt = "parquet"
    if fmt not in _TABLE_FORMATS:
        raise DataError(
            str(path), None, None, f"a song catalogue must be CSV, Parquet or JSON Lines, not {fmt}"
        )
    files.append(str(path))
    return _read_song_table(path, fmt, sink)


def read_songs(
    path: str | Path,
    *,
    on_error: OnError = "fail",
    quarantine_path: str | Path | None = None,
) -> pl.DataFrame:
    """Read a song catalogue into the canonical song schema.

    Parameters
    ----------
    path : str or Path
        A CSV, Parquet or JSON Lines file with columns ``song_id``, ``title``, ``artist`` and
        optionally ``tags`` (a list column in Parquet/JSONL, a ``'|'``-separated string in CSV),
        or a yes.com folder / canonical folder, whose catalogue is read.
    on_error : {"fail", "quarantine"}
        ``"fail"`` raises on the first bad row; ``"quarantine"`` writes every bad row to
        ``quarantine_path`` and keeps the rest.
    quarantine_path : str or Path, optional
        JSON Lines file for bad rows; required with ``on_error="quarantine"``.

    Returns
    -------
    polars.DataFrame
        ``song_id, title, artist, tags`` in file order, one row per song id.

    Raises
    ------
    DataError
        On a bad row (``"fail"``) or an unreadable file (both modes).
    ValueError
        If ``on_error="quarantine"`` comes without a ``quarantine_path``.
    """
    sink = _Sink(on_error, quarantine_path)
    try:
        return _read_songs_any(Path(path), sink, [])
    finally:
        sink.finish()


# --------------------------------------------------------------------------------------------
# yes.com
# --------------------------------------------------------------------------------------------


def _clean_yes_text(value: str) -> str:
    # Titles escape '/' as '\/'; some titles and artists carry stray spaces ("U Got It Bad ").
    return value.replace("\\/", "/").strip()


def _read_yes_catalogue(folder: Path, sink: _Sink, files: list[str]) -> tuple[pl.DataFrame, int]:
    """The songs of a yes.com folder, and how many lines song_hash.txt has."""
    song_file, tags_file, names_file = (
        folder / _YES_SONGS,
        folder / _YES_TAGS,
        folder / _YES_TAG_NAMES,
    )
    for f in (song_file, tags_file, names_file):
        if not f.is_file():
            raise DataError(
                str(f),
                None,
                None,
                f"missing file: a yes.com folder needs {_YES_SONGS}, {_YES_TAGS} and "
                f"{_YES_TAG_NAMES}",
            )

    file = str(song_file)
    lines, _ = _split_lines(_read_text(song_file))
    files.append(file)
    issues: list[_Issue] = []
    ids: list[int] = []
    titles: list[str] = []
    artists: list[str] = []
    first_line: dict[int, int] = {}
    for n, line in enumerate(lines, start=1):
        parts = line.split("\t")
        if len(parts) != 3:
            detail = f"expected 3 tab-separated fields (id, title, artist), got {len(parts)}"
            issues.append(_Issue(file, n, None, R_FIELDS, detail, line, n))
            continue
        # yes_complete pads the id field with a space ("0 \t...").
        token = parts[0].strip()
        if not _DIGITS.fullmatch(token):
            detail = f"expected an integer song id, got {parts[0]!r}"
            issues.append(_Issue(file, n, "song_id", R_NOT_INT, detail, line, n))
            continue
        song = int(token)
        if song in first_line:
            detail = f"duplicate song id {song}: line {first_line[song]} already has it"
            issues.append(_Issue(file, n, "song_id", R_DUP_SONG, detail, line, n))
            continue
        first_line[song] = n
        ids.append(song)
        titles.append(_clean_yes_text(parts[1]))
        artists.append(_clean_yes_text(parts[2]))
    sink.take(issues)
    n_songs = len(lines)

    file = str(names_file)
    files.append(file)
    issues = []
    tag_names: dict[int, str] = {}
    for n, line in enumerate(_split_lines(_read_text(names_file))[0], start=1):
        if not line.strip():
            continue
        token, sep, name = line.partition(",")
        if not sep or not _DIGITS.fullmatch(token.strip()):
            detail = f"expected 'id, name' with an integer id, got {line!r}"
            issues.append(_Issue(file, n, "tag_id", R_NOT_INT, detail, line, n))
            continue
        tag_names[int(token)] = name.strip()
    sink.take(issues)

    file = str(tags_file)
    files.append(file)
    lines, _ = _split_lines(_read_text(tags_file))
    if len(lines) != n_songs:
        # Lines map to songs by position, so one line too many or too few shifts every tag.
        raise DataError(
            file,
            None,
            None,
            f"{_YES_TAGS} has {len(lines)} lines but {_YES_SONGS} has {n_songs}: expected one "
            "line per song, in song-id order",
        )
    issues = []
    tags_by_id: list[list[str]] = []
    for n, line in enumerate(lines, start=1):
        tokens = line.split()
        if tokens == ["#"]:
            tags_by_id.append([])
            continue
        if not tokens:
            detail = "missing value: expected tag ids, or '#' for a song without tags"
            issues.append(_Issue(file, n, "tags", R_MISSING, detail, line, n))
            tags_by_id.append([])
            continue
        if _NOT_DIGIT_OR_SPACE.search(line):
            bad = next((t for t in tokens if not _DIGITS.fullmatch(t)), line)
            detail = f"expected integer tag ids separated by spaces, or '#', got {bad!r}"
            issues.append(_Issue(file, n, "tags", R_NOT_INT, detail, line, n))
            tags_by_id.append([])
            continue
        names = [tag_names.get(t) for t in map(int, tokens)]
        if None in names:
            token = tokens[names.index(None)]
            detail = f"unknown tag id {token}: not in {_YES_TAG_NAMES}"
            issues.append(_Issue(file, n, "tags", R_UNKNOWN_TAG, detail, line, n))
            tags_by_id.append([])
            continue
        tags_by_id.append([name for name in names if name != _YES_NO_TAG])
    # A quarantined tags line leaves its song in the catalogue, without tags.
    sink.take(issues)

    songs = _songs_frame(
        [str(i) for i in ids],
        titles,
        artists,
        [tags_by_id[i] if i < len(tags_by_id) else [] for i in ids],
    )
    return songs, n_songs


def _read_yes_playlist_file(
    path: Path, known: set[int], n_songs: int, sink: _Sink, files: list[str]
) -> pl.DataFrame:
    file = str(path)
    files.append(file)
    lines, _ = _split_lines(_read_text(path))
    if len(lines) < 2:
        raise DataError(
            file,
            None,
            None,
            "expected two header lines (external song ids, appearance counts) before the playlists",
        )
    # A file without its two header lines would silently lose its first two playlists.
    for n in (1, 2):
        count = len(lines[n - 1].split())
        if count != n_songs:
            what = "external song ids" if n == 1 else "appearance counts"
            raise DataError(
                file,
                n,
                None,
                f"header line {n} has {count} {what}, expected {n_songs} (one per song in "
                f"{_YES_SONGS}); is this a yes.com playlist file with its two header lines?",
            )

    body = lines[2:]
    last = len(lines)
    # Every playlist line ends with a space, so a last line without it was cut off mid-id.
    # Only enforced where the file follows that convention at all.
    spaced = len(body) == 1 or any(line.endswith(" ") for line in body[:-1])
    issues: list[_Issue] = []
    line_numbers: list[int] = []
    lengths: list[int] = []
    songs: list[int] = []
    for n, line in enumerate(body, start=3):
        if not line.strip():
            detail = "empty playlist: expected song ids separated by spaces"
            issues.append(_Issue(file, n, None, R_EMPTY, detail, line, n))
            continue
        if n == last and spaced and not line.endswith(" "):
            detail = (
                "truncated file: last line does not end with the trailing space every "
                "playlist line has"
            )
            issues.append(_Issue(file, n, None, R_TRUNCATED, detail, line, n))
            continue
        tokens = line.split()
        if _NOT_DIGIT_OR_SPACE.search(line):
            bad = next((t for t in tokens if not _DIGITS.fullmatch(t)), line)
            detail = f"expected integer song ids separated by spaces, got {bad!r}"
            issues.append(_Issue(file, n, "song_id", R_NOT_INT, detail, line, n))
            continue
        ids = list(map(int, tokens))
        if not known.issuperset(ids):
            bad_id = next(i for i in ids if i not in known)
            detail = f"unknown song id {bad_id}: not in {_YES_SONGS}"
            issues.append(_Issue(file, n, "song_id", R_UNKNOWN_SONG, detail, line, n))
            continue
        line_numbers.append(n)
        lengths.append(len(ids))
        songs.extend(ids)
    # A bad line is quarantined whole: dropping one id would invent a transition.
    sink.take(issues)

    counts = np.asarray(lengths, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    positions = np.arange(len(songs), dtype=np.int64) - np.repeat(starts, counts)
    return _playlists_frame(
        pl.Series(np.repeat(np.asarray(line_numbers, dtype=np.int64), counts)),
        pl.Series(positions),
        pl.Series(songs, dtype=pl.Int64),
    )


def _read_yes(
    path: Path, split: str, sink: _Sink, files: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    if path.is_dir():
        folder, playlist_file = path, path / f"{split}.txt"
        if not playlist_file.is_file():
            present = sorted(p.name for p in folder.glob("*.txt"))
            raise DataError(
                str(playlist_file),
                None,
                None,
                f"missing file: split {split!r} needs {split}.txt in this yes.com folder "
                f"(present: {', '.join(present)})",
            )
    else:
        folder, playlist_file = path.parent, path
    songs, n_songs = _read_yes_catalogue(folder, sink, files)
    known = set(map(int, songs["song_id"].to_list()))
    playlists = _read_yes_playlist_file(playlist_file, known, n_songs, sink, files)
    return songs, playlists


# --------------------------------------------------------------------------------------------
# Spotify Million Playlist Dataset
# --------------------------------------------------------------------------------------------

_MPD_FIELDS = ("pid", "pos", "track_uri")


def _load_mpd(path: Path) -> list[Any]:
    file = str(path)
    text = _read_text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # Nothing after the break can be located, so the whole file fails in either mode.
        raise DataError(
            file,
            None,
            None,
            f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            "(is the file truncated?)",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("playlists"), list):
        raise DataError(file, None, "playlists", "expected a JSON object with a 'playlists' list")
    return data["playlists"]


@dataclass
class _MpdFile:
    """The rows of one MPD slice, with the metadata the catalogue is built from."""

    rows: _Rows
    titles: list[str]
    artists: list[str]
    issues: list[_Issue]


def _parse_mpd_file(path: Path, seen_pids: dict[str, str]) -> _MpdFile:
    file = str(path)
    playlists = _load_mpd(path)
    pids: list[str | None] = []
    positions: list[str | None] = []
    uris: list[str | None] = []
    titles: list[str] = []
    artists: list[str] = []
    labels: list[str] = []
    orders: list[int] = []
    tracks_kept: list[Any] = []
    issues: list[_Issue] = []
    # Good rows and issues share one counter, so "fail" reports the first bad row in the file.
    order = 0

    def bad(label: str, fld: str | None, reason: str, detail: str, obj: Any) -> None:
        nonlocal order
        raw = json.dumps(obj, ensure_ascii=False, default=str)
        issues.append(_Issue(file, label, fld, reason, detail, raw, order))
        order += 1

    for i, playlist in enumerate(playlists):
        where = f"playlists[{i}]"
        if not isinstance(playlist, dict):
            kind = type(playlist).__name__
            bad(where, None, R_TYPE, f"expected a playlist object, got {kind}", playlist)
            continue
        pid, tracks = playlist.get("pid"), playlist.get("tracks")
        if pid is None:
            bad(where, "pid", R_MISSING, "missing value: expected a playlist id", playlist)
            continue
        if isinstance(pid, bool) or not isinstance(pid, int | str) or pid == "":
            bad(where, "pid", R_TYPE, f"expected an integer or text pid, got {pid!r}", playlist)
            continue
        if tracks is None:
            bad(where, "tracks", R_MISSING, "missing value: expected a 'tracks' list", playlist)
            continue
        if not isinstance(tracks, list):
            kind = type(tracks).__name__
            bad(where, "tracks", R_TYPE, f"expected a 'tracks' list, got {kind}", playlist)
            continue
        if not tracks:
            bad(where, "tracks", R_EMPTY, "empty playlist: expected at least one track", playlist)
            continue
        key = str(pid)
        if key in seen_pids:
            detail = f"duplicate playlist id {key!r}: {seen_pids[key]} already has it"
            bad(where, "pid", R_DUP_PLAYLIST, detail, playlist)
            continue
        seen_pids[key] = f"{file} {where}"
        for j, track in enumerate(tracks):
            label = f"{where}.tracks[{j}]"
            if not isinstance(track, dict):
                kind = type(track).__name__
                bad(label, None, R_TYPE, f"expected a track object, got {kind}", track)
                continue
            uri, pos = track.get("track_uri"), track.get("pos")
            # Names are optional: a track without them is still a usable playlist entry.
            name, artist = track.get("track_name", ""), track.get("artist_name", "")
            if uri is None or uri == "":
                bad(label, "track_uri", R_MISSING, "missing value: expected a track_uri", track)
                continue
            if not isinstance(uri, str):
                bad(label, "track_uri", R_TYPE, f"expected a text track_uri, got {uri!r}", track)
                continue
            if pos is None:
                bad(label, "pos", R_MISSING, "missing value: expected a pos", track)
                continue
            if isinstance(pos, bool) or not isinstance(pos, int) or pos < 0:
                detail = f"expected a non-negative integer, got {pos!r}"
                bad(label, "pos", R_BAD_POS, detail, track)
                continue
            if not isinstance(name, str) or not isinstance(artist, str):
                fld = "track_name" if not isinstance(name, str) else "artist_name"
                bad(label, fld, R_TYPE, f"expected text, got {track[fld]!r}", track)
                continue
            pids.append(key)
            positions.append(str(pos))
            uris.append(uri)
            titles.append(name.strip())
            artists.append(artist.strip())
            labels.append(label)
            tracks_kept.append(track)
            orders.append(order)
            order += 1

    def raw(k: int) -> str:
        return json.dumps(tracks_kept[k], ensure_ascii=False, default=str)

    rows = _Rows(file, pids, positions, uris, labels, orders, raw, _MPD_FIELDS)
    return _MpdFile(rows, titles, artists, issues)


def _read_mpd(path: Path, sink: _Sink, files: list[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    paths = [path] if path.is_file() else sorted(path.glob("*.json"), key=_natural_key)
    seen_pids: dict[str, str] = {}
    playlist_parts: list[pl.DataFrame] = []
    song_parts: list[pl.DataFrame] = []
    for p in paths:
        files.append(str(p))
        parsed = _parse_mpd_file(p, seen_pids)
        valid, issues = _validate_rows(parsed.rows, None, None)
        sink.take(parsed.issues + issues)
        playlist_parts.append(valid.drop("_k"))
        # The first title and artist seen for a uri name the song.
        firsts = valid.sort("_k").unique("song_id", keep="first", maintain_order=True)
        song_parts.append(
            pl.DataFrame(
                {
                    "song_id": firsts["song_id"],
                    "title": pl.Series(parsed.titles, dtype=pl.Utf8).gather(firsts["_k"]),
                    "artist": pl.Series(parsed.artists, dtype=pl.Utf8).gather(firsts["_k"]),
                    "tags": _empty_tags(firsts.height),
                },
                schema=SONG_SCHEMA,
            )
        )
    if not playlist_parts:
        return pl.DataFrame(schema=SONG_SCHEMA), pl.DataFrame(schema=PLAYLIST_SCHEMA)
    songs = pl.concat(song_parts).unique("song_id", keep="first", maintain_order=True)
    return songs, pl.concat(playlist_parts)


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
    report.playlists = playlists["playlist_id"].n_unique()
    report.playlist_rows = playlists.height
    logger.info(
        "read %s (%s): %d songs, %d playlists, %d rows, %d quarantined in %.2fs",
        path,
        fmt,
        report.songs,
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
