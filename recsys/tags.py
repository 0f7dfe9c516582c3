"""Tag axes: a direction in the song space per tag ("how much rock is in this song").

A tag's direction is the mean unit vector of the songs carrying it minus the mean unit vector of
all songs, normalised. A song's (or a user's) score on a tag is the cosine with that direction,
reported with its percentile among all songs so that tags are comparable with each other.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# yes.com's Last.fm tags include radio call signs ("wjlb-fm", "kiis"): stations, not music.
STATION_TAG = re.compile(r"^[kw][a-z]{2,3}(-?(fm|am|hd\d?))?$")


def is_station_tag(tag: str) -> bool:
    return bool(STATION_TAG.match(tag))


@dataclass
class TagAxes:
    """Directions for the tags carried by at least `min_songs` songs with a vector."""

    tags: list[str]
    directions: np.ndarray  # (n_tags, dim), unit rows
    sorted_scores: np.ndarray  # (n_tags, n_songs) every song's score per tag, ascending

    @classmethod
    def fit(
        cls,
        unit_vectors: np.ndarray,
        song_tags: Sequence[Sequence[str]],
        known: np.ndarray,
        min_songs: int = 20,
        skip_stations: bool = True,
    ) -> TagAxes:
        members: dict[str, list[int]] = {}
        for song, tags in enumerate(song_tags):
            if known[song]:
                for tag in tags:
                    if not (skip_stations and is_station_tag(tag)):
                        members.setdefault(tag, []).append(song)
        tags = sorted(t for t, songs in members.items() if len(songs) >= min_songs)
        centre = unit_vectors[known].mean(axis=0)
        directions = np.stack([unit_vectors[members[t]].mean(axis=0) - centre for t in tags]) \
            if tags else np.zeros((0, unit_vectors.shape[1]), np.float32)
        directions /= np.maximum(np.linalg.norm(directions, axis=1, keepdims=True), 1e-12)
        scores = np.sort(directions @ unit_vectors[known].T, axis=1)
        return cls(tags, directions.astype(np.float32), scores.astype(np.float32))

    def index_of(self, tag: str) -> int:
        try:
            return self.tags.index(tag)
        except ValueError:
            close = difflib.get_close_matches(tag, self.tags, n=5, cutoff=0.5)
            hint = f"did you mean {close}?" if close else f"known tags include {self.tags[:10]}"
            raise KeyError(f"unknown tag {tag!r}; {hint}") from None

    def profile(self, vector: np.ndarray, top: int = 10) -> list[dict]:
        """The tags a vector leans towards most: [{"tag", "score", "percentile"}], best first."""
        unit = vector / max(float(np.linalg.norm(vector)), 1e-12)
        scores = self.directions @ unit
        percentiles = np.array([
            np.searchsorted(row, s) / max(len(row), 1)
            for row, s in zip(self.sorted_scores, scores, strict=True)
        ])
        order = np.argsort(-percentiles, kind="stable")[:top]
        return [
            {"tag": self.tags[i], "score": round(float(scores[i]), 4),
             "percentile": round(float(percentiles[i]), 4)}
            for i in order
        ]

    def mix(self, weights: dict[str, float]) -> np.ndarray:
        """The direction of a tag mix, e.g. {"rock": 0.7, "classical": 0.3}."""
        if not weights:
            raise ValueError("a tag mix needs at least one tag")
        vector = sum(w * self.directions[self.index_of(t)] for t, w in weights.items())
        return np.asarray(vector, dtype=np.float32)


def parse_mix(text: str) -> dict[str, float]:
    """'rock:0.7,classical:0.3' (or '70% rock, 30% classical') -> {"rock": 0.7, ...}."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        if ":" in part:
            tag, _, value = part.rpartition(":")
        elif "%" in part:
            value, _, tag = part.partition("%")
            value = str(float(value) / 100)
        else:
            tag, value = part, "1"
        try:
            weights[tag.strip().lower()] = float(value)
        except ValueError:
            raise ValueError(f"bad weight {value!r} for tag {tag.strip()!r} in {text!r}") from None
    if not weights:
        raise ValueError(f"no tags in {text!r}; expected e.g. 'rock:0.7,classical:0.3'")
    return weights
