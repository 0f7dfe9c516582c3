"""What the model understands of a prompt, and what it will make instead of what it does not.

A model knows the concepts of its training captions (saved with the checkpoint as its
*vocabulary*: concept -> the phrases that named it, e.g. ``"instrument:alto sax": ["alto sax",
"saxophone", "sax"]``). A prompt is split into phrases (runs of words between function words;
a run is matched greedily, longest first, up to three words), and each phrase is compared with
every known phrase through the model's own text encoder: the cosine of the pooled sentence
vectors. A phrase whose nearest known phrase is at least :data:`THRESHOLD` similar is known as
that concept; below, it is unknown, and the report names the nearest concept it would be
mistaken for. This is not a word list: "saxophone solo" is known when "sax" was trained
(the encoder puts them close), "bagpipes" is not near anything a GM arrangement was captioned
with.

Words that describe no sound ("music", "song", "track", ...) and function words are neither.

The same reading steers a model with concept vectors (:attr:`audio_gen.unet.UNetConfig.concepts`):
each known concept of the prompt joins its text as a learned token (:func:`concept_ids`), so
what the report says the model knows is exactly what it is given.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field

import torch

from audio_gen.text_encoder import TextEncoder

logger = logging.getLogger(__name__)

#: Cosine similarity from which a phrase counts as a known concept (all-MiniLM-L6-v2's pooled
#: vectors: synonyms and inflections of a trained word lie above it; other instruments,
#: genres and moods below; see tests/audio_gen/test_understanding.py).
THRESHOLD = 0.64
#: A multi-word phrase must be at least this similar (and closer than its words alone) to be
#: taken whole.
PHRASE_THRESHOLD = 0.75
STOP_WORDS = frozenset(str.split("""
a an the and or but with without in on of for to at by from into onto over under like as that
this these those is are be being it its which who some any very really quite rather bit little
lot lots plus please me my i we you your make makes making generate create give want something
kind sort type style featuring feat also just more less than then so about around
through during while when where
"""))
FILLER = frozenset(str.split("""
music song songs track tracks piece pieces tune tunes sound sounds sounding clip audio
instrumental background vibe vibes feel feeling mood theme number recording
"""))
MAX_PHRASE_WORDS = 3


@dataclass
class Match:
    """A prompt phrase and its nearest known phrase (``concept`` is "kind:value")."""

    phrase: str
    concept: str
    nearest: str
    similarity: float

    @property
    def kind(self) -> str:
        return self.concept.split(":", 1)[0]

    @property
    def value(self) -> str:
        return self.concept.split(":", 1)[1]

    def as_dict(self) -> dict:
        return {**asdict(self), "similarity": round(self.similarity, 3)}


@dataclass
class PromptReport:
    """What the model knows of a prompt (``known``) and does not (``unknown``)."""

    text: str
    known: list[Match] = field(default_factory=list)
    unknown: list[Match] = field(default_factory=list)

    def asks(self, kind: str) -> str | None:
        """The value the prompt asks for of a kind of concept (e.g. "loudness" -> "quiet"),
        from its most similar known phrase of that kind; None when it asks nothing."""
        matches = [m for m in self.known if m.kind == kind]
        return max(matches, key=lambda m: m.similarity).value if matches else None

    @property
    def instead(self) -> str:
        """What the model will make: the known phrases, or its own choice when none."""
        if not self.known:
            return "music of its own choosing (what it makes for an empty prompt)"
        return "\"" + ", ".join(m.phrase for m in self.known) + "\""

    def message(self) -> str | None:
        """One line for the user when part of the prompt is unknown; None when all is known."""
        if not self.unknown:
            return None
        parts = [f"\"{m.phrase}\" (nearest it knows: \"{m.nearest}\", similarity "
                 f"{m.similarity:.2f})" for m in self.unknown]
        return (f"the model does not know {_listing(parts)}; it will make {self.instead} "
                "instead")

    def as_dict(self) -> dict:
        return {"known": [m.as_dict() for m in self.known],
                "unknown": [m.as_dict() for m in self.unknown],
                "instead": self.instead, "message": self.message()}


def model_vocabulary(meta: dict) -> dict[str, list[str]] | None:
    """The vocabulary a model folder's training facts (``meta``) record. Models saved before
    vocabularies were stored (the shipped one among them) record ``"data": "synth"`` or
    nothing: they were trained on the synthesiser, whose caption vocabulary is derived here;
    a model trained on a folder of audio without a stored vocabulary has none (None)."""
    if meta.get("vocabulary"):
        return meta["vocabulary"]
    if meta.get("data", "synth") == "synth":
        from audio_gen.synth import vocabulary

        return vocabulary()
    return None


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def phrases(text: str) -> list[list[str]]:
    """Runs of content words: the prompt lower-cased, split at function words, punctuation
    and filler words ("a dark, slow piano melody with strings" -> [["dark"], ["slow", "piano",
    "melody"], ["strings"]]); a tempo in BPM ("120 bpm") is kept as the word "bpm"."""
    text = re.sub(r"\b\d+(\.\d+)?\s*bpm\b", " bpm ", text.lower())
    runs: list[list[str]] = [[]]
    for token in re.findall(r"[a-z0-9][a-z0-9'&-]*|[^\sa-z0-9]", text):
        if token in STOP_WORDS or token in FILLER or not token[0].isalnum() or token.isdigit():
            runs.append([])
        else:
            runs[-1].append(token)
    return [run for run in runs if run]


class Vocabulary:
    """The concepts a model knows, embedded once with its text encoder.

    Parameters
    ----------
    concepts : dict of str to list of str
        Concept ("kind:value") -> the phrases its training captions used.
    encoder : TextEncoder
        The model's text encoder (its pooled vectors are compared).
    threshold : float
        Least cosine similarity of a known phrase.
    stored : dict, optional
        ``{"phrases", "vectors"}`` saved with the model (:attr:`vectors` of the same
        vocabulary and encoder): used instead of encoding the phrases again, when they are
        these phrases.
    """

    def __init__(self, concepts: dict[str, list[str]], encoder: TextEncoder,
                 threshold: float = THRESHOLD, stored: dict | None = None) -> None:
        if not concepts:
            raise ValueError("the vocabulary is empty")
        self.concepts, self.encoder, self.threshold = concepts, encoder, threshold
        pairs = [(p.lower(), c) for c, ps in concepts.items() for p in ps]
        self.phrases = [p for p, _ in pairs]
        self.labels = [c for _, c in pairs]
        self._vectors: torch.Tensor | None = None
        if stored is not None and list(stored["phrases"]) == self.phrases:
            self._vectors = stored["vectors"].float()

    def _embed(self, texts: list[str]) -> torch.Tensor:
        vectors = [self.encoder.encode(texts[i:i + 64]).pooled
                   for i in range(0, len(texts), 64)]
        return torch.nn.functional.normalize(torch.cat(vectors).float(), dim=-1)

    @property
    def vectors(self) -> torch.Tensor:
        """(P, D) unit vectors of the known phrases (stored, or computed on first use)."""
        if self._vectors is None:
            self._vectors = self._embed(self.phrases)
        return self._vectors

    @torch.no_grad()
    def stored(self) -> dict:
        """What :func:`audio_gen.checkpoint.save_model` keeps of this vocabulary."""
        return {"phrases": self.phrases, "vectors": self.vectors}

    def _nearest(self, texts: list[str]) -> list[tuple[int, float]]:
        """Index of the nearest known phrase and its similarity, for each text."""
        sims = self._embed(texts) @ self.vectors.T  # (T, P)
        exact = {p: i for i, p in reversed(list(enumerate(self.phrases)))}
        best = sims.max(dim=1)
        return [(exact[t], 1.0) if t in exact else (int(i), float(s))
                for t, s, i in zip(texts, best.values, best.indices, strict=True)]

    @torch.no_grad()
    def read(self, text: str) -> PromptReport:
        """Which phrases of ``text`` the model knows, and the nearest concept of the others."""
        return self.read_many([text])[0]

    @torch.no_grad()
    def read_many(self, texts: list[str]) -> list[PromptReport]:
        """:meth:`read` for many texts, each distinct phrase embedded once (training reads
        every caption of its pool, and captions share most of their phrases)."""
        runs_of = [phrases(text) for text in texts]
        grams = sorted({" ".join(run[i:i + n]) for runs in runs_of for run in runs
                        for n in range(1, 4) for i in range(len(run) - n + 1)})
        nearest: dict[str, tuple[int, float]] = {}
        for i in range(0, len(grams), 4096):
            nearest.update(zip(grams[i:i + 4096], self._nearest(grams[i:i + 4096]),
                               strict=True))
        return [self._report(text, runs, nearest)
                for text, runs in zip(texts, runs_of, strict=True)]

    def _report(self, text: str, runs: list[list[str]],
                nearest: dict[str, tuple[int, float]]) -> PromptReport:
        def match(gram: str) -> Match:
            index, similarity = nearest[gram]
            return Match(gram, self.labels[index], self.phrases[index], similarity)

        report = PromptReport(text)
        for run in runs:
            i = 0
            while i < len(run):
                for n in range(min(MAX_PHRASE_WORDS, len(run) - i), 0, -1):
                    found = match(" ".join(run[i:i + n]))
                    least = (self.threshold if n == 1 else
                             max(PHRASE_THRESHOLD, *(nearest[w][1] for w in run[i:i + n])))
                    if found.similarity >= least:
                        report.known.append(found)
                        i += n
                        break
                else:
                    report.unknown.append(match(run[i]))
                    i += 1
        return report


def concept_ids(
    reports: list[PromptReport | None], concepts: list[str], slots: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The known concepts of each report as ids for :meth:`audio_gen.unet.UNet.with_concepts`.

    Returns ``(ids, ranks)``, each (len(reports), slots) long: ``1 +`` the concept's index in
    ``concepts`` in the order the prompt names them (a concept named twice counts once; one
    the list lacks is left out; 0 pads), and each one's place among the prompt's concepts of
    its kind, so that the first instrument named (the lead) is told from the others.
    """
    index = {concept: i + 1 for i, concept in enumerate(concepts)}
    ids = torch.zeros(len(reports), slots, dtype=torch.long)
    ranks = torch.zeros(len(reports), slots, dtype=torch.long)
    for row, report in enumerate(reports):
        seen: list[str] = []
        for match in [] if report is None else report.known:
            if match.concept in index and match.concept not in seen and len(seen) < slots:
                ids[row, len(seen)] = index[match.concept]
                ranks[row, len(seen)] = sum(c.split(":", 1)[0] == match.kind for c in seen)
                seen.append(match.concept)
    return ids, ranks
