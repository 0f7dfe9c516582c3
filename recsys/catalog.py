"""Songs and their integer indices: the id map every model and index shares."""

from __future__ import annotations

import re
import unicodedata
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
