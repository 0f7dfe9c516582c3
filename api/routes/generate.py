"""Text-to-music: a clip for a description."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.deps import WriteAccess
from api.errors import ApiError
from api.generation import GenerationStopped, GeneratorBusy, TooMuchWork
from api.schemas import ErrorBody, Integer

router = APIRouter(tags=["generation"])


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


@router.post("/generate", response_class=Response, dependencies=[WriteAccess], responses={
    200: {"content": {"audio/wav": {}}, "description": "A mono 16-bit WAV clip."},
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
    """Generate a clip from a description (seeded: the same request gives the same clip).
    Waits in a short queue when every slot is busy; a client that disconnects stops its
    clip."""
    generator = request.app.state.generator
    if generator is None:
        raise ApiError(503, "generation_unavailable", request.app.state.generator_status)
    try:
        clip = await generator.generate(body.text, body.seconds, body.steps, body.guidance,
                                        body.seed, body.bpm, gone=request.is_disconnected)
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
    return Response(clip.wav, media_type="audio/wav", headers=headers)
