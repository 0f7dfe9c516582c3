"""Songs and their integer indices: the id map every model and index shares."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import polars as pl

_APOSTROPHES = re.compile(r"['\u2019`]")
_PUNCTUATION = re.compile(r"[^\w\s]|_")


def normalise_text(text: str) -> str:
    """Lower case, accents and punctuation stripped, whitespace collapsed: how people type
    titles ("Don't Stop (w/ Beyoncé)" -> "dont stop w beyonce")."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    stripped = _PUNCTUATION.sub(" ", _APOSTROPHES.sub("", stripped))
    return " ".join(stripped.casefold().split())


# What a name needs to be typed at all: a letter or a digit (normalise_text keeps exactly these).
NAME_PATTERN = r"[^\W_]"


class InvalidNameError(ValueError):
    """A song name with no letter or digit ("🎸", "!!!", " "): it names no song, ever."""

    def __init__(self, query: str) -> None:
        self.query = query
        super().__init__(f"{query!r} is not a song name: a song id, or a title or artist with "
                         "at least one letter or digit, was expected")


def placeholder_mask(titles: Sequence[str | None], artists: Sequence[str | None]) -> np.ndarray:
    """True for placeholder songs: an empty or punctuation-only title or artist ("-" by "-",
    "MG_DELETED" by "-"). A catalogue that names none of its songs (one derived from a table
    of ids) has no placeholders: its songs are known by their ids alone."""
    title_ok = np.fromiter((bool(normalise_text(t or "")) for t in titles), bool, len(titles))
    artist_ok = np.fromiter((bool(normalise_text(a or "")) for a in artists), bool, len(artists))
    if not (title_ok.any() or artist_ok.any()):
        return np.zeros(len(titles), bool)
    return ~(title_ok & artist_ok)


@dataclass
class Catalog:
    """The song table in a fixed order; a song's row number is its index in every model.

    songs: frame with song_id, title, artist, tags (the canonical schema).
    """

    songs: pl.DataFrame
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ids = self.songs["song_id"].to_list()
        self._index = {song_id: i for i, song_id in enumerate(ids)}
        if len(self._index) != len(ids):
            dupes = self.songs.filter(pl.col("song_id").is_duplicated())["song_id"].head(5)
            raise ValueError(f"catalogue has duplicate song ids, e.g. {dupes.to_list()}")

    def __len__(self) -> int:
        return self.songs.height

    @cached_property
    def song_ids(self) -> list[str]:
        # Cached: id lookups sit on every query's path and the frame is never changed in place.
        return self.songs["song_id"].to_list()

    @cached_property
    def placeholder(self) -> np.ndarray:
        """bool (n,): placeholder entries (:func:`placeholder_mask`), never resolved from a
        name and never recommended."""
        return placeholder_mask(self.songs["title"].to_list(), self.songs["artist"].to_list())

    def index_of(self, song_id: str) -> int | None:
        return self._index.get(song_id)

    def encode(self, song_ids: list[str]) -> np.ndarray:
        """Indices of song ids; -1 for ids the catalogue does not have."""
        get = self._index.get
        return np.fromiter((get(s, -1) for s in song_ids), dtype=np.int64, count=len(song_ids))

    def encode_playlists(self, playlists: pl.DataFrame) -> list[np.ndarray]:
        """Playlists (canonical frame) as ordered arrays of indices, -1 for unknown songs."""
        grouped = playlists.group_by("playlist_id", maintain_order=True).agg(
            pl.col("song_id").sort_by("position")
        )
        flat = grouped["song_id"].explode().to_list()
        codes = self.encode(flat)
        lengths = grouped["song_id"].list.len().to_numpy()
        return np.split(codes, np.cumsum(lengths)[:-1]) if len(lengths) else []

    def describe(self, index: int) -> dict[str, str]:
        row = self.songs.row(index, named=True)
        return {"song_id": row["song_id"], "title": row["title"], "artist": row["artist"]}
