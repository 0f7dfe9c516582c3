"""Text-to-music: a clip for a description."""

from __future__ import annotations

import base64
import binascii
import io
import json

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import WriteAccess
from api.errors import ApiError
from api.generation import GenerationStopped, GeneratorBusy, TooMuchWork
from api.schemas import ErrorBody, Integer

router = APIRouter(tags=["generation"])

#: Largest variation source accepted, decoded (about 22 s of 16-bit mono at 16 kHz, or 4 s of
#: CD-quality stereo); base64 makes it 4/3 larger in the body.
MAX_VARIATION_BYTES = 700_000


class GenerateRequest(BaseModel):
    model_config = {"extra": "forbid", "json_schema_extra": {"examples": [
        {"text": "a slow piano melody in a low register", "seconds": 4.0, "seed": 0,
         "steps": 30, "guidance": 3.0}]}}
    text: str = Field(min_length=1, max_length=500, description="What the music should be.")
    seconds: float = Field(default=4.0, gt=0, le=30, strict=True)
    seed: Integer = Field(default=0, ge=0, le=2**31 - 1)
    steps: Integer = Field(default=30, ge=1, le=1000)
    guidance: float = Field(default=3.0, ge=0, le=20, strict=True)
    bpm: float | None = Field(default=None, ge=30, le=300, strict=True, description="Tempo "
                              "in beats per minute; by default the model reads it from the "
                              "text.")
    variation_wav: str | None = Field(
        default=None, description="A clip to vary instead of starting from noise: a PCM WAV "
        f"file (any rate, mono or stereo, at most {MAX_VARIATION_BYTES:,} bytes), base64-"
        "encoded. Not with `mix_with`.")
    strength: float = Field(default=0.6, gt=0, le=1, strict=True, description="With "
                            "`variation_wav`: 0 keeps the clip, 1 ignores it.")
    mix_with: str | None = Field(default=None, min_length=1, max_length=500, description="A "
                                 "second prompt to mix with `text` (their embeddings "
                                 "interpolated). Not with `variation_wav`.")
    mix: float = Field(default=0.5, ge=0, le=1, strict=True, description="With `mix_with`: "
                       "0 is `text`, 1 the second prompt.")
    stems: bool = Field(default=True, strict=True, description="A model trained with stems "
                        "makes a prompt that names a genre and a lead as the lead alone and the "
                        "band alone, mixed (the prompts in `X-Clip-Stems`); false makes it whole.")


def _variation_source(body: GenerateRequest) -> tuple | None:
    """The decoded variation clip (audio, sample rate), or None; ApiError 422 naming the field
    when it is too big, not base64 or not a WAV."""
    if body.variation_wav is None:
        return None
    from audio_gen.audio_io import read_wav

    try:
        data = base64.b64decode(body.variation_wav, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(422, "invalid_parameter", "variation_wav: expected a base64-encoded "
                       "WAV file", field="variation_wav") from None
    if len(data) > MAX_VARIATION_BYTES:
        raise ApiError(422, "invalid_parameter", f"variation_wav: the WAV is {len(data):,} "
                       f"bytes; at most {MAX_VARIATION_BYTES:,} are accepted (cut it shorter "
                       "or send it as 16-bit mono)", field="variation_wav")
    try:
        return read_wav(io.BytesIO(data))
    except ValueError as error:
        message = str(error).replace("the upload", "variation_wav", 1)
        raise ApiError(422, "invalid_parameter", message, field="variation_wav") from None


def _ascii(text: str) -> str:
    """A header-safe form of text (non-ASCII characters as backslash escapes)."""
    return text.encode("ascii", "backslashreplace").decode("ascii")


@router.post("/generate", response_class=Response, dependencies=[WriteAccess], responses={
    200: {"content": {"audio/wav": {}}, "description": "A mono 16-bit WAV clip. "
          "`X-Prompt-Understanding` (JSON) lists the prompt's phrases the model knows and "
          "does not know, each with its nearest trained concept and similarity, and what it "
          "makes instead; `X-Prompt-Warning` says it in words when some are unknown."},
    401: {"model": ErrorBody, "description": "Missing or wrong API key."},
    422: {"model": ErrorBody, "description": "Invalid parameter, or more steps than the "
          "server can finish for this length within its per-clip budget "
          "(`invalid_parameter`, with the most steps that fit)."},
    429: {"model": ErrorBody, "description": "Every generation slot stayed busy while this "
          "request waited in the queue, or the queue is full (`busy`); see Retry-After."},
    503: {"model": ErrorBody, "description": "No text-to-music model is loaded "
          "(`generation_unavailable`), or the clip ran past twice the budget "
          "(`generation_stopped`)."}})
async def generate(body: GenerateRequest, request: Request) -> Response:
    """Generate a clip from a description (seeded: the same request gives the same clip),
    optionally as a variation of an uploaded WAV or a mix with a second prompt. Waits in a
    short queue when every slot is busy; a client that disconnects stops its clip."""
    generator = request.app.state.generator
    if generator is None:
        raise ApiError(503, "generation_unavailable", request.app.state.generator_status)
    source = _variation_source(body)
    try:
        clip = await generator.generate(body.text, body.seconds, body.steps, body.guidance,
                                        body.seed, body.bpm, gone=request.is_disconnected,
                                        variation_of=source, strength=body.strength,
                                        mix_with=body.mix_with, mix=body.mix,
                                        stems=body.stems)
    except GeneratorBusy as error:
        retry = str(max(1, round(generator.last_took)))
        raise ApiError(429, "busy", f"{error}; try again in {retry}s",
                       headers={"Retry-After": retry}) from None
    except TooMuchWork as error:
        raise ApiError(422, "invalid_parameter", str(error), field="steps") from None
    except GenerationStopped as error:
        raise ApiError(503, "generation_stopped", str(error)) from None
    except ValueError as error:
        raise ApiError(422, "invalid_parameter", str(error)) from None
    headers = {"X-Clip-Seconds": f"{clip.seconds:.3f}", "X-Generation-Seconds": f"{clip.took:.3f}"}
    if clip.bpm is not None:
        headers["X-Clip-BPM"] = f"{clip.bpm:.1f}"
    if clip.key is not None:
        headers["X-Clip-Key"] = clip.key
    if clip.stems is not None:
        headers["X-Clip-Stems"] = json.dumps(clip.stems)  # ASCII: JSON escapes
    if clip.prompt is not None:
        headers["X-Prompt-Understanding"] = json.dumps(clip.prompt)  # ASCII: JSON escapes
        if clip.prompt["message"]:
            headers["X-Prompt-Warning"] = _ascii(clip.prompt["message"])
    return Response(clip.wav, media_type="audio/wav", headers=headers)
