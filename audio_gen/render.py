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

from dataclasses import dataclass
from pathlib import Path

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


def add_room(audio: np.ndarray, sample_rate: int, seconds: float,
             rng: np.random.Generator) -> np.ndarray:
    """Reverb: the clip convolved with seeded noise decaying 60 dB over ``seconds``, low-passed
    (air absorbs highs), mixed in at a share that grows with the reverb time."""
    n = max(1, round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    response = rng.standard_normal(n) * np.exp(-6.91 * t / seconds)
    response[: round(0.012 * sample_rate)] = 0.0  # a short pre-delay before the reflections
    sos = signal.butter(2, min(5_000.0, 0.45 * sample_rate), fs=sample_rate, output="sos")
    response = signal.sosfilt(sos, response)
    wet = signal.fftconvolve(audio, response)[: len(audio)]
    dry_energy, wet_energy = np.sum(audio**2), np.sum(wet**2)
    if wet_energy <= 0 or dry_energy <= 0:
        return audio
    share = min(0.15 + 0.12 * seconds, 0.55)  # wet-to-dry energy ratio
    return audio + wet * np.sqrt(share * dry_energy / wet_energy)


def lofi(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The lo-fi treatment: dull highs (low-pass at 3.5-5 kHz), soft hiss and vinyl crackle."""
    cutoff = min(rng.uniform(3_500.0, 5_000.0), 0.45 * sample_rate)
    out = signal.sosfilt(signal.butter(4, cutoff, fs=sample_rate, output="sos"), audio)
    level = np.sqrt(np.mean(out**2)) + 1e-9
    hiss = rng.standard_normal(len(out)) * level * 0.02
    crackle = np.zeros(len(out))
    clicks = rng.integers(0, len(out), size=max(1, int(8 * len(out) / sample_rate)))
    crackle[clicks] = rng.uniform(-1.0, 1.0, len(clicks)) * level * 1.5
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

    def render(self, arrangement: Arrangement, seconds: float,
               rng: np.random.Generator, part: str = "mix") -> np.ndarray:
        """The clip's audio (S,) float32 at the loudness of ``arrangement.loudness`` (about
        -30, -21 or -14 LUFS, drawn within 1.5 LU), true peak under -1 dBTP; ``part``: what of
        the arrangement plays (:data:`PARTS`), each part brought to that loudness alone."""
        events = only(arrange(arrangement, seconds, rng), part)
        if self.accompaniment_db:
            events = remix(events, self.accompaniment_db)
        audio = self.synth.render(events, seconds).astype(np.float64)
        audio = add_room(audio, self.sample_rate, arrangement.room, rng)
        if STYLES[arrangement.style].lofi:
            audio = lofi(audio, self.sample_rate, rng)
        target = LOUDNESS[arrangement.loudness] + rng.uniform(-1.5, 1.5)
        out, _ = normalise(audio, self.sample_rate, target)
        return out


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
    spec = sample_arrangement(rng, held_out=held_out, fixed=fixed, lead_swap=lead_swap)
    audio = renderer.render(spec, seconds, rng, part)
    text, stated = describe(spec, rng, part=part)
    return RenderedClip(audio=audio, caption=text, spec=spec, stated=stated, part=part)
