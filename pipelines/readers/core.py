"""What every reader shares: reason keys, the on_error sink, format detection, small file
helpers and the validation of playlist rows."""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import stat
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.schemas import (
    PLAYLIST_SCHEMA,
    SONG_SCHEMA,
    DataError,
    OnError,
    ReadReport,
)

logger = logging.getLogger(__name__)

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
R_UNREADABLE = "unreadable file"
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
    R_UNREADABLE,
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


def unreadable_reason(path: Path) -> str | None:
    """Why a file cannot be read (a dangling or looping symbolic link, no permission), or
    None when it can."""
    try:
        mode = path.stat().st_mode
    except OSError as error:
        if not path.is_symlink():
            return error.strerror or str(error)
        if error.errno == errno.ELOOP:
            return "a symbolic link that loops (too many levels of symbolic links)"
        return f"a dangling symbolic link (its target {os.readlink(path)!r} does not exist)"
    if stat.S_ISREG(mode):
        try:
            with open(path, "rb"):
                pass
        except OSError as error:
            return f"cannot open it: {error.strerror}"
    return None


def find_files(folder: Path, suffixes: Iterable[str]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every file under `folder` (recursively, symbolic links followed, hidden entries
    skipped) whose suffix is one of `suffixes`, and every entry that cannot be read with the
    reason: a dangling or looping link, a folder that cannot be listed, a file that cannot be
    opened. Nothing found is left out of both lists unless hidden or of another suffix."""
    wanted = {s.lower() for s in suffixes}
    files: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    seen: set[tuple[int, int]] = set()

    def walk(where: Path) -> None:
        try:
            st = where.stat()
            if (st.st_dev, st.st_ino) in seen:
                return  # a link back up the tree: already read
            seen.add((st.st_dev, st.st_ino))
            entries = sorted(os.scandir(where), key=lambda e: e.name)
        except OSError as error:
            unreadable.append((where, f"cannot list this folder: {error.strerror}"))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            reason = unreadable_reason(path)
            if reason is None and path.is_dir():
                walk(path)
            elif reason is not None and (entry.is_symlink() or path.suffix.lower() in wanted):
                unreadable.append((path, reason))
            elif reason is None and path.suffix.lower() in wanted:
                files.append(path)

    walk(folder)
    return files, unreadable


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
