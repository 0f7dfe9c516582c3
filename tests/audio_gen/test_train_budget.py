"""`audio train --max-minutes` bounds the whole command, building the pool included, and never
reports a loss it does not have; a pool cut short resumes to exactly the uninterrupted pool."""

from __future__ import annotations

import itertools
import json
import re
import types

import torch

from audio_gen import pool as pool_module
from audio_gen.codec import MelCodec
from audio_gen.pool import PoolPaused, synth_pool
from audio_gen.text_encoder import HashingTextEncoder
from tests.conftest import run

from .conftest import TEXT_DIM, tiny_codec_config

CONFIG = (
    f'steps = 3\nbatch_size = 2\nseconds = 0.5\npool_size = 6\n'
    f'text_encoder = "hashing-{TEXT_DIM}"\n'
    "bf16 = false\ncheckpoint_every = 2\n"
    "[unet]\nn_mels = 32\npatch = [4, 4]\nchannels = [16, 32]\nattention = [false, true]\n"
    f"heads = 2\ngroups = 8\ntext_dim = {TEXT_DIM}\nemb_dim = 32\n"
    "[codec]\nn_mels = 32\ngriffin_lim_iters = 4\n"
)


def test_max_minutes_bounds_the_pool_and_the_report_never_says_nan(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    runs = tmp_path / "run"
    help_text = re.sub(r"[│\s]+", " ", run("audio", "train", "--help").stdout)
    assert "synthesising the pool, encoding captions and training all count" in help_text

    first = run("audio", "train", "--run", runs, "--config", config, "--max-minutes", "0",
                "--json")
    assert "paused while building the training pool (synthesising clips: 0/6" in first.stderr
    assert "nan" not in first.stderr.lower()
    facts = json.loads(first.stdout)
    assert facts["step"] == 0 and not facts["finished"] and facts["loss"] is None
    assert (runs / "pool.partial.pt").is_file() and not (runs / "pool.pt").exists()

    second = run("audio", "train", "--run", runs, "--config", config)  # no limit: finishes
    assert "step 3/3 finished; loss " in second.stderr and "nan" not in second.stderr.lower()
    assert (runs / "pool.pt").is_file() and not (runs / "pool.partial.pt").exists()


def test_a_fresh_run_out_of_time_after_the_pool_reports_no_loss(tmp_path, monkeypatch):
    from audio_gen import train as train_module

    config = tmp_path / "tiny.toml"
    config.write_text(CONFIG)
    runs = tmp_path / "run"
    run("audio", "train", "--run", runs, "--config", config, "--max-minutes", "0")
    # The pool finishes, then the deadline has passed before the first step.
    real = train_module._load_pool

    def slow_pool(*args):
        built = real(*args[:6], deadline=None)
        monkeypatch.setattr(train_module, "time", types.SimpleNamespace(perf_counter=lambda: 1e12))
        return built

    monkeypatch.setattr(train_module, "_load_pool", slow_pool)
    result = run("audio", "train", "--run", runs, "--config", config, "--max-minutes", "5")
    assert "step 0/3 paused" in result.stderr and "no step trained yet" in result.stderr
    assert "nan" not in result.stderr.lower()


def test_a_paused_pool_resumes_to_the_uninterrupted_pool(monkeypatch):
    codec, encoder = MelCodec(tiny_codec_config()), HashingTextEncoder(TEXT_DIM)
    frames = 16
    whole = synth_pool(7, frames, codec, encoder, seed=3)
    ticks = itertools.count()
    clock = types.SimpleNamespace(perf_counter=lambda: float(next(ticks)))
    monkeypatch.setattr(pool_module, "time", clock)
    state, stages = None, []
    for deadline_after in (3, 4, 100):  # pause while synthesising, then while encoding
        deadline = float(next(ticks) + deadline_after)
        try:
            resumed = synth_pool(7, frames, codec, encoder, seed=3, deadline=deadline,
                                 resume=state)
        except PoolPaused as paused:
            state = paused.state
            stages.append((paused.stage, paused.done))
            continue
        break
    assert stages[0][0] == "synthesising clips" and 0 < stages[0][1] < 7
    for name in ("images", "caption_ids", "tokens", "mask", "pooled", "bpm", "first_beat"):
        assert torch.equal(getattr(whole, name), getattr(resumed, name)), name
    assert whole.captions == resumed.captions
