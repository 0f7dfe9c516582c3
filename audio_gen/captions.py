"""Captions people would write, from a rendered clip's real attributes.

Every caption names what the clip has: genre, lead instrument (and often the others and the
drums), tempo in words and sometimes BPM, mode or mood, loudness, the melody's register,
density, room, sometimes what the music is for ("for studying"). Each attribute has several
synonyms ("sax", "saxophone"; "lofi", "lo-fi") and the sentence comes from one of many
templates, so the text encoder learns the meanings, not one phrasing.

:func:`vocabulary` lists every phrase the captions use, by concept ("instrument:alto sax",
"tempo:fast", ...): saved with a checkpoint, it is what the model knows
(:mod:`audio_gen.understanding`).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from audio_gen.arrange import Arrangement
from audio_gen.styles import STYLES

GENRES = {
    "string quartet": ("string quartet", "classical string quartet", "chamber music",
                       "classical chamber"),
    "piano ballad": ("piano ballad", "ballad", "solo piano ballad", "emotional piano ballad"),
    "jazz": ("jazz", "jazzy", "jazz combo", "swing jazz", "small-band jazz", "jazz club"),
    "rock": ("rock", "rock band", "guitar rock", "classic rock", "hard rock"),
    "metal": ("metal", "heavy metal", "thrash metal", "metal band"),
    "techno": ("techno", "club techno", "electronic dance", "EDM", "four-on-the-floor techno"),
    "lo-fi hip hop": ("lo-fi hip hop", "lofi hip hop", "lo-fi", "lofi", "chillhop",
                      "lo-fi beats"),
    "country": ("country", "country and western", "americana", "country & western"),
    "orchestral": ("orchestral", "symphonic", "cinematic orchestral", "film score",
                   "orchestra"),
    "ambient": ("ambient", "atmospheric", "ambient soundscape", "new age"),
    "folk": ("folk", "acoustic folk", "folk song", "traditional folk"),
    "church": ("church music", "hymn", "sacred music", "church hymn"),
    "indian classical": ("indian classical", "indian", "raga", "hindustani classical"),
}
INSTRUMENT_WORDS = {
    "piano": ("piano", "grand piano", "acoustic piano"),
    "electric piano": ("electric piano", "rhodes", "e-piano", "electric keys"),
    "vibraphone": ("vibraphone", "vibes"),
    "marimba": ("marimba",),
    "rock organ": ("organ", "hammond organ", "rock organ"),
    "church organ": ("church organ", "pipe organ", "organ"),
    "accordion": ("accordion",),
    "harmonica": ("harmonica", "mouth organ"),
    "nylon guitar": ("nylon guitar", "classical guitar", "spanish guitar", "acoustic guitar"),
    "acoustic guitar": ("acoustic guitar", "steel-string guitar", "strummed guitar", "guitar"),
    "jazz guitar": ("jazz guitar", "hollow-body guitar", "electric guitar", "guitar"),
    "clean electric guitar": ("clean electric guitar", "clean guitar", "electric guitar",
                              "guitar"),
    "overdriven guitar": ("overdriven guitar", "crunchy guitar", "electric guitar", "guitar"),
    "distorted guitar": ("distorted guitar", "distorted electric guitar", "heavy guitar",
                         "electric guitar"),
    "upright bass": ("upright bass", "double bass", "acoustic bass", "bass"),
    "electric bass": ("electric bass", "bass guitar", "bass"),
    "picked bass": ("bass guitar", "picked bass", "bass"),
    "fretless bass": ("fretless bass", "bass"),
    "synth bass": ("synth bass", "bassline", "bass"),
    "violin": ("violin", "violins"),
    "viola": ("viola",),
    "cello": ("cello", "cellos"),
    "contrabass": ("double bass", "contrabass", "basses"),
    "timpani": ("timpani", "kettle drums"),
    "pizzicato strings": ("pizzicato strings", "plucked strings"),
    "strings": ("strings", "string section", "string ensemble", "orchestral strings"),
    "choir": ("choir", "voices", "choral voices", "singing choir"),
    "trumpet": ("trumpet",),
    "trombone": ("trombone",),
    "muted trumpet": ("muted trumpet", "trumpet"),
    "french horn": ("french horn", "horn", "horns"),
    "brass section": ("brass", "brass section"),
    "alto sax": ("alto sax", "alto saxophone", "saxophone", "sax"),
    "tenor sax": ("tenor sax", "tenor saxophone", "saxophone", "sax"),
    "oboe": ("oboe",),
    "clarinet": ("clarinet",),
    "flute": ("flute",),
    "recorder": ("recorder",),
    "pan flute": ("pan flute", "pan pipes"),
    "synth lead": ("synth lead", "lead synth", "synthesizer", "synth"),
    "square lead": ("square lead", "chiptune lead", "synth lead", "synth"),
    "warm pad": ("warm pad", "synth pad", "pads"),
    "synth pad": ("synth pad", "pads", "synthesizer pads"),
    "halo pad": ("airy pad", "synth pad", "pad"),
    "harp": ("harp",),
    "sitar": ("sitar",),
    "banjo": ("banjo",),
    "kalimba": ("kalimba", "thumb piano"),
    "fiddle": ("fiddle", "violin"),
    "shanai": ("shehnai", "shanai"),
}
DRUM_WORDS = {  # by genre: what its drums are called
    "jazz": ("swing ride", "brushed drums", "jazz drums", "ride cymbal"),
    "rock": ("backbeat", "rock drums", "drums", "drum kit"),
    "metal": ("double-kick drums", "pounding drums", "blast beat drums"),
    "techno": ("four-on-the-floor kick", "drum machine", "808 drums", "thumping kick"),
    "lo-fi hip hop": ("swung drums", "boom bap drums", "dusty drums", "hip hop beat"),
    "country": ("train beat", "brushed snare", "drums"),
    "folk": ("tambourine", "shaker and tambourine", "light percussion"),
    "indian classical": ("hand drums", "congas and bongos", "percussion"),
}
BASS_LINE_WORDS = {"walking": ("walking bass", "walking bass line"),
                   "offbeat": ("offbeat bassline", "pumping bass"),
                   "gallop": ("galloping bass",), "eighths": ("driving eighth-note bass",)}
WORDS = {
    "tempo:slow": ("slow", "slow-paced", "laid-back", "leisurely", "unhurried"),
    "tempo:medium": ("mid-tempo", "moderate", "medium-tempo", "steady"),
    "tempo:fast": ("fast", "up-tempo", "upbeat", "quick", "brisk"),
    "mode:major": ("major-key", "in a major key"),
    "mode:minor": ("minor-key", "in a minor key"),
    "mood:calm": ("calm", "peaceful", "relaxing", "soothing", "chill"),
    "mood:happy": ("happy", "cheerful", "joyful", "uplifting", "feel-good"),
    "mood:sad": ("sad", "melancholic", "melancholy", "sorrowful", "wistful"),
    "mood:dark": ("dark", "moody", "brooding", "tense", "ominous"),
    "mood:aggressive": ("aggressive", "angry", "furious", "fierce"),
    "loudness:quiet": ("quiet", "soft", "gentle", "hushed", "delicate"),
    "loudness:loud": ("loud", "powerful", "punchy", "intense", "booming"),
    "register:low": ("low", "deep", "low-pitched"),
    "register:mid": ("mid-range", "middle-register"),
    "register:high": ("high", "high-pitched", "soaring"),
    "density:sparse": ("sparse", "minimal", "spacious", "simple"),
    "density:busy": ("busy", "dense", "intricate", "flowing", "lively"),
    "room:dry": ("dry", "close-miked"),
    "room:hall": ("reverberant", "echoing", "with lots of reverb", "in a big hall"),
    "purpose:calm": ("for studying", "to relax to", "for sleep", "for a quiet evening"),
    "purpose:happy": ("for a road trip", "for a sunny morning", "for a party"),
    "purpose:sad": ("for a rainy day", "for a sad movie scene"),
    "purpose:dark": ("for a thriller scene", "for a night drive"),
    "purpose:aggressive": ("for a workout", "for a boss fight"),
    "form:piece": ("piece", "track", "tune", "song", "instrumental", "music", "beat", "groove",
                   "loop", "jam"),
    "form:lead": ("solo", "melody", "lead", "line", "riff"),
    "form:backing": ("backing track", "accompaniment", "backing", "rhythm section"),
}
KEYS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
TEMPLATES = (
    "{mood}{genre} {piece} with {instruments}{bpm}",
    "{tempo}{genre} with a {lead} {leadform}{extras}",
    "{instruments} playing a {mood}{genre} {piece}{bpm}",
    "{genre} {piece}: {lead} over {others}, {tempo_word}, {mode}",
    "a {loud}{tempo}{genre} {piece} featuring {lead}{bpm}",
    "{mood}{instruments}, {genre} style{bpm}",
    "{genre}: {lead}, {others}; {tempo_word} and {mood_word}",
    "{mood}{genre} {piece} with {lead} {purpose}",
    "{register}{lead} {leadform} in a {genre} style{extras}",
    "{tempo}{mood}{genre} with {instruments}, {mode}",
    "{loud}{genre} {piece}, {lead} {leadform}, {tempo_word}{bpm}",
    "instrumental {genre}: {instruments}{extras}",
)
#: Captions that name the lead and no genre or other instrument (``name_genre=False``): with
#: them the instrument's words alone must carry its sound, which the genre otherwise implies.
LEAD_TEMPLATES = (
    "{tempo}{mood}{lead} {leadform}{bpm}",
    "a {loud}{register}{lead} {leadform}{extras}",
    "{lead} {leadform}: {tempo_word}, {mood_word}",
    "{mood}{piece} featuring {lead}{bpm}",
    "{register}{lead} {leadform}, {mode}",
    "{loud}{tempo}{lead} {piece}{bpm}",
)

#: Captions of a backing stem, every part but the lead (``part="backing"``): the genre and
#: the band, no lead.
BACKING_TEMPLATES = (
    "{mood}{genre} {backing}{bpm}",
    "{tempo}{genre} {backing} with {others}",
    "{genre} {backing}: {others}, {tempo_word}, {mode}",
    "a {loud}{genre} {backing} without a lead{extras}",
    "{others}: {mood}{genre} {backing}{bpm}",
    "{loud}{tempo}{genre} {backing}{extras}",
)


def _pick(rng: np.random.Generator, options) -> str:
    return options[rng.integers(len(options))]


def listing(words: list[str]) -> str:
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


def _room(spec: Arrangement) -> str | None:
    return "room:dry" if spec.room < 0.6 else ("room:hall" if spec.room > 1.8 else None)


class Caption(NamedTuple):
    """A caption and the judged attributes it states (see :func:`describe`)."""

    text: str
    stated: frozenset[str]


def caption(spec: Arrangement, rng: np.random.Generator, *, drop: float = 0.15,
            name_genre: bool = True, part: str = "mix") -> str:
    """Describe a rendered clip in words (:func:`describe`'s text)."""
    return describe(spec, rng, drop=drop, name_genre=name_genre, part=part).text


def describe(spec: Arrangement, rng: np.random.Generator, *, drop: float = 0.15,
             name_genre: bool = True, part: str = "mix") -> Caption:
    """Describe a rendered clip in words, with varied wording and sentence form.

    Parameters
    ----------
    spec : Arrangement
        The clip's attributes.
    rng : numpy Generator
        Picks the template and the words.
    drop : float
        Probability of leaving out each optional attribute (mood, mode, loudness, register,
        density, room, BPM); the lead instrument is always named.
    name_genre : bool
        Name the genre (always, then) and often the other instruments; if False, the sentence
        names the lead alone (:data:`LEAD_TEMPLATES`).
    part : {"mix", "lead", "backing"}
        What of the arrangement the clip plays (:data:`audio_gen.render.PARTS`): a lead alone
        is worded as ``name_genre=False``; a backing names the genre and the band, never the
        lead (:data:`BACKING_TEMPLATES`), and states no instrument.

    Returns
    -------
    Caption
        The text, and which of the judged attributes (``genre``, ``instrument``, ``tempo``,
        ``mode``, ``loudness``) it states: a tempo word or the BPM states the tempo, a mode or
        mood word the mode, and a clip of normal loudness is stated by saying nothing of it.
        Whatever the template has no slot for is added before or after the sentence, so that
        leaving a word out is the ``drop`` share, not the template's choice: a model cannot
        learn "quiet" from captions that rarely say it, nor that no word means a normal level.
    """
    def word(concept: str | None, share: float = 1.0) -> str:
        if concept is None or rng.random() >= share * (1 - drop):
            return ""
        return _pick(rng, WORDS[concept])

    lead = _pick(rng, INSTRUMENT_WORDS[spec.lead])
    style = STYLES[spec.style]
    others = [_pick(rng, INSTRUMENT_WORDS[i]) for i in spec.instruments[1:]
              if rng.random() < 0.6]
    if style.bass_line in BASS_LINE_WORDS and rng.random() < 0.5:
        others.append(_pick(rng, BASS_LINE_WORDS[style.bass_line]))
    if spec.kit is not None and spec.style in DRUM_WORDS and rng.random() < 0.8:
        others.append(_pick(rng, DRUM_WORDS[spec.style]))
    others = list(dict.fromkeys(o for o in others if o != lead))
    tempo_word = word(f"tempo:{spec.tempo}")
    mood_word = word(f"mood:{spec.mood}", 0.8)
    bpm = f" at {round(spec.bpm)} BPM" if rng.random() < 0.3 else ""
    mode = word(f"mode:{spec.mode}", 0.7)
    if mode and rng.random() < 0.3:
        mode = f"in {KEYS[spec.key]} {spec.mode}"
    loud = word(f"loudness:{spec.loudness}", 1.0) if spec.loudness != "normal" else ""
    name_genre = name_genre and part != "lead"
    templates = (BACKING_TEMPLATES if part == "backing"
                 else TEMPLATES if name_genre else LEAD_TEMPLATES)
    template = _pick(rng, templates)

    def has(*slots: str) -> bool:
        return any("{" + slot + "}" in template for slot in slots)

    # The judged attributes the template leaves out, said around the sentence instead.
    missing = []
    if tempo_word and not has("tempo", "tempo_word") and not (bpm and has("bpm")):
        missing.append(tempo_word)
    elif not tempo_word and bpm and not has("bpm"):
        missing.append(bpm.strip())
    if loud and not has("loud"):
        missing.append(loud)
    mood_said = bool(mood_word) and has("mood", "mood_word")
    mode_said = bool(mode) and has("mode", "extras")
    if not (mood_said or mode_said) and (mood_word or mode):
        missing.append(mood_word or mode)
    stated = ({"genre"} if part == "backing"
              else {"genre", "instrument"} if name_genre else {"instrument"})
    if tempo_word or bpm:
        stated.add("tempo")
    if mood_word or mode:
        stated.add("mode")
    if loud or spec.loudness == "normal":
        stated.add("loudness")

    extras = [w for w in (word(f"density:{spec.density}", 0.4), word(_room(spec), 0.5), mode)
              if w]
    slots = {
        "genre": _pick(rng, GENRES[spec.style]), "lead": lead,
        "leadform": _pick(rng, WORDS["form:lead"]), "piece": _pick(rng, WORDS["form:piece"]),
        "instruments": listing([lead, *others]),
        "others": listing(others) or "a simple accompaniment",
        # Drawn for a backing only, so that every other caption draws as it always did.
        "backing": _pick(rng, WORDS["form:backing"]) if part == "backing" else "",
        "tempo_word": tempo_word, "tempo": f"{tempo_word} " if tempo_word else "",
        "mood_word": mood_word, "mood": f"{mood_word} " if mood_word else "",
        "mode": mode, "bpm": bpm, "loud": f"{loud} " if loud else "",
        "register": f"{w} " if (w := word(f"register:{spec.register}", 0.6)) else "",
        "purpose": word(f"purpose:{spec.mood}", 0.8),
        "extras": "".join(f", {w}" for w in extras),
    }
    text = template.format(**slots)
    if missing:
        said = listing([missing[i] for i in rng.permutation(len(missing))])
        text = f"{said} {text}" if rng.random() < 0.5 else f"{text}, {said}"
    return Caption(_tidy(text), frozenset(stated))


def _tidy(text: str) -> str:
    """Remove what empty slots leave behind (doubled spaces, dangling commas and 'and')."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"(,\s*)+(?=[,;:]|$)", "", text)
    text = re.sub(r"\s+([,;:])", r"\1", text)
    text = re.sub(r"([;:])\s*and\s+", r"\1 ", text)
    text = re.sub(r"[;:,]\s*and\s*$|\s+and\s*$", "", text)
    text = re.sub(r"\b[aA] ([aeiouAEIOU])", r"an \1", text)
    return text.strip(" ,;:")


def vocabulary() -> dict[str, list[str]]:
    """Every phrase the captions use, by concept ("genre:jazz", "instrument:alto sax", ...)."""
    concepts: dict[str, list[str]] = {}
    for style, words in GENRES.items():
        concepts[f"genre:{style}"] = list(words)
    used = {i for s in STYLES.values() for i in (*s.melody, *s.chords, *s.bass, *s.pad)}
    for instrument in sorted(used):
        concepts[f"instrument:{instrument}"] = list(INSTRUMENT_WORDS[instrument])
    concepts["instrument:drums"] = sorted({w for ws in DRUM_WORDS.values() for w in ws})
    concepts["instrument:bass"] = sorted({w for ws in BASS_LINE_WORDS.values() for w in ws})
    for concept, words in WORDS.items():
        concepts[concept] = list(words)
    concepts["tempo:bpm"] = ["bpm"]
    return concepts
