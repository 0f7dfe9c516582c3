"""A General MIDI soundfont synthesiser: FluidSynth's C library driven through ctypes.

FluidSynth (Debian's ``libfluidsynth3``) plays SoundFont 2 files; the General MIDI soundfont
FluidR3_GM (Debian's ``fluid-soundfont-gm``, MIT licence) has all 128 GM programs and the drum
kits. The library is loaded directly (no Python binding package is needed: the few calls used
here are bound below) and writes float samples, so nothing clips inside the synthesiser.

One :class:`SoundfontSynth` loads the soundfont once and renders many clips: each clip is a list
of timed :class:`Event` values, played sample-accurately by rendering the stretches between
events. Rendering is single-threaded (FluidSynth's ``synth.cpu-cores`` = 1) and deterministic for
the same events.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

#: Where Debian and other distributions put General MIDI soundfonts, best first.
SOUNDFONT_CANDIDATES = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),
    Path("/usr/share/sounds/sf2/default-GM.sf2"),
    Path("/usr/share/soundfonts/default.sf2"),
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
)
INSTALL_HINT = ("install FluidSynth and a General MIDI soundfont: "
                "`apt-get install libfluidsynth3 fluid-soundfont-gm` (what .ci/run does)")
DRUM_CHANNEL = 9  # General MIDI: channel 10 (0-based 9) plays the drum kit


class SoundfontUnavailable(RuntimeError):
    """FluidSynth or a General MIDI soundfont is not installed."""


@dataclass(frozen=True, order=True)
class Event:
    """A MIDI event at ``time`` seconds: ``kind`` is "on" (a = key, b = velocity), "off"
    (a = key), "cc" (a = controller, b = value), "program" (a = GM program 0-127, or the drum
    kit's bank-128 preset on the drum channel) or "bend" (a = 14-bit value, 8192 = none)."""

    time: float
    kind: str
    channel: int
    a: int
    b: int = 0


def find_soundfont(path: str | Path | None = None) -> Path:
    """The soundfont file to use: ``path`` when given, else the first installed candidate.

    Raises
    ------
    SoundfontUnavailable
        With the install command when none is found.
    """
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise SoundfontUnavailable(f"{path}: no such soundfont file")
        return path
    for candidate in SOUNDFONT_CANDIDATES:
        if candidate.is_file():
            return candidate.resolve()
    raise SoundfontUnavailable(f"no General MIDI soundfont found; {INSTALL_HINT}")


@functools.cache
def _library() -> ctypes.CDLL:
    name = ctypes.util.find_library("fluidsynth") or "libfluidsynth.so.3"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        raise SoundfontUnavailable(f"the FluidSynth library is missing; {INSTALL_HINT}") from None
    void_p, c_int, c_char_p, c_double = (ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p,
                                         ctypes.c_double)
    signatures = {
        "new_fluid_settings": (void_p, []),
        "delete_fluid_settings": (None, [void_p]),
        "fluid_settings_setnum": (c_int, [void_p, c_char_p, c_double]),
        "fluid_settings_setint": (c_int, [void_p, c_char_p, c_int]),
        "new_fluid_synth": (void_p, [void_p]),
        "delete_fluid_synth": (None, [void_p]),
        "fluid_synth_sfload": (c_int, [void_p, c_char_p, c_int]),
        "fluid_synth_program_select": (c_int, [void_p, c_int, c_int, c_int, c_int]),
        "fluid_synth_noteon": (c_int, [void_p, c_int, c_int, c_int]),
        "fluid_synth_noteoff": (c_int, [void_p, c_int, c_int]),
        "fluid_synth_cc": (c_int, [void_p, c_int, c_int, c_int]),
        "fluid_synth_pitch_bend": (c_int, [void_p, c_int, c_int]),
        "fluid_synth_write_float": (c_int, [void_p, c_int, void_p, c_int, c_int, void_p, c_int,
                                            c_int]),
        "fluid_set_log_function": (void_p, [c_int, void_p, void_p]),
    }
    for name, (result, args) in signatures.items():
        function = getattr(lib, name)
        function.restype, function.argtypes = result, args
    for level in (1, 2, 3, 4):  # errors, warnings, info, debug: ours to report, not stderr's
        lib.fluid_set_log_function(level, None, None)
    return lib


class SoundfontSynth:
    """Renders timed MIDI events through one soundfont to mono float clips.

    Each clip is played by a fresh FluidSynth synthesiser: a reused one keeps state between
    clips (voice filters, block phase) that changes the next clip's first notes, so a clip would
    depend on the clip before it. With FluidSynth's dynamic sample loading a fresh synthesiser
    reads only the samples the clip's presets use (about 40 ms a clip with FluidR3_GM).

    Parameters
    ----------
    sample_rate : int
        Output rate in Hz (FluidSynth accepts 8,000-96,000).
    soundfont : str or Path, optional
        A SoundFont 2 file; default the first of :data:`SOUNDFONT_CANDIDATES` installed.
    polyphony : int
        Voices at most.

    Raises
    ------
    SoundfontUnavailable
        When the library or the soundfont is missing, or the soundfont does not load.
    """

    def __init__(self, sample_rate: int, soundfont: str | Path | None = None,
                 polyphony: int = 128) -> None:
        if not 8_000 <= sample_rate <= 96_000:
            raise ValueError(f"sample_rate must be from 8000 to 96000 Hz, got {sample_rate}")
        self.path = find_soundfont(soundfont)
        self.sample_rate = int(sample_rate)
        self.polyphony = polyphony
        self._lib = _library()
        self._close(*self._open())  # fail now, not at the first clip, when the font is bad
        logger.info("soundfont %s at %d Hz", self.path.name, sample_rate)

    def _open(self) -> tuple[int, int, int]:
        """A new (settings, synth, font id) with the soundfont loaded."""
        lib = self._lib
        settings = lib.new_fluid_settings()
        lib.fluid_settings_setnum(settings, b"synth.sample-rate", float(self.sample_rate))
        lib.fluid_settings_setnum(settings, b"synth.gain", 0.5)
        lib.fluid_settings_setint(settings, b"synth.polyphony", self.polyphony)
        lib.fluid_settings_setint(settings, b"synth.cpu-cores", 1)
        lib.fluid_settings_setint(settings, b"synth.dynamic-sample-loading", 1)
        # Room sound is the renderer's (per clip, seeded); FluidSynth's own reverb and chorus
        # stay off.
        lib.fluid_settings_setint(settings, b"synth.reverb.active", 0)
        lib.fluid_settings_setint(settings, b"synth.chorus.active", 0)
        synth = lib.new_fluid_synth(settings)
        if not synth:
            lib.delete_fluid_settings(settings)
            raise SoundfontUnavailable("FluidSynth could not start a synthesiser")
        font = lib.fluid_synth_sfload(synth, str(self.path).encode(), 1)
        if font < 0:
            self._close(settings, synth)
            raise SoundfontUnavailable(f"{self.path}: FluidSynth could not load this soundfont")
        return settings, synth, font

    def _close(self, settings: int, synth: int, *_font: int) -> None:
        self._lib.delete_fluid_synth(synth)
        self._lib.delete_fluid_settings(settings)

    def _send(self, synth: int, font: int, event: Event) -> None:
        lib = self._lib
        if event.kind == "on":
            lib.fluid_synth_noteon(synth, event.channel, event.a, event.b)
        elif event.kind == "off":
            lib.fluid_synth_noteoff(synth, event.channel, event.a)
        elif event.kind == "cc":
            lib.fluid_synth_cc(synth, event.channel, event.a, event.b)
        elif event.kind == "bend":
            lib.fluid_synth_pitch_bend(synth, event.channel, event.a)
        elif event.kind == "program":
            bank = 128 if event.channel == DRUM_CHANNEL else 0
            if lib.fluid_synth_program_select(synth, event.channel, font, bank, event.a) != 0:
                raise ValueError(f"the soundfont has no preset {event.a} in bank {bank}")
        else:
            raise ValueError(f"unknown event kind {event.kind!r}")

    def render(self, events: list[Event], seconds: float) -> np.ndarray:
        """Play ``events`` from silence and return ``seconds`` of mono audio.

        Parameters
        ----------
        events : list of Event
            In any order; they are played in time order (events at one time in list order).
        seconds : float
            Length of the clip; notes still sounding are cut off.

        Returns
        -------
        ndarray (round(seconds * sample_rate),) float32
            The mono mix (mean of the two channels), at the synthesiser's raw level.
        """
        n = round(seconds * self.sample_rate)
        out = np.zeros((2, n), dtype=np.float32)
        settings, synth, font = self._open()
        try:
            position = 0
            for event in sorted(events, key=lambda e: e.time):  # stable: list order at ties
                at = min(max(round(event.time * self.sample_rate), 0), n)
                self._write(synth, out, position, at)
                position = at
                self._send(synth, font, event)
            self._write(synth, out, position, n)
        finally:
            self._close(settings, synth)
        return out.mean(axis=0)

    def _write(self, synth: int, out: np.ndarray, start: int, stop: int) -> None:
        """Render samples [start, stop) into the stereo buffer ``out`` (2, S) float32."""
        if stop > start:
            self._lib.fluid_synth_write_float(synth, stop - start, out[0, start:].ctypes.data, 0,
                                              1, out[1, start:].ctypes.data, 0, 1)
