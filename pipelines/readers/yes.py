"""The Cornell yes.com layout: song_hash.txt, tags.txt, tag_hash.txt and train/test.txt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from pipelines.readers.core import (
    _DIGITS,
    _NOT_DIGIT_OR_SPACE,
    _YES_NO_TAG,
    _YES_SONGS,
    _YES_TAG_NAMES,
    _YES_TAGS,
    R_DUP_SONG,
    R_EMPTY,
    R_FIELDS,
    R_MISSING,
    R_NOT_INT,
    R_TRUNCATED,
    R_UNKNOWN_SONG,
    R_UNKNOWN_TAG,
    _Issue,
    _playlists_frame,
    _read_text,
    _Sink,
    _songs_frame,
    _split_lines,
)
from pipelines.schemas import DataError

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
