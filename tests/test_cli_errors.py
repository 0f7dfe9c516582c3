"""Issue 16, item 7: every CLI error is one line naming the file, the field and what was
expected, with exit 2; no traceback reaches a user unless they ask with --debug."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import run


def one_line_error(result) -> str:
    text = (result.stdout + result.stderr).strip()
    assert "Traceback" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, text
    return lines[0]


def test_split_fractions_that_do_not_fit(tmp_path):
    line = one_line_error(run("split", "data/yes_small", "--out", tmp_path, "--test", "0.6",
                              "--valid", "0.5", code=2))
    assert "--valid" in line and "--test" in line and "less than 1" in line


def test_generate_from_a_file_that_is_not_a_wav(tmp_path):
    pytest.importorskip("torch")
    bad = tmp_path / "notawav.csv"
    bad.write_text("a,b\n1,2\n")
    line = one_line_error(run("generate", "a slow piano", "--variation-of", bad, "--out",
                              tmp_path / "x.wav", "--steps", "2", code=2))
    assert "notawav.csv" in line and "WAV" in line
    line = one_line_error(run("generate", "a slow piano", "--variation-of",
                              tmp_path / "missing.wav", "--out", tmp_path / "x.wav", code=2))
    assert "missing.wav" in line


@pytest.mark.parametrize(("name", "text", "words"), [
    ("list.json", "[1, 2]", ["list.json", "table"]),
    ("big.json", '{"vector_size": "big"}', ["big.json", "'vector_size'", "an integer",
                                             "'big'"]),
    ("flag.json", '{"epochs": true}', ["flag.json", "'epochs'", "an integer"]),
    ("tables.toml", "[song2vec]\nepochs = 1\n[sogn2vec]\nwindow = 3\n",
     ["tables.toml", "sogn2vec"]),
    ("other.toml", "[profiles]\nplay_weight = 1.0\n", ["other.toml", "profiles"]),
    ("broken.toml", "[song2vec\n", ["broken.toml"]),
])
def test_train_config_errors_name_the_file_and_field(tmp_path, name, text, words):
    config = tmp_path / name
    config.write_text(text)
    line = one_line_error(run("train", "--playlists", "data/yes_small", "--out",
                              tmp_path / "m", "--config", config, code=2))
    for word in words:
        assert word in line, line
    assert not (tmp_path / "m").exists()


def broken_copies(model: Path, tmp: Path) -> dict[str, Path]:
    copies = {}
    for kind in ("truncated", "bad_json", "no_files", "no_manifest"):
        folder = tmp / kind
        shutil.copytree(model, folder)
        copies[kind] = folder
    songs = copies["truncated"] / "songs.parquet"
    songs.write_bytes(songs.read_bytes()[:100])
    (copies["bad_json"] / "manifest.json").write_text("{not json")
    manifest = json.loads((copies["no_files"] / "manifest.json").read_text())
    manifest.pop("files")
    (copies["no_files"] / "manifest.json").write_text(json.dumps(manifest))
    (copies["no_manifest"] / "manifest.json").unlink()
    return copies


@pytest.mark.parametrize("verify", ["1", "0"])
def test_serve_start_up_failures_are_one_line(model, tmp_path, monkeypatch, verify):
    monkeypatch.setenv("SONGSPACE_API_KEY", "k")
    monkeypatch.setenv("SONGSPACE_VERIFY", verify)
    # serve hands its settings to uvicorn's workers through the environment: restore it after.
    for name in ("SONGSPACE_ARTIFACTS", "SONGSPACE_PROFILES", "SONGSPACE_EVENTS_DB"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    for kind, folder in broken_copies(model, tmp_path).items():
        if kind == "no_files" and verify == "0":
            continue  # the checksums are only needed to verify: it serves
        line = one_line_error(run("serve", "--artifacts", folder, "--port", "1", code=2))
        assert str(folder) in line and "--debug" not in line, (kind, line)
        assert "SONGSPACE_ARTIFACTS" not in os.environ  # a refused start leaves no settings


def test_unexpected_errors_are_one_line_unless_debug(monkeypatch, tmp_path):
    import cli.models

    def broken(*args, **kwargs):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(cli.models, "split_dataset", broken)
    line = one_line_error(run("split", "data/yes_small", "--out", tmp_path, code=2))
    assert "ZeroDivisionError" in line and "--debug" in line
    result = run("--debug", "split", "data/yes_small", "--out", tmp_path, code=1)
    assert isinstance(result.exception, ZeroDivisionError)
