"""Spotify Million Playlist Dataset slices (one .json file or a folder of them)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from pipelines.readers.core import (
    R_BAD_POS,
    R_DUP_PLAYLIST,
    R_EMPTY,
    R_MISSING,
    R_TYPE,
    _empty_tags,
    _Issue,
    _natural_key,
    _read_text,
    _Rows,
    _Sink,
    _validate_rows,
)
from pipelines.schemas import PLAYLIST_SCHEMA, SONG_SCHEMA, DataError

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
