"""Plain tables of playlist rows (CSV, JSON Lines, Parquet) and song catalogue files."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.readers.core import (
    _TABLE_FORMATS,
    R_DUP_SONG,
    R_FIELDS,
    R_JSON,
    R_MISSING,
    R_TRUNCATED,
    R_TYPE,
    SONG_COLUMNS,
    _Issue,
    _read_text,
    _Sink,
    _songs_frame,
    _split_lines,
    detect_format,
)
from pipelines.readers.yes import _read_yes_catalogue
from pipelines.schemas import DataError, OnError

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
