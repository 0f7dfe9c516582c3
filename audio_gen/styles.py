"""What the arranger can play: General MIDI instruments people name, and genre templates.

:data:`INSTRUMENTS` maps each instrument's caption name to its General MIDI program, its family
(what an instrument classifier is asked) and its playable range. :data:`STYLES` holds one
:class:`Style` per genre: which instruments may take each role (melody, chords, bass, pad),
how the drums, the bass and the accompaniment play, the tempi and modes it uses and how much
room sound it gets. :mod:`audio_gen.arrange` draws from these; :mod:`audio_gen.captions` names
them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Instrument:
    """A General MIDI program (0-based) with its family and playable MIDI range."""

    program: int
    family: str
    low: int
    high: int


INSTRUMENTS: dict[str, Instrument] = {
    "piano": Instrument(0, "keyboard", 21, 108),
    "electric piano": Instrument(4, "keyboard", 28, 103),
    "vibraphone": Instrument(11, "mallets", 53, 89),
    "marimba": Instrument(12, "mallets", 45, 96),
    "rock organ": Instrument(18, "organ", 36, 96),
    "church organ": Instrument(19, "organ", 24, 96),
    "accordion": Instrument(21, "organ", 53, 89),
    "harmonica": Instrument(22, "reed", 60, 84),
    "nylon guitar": Instrument(24, "guitar", 40, 83),
    "acoustic guitar": Instrument(25, "guitar", 40, 83),
    "jazz guitar": Instrument(26, "guitar", 40, 86),
    "clean electric guitar": Instrument(27, "guitar", 40, 86),
    "overdriven guitar": Instrument(29, "guitar", 40, 86),
    "distorted guitar": Instrument(30, "guitar", 28, 86),
    "upright bass": Instrument(32, "bass", 28, 55),
    "electric bass": Instrument(33, "bass", 28, 55),
    "picked bass": Instrument(34, "bass", 28, 55),
    "fretless bass": Instrument(35, "bass", 28, 55),
    "synth bass": Instrument(38, "bass", 24, 55),
    "violin": Instrument(40, "strings", 55, 96),
    "viola": Instrument(41, "strings", 48, 84),
    "cello": Instrument(42, "strings", 36, 76),
    "contrabass": Instrument(43, "bass", 28, 55),
    "pizzicato strings": Instrument(45, "strings", 36, 91),
    "harp": Instrument(46, "plucked", 24, 103),
    "timpani": Instrument(47, "percussion", 36, 57),
    "strings": Instrument(48, "strings", 28, 96),
    "choir": Instrument(52, "voice", 48, 79),
    "trumpet": Instrument(56, "brass", 54, 82),
    "trombone": Instrument(57, "brass", 40, 72),
    "muted trumpet": Instrument(59, "brass", 54, 82),
    "french horn": Instrument(60, "brass", 41, 77),
    "brass section": Instrument(61, "brass", 36, 84),
    "alto sax": Instrument(65, "reed", 49, 81),
    "tenor sax": Instrument(66, "reed", 44, 76),
    "oboe": Instrument(68, "reed", 58, 91),
    "clarinet": Instrument(71, "reed", 50, 91),
    "flute": Instrument(73, "pipe", 60, 96),
    "recorder": Instrument(74, "pipe", 60, 96),
    "pan flute": Instrument(75, "pipe", 60, 96),
    "synth lead": Instrument(81, "synth", 36, 96),
    "square lead": Instrument(80, "synth", 36, 96),
    "warm pad": Instrument(89, "synth", 36, 84),
    "synth pad": Instrument(88, "synth", 36, 84),
    "halo pad": Instrument(94, "synth", 36, 84),
    "sitar": Instrument(104, "plucked", 48, 77),
    "banjo": Instrument(105, "plucked", 48, 84),
    "kalimba": Instrument(108, "mallets", 60, 84),
    "fiddle": Instrument(110, "strings", 55, 96),
    "shanai": Instrument(111, "reed", 60, 84),
}

#: General MIDI drum kits (bank 128 presets of FluidR3_GM) and the drum notes the patterns use.
DRUM_KITS = {"standard": 0, "room": 8, "power": 16, "electronic": 24, "808": 25, "jazz": 32,
             "brush": 40}
DRUM_NOTES = {"kick": 36, "snare": 38, "rim": 37, "clap": 39, "closed hat": 42, "pedal hat": 44,
              "open hat": 46, "crash": 49, "ride": 51, "ride bell": 53, "tambourine": 54,
              "shaker": 70, "low tom": 45, "high tom": 50, "high bongo": 60, "low bongo": 61,
              "high conga": 62, "low conga": 64}

#: Tempo words by BPM: slow below 84, fast above 128 (the edges of :mod:`audio_gen.analysis`).
TEMPO_CLASSES = {"slow": (60.0, 84.0), "medium": (84.0, 128.0), "fast": (128.0, 180.0)}
REGISTERS = {"low": (45, 60), "mid": (60, 74), "high": (74, 88)}


@dataclass(frozen=True)
class Style:
    """A genre template.

    Attributes
    ----------
    melody, chords, bass, pad : tuple of str
        Instruments (keys of :data:`INSTRUMENTS`) that may take each role; empty: the role
        stays out. ``chords`` is the accompaniment (comping, strumming, arpeggios).
    comping : str
        How the accompaniment plays: "block" (held chords), "arpeggio", "strum" (boom-chick),
        "power" (power-chord eighths), "gallop" (palm-muted sixteenths), "stabs" (off-beat),
        "shell" (jazz shells on swung offbeats), "drone" (sitar drone) or "hymn" (four-voice
        chords, one a beat).
    bass_line : str
        "root", "root fifth", "walking", "eighths", "offbeat", "gallop" or "drone".
    drums : tuple of str
        Pattern names of :data:`audio_gen.arrange.DRUM_PATTERNS` (empty: no drums).
    kits : tuple of str
        Drum kits (keys of :data:`DRUM_KITS`).
    tempi : tuple of str
        Tempo classes the style plays (:data:`TEMPO_CLASSES`), with ``bpm`` bounding them.
    bpm : (float, float)
        The style's own tempo range.
    minor_share : float
        Share of clips in a minor key.
    swing : float
        0 straight, 1 full triplet swing of the off-beat eighths.
    sevenths : bool
        Chords with sevenths (jazz, lo-fi).
    room : (float, float)
        Reverb time in seconds (drawn in the range).
    lofi : bool
        Low-pass, tape wobble and vinyl noise after rendering.
    drum_share : float
        Share of clips with drums (when patterns exist).
    progressions : str
        Family of chord progressions: "pop", "jazz", "classical", "metal" or "drone".
    lead_swaps : bool
        Whether training may give the style a lead from another genre
        (:data:`SWAP_LEADS`); not for styles named after their instruments.
    """

    melody: tuple[str, ...]
    chords: tuple[str, ...]
    bass: tuple[str, ...]
    comping: str
    bass_line: str
    tempi: tuple[str, ...]
    bpm: tuple[float, float]
    pad: tuple[str, ...] = ()
    drums: tuple[str, ...] = ()
    kits: tuple[str, ...] = ("standard",)
    minor_share: float = 0.5
    swing: float = 0.0
    sevenths: bool = False
    room: tuple[float, float] = (0.4, 1.0)
    lofi: bool = False
    drum_share: float = 1.0
    progressions: str = "pop"
    lead_swaps: bool = True


STYLES: dict[str, Style] = {
    "string quartet": Style(
        melody=("violin",), chords=("viola",), bass=("cello",), comping="arpeggio",
        bass_line="root", tempi=("slow", "medium", "fast"), bpm=(60, 150),
        room=(0.8, 1.6), progressions="classical", lead_swaps=False),
    "piano ballad": Style(
        melody=("piano",), chords=("piano",), bass=(), comping="arpeggio", bass_line="root",
        tempi=("slow", "medium"), bpm=(60, 96), minor_share=0.6, room=(0.8, 1.6),
        lead_swaps=False),
    "jazz": Style(
        melody=("alto sax", "tenor sax", "trumpet", "muted trumpet", "trombone", "vibraphone",
                "jazz guitar", "clarinet"),
        chords=("piano", "jazz guitar"), bass=("upright bass",), comping="shell",
        bass_line="walking", drums=("swing",), kits=("jazz", "brush"),
        tempi=("slow", "medium", "fast"), bpm=(70, 180), minor_share=0.4, swing=0.7,
        sevenths=True, room=(0.3, 0.8), progressions="jazz"),
    "rock": Style(
        melody=("overdriven guitar", "distorted guitar", "rock organ"),
        chords=("distorted guitar", "overdriven guitar"), bass=("electric bass", "picked bass"),
        comping="power", bass_line="eighths", drums=("backbeat", "backbeat busy"),
        kits=("standard", "room", "power"), tempi=("medium", "fast"), bpm=(96, 160),
        minor_share=0.4, room=(0.3, 0.8)),
    "metal": Style(
        melody=("distorted guitar",), chords=("distorted guitar",), bass=("picked bass",),
        comping="gallop", bass_line="gallop", drums=("double kick",), kits=("power", "standard"),
        tempi=("medium", "fast"), bpm=(110, 180), minor_share=1.0, room=(0.3, 0.7),
        progressions="metal"),
    "techno": Style(
        melody=("synth lead", "square lead"), chords=("synth pad", "warm pad"),
        bass=("synth bass",), comping="stabs", bass_line="offbeat",
        drums=("four on the floor",), kits=("electronic", "808"), tempi=("medium", "fast"),
        bpm=(118, 140), minor_share=0.8, room=(0.3, 0.9)),
    "lo-fi hip hop": Style(
        melody=("electric piano", "vibraphone", "jazz guitar", "clean electric guitar",
                "flute"),
        chords=("electric piano",), bass=("electric bass", "fretless bass"), comping="block",
        bass_line="root fifth", drums=("boom bap",), kits=("standard", "808", "brush"),
        tempi=("slow", "medium"), bpm=(66, 92), minor_share=0.6, swing=0.55, sevenths=True,
        room=(0.3, 0.8), lofi=True, progressions="jazz"),
    "country": Style(
        melody=("fiddle", "harmonica", "banjo"), chords=("acoustic guitar",),
        bass=("upright bass", "electric bass"), comping="strum", bass_line="root fifth",
        drums=("train beat",), kits=("standard", "brush"), tempi=("medium", "fast"),
        bpm=(90, 160), minor_share=0.15, room=(0.3, 0.8), drum_share=0.7),
    "orchestral": Style(
        melody=("french horn", "trumpet", "flute", "oboe", "violin"),
        chords=("strings", "pizzicato strings"),
        bass=("contrabass", "cello"), comping="block", bass_line="root",
        pad=("brass section", "timpani"), tempi=("slow", "medium", "fast"), bpm=(60, 150),
        room=(1.2, 2.2), progressions="classical"),
    "ambient": Style(
        melody=("kalimba", "vibraphone", "marimba", "flute", "piano", "harp"),
        chords=("warm pad", "synth pad", "halo pad"), bass=(), comping="block",
        bass_line="root", tempi=("slow",), bpm=(60, 84), minor_share=0.5, room=(2.0, 3.5)),
    "folk": Style(
        melody=("flute", "recorder", "pan flute", "violin", "accordion"),
        chords=("acoustic guitar", "nylon guitar"), bass=(), comping="arpeggio",
        bass_line="root", drums=("tambourine",), tempi=("slow", "medium", "fast"),
        bpm=(72, 150), minor_share=0.35, room=(0.4, 1.0), drum_share=0.4),
    "church": Style(
        melody=("choir",), chords=("church organ",), bass=(), comping="hymn", bass_line="root",
        tempi=("slow", "medium"), bpm=(60, 100), minor_share=0.3, room=(2.2, 3.5),
        progressions="classical"),
    "indian classical": Style(
        melody=("sitar", "shanai", "flute"), chords=("sitar",), bass=(), comping="drone",
        bass_line="drone", drums=("hand drums",), tempi=("slow", "medium", "fast"),
        bpm=(70, 160), minor_share=0.5, room=(0.6, 1.4), drum_share=0.5,
        progressions="drone"),
}

#: Leads a style may borrow in training (``lead_swap`` of
#: :func:`audio_gen.arrange.sample_arrangement`): every style's melody instruments and a few more
#: that people name as a lead. Within its own styles an instrument's name says little that the
#: genre does not; heard over other genres' bands it has to be learnt as a sound of its own.
SWAP_LEADS: tuple[str, ...] = tuple(dict.fromkeys(
    [i for style in STYLES.values() for i in style.melody]
    + ["piano", "electric piano", "acoustic guitar", "nylon guitar", "cello", "church organ"]))
