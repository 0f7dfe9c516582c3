"""How good are "similar songs"? Judged by what the models never saw: the songs' Last.fm tags.

For each query song (with tags and a vector), the top-k neighbours of each method are compared
with it: mean tag Jaccard (with and without radio-station tags, which mirror playlists rather
than music) and the share of neighbours by the same artist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from recsys.base import Recommender, top_k
from recsys.song2vec import Song2Vec
from recsys.tags import is_station_tag

Neighbours = Callable[[int, int], np.ndarray]


def in_out_neighbours(model: Song2Vec) -> Neighbours:
    """Songs that song2vec expects right after a song: input vector . output vectors."""

    def neighbours(song: int, k: int) -> np.ndarray:
        scores = (model.output_vectors @ model.input_vectors[song])[None, :]
        scores[0, ~model.trained] = -np.inf
        scores[0, song] = -np.inf
        ids, values = top_k(scores, k)
        return ids[0][np.isfinite(values[0])]

    return neighbours


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

    candidates : indices of songs that may be queried (songs with a vector in every method).
    Returns {"songs": n, "k": k, "models": {name: {"tag_jaccard", "tag_jaccard_no_stations",
    "same_artist", "neighbours"}}}.
    """
    tags = [set(t) for t in song_tags]
    music_tags = [{t for t in s if not is_station_tag(t)} for s in tags]
    queries = np.asarray([i for i in candidates if music_tags[i]], dtype=np.int64)
    if max_songs is not None and len(queries) > max_songs:
        queries = np.sort(np.random.default_rng(seed).choice(queries, max_songs, replace=False))
    results = {}
    for name, neighbours in methods.items():
        jaccard, music, same_artist, found = [], [], [], 0
        for q in queries:
            for n in neighbours(int(q), k):
                found += 1
                jaccard.append(_jaccard(tags[q], tags[n]))
                music.append(_jaccard(music_tags[q], music_tags[n]))
                same_artist.append(artists[n] == artists[q])
        results[name] = {
            f"tag_jaccard@{k}": float(np.mean(jaccard)) if jaccard else 0.0,
            f"tag_jaccard_no_stations@{k}": float(np.mean(music)) if music else 0.0,
            f"same_artist@{k}": float(np.mean(same_artist)) if same_artist else 0.0,
            "neighbours": found,
        }
    return {"songs": len(queries), "k": k, "models": results}
