"""Small surprises a new user met, driven through the CLI: what split's fractions apply to,
search's table, titles typed short, and the quarantine file a failed profiles build names."""

from __future__ import annotations

import json
import re
from pathlib import Path

from foundation.paths import DEFAULT_DATA
from tests.conftest import run


def test_split_says_what_the_fractions_apply_to(tmp_path):
    assert "two or more songs" in " ".join(run("split", "--help").stdout.split())
    result = run("split", DEFAULT_DATA, "--out", tmp_path, "--valid", "0.1", "--test", "0.1")
    found = re.search(r"apply to the ([\d,]+) playlists of two or more songs \(of ([\d,]+)\); "
                      r"the ([\d,]+) single-song ones stay in train", result.stderr)
    assert found, result.stderr
    evaluable, total, single = (int(g.replace(",", "")) for g in found.groups())
    assert evaluable + single == total and single > 0
    line = re.search(r"test: ([\d,]+) playlists \(([\d.]+)% of those of two or more songs, "
                     r"([\d.]+)% of all\)", result.stderr)
    assert line, result.stderr
    assert float(line.group(2)) == round(100 * round(0.1 * evaluable) / evaluable, 1)
    assert float(line.group(3)) < float(line.group(2))


def test_search_table_has_no_empty_score_column(model):
    result = run("search", "queen bohem", "--model", model)
    header = next(line for line in result.stderr.splitlines() if "title" in line)
    assert "plays" in header and "score" not in header
    similar = run("similar", "Bohemian Rhapsody", "--model", model, "--k", "3")
    assert "score" in similar.stderr  # tables with scores keep the column


def test_a_title_resolves_without_its_guests_or_by_a_unique_prefix(model):
    full = "California Love (w/ Dr. Dre & Roger Troutman) by 2Pac"
    for query in ("California Love", "california love 2pac", "2Pac California Love",
                  "California Lo"):
        result = run("similar", query, "--model", model, "--k", "3")
        assert f"songs similar to {full}" in " ".join(result.stderr.split()), query
    # A prefix several titles start with still fails, with suggestions.
    result = run("similar", "Love", "--model", model, code=2)
    assert "no song 'Love'" in result.stderr and "did you mean" in result.stderr


def test_a_failed_profiles_build_names_a_quarantine_file_that_exists(model, tmp_path):
    logs = tmp_path / "logs.csv"
    logs.write_text("user_id,song_id,ts,ms_played,event\n"
                    "u1,no-such-song,2024-01-01T00:00:00Z,200000,play\n"
                    "u1,268,not-a-time,1,play\n")
    result = run("profiles", "build", "--logs", logs, "--model", model, "--out",
                 tmp_path / "profiles", "--on-error", "quarantine", code=2)
    named = re.findall(r"quarantined to (\S+?),", result.stderr)
    assert named, result.stderr
    path = Path(named[0])
    assert path.is_file() and path == tmp_path / "profiles.quarantine.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [row["field"] for row in rows] == ["ts"]
    assert not (tmp_path / "profiles").exists()


def test_help_keeps_the_bracketed_names_it_mentions():
    """Help is rich markup, where "[codec]" is a tag and vanishes unless escaped: every
    bracketed name a command's or an option's help mentions (config tables) must be shown."""
    import click
    import typer

    from cli.main import app

    def commands(group: click.Command, path: tuple[str, ...] = ()):
        yield path, group
        for name, sub in getattr(group, "commands", {}).items():
            yield from commands(sub, (*path, name))

    checked = 0
    for path, command in commands(typer.main.get_command(app)):
        texts = [command.help or "", *(getattr(p, "help", None) or "" for p in command.params)]
        wanted = {name.replace("\\", "") for text in texts
                  for name in re.findall(r"\\?\[[\w .,/-]+\]", text)}
        if not wanted:
            continue
        shown = "".join(run(*path, "--help").stdout.split())
        missing = {name for name in wanted if name.replace(" ", "") not in shown}
        assert not missing, f"songspace {' '.join(path)} --help loses {missing}"
        checked += 1
    assert checked >= 2
