"""Training the denoiser: resumable, chunked, with EMA weights.

A run folder holds ``config.json`` (the :class:`TrainConfig`), ``pool.pt`` (the training pool,
built once), ``training_state.pt`` (weights, EMA weights, optimiser, step, random states;
rewritten atomically every ``checkpoint_every`` steps and when a chunk ends), ``log.jsonl``
(loss and speed) and ``model/`` (the EMA model, published atomically whenever state is saved).
``train(..., max_minutes=9)`` stops cleanly after that much time, building the pool included
(a pool cut short waits in ``pool.partial.pt``), so a long recipe runs as short chunks that
each resume where the last stopped, with the same result as one long run.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from audio_gen.checkpoint import (
    CheckpointError,
    load_model,
    load_state,
    model_index,
    save_model,
    save_state,
)
from audio_gen.codec import CodecConfig, MelCodec
from audio_gen.pool import Pool, PoolPaused, folder_pool, soundfont_pool, synth_pool
from audio_gen.rhythm import beat_grid
from audio_gen.schedulers import DDPMScheduler
from audio_gen.text_encoder import TextEncoder
from audio_gen.tonality import KeyGrid
from audio_gen.understanding import Vocabulary, concept_ids
from audio_gen.unet import UNet, UNetConfig
from foundation.settings import reject_unknown

logger = logging.getLogger(__name__)


# Settings added after run folders existed, with the value that reproduces how such a run trained.
SETTINGS_BEFORE_ADDED = {"low_band_weight": 1.0, "low_band_hz": 600.0, "data_source": "synth",
                         "lead_swap": 0.0, "accompaniment_db": 0.0, "lead_only_captions": 0.0,
                         "crop_seconds": 0.0, "concept_vectors": False, "key_drop": 0.2,
                         "init_from": "", "stems": 0.0}
#: The same for the U-Net's settings (``unet`` in a run's ``config.json``).
UNET_SETTINGS_BEFORE_ADDED = {"cross_attention": [], "concepts": [], "concept_slots": 12,
                              "key_grid": False}
DATA_SOURCES = ("synth", "soundfont")


@dataclass
class TrainConfig:
    """The training recipe (saved as ``config.json`` in the run folder).

    Parameters
    ----------
    steps : int
        Optimiser steps in all.
    batch_size : int
        Clips per step.
    learning_rate, warmup_steps, min_lr_ratio : float, int, float
        AdamW learning rate: linear warm-up, then cosine decay to ``min_lr_ratio`` of it.
    weight_decay, grad_clip : float
        AdamW weight decay; gradient norm clip.
    ema_decay : float
        Decay of the exponential moving average of the weights (the published model).
    tempo_learning_rate : float
        Adam learning rate of the tempo head (its own optimiser: it is small, reads frozen
        text states, and needs no warm-up or decay).
    low_band_weight, low_band_hz : float
        Loss weight of the mel bands centred below ``low_band_hz`` relative to the rest (the
        weights are scaled to average 1). Low notes put their harmonics a few bands apart at the
        bottom of the image, a small share of its pixels: with every band alike (1.0) the
        denoiser rendered bass as an unpitched smear (bench/README.md, "Low notes").
    uncond_prob : float
        Share of captions replaced by the empty prompt (teaches the unconditional model that
        classifier-free guidance needs).
    pool_size, captions_per_clip : int
        Clips in the pool and wordings per clip.
    data_source : {"synth", "soundfont"}
        Where the pool's clips come from (unless a data folder is given): the procedural
        synthesiser (:mod:`audio_gen.synth`) or arrangements rendered through the General MIDI
        soundfont (:mod:`audio_gen.render`, at ``codec.sample_rate``).
    lead_swap : float
        Soundfont pool: share of clips whose lead comes from another genre
        (:func:`audio_gen.arrange.sample_arrangement`), so that a genre does not imply its lead.
    accompaniment_db : float
        Soundfont pool: gain in dB of every part but the lead against the arrangement's mix
        (:class:`audio_gen.render.Renderer`); below 0 the lead stands out.
    lead_only_captions : float
        Soundfont pool: share of each clip's wordings after the first that name the lead alone,
        without the genre or the other instruments, so that the lead's words must carry its
        sound (:func:`audio_gen.captions.describe`).
    stems : float
        Soundfont pool: share of clips that play one part of their arrangement, half the
        lead alone and half all but the lead, captioned as such (:func:`soundfont_pool`), so
        that a model can make a lead apart from its genre's band and the pipeline can put the
        two together (:mod:`audio_gen.stems`). Needs ``unet.key_grid``: the two parts are
        made in one key.
    seconds : float
        Clip length (rounded up to whole U-Net frames).
    crop_seconds : float
        Train on a random window of this length of each clip (rounded up to whole U-Net
        frames; 0: the whole clip). The denoiser is convolutional and, without
        ``unet.position_embedding``, does not know where a window lies, so it samples whole
        clips after training on windows; a shorter window makes a step cheaper (2 s windows
        of 4 s clips: about 1.5x the steps per second), so a fixed budget buys more steps.
        The beat clock moves with the window.
    concept_vectors : bool
        Give the denoiser a learned vector for every concept of the training vocabulary
        (``unet.concepts``, filled from the vocabulary; see :class:`UNetConfig`): each
        caption's concepts, read as a prompt is read at generation, join its text. The
        captions are read once and kept in the run folder (``concepts.pt``).
    key_drop : float
        With ``unet.key_grid``: share of clips trained without their key (an all-zero grid),
        so that a prompt that names no key or mode leaves the choice to the model.
    init_from : str
        A published model folder to start from instead of random weights (fine-tuning): its
        weights are loaded where the names and shapes agree, and what it lacks (a key stem)
        starts as new. Its codec and text encoder must be this recipe's.
    seed : int
        Seeds the pool, the initial weights and every random draw of training.
    bf16 : bool
        bfloat16 autocast for the forward pass (about 2x faster on CPUs with AMX or
        AVX512-BF16; weights and optimiser stay float32).
    checkpoint_every : int
        Steps between saved states.
    prediction_type : {"v_prediction", "epsilon"}
        The training target.
    text_encoder, text_max_length : str, int
        Encoder spec (see :func:`audio_gen.text_encoder.load_text_encoder`) and token limit.
    unet, codec : UNetConfig, CodecConfig
        Model and spectrogram settings.
    """

    steps: int = 4000
    batch_size: int = 32
    learning_rate: float = 3e-4
    warmup_steps: int = 200
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    tempo_learning_rate: float = 3e-3
    low_band_weight: float = 3.0
    low_band_hz: float = 600.0
    uncond_prob: float = 0.1
    pool_size: int = 6000
    captions_per_clip: int = 2
    data_source: str = "synth"
    lead_swap: float = 0.0
    accompaniment_db: float = 0.0
    lead_only_captions: float = 0.0
    stems: float = 0.0
    seconds: float = 4.0
    crop_seconds: float = 0.0
    concept_vectors: bool = False
    key_drop: float = 0.2
    init_from: str = ""
    seed: int = 0
    bf16: bool = True
    checkpoint_every: int = 200
    prediction_type: str = "v_prediction"
    text_encoder: str = "default"
    text_max_length: int = 32
    unet: UNetConfig = field(default_factory=UNetConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        values = dict(values)
        reject_unknown(cls, values, "training")
        if isinstance(values.get("unet"), dict):
            values["unet"] = UNetConfig.from_dict(values["unet"])
        if isinstance(values.get("codec"), dict):
            values["codec"] = CodecConfig.from_dict(values["codec"])
        cfg = cls(**values)
        if cfg.steps < 1 or cfg.batch_size < 1:
            raise ValueError("steps and batch_size must be >= 1")
        if cfg.low_band_weight <= 0:
            raise ValueError(f"low_band_weight must be > 0, got {cfg.low_band_weight}")
        if not 0 <= cfg.uncond_prob < 1:
            raise ValueError(f"uncond_prob must be in [0, 1), got {cfg.uncond_prob}")
        for name in ("lead_swap", "lead_only_captions", "key_drop", "stems"):
            if not 0 <= getattr(cfg, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(cfg, name)}")
        if cfg.crop_seconds < 0 or cfg.crop_seconds > cfg.seconds:
            raise ValueError(f"crop_seconds must be between 0 (whole clips) and seconds "
                             f"({cfg.seconds}), got {cfg.crop_seconds}")
        if cfg.crop_seconds and cfg.unet.position_embedding:
            raise ValueError("crop_seconds needs unet.position_embedding = false: with a "
                             "position code a window would be taught it lies at the clip's start")
        if cfg.concept_vectors and cfg.unet.concepts:
            raise ValueError("concept_vectors fills unet.concepts from the training "
                             "vocabulary: leave unet.concepts out")
        if cfg.data_source not in DATA_SOURCES:
            raise ValueError(f"data_source must be one of {', '.join(DATA_SOURCES)}, got "
                             f"{cfg.data_source!r}")
        if cfg.stems and not cfg.unet.key_grid:
            raise ValueError("stems needs unet.key_grid = true: a lead and a backing made "
                             "apart must share a key")
        for name in ("lead_swap", "accompaniment_db", "lead_only_captions", "stems"):
            if getattr(cfg, name) and cfg.data_source != "soundfont":
                raise ValueError(f"{name} applies to the soundfont's arrangements: set "
                                 f"data_source = \"soundfont\" (it is {cfg.data_source!r})")
        return cfg

    def band_weights(self) -> torch.Tensor:
        """Per-mel-band loss weights (n_mels, 1), averaging 1 (see ``low_band_weight``)."""
        low = self.codec.band_centres_hz() < self.low_band_hz
        weights = torch.where(low, self.low_band_weight, 1.0)
        return (weights / weights.mean())[:, None]

    @property
    def frames(self) -> int:
        """Frames per training clip: the clip length rounded up to whole U-Net frames."""
        return self._whole_frames(self.seconds)

    @property
    def crop_frames(self) -> int:
        """Frames of the window each step trains on (``frames`` when not cropping)."""
        return self._whole_frames(self.crop_seconds) if self.crop_seconds else self.frames

    def _whole_frames(self, seconds: float) -> int:
        raw = math.ceil(seconds * self.codec.sample_rate / self.codec.hop_length)
        multiple = self.unet.time_multiple
        return math.ceil(raw / multiple) * multiple


@dataclass
class StepStats:
    step: int
    total: int
    loss: float
    steps_per_s: float
    elapsed: float
    tempo_loss: float | None = None  # the tempo head's, in standardised log-BPM squared


@dataclass
class TrainResult:
    step: int
    finished: bool
    loss: float | None  # None until a step has been trained
    train_seconds: float
    model: Path
    # When the time ran out while building the pool: (stage, done, total), e.g.
    # ("synthesising clips", 3100, 6000); no step was trained.
    pool_paused: tuple[str, int, int] | None = None


def learning_rate(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to ``min_lr_ratio * learning_rate``."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.learning_rate * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cosine)


def _check_run_config(run_dir: Path, cfg: TrainConfig) -> None:
    """Start a run folder, or check that a resumed one was started with the same recipe."""
    path = run_dir / "config.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        if isinstance(saved.get("unet"), dict):
            saved["unet"] = {**UNET_SETTINGS_BEFORE_ADDED, **saved["unet"]}
        mine = json.loads(json.dumps(cfg.to_dict()))
        # A run folder older than a setting trained as that setting's "before" value says.
        changed = sorted(k for k in mine if saved.get(k, SETTINGS_BEFORE_ADDED.get(k)) != mine[k])
        if changed:
            raise ValueError(
                f"{run_dir} was started with different settings ({', '.join(changed)}); use a "
                "new --run folder or the same settings"
            )
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")


def generated_pool(
    cfg: TrainConfig, codec: MelCodec, encoder: TextEncoder, size: int,
    on_progress: Callable[[str, int, int], None] | None = None, *,
    deadline: float | None = None, resume: dict | None = None, workers: int | None = None,
) -> Pool:
    """The first ``size`` clips of the pool ``cfg`` draws (its soundfont or synthesiser
    settings), rendered by ``workers`` processes, by default one a torch thread (the pool is
    the same for any number)."""
    if cfg.data_source == "soundfont":
        make = functools.partial(soundfont_pool, lead_swap=cfg.lead_swap,
                                 accompaniment_db=cfg.accompaniment_db,
                                 lead_only_captions=cfg.lead_only_captions, stems=cfg.stems,
                                 workers=workers or torch.get_num_threads())
    else:
        make = synth_pool
    return make(size, cfg.frames, codec, encoder, cfg.seed, cfg.captions_per_clip, on_progress,
                deadline=deadline, resume=resume)


def _load_pool(
    run_dir: Path, cfg: TrainConfig, codec: MelCodec, encoder: TextEncoder,
    data_folder: Path | None, on_progress, deadline: float | None = None,
) -> Pool:
    """The run's pool: built once (raising :class:`PoolPaused` at ``deadline``, with the work
    so far kept in ``pool.partial.pt`` for the next call) and kept in ``pool.pt``."""
    path, partial = run_dir / "pool.pt", run_dir / "pool.partial.pt"
    if path.is_file():
        return Pool.from_state(torch.load(path, map_location="cpu", weights_only=True))
    resume = load_state(partial)
    try:
        if data_folder is not None:
            from audio_gen.folder_dataset import load_folder

            clips = load_folder(data_folder, cfg.frames * cfg.codec.hop_length
                                / cfg.codec.sample_rate, cfg.codec.sample_rate)
            pool = folder_pool(clips, cfg.frames, codec, encoder, on_progress,
                               deadline=deadline, resume=resume)
        else:
            pool = generated_pool(cfg, codec, encoder, cfg.pool_size, on_progress,
                                  deadline=deadline, resume=resume)
    except PoolPaused as paused:
        save_state(partial, paused.state)
        raise
    save_state(path, pool.state())
    partial.unlink(missing_ok=True)
    return pool


def train(
    cfg: TrainConfig,
    run_dir: str | Path,
    encoder: TextEncoder,
    *,
    data_folder: str | Path | None = None,
    max_minutes: float | None = None,
    stop_at: int | None = None,
    on_progress: Callable[[str, int, int], None] | None = None,
    on_step: Callable[[StepStats], None] | None = None,
) -> TrainResult:
    """Train (or resume training) the denoiser in ``run_dir``.

    Parameters
    ----------
    cfg : TrainConfig
        The recipe; a resumed run must use the same one.
    run_dir : str or Path
        The run folder (created if new).
    encoder : TextEncoder
        Frozen text encoder matching ``cfg.text_encoder`` (width ``cfg.unet.text_dim``).
    data_folder : str or Path, optional
        Train on a captioned audio folder instead of the synthesiser.
    max_minutes : float, optional
        Stop after this long from the call, building the pool included (state saved) so that
        the next call resumes. A step or a save under way finishes first.
    stop_at : int, optional
        Stop after this step (state saved), e.g. to run a recipe in chunks of steps.
    on_progress : callable, optional
        ``on_progress(stage, done, total)`` while the pool is built.
    on_step : callable, optional
        Called with :class:`StepStats` after every step.

    Returns
    -------
    TrainResult
    """
    if encoder.dim != cfg.unet.text_dim:
        raise ValueError(f"text encoder width {encoder.dim} != unet.text_dim {cfg.unet.text_dim}")
    run_dir = Path(run_dir)
    _check_run_config(run_dir, cfg)
    if cfg.init_from:  # refused before the pool's minutes, not after
        try:
            model_index(cfg.init_from)
        except CheckpointError as error:
            raise ValueError(f"init_from: {error}") from None
    started = time.perf_counter()
    deadline = started + 60 * max_minutes if max_minutes is not None else math.inf
    codec = MelCodec(cfg.codec)
    try:
        pool = _load_pool(run_dir, cfg, codec, encoder,
                          Path(data_folder) if data_folder else None, on_progress,
                          deadline if max_minutes is not None else None)
    except PoolPaused as paused:
        return TrainResult(0, False, None, 0.0, run_dir / "model",
                           pool_paused=(paused.stage, paused.done, paused.total))
    scheduler = DDPMScheduler(prediction_type=cfg.prediction_type)

    vocabulary = training_vocabulary(cfg.data_source if data_folder is None else None,
                                     pool.captions)
    reader = Vocabulary(vocabulary, encoder) if vocabulary else None
    unet_cfg = cfg.unet
    if cfg.concept_vectors:
        if reader is None:
            raise ValueError("concept_vectors needs a vocabulary, and this pool's captions "
                             "have none")
        unet_cfg = dataclasses.replace(cfg.unet, concepts=sorted(vocabulary))
        pool.concepts = _caption_concepts(run_dir, pool, reader, unet_cfg, on_progress)

    if unet_cfg.key_grid and pool.tonic is None:
        raise ValueError(f"{run_dir / 'pool.pt'} keeps no keys (built by an older version) and "
                         "unet.key_grid needs them: use a new --run folder")

    torch.manual_seed(cfg.seed)
    unet = UNet(unet_cfg)
    if cfg.init_from:
        _start_from(unet, cfg)
    ema = copy.deepcopy(unet).requires_grad_(False)
    denoiser = [p for name, p in unet.named_parameters() if not name.startswith("tempo.")]
    optimiser = torch.optim.AdamW(denoiser, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    tempo_optimiser = (torch.optim.Adam(unet.tempo.parameters(), lr=cfg.tempo_learning_rate)
                       if unet.tempo is not None else None)
    rng = np.random.default_rng(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)
    step, elapsed, last_loss = 0, 0.0, None
    state = load_state(run_dir / "training_state.pt")
    if state is not None:
        unet.load_state_dict(state["unet"])
        ema.load_state_dict(state["ema"])
        optimiser.load_state_dict(state["optimiser"])
        if tempo_optimiser is not None:
            tempo_optimiser.load_state_dict(state["tempo_optimiser"])
        rng.bit_generator.state = state["numpy_rng"]
        generator.set_state(state["torch_rng"])
        step, elapsed, last_loss = state["step"], state["elapsed"], state.get("loss")
        logger.info("resumed %s at step %d", run_dir, step)

    def checkpoint() -> None:
        save_state(run_dir / "training_state.pt", {
            "unet": unet.state_dict(), "ema": ema.state_dict(),
            "optimiser": optimiser.state_dict(), "numpy_rng": rng.bit_generator.state,
            "tempo_optimiser": None if tempo_optimiser is None else tempo_optimiser.state_dict(),
            "torch_rng": generator.get_state(), "step": step,
            "elapsed": elapsed + time.perf_counter() - chunk_start, "loss": last_loss,
        })
        save_model(run_dir / "model", ema, cfg.codec, scheduler, cfg.text_encoder,
                   cfg.text_max_length, meta={
                       "step": step, "steps": cfg.steps, "loss": last_loss,
                       "train_seconds": round(elapsed + time.perf_counter() - chunk_start, 1),
                       "data": str(data_folder) if data_folder else cfg.data_source,
                       "pool_size": len(pool), "seed": cfg.seed, "vocabulary": vocabulary,
                       "stems": cfg.stems,
                   }, phrase_vectors=phrase_vectors)

    phrase_vectors = reader.stored() if reader is not None else None
    band_weights = cfg.band_weights()
    chunk_start = time.perf_counter()
    first_step = step
    log = open(run_dir / "log.jsonl", "a", encoding="utf-8")  # noqa: SIM115 - closed below
    unet.train()
    losses: list[float] = []
    tempo_losses: list[float] = []
    tick = time.perf_counter()
    try:
        last_step = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
        while step < last_step and time.perf_counter() < deadline:
            loss, tempo_loss = _train_step(cfg, unet, optimiser, tempo_optimiser, scheduler,
                                           pool, rng, generator, step, band_weights)
            step += 1
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for e, p in zip(ema.parameters(), unet.parameters(), strict=True):
                    e.lerp_(p, 1 - decay)
            losses.append(loss)
            if tempo_loss is not None:
                tempo_losses.append(tempo_loss)
            now = time.perf_counter()
            rate = 1.0 / max(now - tick, 1e-9)
            tick = now
            if on_step is not None:
                on_step(StepStats(step, cfg.steps, loss, rate, elapsed + now - chunk_start,
                                  tempo_loss))
            if step % 25 == 0 or step == cfg.steps:
                last_loss = float(np.mean(losses[-25:]))
                tempo = {"tempo_loss": round(float(np.mean(tempo_losses[-25:])), 5)
                         } if tempo_losses else {}
                log.write(json.dumps({"step": step, "loss": round(last_loss, 5), **tempo,
                                      "elapsed": round(elapsed + now - chunk_start, 1)}) + "\n")
                log.flush()
            if step % cfg.checkpoint_every == 0:
                checkpoint()
        if losses:
            last_loss = float(np.mean(losses[-25:]))
        if step > first_step:  # a chunk that trained nothing has nothing new to save
            checkpoint()
    finally:
        log.close()
    total = elapsed + time.perf_counter() - chunk_start
    return TrainResult(step, step >= cfg.steps, last_loss, total, run_dir / "model")


def _start_from(unet: UNet, cfg: TrainConfig) -> None:
    """Load ``cfg.init_from``'s weights into ``unet`` where they fit (see ``init_from``)."""
    bundle = load_model(cfg.init_from)
    if bundle.codec != cfg.codec or bundle.text_encoder != cfg.text_encoder:
        raise ValueError(f"{cfg.init_from} has another codec or text encoder than this recipe")
    mine = unet.state_dict()
    theirs = {k: v for k, v in bundle.unet.state_dict().items()
              if k in mine and mine[k].shape == v.shape}
    unet.load_state_dict(theirs, strict=False)
    logger.info("started from %s (%d of %d tensors; new: %s)", cfg.init_from, len(theirs),
                len(mine), ", ".join(sorted(set(mine) - set(theirs))) or "none")


def _caption_concepts(
    run_dir: Path, pool: Pool, reader: Vocabulary, unet_cfg: UNetConfig, on_progress
) -> tuple[torch.Tensor, torch.Tensor]:
    """The concept ids and ranks of every caption of the pool (:func:`concept_ids`), read
    once (a minute or two) and kept in ``concepts.pt`` for the run's later calls."""
    path = run_dir / "concepts.pt"
    key = {"concepts": unet_cfg.concepts, "slots": unet_cfg.concept_slots,
           "captions": len(pool.captions)}
    state = load_state(path)
    if state is not None and state["key"] == key:
        return state["ids"], state["ranks"]
    reports = []
    batch = 2048
    for start in range(0, len(pool.captions), batch):
        if on_progress is not None:
            on_progress("reading captions", start, len(pool.captions))
        reports += reader.read_many(pool.captions[start:start + batch])
    if on_progress is not None:
        on_progress("reading captions", len(pool.captions), len(pool.captions))
    ids, ranks = concept_ids(reports, unet_cfg.concepts, unet_cfg.concept_slots)
    save_state(path, {"key": key, "ids": ids, "ranks": ranks})
    return ids, ranks


def training_vocabulary(source: str | None, captions: list[str]) -> dict[str, list[str]]:
    """What a model trained on this data knows, saved with it: the caption vocabulary of the
    synthesiser or the soundfont source by concept, or for a folder of captioned audio each
    word of its captions as its own concept."""
    if source == "soundfont":
        from audio_gen.captions import vocabulary

        return vocabulary()
    if source == "synth":
        from audio_gen.synth import vocabulary

        return vocabulary()
    words = sorted({w for c in captions for w in re.findall(r"[a-z][a-z'-]*", c.lower())})
    return {f"word:{w}": [w] for w in words}


def _train_step(
    cfg, unet, optimiser, tempo_optimiser, scheduler, pool, rng, generator, step, band_weights
) -> tuple[float, float | None]:
    """One optimiser step; returns the diffusion loss and the tempo head's loss."""
    index = torch.from_numpy(rng.integers(len(pool), size=cfg.batch_size))
    choice = torch.from_numpy(rng.integers(cfg.captions_per_clip, size=cfg.batch_size))
    drop = torch.from_numpy(rng.random(cfg.batch_size) < cfg.uncond_prob)
    x0, text, ids = pool.batch(index, choice, drop)  # (B, 1, M, F), ..., (B,)
    if pool.concepts is not None:
        text = unet.with_concepts(text, pool.concepts[0][ids], pool.concepts[1][ids])
    frame_rate = cfg.codec.sample_rate / cfg.codec.hop_length
    first_beat = pool.first_beat[index]
    if cfg.crop_frames < x0.shape[-1]:  # a window of each clip; its beats move with it
        start = rng.integers(x0.shape[-1] - cfg.crop_frames + 1, size=cfg.batch_size)
        x0 = torch.stack([clip[..., s:s + cfg.crop_frames]
                          for clip, s in zip(x0, start, strict=True)])
        first_beat = first_beat - torch.from_numpy(start).to(first_beat.dtype) / frame_rate
    noise = torch.randn(x0.shape, generator=generator)
    t = torch.randint(0, scheduler.num_train_timesteps, (cfg.batch_size,), generator=generator)
    noisy = scheduler.add_noise(x0, noise, t)
    target = scheduler.training_target(x0, noise, t)
    beat = None
    if cfg.unet.beat_clock:
        beat = beat_grid(pool.bpm[index], first_beat, x0.shape[-1], frame_rate)  # (B, 3, F)
    key = None
    if cfg.unet.key_grid:
        # rng.random() only with a key grid, so that models without one draw as they did.
        known = torch.from_numpy(rng.random(cfg.batch_size) >= cfg.key_drop)
        tonic = torch.where(known, pool.tonic[index], math.nan)
        key = KeyGrid.of(cfg.codec)(tonic, pool.minor[index])  # (B, 3, M)
    for group in optimiser.param_groups:
        group["lr"] = learning_rate(cfg, step)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
        prediction = unet(noisy, t, text.tokens, text.pooled, text.mask, beat, key)
    loss = ((prediction.float() - target).square() * band_weights).mean()
    tempo_loss = None
    if tempo_optimiser is not None:  # its own parameters: the sum trains each on its own loss
        tempo_loss = unet.tempo.loss(text.tokens, text.mask, pool.bpm[index])
        tempo_optimiser.zero_grad(set_to_none=True)
    optimiser.zero_grad(set_to_none=True)
    (loss if tempo_loss is None else loss + tempo_loss).backward()
    torch.nn.utils.clip_grad_norm_(optimiser.param_groups[0]["params"], cfg.grad_clip)
    optimiser.step()
    if tempo_optimiser is not None:
        tempo_optimiser.step()
    return float(loss.detach()), None if tempo_loss is None else float(tempo_loss.detach())
