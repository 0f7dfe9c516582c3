"""Offline evaluation of taste profiles on real listening data, two ways, side by side.

1. **yes.com playlists as users** (yes_big, split seeded by playlist: 80% train, 10% valid, 10%
   test). song2vec is trained on train. Each held-out playlist of at least 5 songs is a user:
   its first 80% is their history (plays in order, four minutes apart), the rest their future.
2. **HetRec 2011 Last.fm 2K** (real play counts, artist level). Its artists are mapped to the
   yes.com catalogue's artists by normalised name; an artist's vector is the mean of its songs'
   unit vectors. Users with at least 5 mapped artists keep 80% of them as history (seeded per
   user) and the other 20% are to be found; the history's play counts are the evidence.

Every model ranks the whole candidate set (songs, or mapped artists) minus the history:
the default taste recommendations (co-listening, `recsys.colisten`, learnt as `profiles build`
learns it, blended with the profile), co-listening alone, the single-mean profile, the
multi-interest profile (interests blended), popularity (fitted on train playlists / history
users), implicit's ALS fitted on the same histories (folded in for held-out playlists; binary
and play-count confidence for HetRec), and, for yes.com, song2vec's own next-song scoring as a
reference. A third, smaller run pairs held-out playlists into users with two tastes, the case
multi-interest profiles are for. Metrics: HitRate@10 (a future item in the top 10), Recall@50
(share of the future found in the top 50), NDCG@10 (binary relevance). Choices of the settings
were checked on the validation split (yes.com) and another hold-out seed (HetRec) first: see
``colisten_validation`` and ``ablations`` in the output.

    python bench/profiles_eval.py [--data ../shared/data] [--out bench/results/profiles_eval.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.profiling import learn_colisten  # noqa: E402
from pipelines.readers import read_playlists  # noqa: E402
from pipelines.splits import split_dataset  # noqa: E402
from pipelines.training import train_song2vec  # noqa: E402
from recsys.artifact import Artifact, load_artifact  # noqa: E402
from recsys.base import top_k  # noqa: E402
from recsys.baselines import ALS, Popularity  # noqa: E402
from recsys.catalog import normalise_text  # noqa: E402
from recsys.colisten import (  # noqa: E402
    CoListenConfig,
    CoListening,
    blend,
    liked_rows,
    user_evidence,
)
from recsys.profiles import (  # noqa: E402
    Pairs,
    ProfileConfig,
    ProfileState,
    build_profiles,
    encode_events,
    item_space,
    profile_scores,
    profiles_from_pairs,
    song_popularity,
    song_space,
)
from recsys.song2vec import Song2VecConfig  # noqa: E402

MIN_ITEMS = 5
HISTORY = 0.8


# --------------------------------------------------------------------------------------------
# Metrics for a held-out set per user
# --------------------------------------------------------------------------------------------


def heldout_metrics(scores: np.ndarray, futures: list[np.ndarray]) -> dict[str, float]:
    """HitRate@10, Recall@50 and NDCG@10 of score rows (history already at -inf) against each
    user's future items (binary relevance; future items a model cannot score are misses)."""
    top, values = top_k(scores, 50)
    hits, recall, ndcg = (np.zeros(len(futures)) for _ in range(3))
    discounts = 1.0 / np.log2(np.arange(2, 12))
    for n, future in enumerate(futures):
        found = np.isin(top[n], future) & np.isfinite(values[n])
        hits[n] = found[:10].any()
        recall[n] = found.sum() / len(future)
        ndcg[n] = (found[:10] * discounts).sum() / discounts[: min(len(future), 10)].sum()
    return {"hr@10": float(hits.mean()), "recall@50": float(recall.mean()),
            "ndcg@10": float(ndcg.mean()), "users": len(futures)}


def mask(scores: np.ndarray, histories: list[np.ndarray]) -> np.ndarray:
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    scores[rows, np.concatenate(histories)] = -np.inf
    return scores


def taste_results(state: ProfileState, colisten: CoListening, items: np.ndarray,
                  known: np.ndarray, histories: list[np.ndarray], futures: list[np.ndarray]
                  ) -> dict:
    """The default taste recommendations (co-listening blended with the single-mean profile,
    as `recsys.user_index.TasteRecommender` scores them) and co-listening alone."""
    from scipy import sparse

    rows = np.arange(len(state))
    profile = profile_scores(state, rows, items, known)
    songs, evidence = user_evidence(state.pairs, state.config)
    matrix = sparse.csr_matrix((evidence.astype(np.float32), (state.pairs.user, songs)),
                               shape=profile.shape)
    together = colisten.batch_scores(matrix)
    among = np.flatnonzero(known)
    return {
        "taste (default: co-listening + profile)": heldout_metrics(mask(blend(
            together, profile, among, colisten.config.profile_weight), histories), futures),
        "co-listening alone": heldout_metrics(mask(blend(together, profile, among, 0.0),
                                                   histories), futures)}


def profile_results(state: ProfileState, unit: np.ndarray, output: np.ndarray | None,
                    histories: list[np.ndarray], futures: list[np.ndarray]) -> dict:
    """Single-mean and multi-interest metrics of one set of profiles."""
    items = item_space(state.config, unit, output, song_popularity(state, len(unit)))
    known = np.linalg.norm(unit, axis=1) > 0
    rows = np.arange(len(state))
    single = heldout_metrics(mask(profile_scores(state, rows, items, known), histories), futures)
    multi = heldout_metrics(mask(profile_scores(state, rows, items, known, interests=True),
                                 histories), futures)
    multi["users_with_interests"] = state.interests.n_users
    return {"single mean": single, "multi-interest": multi}


# --------------------------------------------------------------------------------------------
# 1. yes.com playlists as users
# --------------------------------------------------------------------------------------------


def yes_model(data: Path, cache: Path, seed: int) -> tuple[Artifact, dict]:
    dataset = read_playlists(data)
    parts = split_dataset(dataset, valid=0.1, test=0.1, seed=seed)
    path = cache / f"yes_big_seed{seed}"
    if not (path / "manifest.json").is_file():
        train_song2vec(parts["train"], Song2VecConfig(seed=seed, workers=1), path,
                       source=str(data.absolute()))
    return load_artifact(path), parts


def yes_users(artifact: Artifact, playlists: pl.DataFrame):
    """(user ids, histories, futures) from held-out playlists of MIN_ITEMS songs or more."""
    users, histories, futures = [], [], []
    encoded = artifact.catalog.encode_playlists(playlists)
    ids = playlists["playlist_id"].unique(maintain_order=True).to_list()
    for playlist, songs in zip(ids, encoded, strict=True):
        if len(songs) < MIN_ITEMS:
            continue
        cut = max(1, round(HISTORY * len(songs)))
        history, future = songs[:cut], np.setdiff1d(songs[cut:], songs[:cut])
        history, future = history[history >= 0], future[future >= 0]
        if len(future) and len(history):
            users.append(playlist)
            histories.append(history)
            futures.append(future)
    return users, histories, futures


def yes_events(artifact: Artifact, users: list[str], histories: list[np.ndarray]) -> pl.DataFrame:
    """Histories as listening events: full plays, four minutes apart, in playlist order."""
    song_ids = np.asarray(artifact.catalog.song_ids, dtype=object)
    lengths = [len(h) for h in histories]
    order = np.concatenate([np.arange(n) for n in lengths])
    return pl.DataFrame({
        "user_id": np.repeat(np.asarray(users, dtype=object), lengths).tolist(),
        "song_id": song_ids[np.concatenate(histories)].tolist(),
        "ts": (1_600_000_000_000 + order * 240_000).tolist(),
        "ms_played": [210_000] * len(order),
        "event": ["play"] * len(order),
        "duration_ms": [None] * len(order),
    }, schema_overrides={"duration_ms": pl.Int64}).with_columns(
        pl.from_epoch("ts", time_unit="ms").dt.replace_time_zone("UTC"))


def yes_profiles(artifact: Artifact, users, histories, config: ProfileConfig):
    unit = song_space(artifact.model.input_vectors, artifact.model.trained, config)
    events = yes_events(artifact, users, histories)
    ids, user, item, ts, signal = encode_events(events, artifact.catalog.songs["song_id"],
                                                pl.Series("user_id", [], pl.Utf8), config)
    state = build_profiles(ids, user, item, ts, signal, unit, config)
    # encode_events numbers users by first appearance, which is the order of `users`.
    assert ids.to_list() == users
    return state, unit


def evaluate_yes(artifact: Artifact, playlists: pl.DataFrame, configs: dict[str, ProfileConfig],
                 baselines: bool, colisten: CoListenConfig | None = CoListenConfig()) -> dict:
    users, histories, futures = yes_users(artifact, playlists)
    results = {}
    if colisten is not None:
        state, unit = yes_profiles(artifact, users, histories, ProfileConfig())
        n = len(artifact.catalog)
        items = item_space(state.config, unit, artifact.model.output_vectors,
                           song_popularity(state, n))
        results.update(taste_results(state, learn_colisten(artifact, state, colisten), items,
                                     artifact.model.trained & ~artifact.catalog.placeholder,
                                     histories, futures))
    for name, config in configs.items():
        state, unit = yes_profiles(artifact, users, histories, config)
        found = profile_results(state, unit, artifact.model.output_vectors, histories, futures)
        results.update({f"{name}, {kind}": m for kind, m in found.items()})
    if not baselines:
        return results
    sentences = artifact.training_sentences
    n_items = len(artifact.catalog)
    popularity = Popularity().fit(sentences, n_items)
    results["popularity"] = heldout_metrics(mask(popularity.score(histories), histories),
                                            futures)
    als = ALS(seed=0).fit(sentences, n_items)
    results["als (implicit, fold-in)"] = heldout_metrics(mask(als.score(histories), histories),
                                                         futures)
    results["song2vec next-song scoring (reference)"] = heldout_metrics(
        mask(artifact.model.score(histories), histories), futures)
    return results


def mixed_users(artifact: Artifact, playlists: pl.DataFrame, seed: int, min_len: int = 8):
    """Users with two tastes: two held-out playlists of `min_len` songs or more (paired at
    random, seeded), each split 80/20 as above; the history holds both first parts, the future
    both last parts."""
    encoded = [s[s >= 0] for s in artifact.catalog.encode_playlists(playlists)]
    long = [s for s in encoded if len(s) >= min_len]
    order = np.random.default_rng(seed).permutation(len(long))
    users, histories, futures = [], [], []
    for a, b in zip(order[0::2], order[1::2], strict=False):
        cut_a, cut_b = round(HISTORY * len(long[a])), round(HISTORY * len(long[b]))
        history = np.concatenate([long[a][:cut_a], long[b][:cut_b]])
        future = np.setdiff1d(np.concatenate([long[a][cut_a:], long[b][cut_b:]]), history)
        if len(future):
            users.append(f"mix{a}-{b}")
            histories.append(history)
            futures.append(future)
    return users, histories, futures


def evaluate_mixed(artifact: Artifact, playlists: pl.DataFrame, seed: int) -> dict:
    users, histories, futures = mixed_users(artifact, playlists, seed)
    state, unit = yes_profiles(artifact, users, histories, ProfileConfig())
    found = profile_results(state, unit, artifact.model.output_vectors, histories, futures)
    results = {f"profile in_out (default), {kind}": m for kind, m in found.items()}
    sentences, n_items = artifact.training_sentences, len(artifact.catalog)
    results["popularity"] = heldout_metrics(
        mask(Popularity().fit(sentences, n_items).score(histories), histories), futures)
    results["als (implicit, fold-in)"] = heldout_metrics(
        mask(ALS(seed=0).fit(sentences, n_items).score(histories), histories), futures)
    return results


# --------------------------------------------------------------------------------------------
# 2. HetRec 2011 Last.fm 2K
# --------------------------------------------------------------------------------------------


def artist_space(artifact: Artifact, config: ProfileConfig) -> tuple[list[str], np.ndarray]:
    """Normalised artist names of the catalogue and their unit mean song vectors."""
    unit = song_space(artifact.model.input_vectors, artifact.model.trained, config)
    names = [normalise_text(a) for a in artifact.catalog.songs["artist"].to_list()]
    frame = pl.DataFrame({"artist": names, "row": np.arange(len(names))}).filter(
        pl.Series(artifact.model.trained) & (pl.col("artist") != ""))
    grouped = frame.group_by("artist", maintain_order=True).agg("row")
    vectors = np.stack([unit[rows].mean(axis=0) for rows in grouped["row"].to_list()])
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return grouped["artist"].to_list(), (vectors / np.maximum(norms, 1e-12)).astype(np.float32)


def hetrec_split(folder: Path, artists: list[str], seed: int):
    """Per user: history and held-out artist indices (into `artists`) and history plays."""
    names = pl.read_csv(folder / "artists.dat", separator="\t", quote_char=None,
                        columns=["id", "name"])
    index = {a: i for i, a in enumerate(artists)}
    mapped = {aid: index.get(normalise_text(name)) for aid, name in names.iter_rows()}
    plays = pl.read_csv(folder / "user_artists.dat", separator="\t").with_columns(
        item=pl.col("artistID").replace_strict(mapped, default=None, return_dtype=pl.Int64))
    stats = {"hetrec_artists": names.height,
             "mapped_artists": sum(v is not None for v in mapped.values()),
             "plays_rows": plays.height,
             "plays_rows_mapped": int(plays["item"].is_not_null().sum())}
    plays = plays.drop_nulls("item").sort("userID", "item")
    rng = np.random.default_rng(seed)
    users, histories, weights, futures = [], [], [], []
    for (user,), group in plays.group_by("userID", maintain_order=True):
        if group.height < MIN_ITEMS:
            continue
        items, counts = group["item"].to_numpy(), group["weight"].to_numpy().astype(float)
        held = rng.permutation(len(items))[: max(1, round((1 - HISTORY) * len(items)))]
        keep = np.ones(len(items), bool)
        keep[held] = False
        users.append(str(user))
        histories.append(items[keep])
        weights.append(counts[keep])
        futures.append(items[~keep])
    stats["users"] = len(users)
    return users, histories, weights, futures, stats


def hetrec_profiles(users, histories, weights, vectors, config: ProfileConfig) -> ProfileState:
    lengths = [len(h) for h in histories]
    pairs = Pairs(np.repeat(np.arange(len(users), dtype=np.int32), lengths),
                  np.concatenate(histories).astype(np.int32), np.concatenate(weights),
                  np.concatenate(weights).astype(np.int32))
    return profiles_from_pairs(pl.Series(users), pairs, np.zeros(len(users)), vectors, config)


def count_als(histories, weights, n_items: int, seed: int = 0) -> np.ndarray:
    """implicit ALS on play counts (confidence log1p(plays)), scored with its user factors."""
    import implicit.cpu.als
    from scipy import sparse
    from threadpoolctl import threadpool_limits

    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    matrix = sparse.csr_matrix((np.log1p(np.concatenate(weights)).astype(np.float32),
                                (rows, np.concatenate(histories))),
                               shape=(len(histories), n_items))
    with threadpool_limits(1, "blas"):
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=64, regularization=0.05, alpha=2.0, iterations=15, random_state=seed)
        model.fit(matrix, show_progress=False)
    return np.asarray(model.user_factors @ model.item_factors.T, dtype=np.float32)


def evaluate_hetrec(folder: Path, artifact: Artifact, configs: dict[str, ProfileConfig],
                    seed: int, baselines: bool,
                    colisten: CoListenConfig | None = CoListenConfig()) -> dict:
    results: dict = {}
    if colisten is not None:
        # Artists have no output vectors: the profile is the cosine one with the prior.
        config = HETREC_CONFIGS_DEFAULT
        artists, vectors = artist_space(artifact, config)
        users, histories, weights, futures, stats = hetrec_split(folder, artists, seed)
        state = hetrec_profiles(users, histories, weights, vectors, config)
        items = item_space(config, vectors, None, song_popularity(state, len(artists)))
        learnt = CoListening.fit(liked_rows(state), len(artists), colisten)
        results.update(taste_results(state, learnt, items, np.ones(len(artists), bool),
                                     histories, futures))
    for name, config in configs.items():
        artists, vectors = artist_space(artifact, config)
        users, histories, weights, futures, stats = hetrec_split(folder, artists, seed)
        state = hetrec_profiles(users, histories, weights, vectors, config)
        found = profile_results(state, vectors, None, histories, futures)
        results.update({f"{name}, {kind}": m for kind, m in found.items()})
    if baselines:
        n_items = len(artists)
        popularity = Popularity().fit(histories, n_items)
        results["popularity"] = heldout_metrics(mask(popularity.score(histories), histories),
                                                futures)
        als = ALS(seed=0).fit(histories, n_items)
        results["als (implicit, binary)"] = heldout_metrics(
            mask(als.score(histories), histories), futures)
        results["als (implicit, play counts)"] = heldout_metrics(
            mask(count_als(histories, weights, n_items), histories), futures)
    return {"data": stats, "models": results}


# --------------------------------------------------------------------------------------------
# Settings checked before the final runs
# --------------------------------------------------------------------------------------------

# The song-level default (dual-embedding scoring) and the pure-cosine taste it builds on. At
# artist level there are no output vectors (a mean of output vectors loses the norms that carry
# popularity), so HetRec uses cosine, alone and with the log-popularity prior.
YES_CONFIGS = {
    "profile in_out (default)": {},
    "profile cosine": {"scoring": "cosine"},
}
HETREC_CONFIGS = {
    "profile cosine": {"scoring": "cosine"},
    "profile cosine + popularity prior 0.2": {"scoring": "cosine", "popularity_prior": 0.2},
}
HETREC_CONFIGS_DEFAULT = ProfileConfig(scoring="cosine", popularity_prior=0.2)
# Checked on yes.com's validation split and a second HetRec hold-out (seed 1) before the runs
# above; each changes one setting of the row it starts from.
ABLATIONS: dict[str, tuple[dict, dict]] = {
    "as above": ({}, {}),
    "no centring": ({"center": False}, {"center": False}),
    "linear (no saturation)": ({"saturation": "linear"}, {"saturation": "linear"}),
    "interest_prior 0": ({"interest_prior": 0.0}, {"interest_prior": 0.0}),
    "interest_prior 0.5": ({"interest_prior": 0.5}, {"interest_prior": 0.5}),
    "interest_prior 2": ({"interest_prior": 2.0}, {"interest_prior": 2.0}),
    "interest_merge 0.3": ({"interest_merge": 0.3}, {"interest_merge": 0.3}),
    "interest_merge 0.8": ({"interest_merge": 0.8}, {"interest_merge": 0.8}),
    "min_interest_share 0.3": ({"min_interest_share": 0.3}, {"min_interest_share": 0.3}),
    "half-life 1 hour": ({"half_life_days": 1 / 24}, {}),
    "popularity_prior 0.1": ({"popularity_prior": 0.1}, {"popularity_prior": 0.1}),
    "popularity_prior 0.4": ({"popularity_prior": 0.4}, {"popularity_prior": 0.4}),
}


def configs(base: dict[str, dict], change: dict) -> dict[str, ProfileConfig]:
    return {name: dataclasses.replace(ProfileConfig(), **{**values, **change})
            for name, values in base.items()}


def ablations(artifact: Artifact, valid: pl.DataFrame, hetrec: Path) -> dict:
    out = {}
    for name, (yes_change, hetrec_change) in ABLATIONS.items():
        row = {
            "yes.com valid": evaluate_yes(artifact, valid, configs(YES_CONFIGS, yes_change),
                                          baselines=False, colisten=None),
            "hetrec seed 1": evaluate_hetrec(hetrec, artifact,
                                             configs(HETREC_CONFIGS, hetrec_change), seed=1,
                                             baselines=False, colisten=None)["models"],
        }
        out[name] = row
        print(f"ablation {name}", file=sys.stderr)
        for part, results in row.items():
            for model, m in results.items():
                print(f"  {part:14s} {model:55s} hr@10 {m['hr@10']:.4f} "
                      f"recall@50 {m['recall@50']:.4f} ndcg@10 {m['ndcg@10']:.4f}",
                      file=sys.stderr)
    return out


# Co-listening settings checked on the same validation data (l2, profile weight).
COLISTEN_CHOICES = {f"l2 {l2:g}, profile weight {w:g}": CoListenConfig(l2=l2, profile_weight=w)
                    for l2 in (100.0, 200.0) for w in (0.2, 0.5)}


def colisten_validation(artifact: Artifact, valid: pl.DataFrame, hetrec: Path) -> dict:
    out = {}
    for name, choice in COLISTEN_CHOICES.items():
        row = {"yes.com valid": evaluate_yes(artifact, valid, {}, False, choice),
               "hetrec seed 1": evaluate_hetrec(hetrec, artifact, {}, 1, False,
                                                choice)["models"]}
        out[name] = row
        for part, results in row.items():
            m = results["taste (default: co-listening + profile)"]
            print(f"colisten {name:30s} {part:14s} hr@10 {m['hr@10']:.4f} "
                  f"ndcg@10 {m['ndcg@10']:.4f}", file=sys.stderr)
    return out


def table(results: dict) -> str:
    lines = ["| model | HitRate@10 | Recall@50 | NDCG@10 |", "| --- | ---: | ---: | ---: |"]
    for name, m in results.items():
        lines.append(f"| {name} | {m['hr@10']:.4f} | {m['recall@50']:.4f} | {m['ndcg@10']:.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--cache", type=Path, default=REPO / "artifacts" / "profiles_eval")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" /
                        "profiles_eval.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ablations", action="store_true",
                        help="Leave out the checks of settings on the validation data.")
    parser.add_argument("--colisten-only", action="store_true",
                        help="Of those checks, run only co-listening's.")
    parser.add_argument("--skip-mixed", action="store_true",
                        help="Leave out the two-tastes-per-user run.")
    args = parser.parse_args()
    started = time.perf_counter()
    artifact, parts = yes_model(args.data / "yes_playlists" / "yes_big", args.cache, args.seed)
    hetrec = args.data / "hetrec2011_lastfm_2k"
    report: dict = {"config": ProfileConfig().to_dict(), "seed": args.seed}
    if not args.no_ablations:
        report["colisten_validation"] = colisten_validation(artifact, parts["valid"].playlists,
                                                            hetrec)
        if not args.colisten_only:
            report["ablations"] = ablations(artifact, parts["valid"].playlists, hetrec)
    report["yes_com"] = evaluate_yes(artifact, parts["test"].playlists,
                                     configs(YES_CONFIGS, {}), baselines=True)
    report["hetrec"] = evaluate_hetrec(hetrec, artifact, configs(HETREC_CONFIGS, {}), args.seed,
                                       baselines=True)
    if not args.skip_mixed:
        report["yes_com_mixed"] = evaluate_mixed(artifact, parts["test"].playlists, args.seed)
    report["seconds"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print("yes.com playlists as users (test split)\n" + table(report["yes_com"]))
    print("\nHetRec Last.fm 2K (artists)\n" + table(report["hetrec"]["models"]))
    if "yes_com_mixed" in report:
        print("\nyes.com, two playlists per user (test split)\n" + table(report["yes_com_mixed"]))
    print(json.dumps(report["hetrec"]["data"]))


if __name__ == "__main__":
    main()
