"""Song search on hand-made vectors (exact expectations) and on a real trained model."""

import numpy as np
import polars as pl
import pytest

from recsys.catalog import Catalog
from recsys.search import SongSearch, UnknownSongError
from recsys.song2vec import Song2Vec, Song2VecConfig
from recsys.tags import TagAxes, is_station_tag, parse_mix
from recsys.text_search import TextSearch


def hand_made() -> SongSearch:
    """Six songs on three axes: 'rock' along x, 'classical' along y, 'edm' along z."""
    songs = pl.DataFrame({
        "song_id": ["r1", "r2", "c1", "c2", "e1", "rc"],
        "title": ["Rock One", "Rock Two", "Cello Suite", "Clair de Lune", "Drop", "Rock Cello"],
        "artist": ["Band", "Band", "Bach", "Debussy", "DJ", "Hybrid"],
        "tags": [["rock"], ["rock"], ["classical"], ["classical"], ["edm"], ["rock"]],
    })
    vectors = np.array([
        [1.0, 0.0, 0.0], [0.95, 0.05, 0.0], [0.0, 1.0, 0.0],
        [0.05, 0.95, 0.0], [0.0, 0.0, 1.0], [0.6, 0.6, 0.0],
    ], np.float32)
    model = Song2Vec(Song2VecConfig(vector_size=3, context_decay=1.0))
    model.input_vectors = vectors
    model.output_vectors = vectors.copy()
    model.trained = np.ones(6, bool)
    model.n_items = 6
    return SongSearch(model, Catalog(songs), plays=np.array([5, 1, 3, 2, 4, 1.0]))


def ids(rows):
    return [r["song_id"] for r in rows]


def test_similar_ranks_and_can_exclude_the_artist():
    songs = hand_made()
    assert ids(songs.similar(0, k=2, scoring="in_out")) == ["r2", "rc"]
    assert ids(songs.similar(0, k=2, exclude_artist=True, scoring="in_out")) == ["rc", "c2"]
    # in_out: raw input . output product; cosine: normalised input vectors
    assert songs.similar(0, k=1, scoring="in_out")[0]["score"] == pytest.approx(0.95, abs=1e-4)
    assert songs.similar(0, k=1, scoring="cosine")[0]["score"] == pytest.approx(0.9986, abs=1e-3)
    with pytest.raises(ValueError, match="scoring"):
        songs.similar(0, scoring="dot")


def test_the_default_blend_lets_tags_decide_what_vectors_leave_open():
    songs = hand_made()
    # The hybrid is as close to the rock songs as to the classical ones in every vector
    # product; its "rock" tag sends "more like this" to the rock songs.
    in_out = songs.similar(5, k=4, scoring="in_out")
    assert len({r["score"] for r in in_out}) == 1
    assert set(ids(songs.similar(5, k=2))) == {"r1", "r2"}
    assert ids(songs.similar(0, k=2)) == ["r2", "rc"]
    assert ids(songs.similar(0, k=1, exclude_artist=True)) == ["rc"]
    # A mix of one song is that song's "more like this".
    assert songs.arithmetic([5], k=3) == songs.similar(5, k=3)


def test_arithmetic_returns_the_expected_song_and_never_its_inputs():
    songs = hand_made()
    # rock + classical -> the hybrid; minus rock leaves classical
    assert ids(songs.arithmetic([0, 2], k=1)) == ["rc"]
    assert ids(songs.arithmetic([5], negative=[0], k=2)) == ["c1", "c2"]
    weighted = songs.arithmetic([0, 2], k=1, positive_weights=[0.1, 1.0])
    assert ids(weighted) == ["c2"]
    with pytest.raises(ValueError, match="weights"):
        songs.arithmetic([0], positive_weights=[1.0, 2.0])


def test_continuation_excludes_the_playlist():
    songs = hand_made()
    result = ids(songs.continue_playlist([0, 1], k=3))
    assert "r1" not in result and "r2" not in result and result[0] == "rc"


def test_tag_axes_and_mixes():
    songs = hand_made()
    axes = TagAxes.fit(songs.model.unit_inputs, [["rock"], ["rock"], ["classical"],
                                                 ["classical"], ["edm"], ["rock"]],
                       np.ones(6, bool), min_songs=1)
    assert axes.tags == ["classical", "edm", "rock"]
    top = axes.profile(songs.model.input_vectors[2], top=1)[0]
    assert top["tag"] == "classical" and top["percentile"] > 0.5
    songs.tags = axes
    assert ids(songs.by_tags({"rock": 0.5, "classical": 0.5}, k=1)) == ["rc"]
    assert ids(songs.by_tags({"edm": 1.0}, k=1)) == ["e1"]
    assert parse_mix("rock:0.7, classical:0.3") == {"rock": 0.7, "classical": 0.3}
    assert parse_mix("70% rock, 30% classical") == pytest.approx({"rock": 0.7, "classical": 0.3})
    with pytest.raises(KeyError, match="did you mean"):
        axes.mix({"rok": 1.0})
    assert is_station_tag("wjlb-fm") and is_station_tag("kiis") and not is_station_tag("rock")


def test_resolve_by_id_title_and_typo():
    songs = hand_made()
    assert songs.resolve("c1").index == 2
    assert songs.resolve("clair de lune").index == 3
    assert songs.resolve("Rock One Band").index == 0
    with pytest.raises(UnknownSongError, match="Cello Suite"):
        songs.resolve("Celo Suit")


def test_text_search_is_accent_and_case_insensitive_prefix_ranked():
    search = TextSearch(
        ["Halo", "Hallelujah", "Crazy In Love", "Halo (Remix)", "Déjà Vu"],
        ["Beyoncé", "Jeff Buckley", "Beyoncé", "DJ", "Beyoncé"],
        plays=np.array([10, 50, 30, 1, 5]),
    )
    assert search.search("hal") == [1, 0, 3]  # title prefix, most played first
    assert search.search("halo") == [0, 3]  # exact title beats a longer one
    assert search.search("BEYONCE") == [2, 0, 4]
    assert search.search("deja") == [4]
    assert search.search("beyonce crazy") == [2]
    assert search.search("zzz") == []


@pytest.fixture(scope="module")
def real(model):
    from recsys.artifact import load_artifact

    return SongSearch.from_artifact(load_artifact(model))


def test_real_model_neighbours_share_tags_more_than_chance(real):
    """Songs near each other should share Last.fm tags (which training never saw)."""
    tags = [set(t) for t in real.catalog.songs["tags"].to_list()]
    rng = np.random.default_rng(0)
    queries = rng.choice(np.flatnonzero(real.known & np.array([bool(t) for t in tags])), 200)
    near, chance = [], []
    for q in queries:
        for row in real.similar(int(q), k=5):
            other = tags[real.catalog.index_of(row["song_id"])]
            near.append(len(tags[q] & other) / max(len(tags[q] | other), 1))
        for other_index in rng.choice(len(tags), 5):
            other = tags[other_index]
            chance.append(len(tags[q] & other) / max(len(tags[q] | other), 1))
    assert np.mean(near) > 1.5 * np.mean(chance)
