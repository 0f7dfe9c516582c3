"""POST /generate over a tiny seeded text-to-music model (the audio tests' own fixtures)."""

from __future__ import annotations

import io
import wave

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import make_settings
from tests.api.test_api import assert_error

pytest.importorskip("torch")
from tests.audio_gen.conftest import tiny_model_dir, tiny_unet  # noqa: F401

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
    slots = generating.app.state.generator._slots
    slots.acquire()  # another request is generating
    try:
        busy = generating.post("/generate", json=ASK)
        assert_error(busy, 429, "busy")
        assert int(busy.headers["retry-after"]) >= 1
    finally:
        slots.release()
    assert generating.post("/generate", json=ASK).status_code == 200  # the slot is free again
    assert_error(client.post("/generate", json=ASK), 503, "generation_unavailable")
