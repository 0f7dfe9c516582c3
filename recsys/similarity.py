"""How good are "similar songs"? Judged by the songs' Last.fm tags, which the collaborative
models never saw.

For each query song (with tags and a vector), the top-k neighbours of each method are compared
with it: genre agreement (the share of neighbours in the query's genre family, the tags folded
into eight families a listener tells apart), mean tag Jaccard (with and without radio-station
tags, which mirror playlists rather than music) and the share of neighbours by the same artist.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np

from recsys.base import Recommender, top_k
from recsys.similar_songs import SimilarSongs
from recsys.song2vec import Song2Vec
from recsys.tags import is_station_tag

Neighbours = Callable[[int, int], np.ndarray]

# Last.fm tags folded into genre families; "pop" is left out, as every family has pop songs.
FAMILIES = {
    "rock": r"rock|metal|punk|grunge|alternative|\bindie\b|\bemo\b|hardcore",
    "country": r"country|bluegrass|americana|honky",
    "hip hop/r&b": r"hip.?hop|\brap\b|r&b|\brnb\b|r and b|rhythm and blues|gangsta|crunk"
                   r"|\burban\b|dirty south",
    "jazz": r"jazz|\bswing\b|big band|bebop|bossa",
    "soul/funk": r"soul|funk|motown|disco",
    "folk/blues": r"folk|blues|singer.songwriter",
    "electronic": r"electro|\bdance\b|house|techno|trance|\bedm\b|dubstep|synth.?pop",
    "christian": r"christian|gospel|worship|\bccm\b|praise",
}
_FAMILY_PATTERNS = {name: re.compile(pattern) for name, pattern in FAMILIES.items()}


def genre_family(tags: Sequence[str]) -> str | None:
    """The family most of a song's tags fall in (ties: the one whose tag comes first), or None
    when no tag names one."""
    votes: Counter[str] = Counter()
    first: dict[str, int] = {}
    for position, tag in enumerate(tags):
        for name, pattern in _FAMILY_PATTERNS.items():
            if pattern.search(tag.lower()):
                votes[name] += 1
                first.setdefault(name, position)
    if not votes:
        return None
    return max(votes, key=lambda name: (votes[name], -first[name]))


def in_out_neighbours(model: Song2Vec) -> Neighbours:
    """Songs that song2vec expects right after a song: input vector . output vectors."""

    def neighbours(song: int, k: int) -> np.ndarray:
        scores = (model.output_vectors @ model.input_vectors[song])[None, :]
        scores[0, ~model.trained] = -np.inf
        scores[0, song] = -np.inf
        ids, values = top_k(scores, k)
        return ids[0][np.isfinite(values[0])]

    return neighbours


def blended_neighbours(similar: SimilarSongs) -> Neighbours:
    """songspace's "more like this" (`recsys.similar_songs`)."""

    return lambda song, k: similar.top(song, k)[0]


def from_recommender(model: Recommender) -> Neighbours:
    return lambda song, k: model.similar_items(song, k)[0]


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def evaluate_similar(
    methods: dict[str, Neighbours],
    song_tags: Sequence[Sequence[str]],
    artists: Sequence[str],
    candidates: np.ndarray,
    k: int = 10,
    max_songs: int | None = 2000,
    seed: int = 0,
) -> dict:
    """Tag agreement and same-artist rate of each method's top-k neighbours.

    candidates : indices of songs that may be queried (songs with a vector in every method);
        those with a genre family are (at most `max_songs` of them, a seeded sample).
    Returns {"songs": n, "k": k, "models": {name: {"genre_agreement", "tag_jaccard",
    "tag_jaccard_no_stations", "same_artist", "neighbours"}}}.
    """
    tags = [set(t) for t in song_tags]
    music_tags = [{t for t in s if not is_station_tag(t)} for s in tags]
    families = [genre_family(t) for t in song_tags]
    queries = np.asarray([i for i in candidates if families[i] is not None], dtype=np.int64)
    if max_songs is not None and len(queries) > max_songs:
        queries = np.sort(np.random.default_rng(seed).choice(queries, max_songs, replace=False))
    results = {}
    for name, neighbours in methods.items():
        jaccard, music, same_artist, genre, found = [], [], [], [], 0
        for q in queries:
            for n in neighbours(int(q), k):
                found += 1
                genre.append(families[n] == families[q])
                jaccard.append(_jaccard(tags[q], tags[n]))
                music.append(_jaccard(music_tags[q], music_tags[n]))
                same_artist.append(artists[n] == artists[q])
        results[name] = {
            f"genre_agreement@{k}": float(np.mean(genre)) if genre else 0.0,
            f"tag_jaccard@{k}": float(np.mean(jaccard)) if jaccard else 0.0,
            f"tag_jaccard_no_stations@{k}": float(np.mean(music)) if music else 0.0,
            f"same_artist@{k}": float(np.mean(same_artist)) if same_artist else 0.0,
            "neighbours": found,
        }
    return {"songs": len(queries), "k": k, "models": results}
