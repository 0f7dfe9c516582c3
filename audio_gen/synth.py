"""The procedural training set: captioned clips synthesised on the fly with numpy.

Every clip is one instrument playing a line on a beat grid. Its attributes are drawn at random,
the audio is rendered from them, and a caption is written from the same attributes with varied
wording, e.g. "a fast, bright piano melody in a high register" or "slow dark bass line".

Attributes and what they change in the sound:

- instrument: piano (decaying partials), guitar (Karplus-Strong plucked string), pad (detuned
  sines with a slow attack), lead (square wave), bass, drums (pitched kick, noise snare and hats)
- tempo: slow (60-76 BPM), medium (96-116), fast (144-168); one onset per beat, so the beat is
  the strongest periodicity of the onsets
- register: low (MIDI 40-52), mid (57-69), high (74-86); bass always plays low (MIDI 31-45),
  drums have none
- mode: major / minor scale (pitched instruments)
- brightness: dark / bright (how fast the partials fall off; filtered noise for drums)
- loudness: quiet (about -32 dBFS RMS) / loud (about -16 dBFS)
- density: sparse (rests on some beats, short notes) / busy (a note on every beat, legato)
- first beat: where the first onset falls (0-0.15 s); with the BPM it fixes the beat grid, which
  training gives the denoiser as its beat clock (:mod:`audio_gen.rhythm`)

Combinations listed in :data:`HELD_OUT` are never drawn for training; evaluation asks for them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal

INSTRUMENTS = ("piano", "guitar", "pad", "lead", "bass", "drums")
TEMPI = {"slow": (60.0, 76.0), "medium": (96.0, 116.0), "fast": (144.0, 168.0)}
REGISTERS = {"low": (40, 52), "mid": (57, 69), "high": (74, 86)}
BASS_RANGE = (31, 45)
MODES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
BRIGHTNESS = ("dark", "bright")
LOUDNESS = {"quiet": -32.0, "loud": -16.0}  # target RMS in dBFS
DENSITY = ("sparse", "busy")
FIRST_BEAT_MAX_S = 0.15  # the first onset falls within this many seconds of the clip's start

#: (instrument, tempo, register) combinations never drawn for training. Every single value
#: still occurs in training, only these pairings are new at evaluation time.
HELD_OUT: frozenset[tuple[str, str, str | None]] = frozenset({
    ("piano", "fast", "high"),
    ("piano", "slow", "low"),
    ("guitar", "medium", "high"),
    ("guitar", "slow", "mid"),
    ("pad", "fast", "low"),
    ("pad", "slow", "high"),
    ("lead", "medium", "low"),
    ("lead", "fast", "mid"),
    ("bass", "fast", "low"),
    ("drums", "slow", None),
})


@dataclass(frozen=True)
class ClipSpec:
    """The attributes of one clip (``register`` and ``mode`` are None for drums)."""

    instrument: str
    tempo: str
    bpm: float
    register: str | None
    mode: str | None
    brightness: str
    loudness: str
    density: str
    first_beat: float = 0.0

    @property
    def combination(self) -> tuple[str, str, str | None]:
        return (self.instrument, self.tempo, self.register)

    def as_dict(self) -> dict:
        return asdict(self)


def sample_spec(
    rng: np.random.Generator,
    *,
    held_out: str = "exclude",
    fixed: dict | None = None,
) -> ClipSpec:
    """Draw clip attributes at random.

    Parameters
    ----------
    rng : numpy Generator
        Source of randomness.
    held_out : {"exclude", "only", "any"}
        "exclude" never returns a :data:`HELD_OUT` combination (training), "only" returns only
        those (evaluation), "any" ignores the split.
    fixed : dict, optional
        Attribute values to keep instead of drawing them (e.g. ``{"instrument": "piano"}``).

    Returns
    -------
    ClipSpec
    """
    if held_out not in ("exclude", "only", "any"):
        raise ValueError(f"held_out must be 'exclude', 'only' or 'any', got {held_out!r}")
    fixed = dict(fixed or {})
    if held_out == "only" and not {"instrument", "tempo", "register"} & set(fixed):
        instrument, tempo, register = sorted(HELD_OUT, key=str)[rng.integers(len(HELD_OUT))]
        fixed.update(instrument=instrument, tempo=tempo, register=register)
    for _ in range(1000):
        spec = _draw(rng, fixed)
        is_held_out = spec.combination in HELD_OUT
        if held_out == "any" or is_held_out == (held_out == "only"):
            return spec
    raise ValueError(f"no clip satisfies held_out={held_out!r} with fixed attributes {fixed}")


def _draw(rng: np.random.Generator, fixed: dict) -> ClipSpec:
    def pick(name: str, options: Iterable[str]):
        options = tuple(options)
        return fixed[name] if name in fixed else options[rng.integers(len(options))]

    instrument = pick("instrument", INSTRUMENTS)
    tempo = pick("tempo", TEMPI)
    bpm = float(fixed.get("bpm", rng.uniform(*TEMPI[tempo])))
    if instrument == "drums":
        register, mode = None, None
    elif instrument == "bass":
        register, mode = "low", pick("mode", MODES)
    else:
        register, mode = pick("register", REGISTERS), pick("mode", MODES)
    return ClipSpec(
        instrument=instrument, tempo=tempo, bpm=bpm, register=register, mode=mode,
        brightness=pick("brightness", BRIGHTNESS), loudness=pick("loudness", LOUDNESS),
        density=pick("density", DENSITY),
        first_beat=float(fixed.get("first_beat", rng.uniform(0.0, FIRST_BEAT_MAX_S))),
    )


# ----------------------------------------------------------------------------- captions

_WORDS = {
    "slow": ("slow", "slow", "leisurely", "unhurried"),
    "medium": ("medium-tempo", "moderate", "mid-tempo"),
    "fast": ("fast", "fast", "quick", "up-tempo"),
    "dark": ("dark", "dark", "mellow", "muffled"),
    "bright": ("bright", "bright", "brilliant", "crisp"),
    "quiet": ("quiet", "soft", "gentle"),
    "loud": ("loud", "powerful", "punchy"),
    "major": ("major-key", "happy", "cheerful"),
    "minor": ("minor-key", "sad", "melancholic"),
    "sparse": ("sparse", "minimal"),
    "busy": ("busy", "dense", "flowing"),
}
_REGISTER_PHRASES = {
    "low": ("in a low register", "low-pitched", "deep"),
    "mid": ("in a middle register", "mid-range", "in the mid register"),
    "high": ("in a high register", "high-pitched", "high"),
}
_NOUNS = {
    "piano": (("piano",), ("melody", "tune", "phrase")),
    "guitar": (("plucked guitar", "guitar", "plucked string"), ("melody", "riff", "line")),
    "pad": (("synth pad", "ambient pad", "pad"), ("melody", "line", "progression")),
    "lead": (("square lead", "synth lead", "chiptune lead"), ("melody", "riff", "line")),
    "bass": (("bass", "synth bass", "bass guitar"), ("line", "riff", "groove")),
    "drums": (("drum", "drum kit", "percussion"), ("beat", "groove", "pattern")),
}


def caption(spec: ClipSpec, rng: np.random.Generator, *, drop: float = 0.1) -> str:
    """Describe a clip in words, with varied wording and word order.

    Parameters
    ----------
    spec : ClipSpec
        The clip's attributes.
    rng : numpy Generator
        Picks the wording.
    drop : float
        Probability of leaving out each of mode, density, loudness and brightness (tempo,
        register and instrument are always named), so that short prompts also work.

    Returns
    -------
    str
    """

    def word(key: str) -> str:
        options = _WORDS[key]
        return options[rng.integers(len(options))]

    adjectives = [word(spec.tempo)]
    for key in (spec.brightness, spec.loudness, spec.mode, spec.density):
        if key is not None and rng.random() >= drop:
            adjectives.append(word(key))
    adjectives = [adjectives[i] for i in rng.permutation(len(adjectives))]
    instruments, pieces = _NOUNS[spec.instrument]
    noun = f"{instruments[rng.integers(len(instruments))]} {pieces[rng.integers(len(pieces))]}"
    register = ""
    if spec.register is not None:
        phrases = _REGISTER_PHRASES[spec.register]
        phrase = phrases[rng.integers(len(phrases))]
        if phrase.startswith("in "):
            register = phrase
        else:
            adjectives.insert(int(rng.integers(len(adjectives) + 1)), phrase)
    if spec.instrument == "bass" and rng.random() < 0.5:
        register = ""  # "bass" already says low
        adjectives = [a for a in adjectives if a not in ("low-pitched", "deep")]
    bpm = f" at {round(spec.bpm)} BPM" if rng.random() < 0.25 else ""
    form = rng.integers(3)
    if form == 0:
        text = f"{', '.join(adjectives)} {noun}"
        text = (f"{'an' if text[0] in 'aeiou' else 'a'} {text}" if rng.random() < 0.5 else text)
        return " ".join(x for x in (text, register) if x) + bpm
    if form == 1:
        return " ".join(x for x in (" ".join(adjectives), noun, register) if x) + bpm
    tail = ", ".join(x for x in (register, *adjectives[1:]) if x)
    return f"{adjectives[0]} {noun}" + (f", {tail}" if tail else "") + bpm


def vocabulary() -> dict[str, list[str]]:
    """Every word and phrase the synthesiser's captions use, by concept ("instrument:piano",
    "tempo:fast", ...): what a model trained on it knows (see :mod:`audio_gen.understanding`)."""
    concepts: dict[str, list[str]] = {}
    kinds = {"slow": "tempo", "medium": "tempo", "fast": "tempo", "dark": "brightness",
             "bright": "brightness", "quiet": "loudness", "loud": "loudness", "major": "mode",
             "minor": "mode", "sparse": "density", "busy": "density"}
    for value, words in _WORDS.items():
        concepts[f"{kinds[value]}:{value}"] = list(words)
    for value, phrases in _REGISTER_PHRASES.items():
        concepts[f"register:{value}"] = list(phrases)
    forms: set[str] = set()
    for instrument, (names, pieces) in _NOUNS.items():
        concepts[f"instrument:{instrument}"] = list(names)
        forms.update(pieces)
    concepts["form:piece"] = sorted(forms)
    concepts["tempo:bpm"] = ["bpm"]
    return concepts


# ----------------------------------------------------------------------------- rendering

def _midi_hz(note: float) -> float:
    return 440.0 * 2.0 ** ((note - 69.0) / 12.0)


def _melody(spec: ClipSpec, beats: int, rng: np.random.Generator) -> list[float | None]:
    """One MIDI note (or None for a rest) per beat: a random walk on the scale in range."""
    low, high = BASS_RANGE if spec.instrument == "bass" else REGISTERS[spec.register]
    root = int(rng.integers(low, low + 12))
    scale = MODES[spec.mode]
    pitches = [root + 12 * octave + step for octave in (-1, 0, 1, 2) for step in scale]
    pitches = [p for p in pitches if low <= p <= high]
    index = int(rng.integers(len(pitches)))
    notes: list[float | None] = []
    for beat in range(beats):
        if _rest(spec, beat, notes, rng):
            notes.append(None)
            continue
        index = int(np.clip(index + rng.integers(-2, 3), 0, len(pitches) - 1))
        notes.append(float(pitches[index]))
    return notes


def _rest(spec: ClipSpec, beat: int, previous: list, rng: np.random.Generator) -> bool:
    """Whether a sparse line rests on this beat: never on the first two beats or twice in a
    row, so that even a 4-second slow clip keeps a clear beat."""
    if spec.density != "sparse" or beat < 2 or previous[-1] is None:
        return False
    return bool(rng.random() < 0.3)


def _envelope(n: int, sr: int, attack: float, release: float, hold: int) -> np.ndarray:
    """Linear attack, flat until ``hold`` samples, then a linear release."""
    env = np.ones(n)
    a = min(max(1, int(attack * sr)), n)
    env[:a] = np.linspace(0.0, 1.0, a, endpoint=False)
    r = max(1, int(release * sr))
    env[hold:hold + r] *= np.linspace(1.0, 0.0, min(r, max(n - hold, 0)), endpoint=False)
    env[hold + r:] = 0.0
    return env


def _additive(freq: float, amps: np.ndarray, decays: np.ndarray, t: np.ndarray,
              rng: np.random.Generator, stretch: float = 0.0) -> np.ndarray:
    """Sum of partials k*freq (slightly stretched for piano) with their own decay times."""
    k = np.arange(1, len(amps) + 1)[:, None]
    partial_freqs = k * freq * np.sqrt(1.0 + stretch * k**2)
    phases = rng.uniform(0, 2 * np.pi, size=(len(amps), 1))
    tone = amps[:, None] * np.exp(-t[None] / decays[:, None]) * np.sin(
        2 * np.pi * partial_freqs * t[None] + phases
    )
    return tone.sum(axis=0)


def _harmonics(freq: float, sr: int, limit: int) -> np.ndarray:
    """Harmonic numbers 1..limit that stay below the Nyquist frequency (no aliasing)."""
    count = max(1, min(limit, int((0.47 * sr) // freq)))
    return np.arange(1, count + 1, dtype=float)


def _piano(freq, n, sr, bright, rng):
    t = np.arange(n) / sr
    k = _harmonics(freq, sr, 24)
    amps = k ** (-(0.8 if bright else 2.6))
    base = 1.6 * (110.0 / freq) ** 0.35  # low notes ring longer
    decays = base / (1.0 + 0.35 * (k - 1))
    return _additive(freq, amps, decays, t, rng, stretch=2e-4)


def _guitar(freq, n, sr, bright, rng):
    """Karplus-Strong: a noise burst circulating in a damped delay line of one period."""
    # The loop's two-tap low-pass (weights 1-s, s) damps high notes within a few hundred
    # periods; a smaller s for high notes keeps them ringing (Jaffe and Smith's stretch).
    s = 0.5 * min(1.0, 150.0 / freq)
    period = sr / freq - s  # the loop filter adds s samples of delay
    whole, frac = int(period), period - int(period)
    burst = rng.uniform(-1.0, 1.0, whole + 1)
    if not bright:
        burst = signal.lfilter([0.1], [1.0, -0.9], burst)  # a soft pick: fewer highs
    excitation = np.zeros(n)
    excitation[: len(burst)] = burst[:n]
    gain = 10.0 ** (-3.0 / (freq * (1.8 if bright else 1.0)))  # T60 in seconds
    taps = np.convolve([1.0 - frac, frac], [1.0 - s, s])  # fractional delay, then low-pass
    a = np.zeros(whole + 3)
    a[0] = 1.0
    a[whole:] -= gain * taps
    string = signal.lfilter([1.0], a, excitation)
    if not bright:
        # A muted, felt-like tone: little above the second harmonic.
        sos = signal.butter(4, min(1.5 * freq, 0.45 * sr), fs=sr, output="sos")
        string = signal.sosfilt(sos, string)
    return string


def _pad(freq, n, sr, bright, rng):
    t = np.arange(n) / sr
    limit = 8 if bright else 2
    # One oscillator: detuned copies would beat, and slow beating reads as a false tempo.
    k = _harmonics(freq, sr, limit)
    amps = k ** (-1.0 if bright else -3.0)
    return _additive(freq, amps, np.full(len(k), 10.0), t, rng)


def _lead(freq, n, sr, bright, rng):
    t = np.arange(n) / sr
    k = _harmonics(freq, sr, 31 if bright else 5)[::2]  # odd harmonics: a square wave
    amps = k**-0.5 if bright else k**-2.5  # bright: harsher than a pure square
    sustain = 0.7 + 0.3 * np.exp(-t / 0.08)
    return sustain * _additive(freq, amps, np.full(len(k), 10.0), t, rng)


def _bass(freq, n, sr, bright, rng):
    t = np.arange(n) / sr
    k = _harmonics(freq, sr, 16 if bright else 6)
    amps = k ** (-1.0 if bright else -2.5)
    return _additive(freq, amps, 0.7 / (1.0 + 0.2 * (k - 1)), t, rng)


_VOICES = {"piano": _piano, "guitar": _guitar, "pad": _pad, "lead": _lead, "bass": _bass}
_ATTACK = {"piano": 0.004, "guitar": 0.002, "pad": 0.04, "lead": 0.005, "bass": 0.005}


def _noise(n: int, sr: int, rng: np.random.Generator, band: tuple[float | None, float | None]):
    low, high = band
    noise = rng.standard_normal(n)
    if low and high:
        sos = signal.butter(2, (low, high), btype="bandpass", fs=sr, output="sos")
    elif low:
        sos = signal.butter(2, low, btype="highpass", fs=sr, output="sos")
    else:
        sos = signal.butter(2, high, btype="lowpass", fs=sr, output="sos")
    return signal.sosfilt(sos, noise)


def _drum_hit(kind: str, sr: int, bright: bool, rng: np.random.Generator) -> np.ndarray:
    n = int(0.4 * sr)
    t = np.arange(n) / sr
    if kind == "kick":
        sweep = 45.0 + 90.0 * np.exp(-t / 0.03)  # the pitch drop that makes a kick
        phase = 2 * np.pi * np.cumsum(sweep) / sr
        return np.sin(phase) * np.exp(-t / 0.16)
    if kind == "snare":
        band = (1500.0, 6500.0) if bright else (None, 1200.0)
        body = 0.6 * np.sin(2 * np.pi * 190.0 * t) * np.exp(-t / 0.05)
        return body + 0.8 * _noise(n, sr, rng, band) * np.exp(-t / 0.09)
    return 0.6 * _noise(n, sr, rng, (7000.0, None)) * np.exp(-t / 0.035)  # closed hat


def _drums(spec: ClipSpec, onsets: list[int], sr: int, n: int, rng) -> np.ndarray:
    out = np.zeros(n)
    bright = spec.brightness == "bright"
    rests: list[bool] = []
    for beat, start in enumerate(onsets):
        if _rest(spec, beat, [None if r else 0.0 for r in rests], rng):
            rests.append(True)
            continue
        rests.append(False)
        # Four on the floor: a kick on every beat keeps the beat, not the bar, the strongest
        # periodicity; the snare backs beats 2 and 4.
        hits = ["kick", "snare"] if beat % 2 else ["kick"]
        if bright:
            hits.append("hat")
        accent = 1.0 if beat % 4 == 0 else 0.85
        for kind in hits:
            hit = _drum_hit(kind, sr, bright, rng)[: n - start]
            out[start:start + len(hit)] += accent * hit
    if not bright:
        out = signal.sosfilt(signal.butter(2, 900.0, fs=sr, output="sos"), out)
    return out


def render(
    spec: ClipSpec, seconds: float, sample_rate: int, rng: np.random.Generator
) -> np.ndarray:
    """Synthesise a clip.

    Parameters
    ----------
    spec : ClipSpec
        What to play.
    seconds : float
        Length of the clip.
    sample_rate : int
        Sample rate in Hz.
    rng : numpy Generator
        Source of the melody, phases and noise.

    Returns
    -------
    ndarray (round(seconds * sample_rate),) float32
        Mono audio at the loudness of ``spec.loudness`` (peaks kept below 0.99).
    """
    n = round(seconds * sample_rate)
    beat = 60.0 / spec.bpm
    start = spec.first_beat
    onsets = [round((start + i * beat) * sample_rate) for i in range(int((seconds - start) / beat)
                                                                    + 1)]
    onsets = [o for o in onsets if o < n]
    if spec.instrument == "drums":
        out = _drums(spec, onsets, sample_rate, n, rng)
    else:
        out = np.zeros(n)
        voice, bright = _VOICES[spec.instrument], spec.brightness == "bright"
        length = 0.92 if spec.density == "busy" else 0.6
        for i, note in enumerate(_melody(spec, len(onsets), rng)):
            if note is None:
                continue
            hold = int(length * beat * sample_rate)
            size = min(hold + int(0.12 * sample_rate), n - onsets[i])
            tone = voice(_midi_hz(note), size, sample_rate, bright, rng)
            envelope = _envelope(size, sample_rate, _ATTACK[spec.instrument], 0.08, hold)
            accent = 1.0 if i % 4 == 0 else 0.85
            out[onsets[i]:onsets[i] + size] += accent * tone * envelope
    rms = np.sqrt(np.mean(out**2)) + 1e-12
    target = 10.0 ** ((LOUDNESS[spec.loudness] + rng.uniform(-2.0, 2.0)) / 20.0)
    out *= target / rms
    peak = np.abs(out).max()
    if peak > 0.99:
        out *= 0.99 / peak
    return out.astype(np.float32)


@dataclass
class Clip:
    """A synthesised clip with its caption and attributes."""

    audio: np.ndarray
    caption: str
    spec: ClipSpec


def make_clip(
    rng: np.random.Generator,
    seconds: float = 4.0,
    sample_rate: int = 16_000,
    *,
    held_out: str = "exclude",
    fixed: dict | None = None,
) -> Clip:
    """Draw attributes, render the audio and write the caption (see :func:`sample_spec`)."""
    spec = sample_spec(rng, held_out=held_out, fixed=fixed)
    audio = render(spec, seconds, sample_rate, rng)
    return Clip(audio=audio, caption=caption(spec, rng), spec=spec)
