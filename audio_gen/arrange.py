"""Arrangements: a genre template turned into timed MIDI events (chords, bass, drums, melody).

:func:`sample_arrangement` draws a clip's attributes (genre, instruments, tempo, key and mode,
melody register, loudness, density, room); :func:`arrange` writes the music for them, seeded:
a chord progression of the style's family in the drawn key, voiced and played as the style
accompanies (arpeggios, strumming, power chords, jazz shells, organ hymns...), a bass line, a
drum pattern on a 16-step grid (swing delays the off-beat eighths) and a melody that walks the
scale and lands on chord tones on strong beats. :mod:`audio_gen.render` plays the events
through the soundfont.

Combinations listed in :data:`HELD_OUT` (genre x instrument and genre x tempo pairs) are never
drawn for training; an evaluation asks for them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np

from audio_gen.soundfont import DRUM_CHANNEL, Event
from audio_gen.styles import (
    DRUM_KITS,
    DRUM_NOTES,
    INSTRUMENTS,
    REGISTERS,
    STYLES,
    SWAP_LEADS,
    TEMPO_CLASSES,
    Style,
)

MODES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
LOUDNESS = {"quiet": -30.0, "normal": -21.0, "loud": -14.0}  # integrated LUFS of a render
VELOCITY = {"quiet": 0.55, "normal": 0.8, "loud": 1.0}  # scales every velocity
DENSITY = ("sparse", "busy")
FIRST_BEAT_MAX_S = 0.15
CHANNELS = {"melody": 0, "chords": 1, "bass": 2, "pad": 3}
LEVELS = {"melody": 112, "chords": 84, "bass": 100, "pad": 80}  # channel volume (CC 7)

#: (genre, instrument) and (genre, tempo) pairs never drawn for training. Each instrument and
#: tempo still occurs in training, in other genres.
HELD_OUT: frozenset[tuple[str, str]] = frozenset({
    ("jazz", "vibraphone"), ("lo-fi hip hop", "flute"), ("folk", "violin"),
    ("ambient", "piano"), ("orchestral", "trumpet"), ("indian classical", "flute"),
    ("string quartet", "fast"), ("folk", "slow"), ("orchestral", "fast"),
    ("indian classical", "fast"), ("jazz", "slow"),
})


def own_leads(genre: str) -> frozenset[str]:
    """The leads a genre's clips play in training when they do not borrow one: its style's
    melody instruments less the pairs held out. A genre the styles do not know has none."""
    style = STYLES.get(genre)
    if style is None:
        return frozenset()
    return frozenset(i for i in style.melody if (genre, i) not in HELD_OUT)


PROGRESSIONS = {  # scale degrees (0 = tonic), one chord a bar
    ("pop", "major"): ((0, 4, 5, 3), (0, 3, 4, 3), (5, 3, 0, 4), (0, 5, 3, 4), (0, 3, 0, 4)),
    ("pop", "minor"): ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 6, 2), (0, 5, 3, 4)),
    ("jazz", "major"): ((1, 4, 0, 0), (0, 5, 1, 4), (2, 5, 1, 4), (0, 3, 1, 4)),
    ("jazz", "minor"): ((1, 4, 0, 0), (0, 3, 1, 4), (0, 5, 1, 4)),
    ("classical", "major"): ((0, 3, 4, 0), (0, 5, 3, 4), (0, 4, 5, 2), (0, 1, 4, 0)),
    ("classical", "minor"): ((0, 3, 4, 0), (0, 5, 3, 4), (0, 6, 2, 4), (0, 3, 0, 4)),
    ("metal", "minor"): ((0, 0, 5, 6), (0, 5, 6, 0), (0, 3, 5, 6), (0, 6, 5, 4)),
    ("drone", "major"): ((0, 0, 0, 0),),
    ("drone", "minor"): ((0, 0, 0, 0),),
}
DRUM_PATTERNS = {  # per bar of 16 steps: (drum, steps, velocity)
    "swing": (("ride", (0, 4, 6, 8, 12, 14), 92), ("pedal hat", (4, 12), 70),
              ("kick", (0, 8), 45)),
    "backbeat": (("kick", (0, 8), 112), ("snare", (4, 12), 108),
                 ("closed hat", (0, 2, 4, 6, 8, 10, 12, 14), 80)),
    "backbeat busy": (("kick", (0, 6, 8, 10), 112), ("snare", (4, 12), 110),
                      ("closed hat", (0, 2, 4, 6, 8, 10, 12), 82), ("open hat", (14,), 84)),
    "double kick": (("kick", tuple(range(16)), 104), ("snare", (4, 12), 116),
                    ("crash", (0, 8), 96)),
    "four on the floor": (("kick", (0, 4, 8, 12), 118), ("clap", (4, 12), 96),
                          ("open hat", (2, 6, 10, 14), 84),
                          ("closed hat", tuple(range(16)), 56)),
    "boom bap": (("kick", (0, 7, 10), 108), ("snare", (4, 12), 100),
                 ("closed hat", (0, 2, 4, 6, 8, 10, 12, 14), 68)),
    "train beat": (("kick", (0, 8), 96), ("snare", tuple(range(16)), 58),
                   ("snare", (4, 12), 96)),
    "tambourine": (("tambourine", (4, 12), 90), ("shaker", (0, 2, 4, 6, 8, 10, 12, 14), 66)),
    "hand drums": (("low conga", (0, 6, 10), 100), ("high conga", (3, 4, 8, 12, 14), 88),
                   ("high bongo", (2, 7, 11, 15), 80)),
}


@dataclass(frozen=True)
class Arrangement:
    """The attributes of one clip (what its captions may say).

    ``parts`` are (role, instrument) pairs; ``kit`` is None without drums. ``register`` is the
    melody's; ``room`` the reverb time in seconds; ``first_beat`` where beat one falls.
    """

    style: str
    parts: tuple[tuple[str, str], ...]
    kit: str | None
    tempo: str
    bpm: float
    key: int
    mode: str
    register: str
    loudness: str
    density: str
    room: float
    first_beat: float = 0.0

    @property
    def instruments(self) -> tuple[str, ...]:
        """Instruments that play, lead first, each once."""
        return tuple(dict.fromkeys(i for _, i in self.parts))

    @property
    def lead(self) -> str:
        return self.parts[0][1]

    @property
    def families(self) -> tuple[str, ...]:
        """Instrument families that play (drums included)."""
        names = [INSTRUMENTS[i].family for i in self.instruments]
        return tuple(dict.fromkeys([*names, *(["drums"] if self.kit else [])]))

    @property
    def mood(self) -> str:
        """The mood the captions name: from mode, tempo and genre."""
        if self.style == "metal":
            return "aggressive"
        if self.mode == "minor":
            return "sad" if self.tempo == "slow" else "dark"
        return "calm" if self.tempo == "slow" else "happy"

    def as_dict(self) -> dict:
        return {**asdict(self), "instruments": list(self.instruments),
                "families": list(self.families), "mood": self.mood}

    def pairs(self) -> set[tuple[str, str]]:
        """The (genre, instrument) and (genre, tempo) pairs this clip draws."""
        return {(self.style, i) for i in self.instruments} | {(self.style, self.tempo)}


def _registers(instrument: str) -> list[str]:
    """Melody registers an instrument can play (at least nine semitones of the band)."""
    spec = INSTRUMENTS[instrument]
    return [name for name, (low, high) in REGISTERS.items()
            if min(high, spec.high) - max(low, spec.low) >= 9]


def sample_arrangement(
    rng: np.random.Generator, *, held_out: str = "exclude", fixed: dict | None = None,
    lead_swap: float = 0.0,
) -> Arrangement:
    """Draw a clip's attributes at random.

    Parameters
    ----------
    rng : numpy Generator
        Source of randomness.
    held_out : {"exclude", "only", "any"}
        "exclude" never draws a :data:`HELD_OUT` pair (training), "only" always draws one
        (evaluation), "any" ignores the split.
    fixed : dict, optional
        Attribute values to keep: ``style``, ``lead`` (the melody instrument), ``tempo``,
        ``bpm``, ``mode``, ``key``, ``register``, ``loudness``, ``density``, ``drums`` (bool).
    lead_swap : float
        Share of clips whose lead comes from :data:`audio_gen.styles.SWAP_LEADS` instead of
        the style's own melody instruments (styles with ``lead_swaps``): training data in which
        the genre does not imply the lead. 0 draws exactly as before it existed.

    Returns
    -------
    Arrangement
    """
    if held_out not in ("exclude", "only", "any"):
        raise ValueError(f"held_out must be 'exclude', 'only' or 'any', got {held_out!r}")
    if not 0.0 <= lead_swap <= 1.0:
        raise ValueError(f"lead_swap must be in [0, 1], got {lead_swap}")
    fixed = dict(fixed or {})
    unknown = set(fixed) - {"style", "lead", "tempo", "bpm", "mode", "key", "register",
                            "loudness", "density", "drums", "first_beat"}
    if unknown:
        raise ValueError(f"unknown fixed attribute(s): {', '.join(sorted(unknown))}")
    if fixed.get("style") is not None and fixed["style"] not in STYLES:
        raise ValueError(f"unknown style {fixed['style']!r}; choose from {', '.join(STYLES)}")
    if held_out == "only" and not {"style", "lead", "tempo"} & set(fixed):
        pair = sorted(HELD_OUT)[rng.integers(len(HELD_OUT))]
        fixed["style"] = pair[0]
        fixed["tempo" if pair[1] in TEMPO_CLASSES else "lead"] = pair[1]
    for _ in range(2000):
        try:
            clip = _draw(rng, fixed, lead_swap)
        except _NoChoice:
            continue
        drawn_held_out = bool(clip.pairs() & HELD_OUT)
        if held_out == "any" or drawn_held_out == (held_out == "only"):
            return clip
    raise ValueError(f"no clip satisfies held_out={held_out!r} with fixed attributes {fixed}")


class _NoChoice(Exception):
    """A fixed attribute leaves nothing to draw from."""


def _pick(rng: np.random.Generator, options: Iterable):
    options = tuple(options)
    if not options:
        raise _NoChoice
    return options[rng.integers(len(options))]


def _draw(rng: np.random.Generator, fixed: dict, lead_swap: float = 0.0) -> Arrangement:
    style_name = fixed.get("style") or _pick(rng, STYLES)
    style = STYLES[style_name]
    # rng.random() only when swaps are on, so that lead_swap=0 draws the same clips as ever.
    swapped = bool(lead_swap) and style.lead_swaps and rng.random() < lead_swap
    leads = SWAP_LEADS if swapped else style.melody
    lead = fixed.get("lead") or _pick(rng, leads)
    if lead not in leads:
        raise _NoChoice
    parts = [("melody", lead)]
    for role in ("chords", "bass", "pad"):
        options = getattr(style, role)
        if options:
            parts.append((role, _pick(rng, options)))
    tempo = fixed.get("tempo") or _pick(rng, style.tempi)
    low, high = TEMPO_CLASSES[tempo]
    low, high = max(low, style.bpm[0]), min(high, style.bpm[1])
    if tempo not in style.tempi or low >= high:
        raise _NoChoice
    bpm = float(fixed.get("bpm", rng.uniform(low, high)))
    mode = fixed.get("mode") or ("minor" if rng.random() < style.minor_share else "major")
    if (style.progressions, mode) not in PROGRESSIONS:
        raise _NoChoice
    drums = fixed.get("drums", bool(style.drums) and rng.random() < style.drum_share)
    if drums and not style.drums:
        raise _NoChoice
    register = fixed.get("register") or _pick(rng, _registers(lead))
    if register not in _registers(lead):
        raise _NoChoice
    return Arrangement(
        style=style_name, parts=tuple(parts), kit=_pick(rng, style.kits) if drums else None,
        tempo=tempo, bpm=bpm, key=int(fixed.get("key", rng.integers(12))), mode=mode,
        register=register, loudness=fixed.get("loudness") or _pick(rng, LOUDNESS),
        density=fixed.get("density") or _pick(rng, DENSITY),
        room=float(rng.uniform(*style.room)),
        first_beat=float(fixed.get("first_beat", rng.uniform(0.0, FIRST_BEAT_MAX_S))),
    )


# ----------------------------------------------------------------------------- the music

@dataclass
class _Timeline:
    """Beats to seconds (swing delays off-beat eighths), and the events written so far."""

    arrangement: Arrangement
    swing: float
    seconds: float
    rng: np.random.Generator
    events: list[Event]
    humanise: float = 0.008

    def time(self, beat: float) -> float:
        whole, part = divmod(beat, 1.0)
        if self.swing and abs(part - 0.5) < 1e-6:
            part += self.swing / 6.0  # full swing puts the off-beat at 2/3 of the beat
        jitter = self.rng.normal(0.0, self.humanise) if beat > 0 else 0.0
        return self.arrangement.first_beat + (whole + part) * 60.0 / self.arrangement.bpm + jitter

    def note(self, channel: int, key: int, beat: float, length: float, velocity: float) -> None:
        start = max(self.time(beat), 0.0)
        if start >= self.seconds:
            return
        scale = VELOCITY[self.arrangement.loudness]
        vel = int(np.clip(round(velocity * scale + self.rng.normal(0, 4)), 1, 127))
        end = start + max(length * 60.0 / self.arrangement.bpm, 0.03)
        self.events += [Event(start, "on", channel, int(key), vel), Event(end, "off", channel,
                                                                          int(key))]


def _chord(degree: int, arrangement: Arrangement, sevenths: bool, family: str) -> list[int]:
    """Pitch classes of the chord on a scale degree (root first); in minor, classical and
    jazz progressions raise the leading tone in the dominant chord (harmonic minor)."""
    scale = list(MODES[arrangement.mode])
    if arrangement.mode == "minor" and family in ("classical", "jazz") and degree == 4:
        scale[6] = 11
    steps = (0, 2, 4, 6) if sevenths else (0, 2, 4)
    return [(arrangement.key + scale[(degree + s) % 7]) % 12 for s in steps]


def _voice(pcs: list[int], centre: int, low: int, high: int) -> list[int]:
    """A close voicing of the pitch classes whose middle lies nearest ``centre``."""
    best: list[int] = []
    for inversion in range(len(pcs)):
        order = pcs[inversion:] + pcs[:inversion]
        notes = [centre - 12 + (order[0] - centre) % 12]
        for pc in order[1:]:
            notes.append(notes[-1] + (pc - notes[-1]) % 12 or 12)
        while notes[0] < low:
            notes = [n + 12 for n in notes]
        while notes[-1] > high and notes[0] - 12 >= low:
            notes = [n - 12 for n in notes]
        if not best or abs(np.mean(notes) - centre) < abs(np.mean(best) - centre):
            best = notes
    return best


def _in_range(key: int, low: int, high: int) -> int:
    while key < low:
        key += 12
    while key > high:
        key -= 12
    return key


def arrange(arrangement: Arrangement, seconds: float, rng: np.random.Generator) -> list[Event]:
    """The MIDI events of a clip.

    Parameters
    ----------
    arrangement : Arrangement
        What to play.
    seconds : float
        Length of the clip (notes starting later are left out).
    rng : numpy Generator
        Picks the progression, the melody and the small timing and velocity variations.

    Returns
    -------
    list of Event
        Program changes and channel volumes at time 0, then the notes.
    """
    style = STYLES[arrangement.style]
    line = _Timeline(arrangement, style.swing, seconds, rng, [],
                     humanise=0.0 if arrangement.style == "techno" else 0.008)
    for role, instrument in arrangement.parts:
        channel = CHANNELS[role]
        line.events += [Event(0.0, "program", channel, INSTRUMENTS[instrument].program),
                        Event(0.0, "cc", channel, 7, LEVELS[role])]
    beats = math.ceil((seconds - arrangement.first_beat) * arrangement.bpm / 60.0) + 1
    bars = math.ceil(beats / 4)
    options = PROGRESSIONS[(style.progressions, arrangement.mode)]
    progression = options[rng.integers(len(options))]
    chords = [_chord(progression[b % len(progression)], arrangement, style.sevenths,
                     style.progressions) for b in range(bars)]
    for role, instrument in arrangement.parts:
        spec = INSTRUMENTS[instrument]
        channel = CHANNELS[role]
        if role == "melody":
            _melody(line, channel, spec.low, spec.high, chords, beats)
        elif role == "bass":
            _bass(line, style.bass_line, channel, max(spec.low, 28), min(spec.high, 52), chords)
        elif role == "pad" and instrument == "timpani":
            for bar, pcs in enumerate(chords):
                line.note(channel, _in_range(pcs[0] + 36, spec.low, spec.high), 4 * bar, 1.5, 96)
        else:
            _comp(line, style.comping if role == "chords" else "block", channel, spec, chords,
                  style)
    if arrangement.kit is not None:
        line.events.append(Event(0.0, "program", DRUM_CHANNEL, DRUM_KITS[arrangement.kit]))
        pattern = DRUM_PATTERNS[style.drums[rng.integers(len(style.drums))]]
        _drums(line, pattern, bars)
    return line.events


def _comp(line: _Timeline, kind: str, channel: int, spec, chords: list[list[int]],
          style: Style) -> None:
    """The accompaniment: one of the styles' ways of playing the chords."""
    low, high = spec.low, spec.high
    busy = line.arrangement.density == "busy"
    for bar, pcs in enumerate(chords):
        at = 4.0 * bar
        if kind == "block":
            notes = _voice(pcs, 60, max(low, 48), min(high, 79))
            hits = (0.0, 2.5) if style.lofi else (0.0,)
            for hit in hits:
                for key in notes:
                    line.note(channel, key, at + hit, 4.0 - hit, 78)
        elif kind == "hymn":
            notes = [*_voice(pcs, 60, 48, 76), _in_range(pcs[0], 36, 47)]
            for beat in (0.0, 2.0):
                for key in notes:
                    line.note(channel, key, at + beat, 2.0, 80)
        elif kind == "arpeggio":
            notes = _voice(pcs, 55, max(low, 43), min(high, 72))
            shape = [notes[0], notes[-1], notes[1 % len(notes)], notes[-1]]
            step = 0.5 if busy or line.arrangement.tempo != "fast" else 1.0
            for i in range(int(4 / step)):
                line.note(channel, shape[i % 4], at + i * step, step * 1.6, 70 if i else 82)
        elif kind == "strum":
            notes = _voice(pcs, 57, max(low, 40), min(high, 71))
            for beat in range(4):
                strength = 88 if beat % 2 else 70
                for k, key in enumerate(notes if beat % 2 else notes[::-1]):
                    line.note(channel, key, at + beat + 0.03 * k, 0.9, strength)
        elif kind in ("power", "gallop"):
            root = _in_range(pcs[0] + 36, 40, 52)
            cells = (0.0, 0.5, 0.75) if kind == "gallop" else (0.0, 0.5)
            for beat in range(4):
                for cell in cells:
                    for key in (root, root + 7, root + 12):
                        line.note(channel, key, at + beat + cell, 0.22, 100)
        elif kind == "stabs":
            notes = _voice(pcs, 62, 50, 79)
            for beat in range(4):
                for key in notes:
                    line.note(channel, key, at + beat + 0.5, 0.25, 92)
        elif kind == "shell":
            root = _in_range(pcs[0] + 48, 48, 59)
            shell = [root, root + (pcs[1] - pcs[0]) % 12, root + (pcs[-1] - pcs[0]) % 12]
            for hit in (0.0, 1.5) if busy else (0.0,):
                for key in shell:
                    line.note(channel, key, at + hit, 0.9, 76)
        elif kind == "drone":
            tonic = _in_range(line.arrangement.key + 48, 48, 59)
            for beat, key in enumerate((tonic + 7, tonic + 12, tonic + 12, tonic)):
                line.note(channel, key, at + beat, 1.8, 74)
        else:
            raise ValueError(f"unknown accompaniment {kind!r}")


def _bass(line: _Timeline, kind: str, channel: int, low: int, high: int,
          chords: list[list[int]]) -> None:
    for bar, pcs in enumerate(chords):
        at = 4.0 * bar
        root = _in_range(pcs[0] + 36, low, low + 11)
        fifth = _in_range(root + 7, low, high)
        if kind == "root":
            line.note(channel, root, at, 3.8, 92)
        elif kind == "root fifth":
            line.note(channel, root, at, 1.8, 96)
            line.note(channel, fifth, at + 2, 1.8, 88)
        elif kind == "walking":
            following = chords[(bar + 1) % len(chords)][0]
            target = _in_range(following + 36, low, low + 11)
            third = _in_range(root + (pcs[1] - pcs[0]) % 12, low, high)
            approach = target + (1 if line.rng.random() < 0.5 else -1)
            for beat, key in enumerate((root, third, fifth, approach)):
                line.note(channel, _in_range(key, low, high), at + beat, 0.9, 90)
        elif kind == "eighths":
            for i in range(8):
                line.note(channel, root, at + 0.5 * i, 0.45, 96 if i % 2 == 0 else 84)
        elif kind == "offbeat":
            for beat in range(4):
                line.note(channel, root + (12 if beat % 2 else 0), at + beat + 0.5, 0.4, 104)
        elif kind == "gallop":
            for beat in range(4):
                for cell in (0.0, 0.5, 0.75):
                    line.note(channel, root, at + beat + cell, 0.22, 100)
        elif kind == "drone":
            line.note(channel, root, at, 3.9, 80)
        else:
            raise ValueError(f"unknown bass line {kind!r}")


def _melody(line: _Timeline, channel: int, low: int, high: int, chords: list[list[int]],
            beats: int) -> None:
    """A line that walks the scale in the melody's register and lands on chord tones on
    beats one and three; sparse melodies rest more and hold notes longer."""
    arrangement, rng = line.arrangement, line.rng
    band_low, band_high = REGISTERS[arrangement.register]
    low, high = max(low, band_low), min(high, band_high)
    scale = MODES[arrangement.mode]
    pitches = [p for p in range(low, high + 1) if (p - arrangement.key) % 12 in scale]
    index = int(rng.integers(len(pitches)))
    busy = arrangement.density == "busy"
    cells = ((0.0, 0.5), (0.0,), (0.0, 0.5), (0.0, 0.75)) if busy else ((0.0,), (0.0,), ())
    for beat in range(beats):
        pcs = chords[min(beat // 4, len(chords) - 1)]
        cell = cells[rng.integers(len(cells))] if beat % 4 else (0.0,)
        for k, offset in enumerate(cell):
            index = int(np.clip(index + rng.integers(-2, 3), 0, len(pitches) - 1))
            if beat % 2 == 0 and offset == 0.0:  # strong beats: the nearest chord tone
                tones = [i for i, p in enumerate(pitches) if p % 12 in pcs]
                if tones:
                    index = min(tones, key=lambda i: abs(i - index))
            length = (cell[k + 1] if k + 1 < len(cell) else 1.0) - offset
            line.note(channel, pitches[index], beat + offset,
                      length * (0.95 if busy else 0.8) + (0.0 if busy else 0.6), 96)


def _drums(line: _Timeline, pattern: tuple, bars: int) -> None:
    sparse = line.arrangement.density == "sparse"
    for bar in range(bars):
        for drum, steps, velocity in pattern:
            for step in steps:
                quiet_hat = drum in ("closed hat", "shaker", "snare") and velocity < 70
                if sparse and quiet_hat and step % 4:
                    continue  # sparse: only the on-beat strokes of soft fast parts
                accent = 1.0 if step % 4 == 0 else 0.9
                line.note(DRUM_CHANNEL, DRUM_NOTES[drum], 4 * bar + step / 4, 0.25,
                          velocity * accent)
