"""similar / arithmetic / continue / search / tags driven through the CLI."""

import json

from tests.conftest import run


def rows_of(result):
    return json.loads(result.stdout)


def test_similar_exclude_artist(model):
    rows = rows_of(run("similar", "Bohemian Rhapsody", "--model", model, "--k", "20",
                       "--exclude-artist", "--json"))
    assert len(rows) == 20 and all(r["artist"] != "Queen" for r in rows)


def test_similar_picks_the_most_played_of_several_and_says_so(model, splits):
    import polars as pl

    songs = pl.read_parquet(splits / "train" / "songs.parquet")
    dupes = songs.group_by("title").len().filter(pl.col("len") > 1)["title"]
    title = next(t for t in dupes.to_list() if t.strip() and t != "-")
    result = run("similar", title, "--model", model, "--k", "3")
    assert "songs match" in result.stderr and "most played" in result.stderr


def test_unknown_song_lists_close_titles(model):
    result = run("similar", "Bohemain Rapsody", "--model", model, code=2)
    assert "did you mean" in result.stderr and "Bohemian Rhapsody" in result.stderr


def test_arithmetic_excludes_inputs_and_follows_weights(model):
    args = ["arithmetic", "--model", model, "--plus", "Hotel California", "--plus",
            "Smells Like Teen Spirit", "--minus", "Bohemian Rhapsody", "--k", "10", "--json"]
    rows = rows_of(run(*args))
    titles = {r["title"] for r in rows}
    assert len(rows) == 10
    assert not titles & {"Hotel California", "Smells Like Teen Spirit", "Bohemian Rhapsody"}
    heavy = rows_of(run("arithmetic", "--model", model, "--plus", "Hotel California@1",
                        "--plus", "Smells Like Teen Spirit@0.01", "--k", "5", "--json"))
    # arithmetic works on cosine; the default similar scoring is input.output.
    alone = rows_of(run("similar", "Hotel California", "--model", model, "--k", "5",
                        "--scoring", "cosine", "--json"))
    assert [r["song_id"] for r in heavy][:3] == [r["song_id"] for r in alone][:3]


def test_continue_ranks_unplayed_songs(model):
    rows = rows_of(run("continue", "Hotel California", "Bohemian Rhapsody", "--model", model,
                       "--k", "10", "--json"))
    assert len(rows) == 10
    assert not {"Hotel California", "Bohemian Rhapsody"} & {r["title"] for r in rows}
    assert rows[0]["score"] >= rows[-1]["score"]


def test_search_by_text(model):
    rows = rows_of(run("search", "queen", "--model", model, "--json"))
    assert rows and all(r["artist"] == "Queen" for r in rows)
    assert rows[0]["plays"] >= rows[-1]["plays"]
    assert run("search", "BOHÉMIAN rhap", "--model", model, "--json").stdout.count("268") == 1


def test_tags_for_a_song_and_a_mix(model):
    axes = rows_of(run("tags", "Bohemian Rhapsody", "--model", model, "--k", "5", "--json"))
    assert len(axes) == 5 and all(0 <= a["percentile"] <= 1 for a in axes)
    assert any("rock" in a["tag"] for a in axes)
    rows = rows_of(run("tags", "--model", model, "--mix", "rock:0.7,pop:0.3", "--json"))
    assert len(rows) == 10
    run("tags", "--model", model, "--mix", "rok:1", code=2)
    run("tags", "--model", model, code=2)
