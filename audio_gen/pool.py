"""The training pool: log-mel images of clips plus the cached embeddings of their captions.

The text encoder is frozen, so every caption is encoded once when the pool is built; training
then only indexes tensors. Entry 0 of the caption table is the empty prompt (the "no text" of
classifier-free guidance).

Building a large pool takes minutes, so it can be given a deadline (``time.perf_counter()``
seconds): when it passes, :class:`PoolPaused` carries the work done so far, and passing that
state back as ``resume`` carries on to exactly the pool an uninterrupted build makes.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import numpy as np
import torch

from audio_gen.codec import MelCodec
from audio_gen.rhythm import estimate_beat
from audio_gen.synth import caption, make_clip
from audio_gen.text_encoder import TextEmbedding, TextEncoder

logger = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]


class PoolPaused(Exception):
    """Building the pool reached its deadline; ``state`` resumes it (``stage``: done/total)."""

    def __init__(self, state: dict, stage: str, done: int, total: int) -> None:
        self.state, self.stage, self.done, self.total = state, stage, done, total
        super().__init__(f"paused {stage} at {done:,}/{total:,}")


def _check(deadline: float | None, state: Callable[[], dict], stage: str, done: int,
           total: int) -> None:
    if deadline is not None and time.perf_counter() >= deadline:
        raise PoolPaused(state(), stage, done, total)


@dataclass
class Pool:
    """Images (N, 1, M, F) float16, caption ids (N, C) into the caption table of K entries,
    each clip's beat: BPM and first beat in seconds (N,), NaN where unknown, and its key:
    tonic pitch class and 1 for minor, 0 for major (N,), NaN where unknown (None: a pool
    built before keys were kept)."""

    images: torch.Tensor
    caption_ids: torch.Tensor
    tokens: torch.Tensor  # (K, L, D) float16
    mask: torch.Tensor  # (K, L) bool
    pooled: torch.Tensor  # (K, D) float16
    captions: list[str]
    bpm: torch.Tensor  # (N,) float32
    first_beat: torch.Tensor  # (N,) float32
    #: Each caption's concept ids and ranks, (K, S) each, when the denoiser has concept
    #: vectors (set by training; not saved with the pool).
    concepts: tuple[torch.Tensor, torch.Tensor] | None = None
    tonic: torch.Tensor | None = None  # (N,) float32
    minor: torch.Tensor | None = None  # (N,) float32

    def __len__(self) -> int:
        return self.images.shape[0]

    def batch(
        self, index: torch.Tensor, choice: torch.Tensor, drop: torch.Tensor
    ) -> tuple[torch.Tensor, TextEmbedding, torch.Tensor]:
        """Images, text and caption ids for clips ``index``, caption ``choice`` each, the
        empty prompt (caption 0) where ``drop``."""
        ids = self.caption_ids[index, choice % self.caption_ids.shape[1]]
        ids = torch.where(drop, torch.zeros_like(ids), ids)
        text = TextEmbedding(self.tokens[ids].float(), self.mask[ids], self.pooled[ids].float())
        return self.images[index].float(), text, ids

    def state(self) -> dict:
        return {"images": self.images, "caption_ids": self.caption_ids, "tokens": self.tokens,
                "mask": self.mask, "pooled": self.pooled, "captions": self.captions,
                "bpm": self.bpm, "first_beat": self.first_beat,
                **({} if self.tonic is None else {"tonic": self.tonic, "minor": self.minor})}

    @classmethod
    def from_state(cls, state: dict) -> Pool:
        missing = sorted({"bpm", "first_beat"} - set(state))
        if missing:
            raise ValueError(f"the pool has no {', '.join(missing)} (built by an older version); "
                             "delete pool.pt from the run folder to build it again")
        return cls(**state)


def encode_captions(
    encoder: TextEncoder, captions: Sequence[str], batch_size: int = 128,
    on_progress: Progress | None = None, *, deadline: float | None = None,
    parts: list[dict] | None = None, state: Callable[[], dict] | None = None,
) -> TextEmbedding:
    """Embeddings of ``["", *captions]`` in batches (the empty prompt first).

    ``parts`` holds the batches encoded so far (as dicts of tensors) and is extended in place;
    at ``deadline`` :class:`PoolPaused` is raised with ``state()``."""
    texts = ["", *captions]
    parts = [] if parts is None else parts
    for start in range(len(parts) * batch_size, len(texts), batch_size):
        _check(deadline, state or (lambda: {}), "encoding captions", start, len(texts))
        embedding = encoder.encode(texts[start:start + batch_size])
        parts.append({f.name: getattr(embedding, f.name) for f in fields(embedding)})
        if on_progress is not None:
            on_progress("encoding captions", min(start + batch_size, len(texts)), len(texts))
    return TextEmbedding.cat([TextEmbedding(**part) for part in parts])


def _assemble(images: list[torch.Tensor], captions_per_clip: list[list[str]],
              beats: list[tuple[float, ...]], encoder: TextEncoder,
              on_progress: Progress | None, deadline: float | None = None,
              parts: list[dict] | None = None, state: Callable[[], dict] | None = None) -> Pool:
    table = list(dict.fromkeys(c for cs in captions_per_clip for c in cs))
    position = {c: i + 1 for i, c in enumerate(table)}
    width = max(len(cs) for cs in captions_per_clip)
    ids = torch.tensor(
        [[position[cs[j % len(cs)]] for j in range(width)] for cs in captions_per_clip]
    )
    embeds = encode_captions(encoder, table, on_progress=on_progress, deadline=deadline,
                             parts=parts, state=state)
    return Pool(
        images=torch.stack(images).half(), caption_ids=ids, tokens=embeds.tokens.half(),
        mask=embeds.mask, pooled=embeds.pooled.half(), captions=["", *table],
        bpm=torch.tensor([b[0] for b in beats], dtype=torch.float32),
        first_beat=torch.tensor([b[1] for b in beats], dtype=torch.float32),
        tonic=torch.tensor([_key_of(b)[0] for b in beats], dtype=torch.float32),
        minor=torch.tensor([_key_of(b)[1] for b in beats], dtype=torch.float32),
    )


def _key_of(beat: tuple[float, ...]) -> tuple[float, float]:
    """(tonic, minor) of a clip's entry (bpm, first beat[, tonic, minor]); NaN when unknown."""
    return (beat[2], beat[3]) if len(beat) == 4 else (math.nan, math.nan)


def _clip_entry(spec) -> tuple[float, float, float, float]:
    """A clip's (bpm, first beat, tonic, minor) from its attributes; NaN where unknown."""
    key = getattr(spec, "key", None)
    mode = getattr(spec, "mode", None)
    known = key is not None and mode in ("major", "minor")
    return (spec.bpm, spec.first_beat, float(key) if known else math.nan,
            float(mode == "minor") if known else math.nan)


def _partial(kind: str, images: list, captions: list, beats: list, parts: list,
             **extra) -> Callable[[], dict]:
    """The state of a pool being built, read when a deadline stops it."""
    return lambda: {"kind": kind, "images": torch.stack(images) if images else torch.zeros(0),
                    "captions": captions, "beats": beats, "parts": parts,
                    **{k: v() for k, v in extra.items()}}


def _resumed(resume: dict | None, kind: str) -> tuple[list, list, list, list]:
    """Images, captions, beats and encoded caption batches of a paused build of this kind."""
    if not resume or resume.get("kind") != kind:
        return [], [], [], []
    images = list(resume["images"].unbind(0)) if resume["captions"] else []
    return (images, list(resume["captions"]), [tuple(b) for b in resume["beats"]],
            list(resume["parts"]))


def synth_pool(
    size: int, frames: int, codec: MelCodec, encoder: TextEncoder, seed: int,
    captions_per_clip: int = 2, on_progress: Progress | None = None, *,
    deadline: float | None = None, resume: dict | None = None,
) -> Pool:
    """A pool of procedurally synthesised clips (held-out combinations excluded).

    Parameters
    ----------
    size : int
        Number of clips.
    frames : int
        Spectrogram frames per clip (the audio is ``frames * hop_length`` samples long).
    codec : MelCodec
        Makes the images.
    encoder : TextEncoder
        Encodes the captions.
    seed : int
        Seeds the synthesiser.
    captions_per_clip : int
        Different wordings written for each clip; training picks one at random each time.
    on_progress : callable, optional
        ``on_progress(stage, done, total)``.
    deadline, resume : float, dict, optional
        Stop with :class:`PoolPaused` at ``deadline``; carry on from its ``state``.
    """
    def make(rng: np.random.Generator, seconds: float):
        return make_clip(rng, seconds, codec.cfg.sample_rate, held_out="exclude")

    return _generated_pool("synth", make, lambda clip, rng: caption(clip.spec, rng), size,
                           frames, codec, encoder, seed, captions_per_clip, on_progress,
                           deadline, resume)


def soundfont_pool(
    size: int, frames: int, codec: MelCodec, encoder: TextEncoder, seed: int,
    captions_per_clip: int = 2, on_progress: Progress | None = None, *,
    deadline: float | None = None, resume: dict | None = None, soundfont: str | None = None,
    lead_swap: float = 0.0, accompaniment_db: float = 0.0, lead_only_captions: float = 0.0,
    stems: float = 0.0, workers: int = 1,
) -> Pool:
    """A pool of arrangements rendered through the General MIDI soundfont
    (:mod:`audio_gen.render`; held-out pairs excluded) at the codec's sample rate. Arguments
    as for :func:`synth_pool`; ``soundfont`` names a SoundFont 2 file (default: the installed
    General MIDI one); ``lead_swap`` as for :func:`audio_gen.arrange.sample_arrangement`;
    ``accompaniment_db`` as for :class:`audio_gen.render.Renderer`; ``lead_only_captions``:
    share of each clip's further wordings (after its first) that name the lead alone, no genre
    (:func:`audio_gen.captions.describe` with ``name_genre=False``); ``stems``: share of clips
    that play one part of their arrangement, half the lead alone and half all but the lead
    (:data:`audio_gen.render.PARTS`), each captioned as that part; ``workers``: processes
    that play the clips (every clip is drawn here, in order, so any number of workers makes
    the same pool)."""
    from audio_gen import captions, render

    renderer = render.Renderer(codec.cfg.sample_rate, soundfont,
                               accompaniment_db=accompaniment_db)

    def draw(rng: np.random.Generator, seconds: float):
        part = "mix"
        # rng.random() only when the share is set, so that 0 draws the same pool as ever.
        if stems and rng.random() < stems:
            part = "lead" if rng.random() < 0.5 else "backing"
        return render.draw_clip(rng, renderer, seconds, held_out="exclude",
                                lead_swap=lead_swap, part=part)

    def recaption(clip, rng: np.random.Generator) -> str:
        if clip.part != "mix":
            return captions.caption(clip.spec, rng, part=clip.part)
        lead_only = bool(lead_only_captions) and rng.random() < lead_only_captions
        return captions.caption(clip.spec, rng, name_genre=not lead_only)

    with render.Players(renderer, workers, functools.partial(_image, codec, frames)) as players:
        return _generated_pool("soundfont", draw, recaption, size, frames, codec, encoder,
                               seed, captions_per_clip, on_progress, deadline, resume,
                               images_of=lambda clips: players.play([c.take for c in clips]),
                               chunk=players.chunk)


def _image(codec: MelCodec, frames: int, audio: np.ndarray) -> torch.Tensor:
    """A clip's image as the pool keeps it: (1, M, frames) float16."""
    with torch.no_grad():
        return codec.encode(torch.from_numpy(audio))[None, :, :frames].half()


def _generated_pool(
    kind: str, make: Callable, recaption: Callable, size: int, frames: int, codec: MelCodec,
    encoder: TextEncoder, seed: int, captions_per_clip: int, on_progress: Progress | None,
    deadline: float | None, resume: dict | None, images_of: Callable | None = None,
    chunk: int = 1,
) -> Pool:
    """A pool of ``size`` clips from ``make(rng, seconds)`` (with ``.audio``, ``.caption`` and
    ``.spec`` holding ``bpm`` and ``first_beat``), each with ``captions_per_clip`` wordings
    (``recaption(clip, rng)`` writes the others). ``images_of(clips)``: the images of clips
    drawn but not yet played (default: of their ``.audio``), ``chunk`` of them at a time."""
    rng = np.random.default_rng(seed)
    seconds = frames * codec.cfg.hop_length / codec.cfg.sample_rate
    images, captions, beats, parts = _resumed(resume, kind)
    if images:
        rng.bit_generator.state = resume["rng"]  # type: ignore[index]
    state = _partial(kind, images, captions, beats, parts, rng=lambda: rng.bit_generator.state)
    stage = "synthesising clips" if kind == "synth" else "rendering clips"
    images_of = images_of or (lambda clips: [_image(codec, frames, c.audio) for c in clips])
    while len(images) < size:
        _check(deadline, state, stage, len(images), size)
        clips, texts = [], []
        for _ in range(min(chunk, size - len(images))):  # drawn in order: the same pool
            clips.append(make(rng, seconds))
            texts.append([clips[-1].caption]
                         + [recaption(clips[-1], rng) for _ in range(captions_per_clip - 1)])
        done_before = len(images)
        for clip, image, wordings in zip(clips, images_of(clips), texts, strict=True):
            images.append(image)
            captions.append(wordings)
            beats.append(_clip_entry(clip.spec))
        if on_progress is not None and (len(images) // 50 > done_before // 50
                                        or len(images) == size):
            on_progress(stage, len(images), size)
    return _assemble(images, captions, beats, encoder, on_progress, deadline, parts, state)


def folder_pool(
    clips: Sequence, frames: int, codec: MelCodec, encoder: TextEncoder,
    on_progress: Progress | None = None, *, deadline: float | None = None,
    resume: dict | None = None,
) -> Pool:
    """A pool from :func:`audio_gen.folder_dataset.load_folder` clips; their beats are
    estimated from the audio (:func:`audio_gen.rhythm.estimate_beat`). ``deadline`` and
    ``resume`` as in :func:`synth_pool`."""
    images, captions, beats, parts = _resumed(resume, "folder")
    state = _partial("folder", images, captions, beats, parts)
    for i in range(len(images), len(clips)):
        _check(deadline, state, "reading clips", i, len(clips))
        clip = clips[i]
        beats.append(estimate_beat(clip.audio, codec.cfg.sample_rate))
        audio = torch.from_numpy(np.asarray(clip.audio, dtype=np.float32))
        image = codec.encode(audio)[None, :, :frames]
        images.append(torch.nn.functional.pad(image, (0, frames - image.shape[-1]),
                                              value=-1.0).half())
        captions.append([clip.caption])
        if on_progress is not None and ((i + 1) % 50 == 0 or i + 1 == len(clips)):
            on_progress("reading clips", i + 1, len(clips))
    return _assemble(images, captions, beats, encoder, on_progress, deadline, parts, state)
