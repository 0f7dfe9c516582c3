"""Seeded splits of whole playlists (a playlist never straddles two splits)."""

from __future__ import annotations

import numpy as np
import polars as pl

from pipelines.schemas import Dataset


def playlist_sizes(dataset: Dataset) -> pl.DataFrame:
    """``playlist_id, len`` of every playlist, in order of first appearance."""
    return dataset.playlists.group_by("playlist_id", maintain_order=True).len()


def split_dataset(
    dataset: Dataset, valid: float = 0.1, test: float = 0.1, seed: int = 0
) -> dict[str, Dataset]:
    """Split playlists into train / valid / test by a seeded permutation of playlist ids.

    Only playlists of two or more songs can be evaluated, so the held-out fractions are drawn
    from those; single-song playlists all stay in train.
    """
    if valid < 0 or test < 0 or valid + test >= 1:
        raise ValueError(f"valid={valid} and test={test} must be >= 0 and sum to less than 1")
    sizes = playlist_sizes(dataset)
    candidates = sizes.filter(pl.col("len") >= 2)["playlist_id"].to_numpy()
    order = np.random.default_rng(seed).permutation(len(candidates))
    n_test, n_valid = round(len(candidates) * test), round(len(candidates) * valid)
    held = {
        "test": candidates[order[:n_test]],
        "valid": candidates[order[n_test : n_test + n_valid]],
    }
    out = {}
    for name, ids in held.items():
        chosen = pl.Series(ids, dtype=pl.Utf8)
        out[name] = dataset.playlists.filter(pl.col("playlist_id").is_in(chosen.implode()))
    held_out = pl.Series(np.concatenate(list(held.values())), dtype=pl.Utf8)
    out["train"] = dataset.playlists.filter(~pl.col("playlist_id").is_in(held_out.implode()))
    return {name: Dataset(dataset.songs, frame) for name, frame in out.items()}
