"""Checking a generation request: plain Python, so that a command can refuse bad arguments
before it imports torch or loads a model."""

from __future__ import annotations

import math

BPM_RANGE = (30.0, 300.0)
MAX_SECONDS = 30.0
MAX_GUIDANCE = 30.0
MAX_STEPS = 1000


def validate_request(
    text: str | None, seconds: float, steps: int, guidance: float, *,
    max_seconds: float = MAX_SECONDS, max_steps: int = MAX_STEPS, strength: float = 1.0,
    have_embeddings: bool = False, bpm: float | None = None,
) -> None:
    """Check generation arguments; raise ``ValueError`` naming the bad one and the valid range.

    The CLI calls this before loading any model, so bad input fails at once.
    """
    if not have_embeddings and (not isinstance(text, str) or not text.strip()):
        raise ValueError("the text prompt is empty; describe the music, e.g. "
                         "\"a slow piano melody\"")
    if not (isinstance(seconds, int | float) and math.isfinite(seconds)) or seconds <= 0:
        raise ValueError(f"seconds must be > 0, got {seconds}")
    if seconds > max_seconds:
        raise ValueError(f"seconds must be at most {max_seconds:g}, got {seconds:g}")
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= max_steps:
        raise ValueError(f"steps must be an integer from 1 to {max_steps}, got {steps}")
    if not (isinstance(guidance, int | float) and 0 <= guidance <= MAX_GUIDANCE):
        raise ValueError(f"guidance must be in [0, {MAX_GUIDANCE:g}], got {guidance}")
    if not 0 < strength <= 1:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    if bpm is not None and not (isinstance(bpm, int | float) and math.isfinite(bpm)
                                and BPM_RANGE[0] <= bpm <= BPM_RANGE[1]):
        raise ValueError(f"bpm must be from {BPM_RANGE[0]:g} to {BPM_RANGE[1]:g}, got {bpm}")
