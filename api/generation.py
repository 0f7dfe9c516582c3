"""Text-to-music for the API: the `audio_gen` pipeline loaded once, behind a fixed number of
generation slots (a request finding them all busy is answered 429 at once, not queued)."""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)


class GeneratorBusy(RuntimeError):
    """Every generation slot is taken."""


@dataclass
class Clip:
    wav: bytes
    seconds: float  # length of the clip
    took: float  # seconds spent generating
    bpm: float | None = None  # tempo of the beat clock (None for a model without one)


class Generator:
    """A loaded `audio_gen.pipeline.TextToMusic` and its slots."""

    def __init__(self, pipeline, slots: int, folder: Path) -> None:
        self.pipeline, self.folder = pipeline, folder
        self._slots = threading.BoundedSemaphore(slots)
        self.last_took = 5.0  # how long the last clip took: the Retry-After of a 429

    def generate(self, text: str, seconds: float, steps: int, guidance: float,
                 seed: int, bpm: float | None = None) -> Clip:
        """A WAV clip; raises GeneratorBusy when no slot is free and ValueError for
        arguments the pipeline refuses."""
        self.pipeline.check_inputs(text, seconds, steps, guidance, bpm=bpm)
        if not self._slots.acquire(blocking=False):
            raise GeneratorBusy("every generation slot is busy")
        try:
            started = time.perf_counter()
            out = self.pipeline(text, seconds=seconds, steps=steps, guidance=guidance,
                                seed=seed, bpm=bpm)
            took = self.last_took = time.perf_counter() - started
        finally:
            self._slots.release()
        from audio_gen.audio_io import write_wav

        with tempfile.TemporaryDirectory(prefix="songspace-") as scratch:
            wav = write_wav(Path(scratch) / "clip.wav", out.audio, out.sample_rate).read_bytes()
        return Clip(wav, out.seconds, took, out.bpm)


def load_generator(folder: Path | None, slots: int) -> tuple[Generator | None, str]:
    """The generator, or None and why not (disabled, no checkpoint, torch missing)."""
    if folder is None:
        return None, "text-to-music is turned off (SONGSPACE_GENERATOR is empty)"
    if not folder.is_dir():
        return None, f"no text-to-music model at {folder}; train one with `songspace audio train`"
    try:
        from audio_gen.pipeline import TextToMusic
    except ImportError as error:
        return None, f"text-to-music needs the audio extra (pip install -e '.[audio]'): {error}"
    started = time.perf_counter()
    pipeline = TextToMusic.from_pretrained(folder)
    logger.info("loaded the text-to-music model %s in %.1fs", folder,
                time.perf_counter() - started)
    return Generator(pipeline, slots, folder), "ready"
