"""Rendered training clips: an arrangement played through the General MIDI soundfont.

:func:`make_clip` is the soundfont data source, the counterpart of
:func:`audio_gen.synth.make_clip`: it draws an :class:`~audio_gen.arrange.Arrangement`, writes
its events (:func:`audio_gen.arrange.arrange`), plays them with FluidSynth
(:class:`~audio_gen.soundfont.SoundfontSynth`) at the rate asked for, adds the room (a seeded
exponentially decaying noise reverb of the drawn reverb time), the lo-fi treatment where the
style has it (low-pass and vinyl noise), brings the clip to the loudness of its ``loudness``
attribute with the true-peak limiter (:mod:`audio_gen.loudness`) and writes its caption
(:mod:`audio_gen.captions`).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal

from audio_gen.arrange import CHANNELS, LOUDNESS, Arrangement, arrange, sample_arrangement
from audio_gen.captions import describe
from audio_gen.loudness import normalise
from audio_gen.soundfont import DRUM_CHANNEL, Event, SoundfontSynth
from audio_gen.styles import STYLES

DEFAULT_VOLUME = 100  # a General MIDI channel's volume (CC 7) until it is set
#: What of an arrangement a clip plays: all of it, the lead alone, or all but the lead (the
#: stems that let a lead be made apart from its genre's band, :mod:`audio_gen.stems`).
PARTS = ("mix", "lead", "backing")


@dataclass
class RenderedClip:
    """A rendered clip with its caption and attributes (``spec``, as for the synth's clips)."""

    audio: np.ndarray
    caption: str
    spec: Arrangement
    stated: frozenset[str] = frozenset()  # the judged attributes the caption states
    part: str = "mix"  # what of the arrangement plays (see PARTS)
    take: Take | None = None  # what is to be played: set by draw_clip, dropped by make_clip


@dataclass
class Take:
    """Everything random about how a clip sounds: its events, the noise of its room and of
    its lo-fi treatment, and its loudness. Drawing it (:meth:`Renderer.take`) is cheap;
    playing it (:meth:`Renderer.play`) is the work, and draws nothing."""

    events: list[Event]
    seconds: float
    room_seconds: float
    room_noise: np.ndarray
    lofi: LofiNoise | None
    target_lufs: float


def room_noise(sample_rate: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """The seeded noise of a room's response (:func:`add_room`) of ``seconds`` reverb time."""
    return rng.standard_normal(max(1, round(seconds * sample_rate)))


def add_room(audio: np.ndarray, sample_rate: int, seconds: float,
             noise: np.ndarray) -> np.ndarray:
    """Reverb: the clip convolved with ``noise`` (:func:`room_noise`) decaying 60 dB over
    ``seconds``, low-passed (air absorbs highs), mixed in at a share that grows with the reverb
    time."""
    t = np.arange(len(noise)) / sample_rate
    response = noise * np.exp(-6.91 * t / seconds)
    response[: round(0.012 * sample_rate)] = 0.0  # a short pre-delay before the reflections
    sos = signal.butter(2, min(5_000.0, 0.45 * sample_rate), fs=sample_rate, output="sos")
    response = signal.sosfilt(sos, response)
    wet = signal.fftconvolve(audio, response)[: len(audio)]
    dry_energy, wet_energy = np.sum(audio**2), np.sum(wet**2)
    if wet_energy <= 0 or dry_energy <= 0:
        return audio
    share = min(0.15 + 0.12 * seconds, 0.55)  # wet-to-dry energy ratio
    return audio + wet * np.sqrt(share * dry_energy / wet_energy)


@dataclass
class LofiNoise:
    """The seeded part of the lo-fi treatment of an ``n``-sample clip (:func:`lofi`): the
    low-pass cutoff, unit hiss, and the crackle's click positions and signed sizes."""

    cutoff: float
    hiss: np.ndarray
    clicks: np.ndarray
    click_sizes: np.ndarray

    @classmethod
    def draw(cls, n: int, sample_rate: int, rng: np.random.Generator) -> LofiNoise:
        cutoff = min(rng.uniform(3_500.0, 5_000.0), 0.45 * sample_rate)
        hiss = rng.standard_normal(n)
        clicks = rng.integers(0, n, size=max(1, int(8 * n / sample_rate)))
        return cls(cutoff, hiss, clicks, rng.uniform(-1.0, 1.0, len(clicks)))


def lofi(audio: np.ndarray, sample_rate: int, noise: LofiNoise) -> np.ndarray:
    """The lo-fi treatment: dull highs (low-pass at 3.5-5 kHz), soft hiss and vinyl crackle."""
    out = signal.sosfilt(signal.butter(4, noise.cutoff, fs=sample_rate, output="sos"), audio)
    level = np.sqrt(np.mean(out**2)) + 1e-9
    hiss = noise.hiss * level * 0.02
    crackle = np.zeros(len(out))
    crackle[noise.clicks] = noise.click_sizes * level * 1.5
    crackle = signal.sosfilt(signal.butter(2, 2_000.0, btype="highpass", fs=sample_rate,
                                           output="sos"), crackle)
    return out + hiss + crackle


def remix(events: list[Event], accompaniment_db: float) -> list[Event]:
    """``events`` with every channel but the melody's ``accompaniment_db`` louder (quieter
    below 0), by its channel volume: General MIDI hears CC 7 as a gain of (value / 127)^2,
    40 log10 of it in dB. The drum channel, which the arrangement leaves at the default
    volume, gets one too."""
    factor = 10.0 ** (accompaniment_db / 40.0)

    def scaled(value: int) -> int:
        return int(np.clip(round(value * factor), 1, 127))

    melody = CHANNELS["melody"]
    out = [Event(0.0, "cc", DRUM_CHANNEL, 7, scaled(DEFAULT_VOLUME))]
    for event in events:
        if event.kind == "cc" and event.a == 7 and event.channel != melody:
            event = Event(event.time, "cc", event.channel, 7, scaled(event.b))
        out.append(event)
    return out


def only(events: list[Event], part: str) -> list[Event]:
    """The events of one part of an arrangement (:data:`PARTS`): the lead's channel alone, or
    every note but the lead's."""
    if part not in PARTS:
        raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
    melody = CHANNELS["melody"]
    if part == "lead":
        return [e for e in events if e.channel == melody]
    if part == "backing":
        return [e for e in events if e.channel != melody or e.kind not in ("on", "off")]
    return events


class Renderer:
    """Renders arrangements at one sample rate with one soundfont.

    Parameters
    ----------
    sample_rate : int
        Output rate in Hz.
    soundfont : str or Path, optional
        A SoundFont 2 file (default: the installed General MIDI soundfont, see
        :func:`audio_gen.soundfont.find_soundfont`).
    accompaniment_db : float
        Gain of every part but the melody (chords, bass, pad, drums) against the arrangement's
        own mix, in dB: below 0 the lead stands out (the clip's loudness stays its target's).
    """

    def __init__(self, sample_rate: int, soundfont: str | Path | None = None, *,
                 accompaniment_db: float = 0.0) -> None:
        self.synth = SoundfontSynth(sample_rate, soundfont)
        self.sample_rate = sample_rate
        self.accompaniment_db = accompaniment_db

    @property
    def soundfont(self) -> Path:
        return self.synth.path

    def take(self, arrangement: Arrangement, seconds: float, rng: np.random.Generator,
             part: str = "mix") -> Take:
        """Everything random about how ``arrangement`` sounds (see :class:`Take`), drawn
        from ``rng`` in the order :meth:`render` always drew it."""
        events = only(arrange(arrangement, seconds, rng), part)
        if self.accompaniment_db:
            events = remix(events, self.accompaniment_db)
        room = room_noise(self.sample_rate, arrangement.room, rng)
        noise = (LofiNoise.draw(round(seconds * self.sample_rate), self.sample_rate, rng)
                 if STYLES[arrangement.style].lofi else None)
        target = LOUDNESS[arrangement.loudness] + rng.uniform(-1.5, 1.5)
        return Take(events, seconds, arrangement.room, room, noise, target)

    def play(self, take: Take) -> np.ndarray:
        """A take's audio (S,) float32 at its loudness, true peak under -1 dBTP. Draws
        nothing: any renderer of the same rate and soundfont plays a take the same."""
        audio = self.synth.render(take.events, take.seconds).astype(np.float64)
        audio = add_room(audio, self.sample_rate, take.room_seconds, take.room_noise)
        if take.lofi is not None:
            audio = lofi(audio, self.sample_rate, take.lofi)
        out, _ = normalise(audio, self.sample_rate, take.target_lufs)
        return out

    def render(self, arrangement: Arrangement, seconds: float,
               rng: np.random.Generator, part: str = "mix") -> np.ndarray:
        """The clip's audio (S,) float32 at the loudness of ``arrangement.loudness`` (about
        -30, -21 or -14 LUFS, drawn within 1.5 LU), true peak under -1 dBTP; ``part``: what of
        the arrangement plays (:data:`PARTS`), each part brought to that loudness alone."""
        return self.play(self.take(arrangement, seconds, rng, part))


class Players:
    """Plays takes (:meth:`Renderer.play`) in order: in this process, or in ``workers``
    processes, each with a renderer of the same rate and soundfont (a take carries its own
    mix). Playing draws nothing, so both give the same audio. ``then``: what to make of each
    clip's audio where it is played (e.g. its image), so that only that comes back. Use it as
    a context manager: the processes stop when it ends.

    ``chunk``: how many takes to hand over at a time to keep the workers busy.
    """

    def __init__(self, renderer: Renderer, workers: int = 1,
                 then: Callable[[np.ndarray], Any] | None = None) -> None:
        self.renderer = renderer
        self.workers = max(1, int(workers))
        self.then = then or (lambda audio: audio)
        self.chunk = 1 if self.workers == 1 else 32 * self.workers
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> Players:
        if self.workers > 1:
            # fork: the workers inherit the renderer's settings and ``then`` as they are (no
            # pickling), and spawn would import the caller's main script again.
            self._executor = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("fork"),
                initializer=_start_player,
                initargs=(self.renderer.sample_rate, str(self.renderer.soundfont), self.then))
        return self

    def __exit__(self, *_exc) -> None:
        if self._executor is not None:
            self._executor.shutdown(cancel_futures=True)
            self._executor = None

    def play(self, takes: list[Take]) -> Iterable:
        """``then`` of the takes' audio, in their order (lazily, as the workers finish)."""
        if self._executor is None:
            return (self.then(self.renderer.play(take)) for take in takes)
        return _reported(self._executor.map(_play, takes,
                                            chunksize=max(1, len(takes) // (4 * self.workers))))


def _reported(results: Iterator) -> Iterator:
    """``results``, with a worker that died said in words a user can act on."""
    try:
        yield from results
    except BrokenProcessPool as error:
        raise RuntimeError("a rendering worker process died (out of memory, or FluidSynth "
                           "crashed); render in one process with --threads 1 to see why"
                           ) from error


_PLAYER: tuple[Renderer, Callable] | None = None  # a worker process's (Players)


def _start_player(sample_rate: int, soundfont: str, then: Callable) -> None:
    import torch

    global _PLAYER
    torch.set_num_threads(1)  # one core a worker
    _PLAYER = Renderer(sample_rate, soundfont), then


def _play(take: Take):
    assert _PLAYER is not None, "a worker plays only after _start_player"
    renderer, then = _PLAYER
    return then(renderer.play(take))


def make_clip(
    rng: np.random.Generator, renderer: Renderer, seconds: float = 4.0, *,
    held_out: str = "exclude", fixed: dict | None = None, lead_swap: float = 0.0,
    part: str = "mix",
) -> RenderedClip:
    """Draw an arrangement, render it and write its caption.

    Parameters
    ----------
    rng : numpy Generator
        Source of every random choice (the same seed gives the same clip).
    renderer : Renderer
        Plays the arrangement (its sample rate is the clip's).
    seconds : float
        Clip length.
    held_out, fixed, lead_swap
        As for :func:`audio_gen.arrange.sample_arrangement`.
    part : str
        What of the arrangement plays (:data:`PARTS`); the caption describes that part.
    """
    clip = draw_clip(rng, renderer, seconds, held_out=held_out, fixed=fixed,
                     lead_swap=lead_swap, part=part)
    # The take's noise (about a megabyte) is not kept: callers keep many clips.
    return dataclasses.replace(clip, audio=renderer.play(clip.take), take=None)


def draw_clip(
    rng: np.random.Generator, renderer: Renderer, seconds: float = 4.0, *,
    held_out: str = "exclude", fixed: dict | None = None, lead_swap: float = 0.0,
    part: str = "mix",
) -> RenderedClip:
    """What :func:`make_clip` draws, without playing it: a clip whose ``take`` is to be
    played (``audio`` is empty), so that clips drawn in order from one generator can be played
    in parallel and still come out as :func:`make_clip` makes them."""
    spec = sample_arrangement(rng, held_out=held_out, fixed=fixed, lead_swap=lead_swap)
    take = renderer.take(spec, seconds, rng, part)
    text, stated = describe(spec, rng, part=part)
    return RenderedClip(audio=np.zeros(0, np.float32), caption=text, spec=spec,
                        stated=stated, part=part, take=take)
