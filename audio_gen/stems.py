"""Stems: a prompt's lead and its genre's band made apart, then mixed.

Why it exists: asked for a lead its genre never had in training ("metal with a violin lead"),
every model so far painted the genre's own band and lead, whatever the captions, the share
of borrowed leads, the lead's level or the conditioning (bench/README.md, issue 17, items 6-11):
the denoiser learns each genre's sound whole. A model trained with stems (``TrainConfig.stems``:
clips of the lead alone, captioned without a genre, and of the band alone, captioned without
a lead) can be asked for each part by itself, and then the genre cannot pull the lead: the
lead's prompt names no genre. The two parts share the beat clock and the key grid, so they
play in one tempo and one key; their mel powers add (:func:`mix_images`).

:func:`split_prompt` writes the two prompts from what the model's vocabulary reads in the
user's prompt (:mod:`audio_gen.understanding`), each phrase as the nearest phrase the training
captions use ("crunchy" -> "crunchy guitar", "rainy" -> "for a rainy day"), so that both prompts
read like the captions of the parts the model learnt: the first lead instrument named and its
register for the lead, the genre and any other instruments for the band, and the tempo, mood,
mode and loudness words for both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from audio_gen.arrange import own_leads
from audio_gen.captions import listing
from audio_gen.styles import SWAP_LEADS
from audio_gen.understanding import Match, PromptReport

#: Kinds of words both parts follow.
SHARED = ("tempo", "mood", "mode", "loudness", "purpose", "room")
#: Instruments that lead in training (any genre's melody instruments, and the borrowed ones).
LEADS = frozenset(SWAP_LEADS)


@dataclass(frozen=True)
class StemPrompts:
    """The two prompts a prompt is made as: its lead alone, and its band without the lead."""

    lead: str
    backing: str


def genre_and_lead(report: PromptReport) -> tuple[Match, Match] | None:
    """The first genre and the first lead instrument the prompt names, or None without both."""
    genres = [m for m in report.known if m.kind == "genre"]
    leads = [m for m in report.known if m.kind == "instrument" and m.value in LEADS]
    return (genres[0], leads[0]) if genres and leads else None


def borrows_lead(report: PromptReport) -> bool:
    """The prompt asks its genre for a lead the genre's clips never played in training
    (:func:`audio_gen.arrange.own_leads`: another genre's, or a pair held out)."""
    named = genre_and_lead(report)
    return named is not None and named[1].value not in own_leads(named[0].value)


def split_prompt(report: PromptReport) -> StemPrompts | None:
    """The lead's and the band's prompts, or None when the prompt does not name both a genre
    and a lead instrument (then it is made whole)."""
    named = genre_and_lead(report)
    if named is None:
        return None
    genre, lead = named
    known = report.known
    band = [m.nearest for m in known if m.kind == "instrument" and m.nearest != lead.nearest]
    shared = list(dict.fromkeys(m.nearest for m in known if m.kind in SHARED))
    register = next((f"{m.nearest} " for m in known if m.kind == "register"), "")
    lead_text = ", ".join([f"{register}{lead.nearest} solo", *shared])
    backing = f"{genre.nearest} backing track"
    if band:
        backing += " with " + listing(list(dict.fromkeys(band)))
    return StemPrompts(lead_text, ", ".join([backing, *shared]))


def mix_images(lead: torch.Tensor, backing: torch.Tensor, codec, lead_db: float = 0.0
               ) -> torch.Tensor:
    """The normalised log-mel image of two parts played together: their mel powers add, the
    lead's ``lead_db`` louder. Each part was made at the loudness the prompt asks for (training
    brought every clip, part or whole, to its level), so the sum is scaled to keep that level:
    two equally loud parts mix to a clip as loud as each."""
    gain = 10.0 ** (lead_db / 10.0)
    power = (codec.denormalise(lead) * gain + codec.denormalise(backing)) / (1.0 + gain)
    return codec.normalise(power)
