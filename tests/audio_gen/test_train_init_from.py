"""`audio train --init-from` fine-tunes a published model: the recipe's parts model starts
from the whole-clip model it has just trained (bench/train_audio.sh)."""

from __future__ import annotations

import json

import torch

from audio_gen.checkpoint import load_model
from tests.conftest import run

from .test_train_budget import CONFIG


def test_audio_train_init_from_starts_from_the_given_model(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    source = tmp_path / "source"
    run("audio", "train", "--run", source, "--config", config)
    # No learning: a fine-tune that starts from the source keeps its weights exactly.
    frozen = tmp_path / "frozen.toml"
    frozen.write_text("learning_rate = 0.0\ntempo_learning_rate = 0.0\n" + CONFIG)
    tuned, fresh = tmp_path / "tuned", tmp_path / "fresh"
    run("audio", "train", "--run", tuned, "--config", frozen, "--steps", "1",
        "--init-from", source / "model")
    run("audio", "train", "--run", fresh, "--config", frozen, "--steps", "1", "--seed", "0")
    assert json.loads((tuned / "config.json").read_text())["init_from"] == str(source / "model")
    weights = {name: load_model(path / "model").unet.state_dict()
               for name, path in (("source", source), ("tuned", tuned), ("fresh", fresh))}
    assert all(torch.equal(weights["source"][k], weights["tuned"][k]) for k in weights["source"])
    assert not all(torch.equal(weights["source"][k], weights["fresh"][k])
                   for k in weights["source"])

    missing = run("audio", "train", "--run", tmp_path / "bad", "--config", config,
                  "--init-from", tmp_path / "nowhere", code=2)
    assert "init_from: " in missing.stderr
    assert "nowhere: not a songspace audio model" in missing.stderr
    assert "clips" not in missing.stderr  # refused before any clip of the pool was made
