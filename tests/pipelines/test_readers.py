"""Readers: every format, good and bad, in both error modes, plus the real yes.com data."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.readers import (
    REASONS,
    detect_format,
    read_playlists,
    read_songs,
    write_dataset,
)
from pipelines.schemas import PLAYLIST_SCHEMA, SONG_SCHEMA, DataError, Dataset

# --------------------------------------------------------------------------------------------
# Fixture makers
# --------------------------------------------------------------------------------------------

# Four songs in the yes.com layout, with the quirks of the real files: an escaped '/', a title
# with a stray trailing space, a padded id field (as in yes_complete) and the NONE pseudo-tag.
YES_SONG_HASH = (
    "0\tGucci Time (w\\/ Swizz Beatz)\tGucci Mane\n"
    "1\tBohemian Rhapsody\tQueen\n"
    "2 \tBack In Black\tAC\\/DC\n"
    "3\tU Got It Bad \tUsher\n"
)
YES_TAG_HASH = "0, rock\n1, pop\n2, NONE"  # no final newline, like yes_small
YES_TAGS = "0 1\n#\n0 2\n1\n"
YES_HEADER = "ext0 ext1 ext2 ext3 \n2 2 2 1\n"
# Lines 3, 4, 5: three playlists, each line ending with the trailing space.
YES_GOOD_BODY = "0 1 2 \n3 1 \n2 0 \n"


def make_yes(
    folder: Path,
    body: str = YES_GOOD_BODY,
    *,
    tags: str = YES_TAGS,
    song_hash: str = YES_SONG_HASH,
    split: str = "train",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "song_hash.txt").write_text(song_hash)
    (folder / "tag_hash.txt").write_text(YES_TAG_HASH)
    (folder / "tags.txt").write_text(tags)
    (folder / f"{split}.txt").write_text(YES_HEADER + body)
    return folder


def mpd_playlist(pid, tracks) -> dict:
    return {"name": f"list {pid}", "pid": pid, "num_tracks": len(tracks), "tracks": tracks}


def mpd_track(pos, uri: str, name: str = "Song", artist: str = "Band") -> dict:
    return {
        "pos": pos,
        "artist_name": artist,
        "track_uri": uri,
        "artist_uri": "spotify:artist:x",
        "track_name": name,
        "album_uri": "spotify:album:y",
        "duration_ms": 200000,
        "album_name": "Album",
    }


def make_mpd(path: Path, playlists: list[dict]) -> Path:
    info = {"generated_on": "2017-12-03", "slice": "0-999", "version": "v1"}
    path.write_text(json.dumps({"info": info, "playlists": playlists}, indent=2))
    return path


MPD_GOOD = [
    mpd_playlist(
        0,
        [
            mpd_track(0, "spotify:track:a", "Toxic", "Britney Spears"),
            mpd_track(1, "spotify:track:b", "Crazy In Love", "Beyonce"),
        ],
    ),
    mpd_playlist(
        1,
        [
            mpd_track(0, "spotify:track:b", "Crazy In Love (other name)", "Beyonce"),
            mpd_track(1, "spotify:track:c", "Hey Ya!", "OutKast"),
            mpd_track(2, "spotify:track:a", "Toxic", "Britney Spears"),
        ],
    ),
]

CSV_HEADER = "playlist_id,position,song_id,added_by\n"
# Line 2 onward; positions deliberately out of order and with a gap to test renumbering.
CSV_GOOD_BODY = "p1,0,s1,ann\np1,5,s3,ann\np1,2,s2,bob\np2,0,s2,cid\np2,1,s1,cid\n"
CATALOGUE_CSV = (
    "song_id,title,artist,tags\n"
    "s1,Song One,Artist A,rock|pop\n"
    "s2,Song Two,Artist B,\n"
    "s3,Song Three,Artist A,jazz\n"
)


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def quarantine_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sentences(ds: Dataset) -> dict[str, list[str]]:
    return dict(
        zip(ds.playlists["playlist_id"].unique(maintain_order=True), ds.sentences(), strict=True)
    )


def check_fail(path: Path, file_name: str, row, field: str | None, **kwargs) -> DataError:
    """'fail' mode raises a DataError that names the file, the row and the field."""
    with pytest.raises(DataError) as info:
        read_playlists(path, **kwargs)
    err = info.value
    message = str(err)
    assert file_name in message
    assert err.file.endswith(file_name)
    assert err.row == row
    assert f"row {row}" in message
    assert err.field == field
    if field is not None:
        assert f"field '{field}'" in message
    else:
        assert "field '" not in message
    return err


def check_quarantine(
    path: Path, tmp_path: Path, reason: str, row, field: str | None, **kwargs
) -> tuple[Dataset, dict]:
    """'quarantine' mode keeps the good rows and writes exactly the one bad row."""
    qpath = tmp_path / "out" / "quarantine.jsonl"
    ds = read_playlists(path, on_error="quarantine", quarantine_path=qpath, **kwargs)
    assert ds.report.quarantined == 1
    assert ds.report.quarantined_by_reason == {reason: 1}
    assert ds.report.quarantine_file == str(qpath)
    records = quarantine_records(qpath)
    assert len(records) == 1
    record = records[0]
    assert set(record) >= {"file", "row", "field", "reason", "raw"}
    assert record["reason"] == reason
    assert record["row"] == row
    assert record["field"] == field
    assert reason in REASONS
    return ds, record


# --------------------------------------------------------------------------------------------
# yes.com
# --------------------------------------------------------------------------------------------


def test_yes_good(tmp_path: Path) -> None:
    folder = make_yes(tmp_path / "yes")
    ds = read_playlists(folder)
    assert ds.songs.schema == SONG_SCHEMA
    assert ds.playlists.schema == PLAYLIST_SCHEMA
    songs = {r["song_id"]: r for r in ds.songs.iter_rows(named=True)}
    assert list(songs) == ["0", "1", "2", "3"]
    assert songs["0"]["title"] == "Gucci Time (w/ Swizz Beatz)"
    assert songs["2"]["artist"] == "AC/DC"  # padded id "2 " and escaped '/'
    assert songs["3"]["title"] == "U Got It Bad"
    assert songs["0"]["tags"] == ["rock", "pop"]
    assert songs["1"]["tags"] == []  # '#'
    assert songs["2"]["tags"] == ["rock"]  # NONE dropped
    # playlist_id is the line number in train.txt; the two header lines come first.
    assert sentences(ds) == {"3": ["0", "1", "2"], "4": ["3", "1"], "5": ["2", "0"]}
    assert ds.playlists["position"].to_list() == [0, 1, 2, 0, 1, 0, 1]
    assert ds.report.songs == 4
    assert ds.report.playlists == 3
    assert ds.report.playlist_rows == 7
    assert ds.report.quarantined == 0
    assert [Path(f).name for f in ds.report.files] == [
        "song_hash.txt",
        "tag_hash.txt",
        "tags.txt",
        "train.txt",
    ]


def test_yes_train_file_path_and_split(tmp_path: Path) -> None:
    folder = make_yes(tmp_path / "yes")
    by_file = read_playlists(folder / "train.txt")
    assert_frame_equal(by_file.playlists, read_playlists(folder).playlists)
    with pytest.raises(DataError) as info:
        read_playlists(folder, split="test")
    assert "test.txt" in str(info.value)
    make_yes(folder, "1 ", split="test")
    assert sentences(read_playlists(folder, split="test")) == {"3": ["1"]}


def test_yes_non_integer_token(tmp_path: Path) -> None:
    folder = make_yes(tmp_path / "yes", "0 1 2 \n3 x1 \n2 0 \n")
    err = check_fail(folder, "train.txt", 4, "song_id")
    assert "'x1'" in str(err)
    ds, record = check_quarantine(folder, tmp_path, "not an integer", 4, "song_id")
    assert record["raw"] == "3 x1 "
    assert sentences(ds) == {"3": ["0", "1", "2"], "5": ["2", "0"]}
    assert ds.report.playlists == 2
    assert ds.report.playlist_rows == 5


def test_yes_unknown_id(tmp_path: Path) -> None:
    folder = make_yes(tmp_path / "yes", "0 1 2 \n3 1 \n2 17 \n")
    err = check_fail(folder, "train.txt", 5, "song_id")
    assert "unknown song id 17" in str(err)
    ds, record = check_quarantine(folder, tmp_path, "unknown song id", 5, "song_id")
    assert record["raw"] == "2 17 "
    assert sentences(ds) == {"3": ["0", "1", "2"], "4": ["3", "1"]}


def test_yes_empty_playlist_line(tmp_path: Path) -> None:
    folder = make_yes(tmp_path / "yes", "0 1 2 \n\n2 0 \n")
    err = check_fail(folder, "train.txt", 4, None)
    assert "empty playlist" in str(err)
    ds, record = check_quarantine(folder, tmp_path, "empty playlist", 4, None)
    assert record["raw"] == ""
    assert sentences(ds) == {"3": ["0", "1", "2"], "5": ["2", "0"]}


def test_yes_final_newline_is_not_an_empty_playlist(tmp_path: Path) -> None:
    with_newline = read_playlists(make_yes(tmp_path / "a", "0 1 \n2 \n"))
    without = read_playlists(make_yes(tmp_path / "b", "0 1 \n2 "))
    assert with_newline.report.playlists == without.report.playlists == 2


def test_yes_truncated_last_line(tmp_path: Path) -> None:
    folder = make_yes(tmp_path / "yes", "0 1 2 \n3 1 \n2 0")
    err = check_fail(folder, "train.txt", 5, None)
    assert "truncated file: last line does not end with the trailing space" in str(err)
    ds, record = check_quarantine(folder, tmp_path, "truncated line", 5, None)
    assert record["raw"] == "2 0"
    assert sentences(ds) == {"3": ["0", "1", "2"], "4": ["3", "1"]}


def test_yes_tags_line_count_mismatch_is_fatal(tmp_path: Path) -> None:
    folder = make_yes(tmp_path / "yes", tags="0 1\n#\n0 2\n")
    for kwargs in ({}, {"on_error": "quarantine", "quarantine_path": tmp_path / "q.jsonl"}):
        with pytest.raises(DataError) as info:
            read_playlists(folder, **kwargs)
        assert "tags.txt" in str(info.value)
        assert "3 lines" in str(info.value)
        assert "4" in str(info.value)


def test_yes_bad_song_hash_line(tmp_path: Path) -> None:
    song_hash = YES_SONG_HASH.replace("1\tBohemian Rhapsody\tQueen", "1\tBohemian Rhapsody")
    folder = make_yes(tmp_path / "yes", song_hash=song_hash)
    check_fail(folder, "song_hash.txt", 2, None)
    qpath = tmp_path / "q.jsonl"
    ds = read_playlists(folder, on_error="quarantine", quarantine_path=qpath)
    # Song 1 is gone, so both playlists that use it go too; every loss is in the file.
    assert ds.report.quarantined_by_reason == {"wrong field count": 1, "unknown song id": 2}
    assert [(r["row"], Path(r["file"]).name) for r in quarantine_records(qpath)] == [
        (2, "song_hash.txt"),
        (3, "train.txt"),
        (4, "train.txt"),
    ]
    assert sentences(ds) == {"5": ["2", "0"]}


def test_fail_reports_the_first_bad_row_in_the_file(tmp_path: Path) -> None:
    # The checks run one after another over the whole file (field count while parsing, then
    # position, then catalogue), yet "fail" must name the earliest bad line, here the unknown
    # song on line 2 (the header is line 1).
    body = "p1,0,s404\np1,zz,s1\np1,2\n"
    path = write(tmp_path / "p.csv", "playlist_id,position,song_id\n" + body)
    songs = write(tmp_path / "songs.csv", CATALOGUE_CSV)
    err = check_fail(path, "p.csv", 2, "song_id", songs_path=songs)
    assert "unknown song id" in str(err)


# --------------------------------------------------------------------------------------------
# Spotify Million Playlist Dataset
# --------------------------------------------------------------------------------------------


def test_mpd_good(tmp_path: Path) -> None:
    ds = read_playlists(make_mpd(tmp_path / "mpd.slice.0-999.json", MPD_GOOD))
    assert detect_format(tmp_path / "mpd.slice.0-999.json") == "mpd"
    assert sentences(ds) == {
        "0": ["spotify:track:a", "spotify:track:b"],
        "1": ["spotify:track:b", "spotify:track:c", "spotify:track:a"],
    }
    assert ds.songs["song_id"].to_list() == [
        "spotify:track:a",
        "spotify:track:b",
        "spotify:track:c",
    ]
    # The first title seen for a uri names the song.
    assert ds.songs["title"].to_list() == ["Toxic", "Crazy In Love", "Hey Ya!"]
    assert ds.songs["artist"].to_list() == ["Britney Spears", "Beyonce", "OutKast"]
    assert ds.songs["tags"].to_list() == [[], [], []]
    assert (ds.report.songs, ds.report.playlists, ds.report.playlist_rows) == (3, 2, 5)


def test_mpd_folder_of_slices(tmp_path: Path) -> None:
    folder = tmp_path / "slices"
    folder.mkdir()
    make_mpd(folder / "mpd.slice.1000-1999.json", [MPD_GOOD[1]])
    make_mpd(folder / "mpd.slice.0-999.json", [MPD_GOOD[0]])
    ds = read_playlists(folder)
    assert [Path(f).name for f in ds.report.files] == [
        "mpd.slice.0-999.json",
        "mpd.slice.1000-1999.json",
    ]
    assert ds.playlists["playlist_id"].unique(maintain_order=True).to_list() == ["0", "1"]


def test_mpd_empty_tracks(tmp_path: Path) -> None:
    path = make_mpd(tmp_path / "s.json", [MPD_GOOD[0], mpd_playlist(7, []), MPD_GOOD[1]])
    err = check_fail(path, "s.json", "playlists[1]", "tracks")
    assert "empty playlist" in str(err)
    ds, record = check_quarantine(path, tmp_path, "empty playlist", "playlists[1]", "tracks")
    assert json.loads(record["raw"])["pid"] == 7
    assert ds.report.playlists == 2
    assert ds.report.playlist_rows == 5


def test_mpd_bad_pos(tmp_path: Path) -> None:
    tracks = [mpd_track(0, "spotify:track:a"), mpd_track("abc", "spotify:track:x")]
    tracks.append(mpd_track(2, "spotify:track:b"))
    path = make_mpd(tmp_path / "s.json", [mpd_playlist(3, tracks), MPD_GOOD[1]])
    err = check_fail(path, "s.json", "playlists[0].tracks[1]", "pos")
    assert "expected a non-negative integer, got 'abc'" in str(err)
    ds, record = check_quarantine(path, tmp_path, "bad position", "playlists[0].tracks[1]", "pos")
    assert json.loads(record["raw"])["track_uri"] == "spotify:track:x"
    # The quarantined track leaves no gap: positions 0 and 2 become 0 and 1.
    first = ds.playlists.filter(pl.col("playlist_id") == "3")
    assert first["position"].to_list() == [0, 1]
    assert first["song_id"].to_list() == ["spotify:track:a", "spotify:track:b"]
    assert "spotify:track:x" not in ds.songs["song_id"].to_list()


def test_mpd_missing_field(tmp_path: Path) -> None:
    track = mpd_track(1, "spotify:track:x")
    del track["track_uri"]
    path = make_mpd(tmp_path / "s.json", [mpd_playlist(3, [mpd_track(0, "u:a"), track])])
    check_fail(path, "s.json", "playlists[0].tracks[1]", "track_uri")
    check_quarantine(path, tmp_path, "missing value", "playlists[0].tracks[1]", "track_uri")


def test_mpd_truncated_json_is_fatal_in_both_modes(tmp_path: Path) -> None:
    path = make_mpd(tmp_path / "s.json", MPD_GOOD)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    for kwargs in ({}, {"on_error": "quarantine", "quarantine_path": tmp_path / "q.jsonl"}):
        with pytest.raises(DataError) as info:
            read_playlists(path, **kwargs)
        message = str(info.value)
        assert "s.json" in message
        assert "line " in message and "column " in message
        assert info.value.row is None


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def test_csv_good_without_catalogue(tmp_path: Path) -> None:
    ds = read_playlists(write(tmp_path / "playlists.csv", CSV_HEADER + CSV_GOOD_BODY))
    # Sorted by the original position, then renumbered 0..n-1.
    assert sentences(ds) == {"p1": ["s1", "s2", "s3"], "p2": ["s2", "s1"]}
    assert ds.playlists["position"].to_list() == [0, 1, 2, 0, 1]
    assert ds.playlists.schema == PLAYLIST_SCHEMA
    assert ds.songs["song_id"].to_list() == ["s1", "s2", "s3"]
    assert ds.songs["title"].to_list() == ["", "", ""]
    assert ds.songs.schema == SONG_SCHEMA


def test_csv_good_with_catalogue(tmp_path: Path) -> None:
    path = write(tmp_path / "playlists.csv", CSV_HEADER + CSV_GOOD_BODY)
    songs = write(tmp_path / "songs.csv", CATALOGUE_CSV)
    ds = read_playlists(path, songs_path=songs)
    assert ds.songs["tags"].to_list() == [["rock", "pop"], [], ["jazz"]]
    assert ds.songs["title"].to_list() == ["Song One", "Song Two", "Song Three"]
    assert ds.report.songs == 3
    assert [Path(f).name for f in ds.report.files] == ["songs.csv", "playlists.csv"]


def test_csv_missing_column_is_fatal_in_both_modes(tmp_path: Path) -> None:
    path = write(tmp_path / "playlists.csv", "playlist_id,pos,song_id\np1,0,s1\n")
    for kwargs in ({}, {"on_error": "quarantine", "quarantine_path": tmp_path / "q.jsonl"}):
        with pytest.raises(DataError) as info:
            read_playlists(path, **kwargs)
        message = str(info.value)
        assert "playlists.csv" in message
        assert "'position'" in message
        assert "playlist_id, position, song_id" in message


def test_csv_bad_position(tmp_path: Path) -> None:
    body = "p1,0,s1\np1,1,s2\np2,0,s1\np2,1,s3\np2,2,s2\np2,abc,s1\np2,3,s3\n"
    path = write(tmp_path / "playlists.csv", "playlist_id,position,song_id\n" + body)
    err = check_fail(path, "playlists.csv", 7, "position")
    assert str(err).endswith("row 7, field 'position': expected a non-negative integer, got 'abc'")
    ds, record = check_quarantine(path, tmp_path, "bad position", 7, "position")
    assert record["raw"] == "p2,abc,s1"
    assert sentences(ds) == {"p1": ["s1", "s2"], "p2": ["s1", "s3", "s2", "s3"]}
    assert ds.report.playlist_rows == 6


@pytest.mark.parametrize("value", ["-1", "1.5", "+2", "99999999999999999999999"])
def test_csv_position_must_be_a_non_negative_integer(tmp_path: Path, value: str) -> None:
    path = write(tmp_path / "p.csv", f"playlist_id,position,song_id\np1,0,s1\np1,{value},s2\n")
    err = check_fail(path, "p.csv", 3, "position")
    assert repr(value) in str(err)


def test_csv_unknown_song_with_catalogue(tmp_path: Path) -> None:
    path = write(tmp_path / "playlists.csv", CSV_HEADER + CSV_GOOD_BODY + "p2,2,s404,cid\n")
    songs = write(tmp_path / "songs.csv", CATALOGUE_CSV)
    err = check_fail(path, "playlists.csv", 7, "song_id", songs_path=songs)
    assert "unknown song id 's404'" in str(err)
    assert "songs.csv" in str(err)
    ds, record = check_quarantine(path, tmp_path, "unknown song id", 7, "song_id", songs_path=songs)
    assert record["raw"] == "p2,2,s404,cid"
    assert sentences(ds) == {"p1": ["s1", "s2", "s3"], "p2": ["s2", "s1"]}
    # Without a catalogue the same id is accepted and catalogued bare.
    assert "s404" in read_playlists(path).songs["song_id"].to_list()


def test_csv_truncated_last_line(tmp_path: Path) -> None:
    path = write(tmp_path / "playlists.csv", "playlist_id,position,song_id\np1,0,s1\np1,1")
    err = check_fail(path, "playlists.csv", 3, "song_id")
    assert "truncated" in str(err)
    ds, record = check_quarantine(path, tmp_path, "truncated line", 3, "song_id")
    assert record["raw"] == "p1,1"
    assert sentences(ds) == {"p1": ["s1"]}


def test_csv_missing_value_and_duplicate_position(tmp_path: Path) -> None:
    body = "p1,0,s1\np1,1,\np1,1,s2\np1,1,s3\n"
    path = write(tmp_path / "p.csv", "playlist_id,position,song_id\n" + body)
    err = check_fail(path, "p.csv", 3, "song_id")
    assert "missing value" in str(err)
    qpath = tmp_path / "q.jsonl"
    ds = read_playlists(path, on_error="quarantine", quarantine_path=qpath)
    assert ds.report.quarantined_by_reason == {"missing value": 1, "duplicate position": 1}
    records = quarantine_records(qpath)
    assert [(r["row"], r["field"], r["reason"]) for r in records] == [
        (3, "song_id", "missing value"),
        (5, "position", "duplicate position"),
    ]
    assert "row 4 already has it" in records[1]["detail"]
    assert sentences(ds) == {"p1": ["s1", "s2"]}


def test_interleaved_playlists_and_repeated_duplicates(tmp_path: Path) -> None:
    # Rows of one playlist need not be adjacent; every later copy of a position is reported
    # against the earliest row that holds it.
    body = "p1,4,s1\np2,1,s1\np1,1,s2\np2,0,s3\np1,4,s3\np1,4,s2\n"
    path = write(tmp_path / "p.csv", "playlist_id,position,song_id\n" + body)
    qpath = tmp_path / "q.jsonl"
    ds = read_playlists(path, on_error="quarantine", quarantine_path=qpath)
    assert sentences(ds) == {"p1": ["s2", "s1"], "p2": ["s3", "s1"]}
    assert ds.playlists["position"].to_list() == [0, 1, 0, 1]
    records = quarantine_records(qpath)
    assert [(r["row"], r["reason"]) for r in records] == [
        (6, "duplicate position"),
        (7, "duplicate position"),
    ]
    assert all("row 2 already has it" in r["detail"] for r in records)


def test_csv_row_numbers_are_line_numbers(tmp_path: Path) -> None:
    # A quoted field spanning two lines and a blank line shift later rows' line numbers.
    text = 'playlist_id,position,song_id\n"p\n1",0,s1\n\np1,zz,s2\n'
    path = write(tmp_path / "p.csv", text)
    check_fail(path, "p.csv", 5, "position")


def test_playlist_emptied_by_quarantine_is_gone_but_kept_in_quarantine(tmp_path: Path) -> None:
    body = "p1,0,s1\np2,x,s1\np2,y,s2\np3,0,s2\n"
    path = write(tmp_path / "p.csv", "playlist_id,position,song_id\n" + body)
    qpath = tmp_path / "q.jsonl"
    ds = read_playlists(path, on_error="quarantine", quarantine_path=qpath)
    assert sentences(ds) == {"p1": ["s1"], "p3": ["s2"]}
    assert [r["raw"] for r in quarantine_records(qpath)] == ["p2,x,s1", "p2,y,s2"]
    assert ds.report.quarantined == 2
    assert ds.report.playlists == 2


def test_quarantine_needs_a_path_and_always_writes_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", CSV_HEADER + CSV_GOOD_BODY)
    with pytest.raises(ValueError, match="quarantine_path"):
        read_playlists(path, on_error="quarantine")
    qpath = tmp_path / "deep" / "q.jsonl"
    ds = read_playlists(path, on_error="quarantine", quarantine_path=qpath)
    assert qpath.read_text() == ""
    assert ds.report.quarantined == 0
    assert ds.report.quarantine_file == str(qpath)


# --------------------------------------------------------------------------------------------
# JSON Lines and Parquet
# --------------------------------------------------------------------------------------------


def test_jsonl_good_and_truncated_last_line(tmp_path: Path) -> None:
    lines = [
        {"playlist_id": "p1", "position": 0, "song_id": "s1"},
        {"playlist_id": "p1", "position": 1, "song_id": "s2", "extra": True},
        {"playlist_id": 7, "position": 0, "song_id": "s2"},
    ]
    text = "".join(json.dumps(x) + "\n" for x in lines)
    good = read_playlists(write(tmp_path / "good.jsonl", text))
    assert sentences(good) == {"p1": ["s1", "s2"], "7": ["s2"]}

    path = write(tmp_path / "p.jsonl", text + '{"playlist_id": "p1", "posi')
    err = check_fail(path, "p.jsonl", 4, None)
    assert "truncated" in str(err)
    ds, record = check_quarantine(path, tmp_path, "truncated line", 4, None)
    assert record["raw"] == '{"playlist_id": "p1", "posi'
    assert_frame_equal(ds.playlists, good.playlists)


def test_jsonl_missing_column_and_wrong_type(tmp_path: Path) -> None:
    path = write(tmp_path / "p.jsonl", '{"playlist_id": "p1", "song_id": "s1"}\n')
    with pytest.raises(DataError, match="missing column 'position'"):
        read_playlists(path)
    line = '{"playlist_id": "p1", "position": [1], "song_id": "s1"}'
    path = write(
        tmp_path / "q.jsonl", '{"playlist_id": "p1", "position": 0, "song_id": "s1"}\n' + line
    )
    check_fail(path, "q.jsonl", 2, "position")
    check_quarantine(path, tmp_path, "wrong type", 2, "position")


def test_parquet_good(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "playlist_id": ["a", "a", "b"],
            "position": [3, 1, 0],
            "song_id": ["x", "y", "x"],
            "weight": [0.5, 0.1, 0.9],
        }
    )
    path = tmp_path / "p.parquet"
    frame.write_parquet(path)
    ds = read_playlists(path)
    assert sentences(ds) == {"a": ["y", "x"], "b": ["x"]}
    assert ds.playlists.schema == PLAYLIST_SCHEMA


def test_parquet_bad_position_row_number(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {"playlist_id": ["a", "a", "b"], "position": [0, -4, 0], "song_id": ["x"] * 3}
    )
    path = tmp_path / "p.parquet"
    frame.write_parquet(path)
    check_fail(path, "p.parquet", 2, "position")
    _, record = check_quarantine(path, tmp_path, "bad position", 2, "position")
    assert json.loads(record["raw"]) == {"playlist_id": "a", "position": -4, "song_id": "x"}


def test_parquet_corrupt_is_fatal_in_both_modes(tmp_path: Path) -> None:
    path = tmp_path / "p.parquet"
    pl.DataFrame({"playlist_id": ["a"], "position": [0], "song_id": ["x"]}).write_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    for kwargs in ({}, {"on_error": "quarantine", "quarantine_path": tmp_path / "q.jsonl"}):
        with pytest.raises(DataError, match="not a readable Parquet file") as info:
            read_playlists(path, **kwargs)
        assert "p.parquet" in str(info.value)


# --------------------------------------------------------------------------------------------
# Catalogues, canonical folders, detection
# --------------------------------------------------------------------------------------------


def test_read_songs_formats_agree(tmp_path: Path) -> None:
    from_csv = read_songs(write(tmp_path / "songs.csv", CATALOGUE_CSV))
    from_csv.write_parquet(tmp_path / "songs.parquet")
    from_parquet = read_songs(tmp_path / "songs.parquet")
    jsonl = "".join(json.dumps(r) + "\n" for r in from_csv.iter_rows(named=True))
    from_jsonl = read_songs(write(tmp_path / "songs.jsonl", jsonl))
    assert from_csv["tags"].to_list() == [["rock", "pop"], [], ["jazz"]]
    assert_frame_equal(from_csv, from_parquet)
    assert_frame_equal(from_csv, from_jsonl)


def test_read_songs_duplicate_id(tmp_path: Path) -> None:
    path = write(tmp_path / "songs.csv", CATALOGUE_CSV + "s1,Again,Someone,\n")
    with pytest.raises(DataError, match=r"songs\.csv, row 5, field 'song_id': duplicate song id"):
        read_songs(path)
    qpath = tmp_path / "q.jsonl"
    songs = read_songs(path, on_error="quarantine", quarantine_path=qpath)
    assert songs["title"].to_list() == ["Song One", "Song Two", "Song Three"]
    assert [r["reason"] for r in quarantine_records(qpath)] == ["duplicate song id"]


@pytest.mark.parametrize("source", ["yes", "csv"])
def test_write_dataset_round_trip(tmp_path: Path, source: str) -> None:
    if source == "yes":
        original = read_playlists(make_yes(tmp_path / "yes"))
    else:
        path = write(tmp_path / "p.csv", CSV_HEADER + CSV_GOOD_BODY)
        original = read_playlists(path, songs_path=write(tmp_path / "s.csv", CATALOGUE_CSV))
    out = tmp_path / "canonical"
    write_dataset(original, out)
    assert sorted(p.name for p in out.iterdir()) == ["playlists.parquet", "songs.parquet"]
    assert detect_format(out) == "canonical"
    again = read_playlists(out)
    assert_frame_equal(again.songs, original.songs)
    assert_frame_equal(again.playlists, original.playlists)
    assert again.report.playlists == original.report.playlists
    # Writing again over an existing folder replaces both files cleanly.
    write_dataset(again, out)
    assert_frame_equal(read_playlists(out).playlists, original.playlists)


def test_detect_format(tmp_path: Path) -> None:
    yes = make_yes(tmp_path / "yes")
    assert detect_format(yes) == "yes"
    assert detect_format(yes / "train.txt") == "yes"
    for name, fmt in [("a.csv", "csv"), ("a.parquet", "parquet"), ("a.jsonl", "jsonl")]:
        assert detect_format(write(tmp_path / name, "")) == fmt
    assert detect_format(write(tmp_path / "a.ndjson", "")) == "jsonl"
    with pytest.raises(DataError, match="no such file"):
        detect_format(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="cannot tell the format"):
        detect_format(write(tmp_path / "a.xlsx", ""))


# --------------------------------------------------------------------------------------------
# The real data
# --------------------------------------------------------------------------------------------


def test_real_yes_small(shared_data: Path) -> None:
    ds = read_playlists(shared_data / "yes_playlists" / "yes_small")
    assert ds.report.songs == ds.songs.height == 3168
    assert ds.report.playlists == 39005
    # Every token of train.txt is a playlist row (same sum as header line 2's counts).
    assert ds.report.playlist_rows == 160121
    song = ds.songs.filter(pl.col("song_id") == "268").row(0, named=True)
    assert (song["title"], song["artist"]) == ("Bohemian Rhapsody", "Queen")
    assert not ds.songs["title"].str.contains("\\/", literal=True).any()
    assert not ds.songs["artist"].str.contains("\\/", literal=True).any()
    assert (
        ds.songs.filter(pl.col("song_id") == "0")["title"].item() == "Gucci Time (w/ Swizz Beatz)"
    )
    assert not ds.songs["tags"].list.contains("NONE").any()
    # 564 songs carry '#' (no tags).
    assert (ds.songs["tags"].list.len() == 0).sum() == 564


def test_real_yes_big(shared_data: Path) -> None:
    ds = read_playlists(shared_data / "yes_playlists" / "yes_big")
    assert ds.report.songs == 9775
    assert ds.report.playlists == 16839
    assert ds.report.playlist_rows == 172427
    # The README: after the blind hold-out 11 songs of yes_big have no occurrence in train.txt.
    assert ds.songs.height - ds.playlists["song_id"].n_unique() == 11

