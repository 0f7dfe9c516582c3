"""Playlists from descriptions, judged by the songs' Last.fm tags (issue 15, part 2).

For each description, the k songs of `songspace playlist` (the same `TextPlaylists`) are
judged by whether they carry the described genre tag; how well they fit together is the mean
pairwise cosine of their song2vec vectors, against the k most relevant songs taken without
the collaborative step. The three judged descriptions were never used to set the playlist's
weights: those were chosen with `--tune` on other descriptions (TUNING below). Also recorded:
the text map's held-out figures and `songspace similar "Lose Yourself"`, a song that song2vec
learnt no vector for.

    songspace text-map --model MODEL --out MODEL_WITH_TEXT   # or a model trained with it
    python bench/text_playlists.py --model MODEL_WITH_TEXT [--tune]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from audio_gen.text_encoder import load_text_encoder  # noqa: E402
from recsys.artifact import load_artifact  # noqa: E402
from recsys.interests import unit_rows  # noqa: E402
from recsys.search import SongSearch  # noqa: E402
from recsys.text_playlist import TextPlaylistConfig, TextPlaylists  # noqa: E402

# description -> the tags that count as "the described genre" (a song carrying any of them).
JUDGED = {
    "rainy Sunday morning acoustic": ["acoustic"],
    "outlaw country about trucks and whiskey": ["country", "classic country", "country rock",
                                                "modern country", "new country",
                                                "male country", "my country"],
    "90s gangsta rap": ["rap", "hip hop", "hip-hop"],
}
TUNING = {
    "smooth jazz for a late night drive": ["jazz", "smooth jazz"],
    "80s hair metal anthems": ["metal", "heavy metal", "hard rock", "glam rock"],
    "classic motown soul": ["soul", "motown", "old school soul"],
    "christian worship songs": ["christian", "christian rock", "contemporary christian",
                                "worship", "gospel"],
    "sad piano ballads": ["ballad", "ballads", "piano", "sad"],
    "punk rock from the 70s": ["punk", "punk rock"],
}
GRID = {"tag_temperature": [0.05, 0.1, 0.2], "sentence_weight": [0.25, 0.5, 1.0],
        "mapped_weight": [0.0, 0.5, 1.0], "coherence": [0.0, 3.0, 6.0]}


def coherence(unit: np.ndarray, rows: list[int]) -> float:
    """Mean pairwise cosine of the songs' song2vec vectors."""
    vectors = unit[rows]
    sims = vectors @ vectors.T
    n = len(rows)
    return float((sims.sum() - np.trace(sims)) / max(n * (n - 1), 1))


def judge(playlists: TextPlaylists, descriptions: dict[str, list[str]], k: int,
          details: bool = False) -> dict:
    songs = playlists.songs
    tags = songs.catalog.songs["tags"].to_list()
    unit = unit_rows(songs.model.input_vectors)
    out = {}
    for text, genre in descriptions.items():
        started = time.perf_counter()
        rows = playlists.playlist(text, k)
        seconds = time.perf_counter() - started
        picks = [songs.catalog.index_of(r["song_id"]) for r in rows]
        relevance = playlists.relevance(playlists.query(text))
        alone = list(np.argsort(-relevance, kind="stable")[:k])
        hits = [bool(set(tags[i]) & set(genre)) for i in picks]
        result = {"genre_tags": genre, "agreement": round(float(np.mean(hits)), 4),
                  "coherence": round(coherence(unit, picks), 4),
                  "coherence_without_collaborative_step": round(coherence(unit, alone), 4),
                  "agreement_without_collaborative_step": round(float(np.mean(
                      [bool(set(tags[i]) & set(genre)) for i in alone])), 4),
                  "estimated": sum(bool(r.get("estimated")) for r in rows),
                  "seconds": round(seconds, 3)}
        if details:
            result["songs"] = [{**r, "genre_tag": hit, "tags": tags[i][:12]}
                               for r, hit, i in zip(rows, hits, picks, strict=True)]
        out[text] = result
    return out


def tune(playlists: TextPlaylists, k: int) -> list[dict]:
    """Every setting of GRID on the tuning descriptions: mean agreement and coherence."""
    rows = []
    for values in itertools.product(*GRID.values()):
        setting = dict(zip(GRID, values, strict=True))
        playlists.config = dataclasses.replace(TextPlaylistConfig(), **setting)
        found = judge(playlists, TUNING, k)
        rows.append({"setting": setting, "agreement": round(float(np.mean(
            [r["agreement"] for r in found.values()])), 4), "coherence": round(float(np.mean(
                [r["coherence"] for r in found.values()])), 4)})
        print(rows[-1], flush=True)
    playlists.config = TextPlaylistConfig()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--tune", action="store_true", help="also search GRID on TUNING")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/text_playlists.json")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    artifact = load_artifact(args.model)
    song_text = artifact.song_text
    if song_text is None:
        raise SystemExit(f"{args.model} has no text map; run `songspace text-map` first")
    encoder = load_text_encoder(song_text.encoder, max_length=song_text.max_length)
    songs = SongSearch.from_artifact(artifact)
    playlists = TextPlaylists(songs, song_text, encoder)
    lose_yourself = songs.resolve("Lose Yourself").index
    result = {
        "model": str(args.model), "k": args.k, "config": dataclasses.asdict(playlists.config),
        "songs": len(songs.catalog), "learnt": int(songs.model.trained.sum()),
        "estimated": int(songs.estimated.sum()), "text_map": song_text.summary(),
        "similar_lose_yourself": {"song": songs.describe(lose_yourself),
                                  "results": songs.similar(lose_yourself, 10),
                                  "in_out": songs.similar(lose_yourself, 10, scoring="in_out")},
        "judged": judge(playlists, JUDGED, args.k, details=True),
        "tuning": judge(playlists, TUNING, args.k),
    }
    if args.tune:
        result["grid"] = tune(playlists, args.k)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    for text, found in {**result["judged"], **result["tuning"]}.items():
        alone = found["coherence_without_collaborative_step"]
        print(f"{text!r}: genre tag {found['agreement']:.0%}, coherence {found['coherence']:.3f}"
              f" (without the collaborative step {alone:.3f}), {found['estimated']} "
              f"estimated, {found['seconds']:.2f}s")


if __name__ == "__main__":
    main()
