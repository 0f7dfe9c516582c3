"""The HTML page of a pipeline run and the PNG figures in it.

    report.html            metrics table (song2vec against the baselines), similar songs by
                           tags, recommendation popularity, step durations, the figures
    song_map.png           2-D PCA map of the song vectors coloured by top tag, famous songs
                           labelled
    rec_popularity.png     distribution of the popularity percentile of recommended songs
    step_durations.png     seconds per step
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from pipelines.pipeline_config import ReportSettings
from recsys.artifact import Artifact
from recsys.catalog import normalise_text
from recsys.evaluation import METRICS
from recsys.tags import is_station_tag


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def pca_2d(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components of `vectors` (rows), float64 (n, 2)."""
    centred = vectors - vectors.mean(axis=0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def famous_rows(model: Artifact, titles: list[str], plays: np.ndarray) -> list[int]:
    """Catalogue rows of the named songs that have a vector (the most played of namesakes)."""
    wanted = {normalise_text(t) for t in titles}
    names = [normalise_text(t) for t in model.catalog.songs["title"].to_list()]
    best: dict[str, int] = {}
    for row in np.flatnonzero(model.model.trained):
        name = names[row]
        if name in wanted and (name not in best or plays[row] > plays[best[name]]):
            best[name] = int(row)
    return sorted(best.values())


def song_map(model: Artifact, plays: np.ndarray, settings: ReportSettings, path: Path) -> None:
    plt = _pyplot()
    rows = np.flatnonzero(model.model.trained)
    xy = pca_2d(model.model.unit_inputs[rows].astype(np.float64))
    tags = model.catalog.songs["tags"].to_list()
    # A song's first tag that is not a radio station's call sign.
    top = [next((t for t in tags[r] if not is_station_tag(t)), "(no tag)") for r in rows]
    names, counts = np.unique([t for t in top if t != "(no tag)"], return_counts=True)
    shown = list(names[np.argsort(-counts)][: settings.top_tags])
    fig, ax = plt.subplots(figsize=(9, 7), dpi=100)
    other = np.array([t not in shown for t in top])
    ax.scatter(xy[other, 0], xy[other, 1], s=3, c="lightgrey", label="other tags")
    colours = plt.get_cmap("tab10")
    for n, tag in enumerate(shown):
        mask = np.array([t == tag for t in top])
        ax.scatter(xy[mask, 0], xy[mask, 1], s=4, color=colours(n % 10), label=tag)
    position = {int(r): i for i, r in enumerate(rows)}
    songs = model.catalog.songs
    for row in famous_rows(model, settings.famous, plays):
        x, y = xy[position[row]]
        ax.annotate(f"{songs['title'][row]} ({songs['artist'][row]})", (x, y), fontsize=7,
                    xytext=(4, 4), textcoords="offset points")
        ax.scatter([x], [y], s=18, c="black")
    ax.set_title(f"song vectors, PCA to 2-D ({len(rows):,} songs, coloured by top tag)")
    ax.legend(markerscale=3, fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def popularity_histogram(percentiles: np.ndarray, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.hist(percentiles, bins=np.linspace(0, 100, 51), color="tab:blue",
            label="recommendations")
    # Songs drawn uniformly from the catalogue would fill every bin alike.
    ax.axhline(len(percentiles) / 50, ls="--", c="grey", label="uniform over the catalogue")
    ax.legend(fontsize=8)
    ax.set_xlabel("popularity percentile of the recommended song (100 = most played)")
    ax.set_ylabel("recommendations")
    ax.set_title("are we only recommending hits?")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def durations_chart(durations: dict[str, float], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    names = list(durations)
    ax.barh(names[::-1], [durations[n] for n in names][::-1], color="tab:green")
    ax.set_xlabel("seconds")
    ax.set_title("step durations (first computation of each step)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _metrics_rows(models: dict[str, dict]) -> list[list[str]]:
    best = {m: max(v[m] for v in models.values()) for m in METRICS}
    return [[html.escape(name)] + [
        f"<b>{v[m]:.4f}</b>" if v[m] == best[m] else f"{v[m]:.4f}" for m in METRICS]
        for name, v in models.items()]


def write_report(out: Path, model: Artifact, metrics: dict, percentiles: np.ndarray,
                 durations: dict[str, float], settings: ReportSettings) -> Path:
    """Write ``report.html`` and its PNGs into `out`; returns the page's path.

    Parameters
    ----------
    metrics : dict
        What the evaluate step wrote: ``next_song``, ``similar``, ``recommendations``.
    percentiles : float array
        Popularity percentile of every recommendation.
    durations : dict
        Seconds per step, in run order.
    """
    plays = np.zeros(len(model.catalog))
    counts = model.playlists["song_id"].value_counts()
    rows = model.catalog.encode(counts["song_id"].to_list())
    plays[rows[rows >= 0]] = counts["count"].to_numpy()[rows >= 0]
    song_map(model, plays, settings, out / "song_map.png")
    popularity_histogram(percentiles, out / "rec_popularity.png")
    durations_chart(durations, out / "step_durations.png")

    next_song, similar, recs = metrics["next_song"], metrics["similar"], metrics["recommendations"]
    k = similar["k"]
    columns = [f"tag_jaccard@{k}", f"tag_jaccard_no_stations@{k}", f"same_artist@{k}"]
    similar_rows = [[html.escape(n), *(f"{v[c]:.4f}" for c in columns)]
                    for n, v in similar["models"].items()]
    rec_rows = [[html.escape(k.replace("_", " ")), html.escape(str(v))]
                for k, v in recs.items()]
    step_rows = [[html.escape(n), f"{s:.1f}"] for n, s in durations.items()]
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>songspace pipeline run</title>
<style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:3px 8px;
text-align:right}}td:first-child,th:first-child{{text-align:left}}img{{max-width:100%}}</style>
</head><body>
<h1>songspace pipeline run</h1>
<h2>Next-song prediction ({next_song['cases']:,} cases)</h2>
{_table(['model', *METRICS], _metrics_rows(next_song['models']))}
<h2>Similar songs judged by Last.fm tags ({similar['songs']:,} songs, top {k})</h2>
{_table(['method', *columns], similar_rows)}
<h2>Song map</h2><img src="song_map.png" alt="PCA map of the song vectors">
<h2>Recommendation popularity</h2>
{_table(['measure', 'value'], rec_rows)}
<img src="rec_popularity.png" alt="popularity of recommended songs">
<h2>Step durations</h2>
{_table(['step', 'seconds'], step_rows)}
<img src="step_durations.png" alt="step durations">
</body></html>
"""
    path = out / "report.html"
    path.write_text(page)
    return path
