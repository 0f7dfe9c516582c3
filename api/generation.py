"""Text-to-music for the API: the `audio_gen` pipeline loaded once, behind a fixed number of
generation slots.

Work per request is bounded: from the measured speed (seconds per sampler step per second of
clip per image denoised, and the fixed cost around the steps; a clip made as two parts,
:mod:`audio_gen.stems`, denoises two images), a request that the slot could not finish within
the budget is refused up front, and a clip still running at twice the budget is stopped. A
request finding every slot busy waits in a short queue (first come, first served) for a
bounded time, then gets 429. A client that goes away, queued or generating, gives its place
up: the steps stop at the next one.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from fastapi.concurrency import run_in_threadpool

logger = logging.getLogger(__name__)


class GeneratorBusy(RuntimeError):
    """Every generation slot is taken and the queue is full, or the wait ran out."""


class GenerationStopped(RuntimeError):
    """The clip was stopped: its client went away, or it ran past twice the budget."""

    def __init__(self, message: str, client_gone: bool) -> None:
        super().__init__(message)
        self.client_gone = client_gone


class TooMuchWork(ValueError):
    """The slot could not finish this clip within the budget."""


@dataclass
class Clip:
    wav: bytes
    seconds: float  # length of the clip
    took: float  # seconds spent generating
    bpm: float | None = None  # tempo of the beat clock (None for a model without one)
    prompt: dict | None = None  # what the model knows of the prompt (PromptReport.as_dict)
    key: str | None = None  # the key grid's key ("D minor"); None: the model's own choice
    stems: dict | None = None  # {"lead", "backing"}: the prompts of a clip made as two parts


class Generator:
    """A loaded `audio_gen.pipeline.TextToMusic`, its slots and its queue (used from the
    event loop only)."""

    def __init__(self, pipeline, slots: int, folder: Path, *, queue: int = 8,
                 wait: float = 30.0, budget: float = 60.0) -> None:
        self.pipeline, self.folder = pipeline, folder
        self.slots, self.queue, self.wait, self.budget = slots, queue, wait, budget
        self.busy = 0  # slots in use
        self._queued: deque[object] = deque()  # waiting requests, first come first served
        self.last_took = 5.0  # how long the last clip took: the Retry-After of a 429
        # Measured speed: seconds per sampler step per second of clip per image denoised
        # (conservative for two: a batch of two costs less than two clips), and the fixed cost.
        self.step_cost: float | None = None
        self.overhead = 0.0

    def calibrate(self) -> None:
        """One short clip, to know the speed before the first request."""
        self._generate("calibration", 1.0, 2, 3.0, 0, None, lambda: False)

    def predicted(self, seconds: float, steps: int, images: int = 1) -> float | None:
        if self.step_cost is None:
            return None
        return self.overhead + self.step_cost * steps * seconds * images

    def images_for(self, text: str, guidance: float, **variant) -> int:
        """How many images a request denoises: two for a clip made as parts, else one."""
        if variant.get("variation_of") is not None or variant.get("mix_with") is not None:
            return 1
        parts = self.pipeline.parts_for(self.pipeline.understand(text), guidance,
                                        variant.get("stems", True))
        return 1 if parts is None else 2

    def check(self, text: str, seconds: float, steps: int, guidance: float,
              bpm: float | None = None, **variant) -> None:
        """ValueError for arguments the pipeline refuses, TooMuchWork for a clip the slot
        would not finish within the budget. ``variant``: ``variation_of``, ``strength``,
        ``mix_with``, ``mix`` as for ``TextToMusic.generate``."""
        self.pipeline.check_inputs(text, seconds, steps, guidance, bpm=bpm,
                                   strength=variant.get("strength", 1.0))
        if variant.get("mix_with") is not None:
            self.pipeline.check_inputs(variant["mix_with"], seconds, steps, guidance)
        if variant.get("variation_of") is not None and variant.get("mix_with") is not None:
            raise ValueError("give a variation source or a second prompt to mix with, not both")
        images = self.images_for(text, guidance, **variant)
        predicted = self.predicted(seconds, steps, images)
        if predicted is not None and predicted > self.budget:
            fits = int((self.budget - self.overhead) / (self.step_cost * seconds * images))
            made = " (made as two parts)" if images == 2 else ""
            raise TooMuchWork(
                f"steps: {steps} steps for a {seconds:g} s clip{made} would take about "
                f"{predicted:.0f} s, over this server's budget of {self.budget:g} s per clip; "
                f"at most {max(fits, 0)} steps fit for {seconds:g} s")

    async def generate(self, text: str, seconds: float, steps: int, guidance: float,
                       seed: int, bpm: float | None = None,
                       gone: Callable[[], Awaitable[bool]] | None = None, **variant) -> Clip:
        """A WAV clip, once a slot is free. Raises ValueError / TooMuchWork for arguments
        refused up front, GeneratorBusy when the queue is full or the wait runs out, and
        GenerationStopped when ``gone()`` turns true (the client went away) or the clip
        runs past twice the budget. ``variant`` as for :meth:`check`."""
        self.check(text, seconds, steps, guidance, bpm, **variant)
        gone = gone or _never
        await self._acquire(gone)
        stop = _Stop()
        work = asyncio.ensure_future(run_in_threadpool(
            self._generate, text, seconds, steps, guidance, seed, bpm, stop, **variant))
        work.add_done_callback(lambda _: self._release())  # the slot is free when the
        started = time.monotonic()  # thread is, whatever happens to this request
        try:
            while not work.done():
                await asyncio.wait({work}, timeout=0.25)
                if work.done():
                    break
                if await gone():
                    stop.set("the client went away", client_gone=True)
                elif time.monotonic() - started > 2 * self.budget:
                    stop.set(f"stopped after {2 * self.budget:g} s (twice the budget)",
                             client_gone=False)
            return await work
        finally:
            if not work.done():  # this request itself was cancelled
                stop.set("the request was cancelled", client_gone=True)

    async def _acquire(self, gone: Callable[[], Awaitable[bool]]) -> None:
        if self.busy < self.slots and not self._queued:
            self.busy += 1
            return
        if len(self._queued) >= self.queue:
            raise GeneratorBusy(f"every generation slot is busy and {len(self._queued)} "
                                "requests are waiting")
        me = object()
        self._queued.append(me)
        deadline = time.monotonic() + self.wait
        try:
            while not (self._queued[0] is me and self.busy < self.slots):
                if await gone():
                    raise GenerationStopped("the client went away while queued",
                                            client_gone=True)
                if time.monotonic() > deadline:
                    raise GeneratorBusy(f"every generation slot stayed busy for "
                                        f"{self.wait:g} s")
                await asyncio.sleep(0.05)
            self.busy += 1
        finally:
            self._queued.remove(me)

    def _release(self) -> None:
        self.busy -= 1

    def _generate(self, text: str, seconds: float, steps: int, guidance: float, seed: int,
                  bpm: float | None, stop, **variant) -> Clip:
        marks: list[float] = []

        def step(done: int, total: int) -> None:
            marks.append(time.perf_counter())
            if stop():
                raise GenerationStopped(stop.reason, stop.client_gone)

        started = time.perf_counter()
        out = self.pipeline.generate(text, seconds=seconds, steps=steps, guidance=guidance,
                                     seed=seed, bpm=bpm, callback=step, **variant)
        took = self.last_took = time.perf_counter() - started
        if len(marks) >= 2:
            per_step = (marks[-1] - marks[0]) / (len(marks) - 1)
            self.step_cost = per_step / (seconds * (1 if out.stems is None else 2))
            self.overhead = max(0.0, took - per_step * len(marks))
        from audio_gen.audio_io import write_wav

        with tempfile.TemporaryDirectory(prefix="songspace-") as scratch:
            wav = write_wav(Path(scratch) / "clip.wav", out.audio, out.sample_rate).read_bytes()
        return Clip(wav, out.seconds, took, out.bpm,
                    out.prompt.as_dict() if out.prompt is not None else None, out.key,
                    None if out.stems is None else asdict(out.stems))


def load_generator(folder: Path | None, slots: int, *, queue: int = 8, wait: float = 30.0,
                   budget: float = 60.0) -> tuple[Generator | None, str]:
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
    generator = Generator(pipeline, slots, folder, queue=queue, wait=wait, budget=budget)
    generator.calibrate()
    return generator, "ready"


class _Stop:
    """Set from the event loop, read by the generating thread at each step."""

    def __init__(self) -> None:
        self.reason, self.client_gone, self._set = "", False, False

    def set(self, reason: str, client_gone: bool) -> None:
        if not self._set:
            self.reason, self.client_gone, self._set = reason, client_gone, True

    def __call__(self) -> bool:
        return self._set


async def _never() -> bool:
    return False
