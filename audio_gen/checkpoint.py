"""Model folders and training state on disk (the only file handling of the model side).

A model folder holds ``model_index.json`` (the configs of every piece, so the model can be
rebuilt from the folder alone, plus training facts), ``unet.pt`` (the denoiser's weights,
float16 by default to keep the shipped checkpoint small) and, for a model with a vocabulary,
``vocabulary.pt`` (its phrases' text-encoder vectors, so that checking a prompt does not
encode the whole vocabulary again in every process). It is published atomically with
:func:`foundation.publishing.publishing`. Training state for resuming (weights, EMA
weights, optimiser, step, random states) is one file written to a temporary name and renamed
into place.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from audio_gen.codec import CodecConfig
from audio_gen.schedulers import SCHEDULERS, NoiseSchedule
from audio_gen.unet import UNet, UNetConfig
from foundation.publishing import publishing, sha256_file

logger = logging.getLogger(__name__)

INDEX = "model_index.json"
WEIGHTS = "unet.pt"
PHRASE_VECTORS = "vocabulary.pt"
STATE = "training_state.pt"
FORMAT = 1


@dataclass
class ModelBundle:
    """Everything needed to build a pipeline, as read from a model folder."""

    unet: UNet
    codec: CodecConfig
    scheduler: dict[str, Any]
    text_encoder: str
    text_max_length: int
    meta: dict[str, Any] = field(default_factory=dict)
    # {"phrases": [...], "vectors": (P, D) float32}: the vocabulary's phrases as embedded by
    # the model's own text encoder, or None.
    phrase_vectors: dict[str, Any] | None = None

    def make_scheduler(self, kind: str | None = None) -> NoiseSchedule:
        """The scheduler saved with the model, or another kind on the same schedule."""
        values = dict(self.scheduler)
        kind = kind or values.pop("kind", "ddim")
        values.pop("kind", None)
        if kind not in SCHEDULERS:
            raise ValueError(f"unknown scheduler {kind!r}; choose from {', '.join(SCHEDULERS)}")
        return SCHEDULERS[kind].from_config(values)


class CheckpointError(ValueError):
    """A model folder is missing, incomplete or from an incompatible version."""


def save_model(
    folder: str | Path,
    unet: UNet,
    codec: CodecConfig,
    scheduler: NoiseSchedule,
    text_encoder: str,
    text_max_length: int,
    meta: dict[str, Any] | None = None,
    half: bool = True,
    phrase_vectors: dict[str, Any] | None = None,
) -> Path:
    """Publish a model folder atomically.

    Parameters
    ----------
    folder : str or Path
        Target folder (replaced in one rename when it exists).
    unet : UNet
        The denoiser (EMA weights, normally).
    codec : CodecConfig
        The spectrogram settings it was trained on.
    scheduler : NoiseSchedule
        Its config (schedule, prediction type) is saved; the kind saved is DDIM for sampling.
    text_encoder : str
        The text encoder spec (``"default"``, ``"hashing-N"`` or a folder path).
    text_max_length : int
        Token limit used in training.
    meta : dict, optional
        Training facts (steps, loss, time, data) recorded in the index.
    half : bool
        Store weights as float16 (half the size; they are cast back to float32 on load).
    phrase_vectors : dict, optional
        ``{"phrases": [...], "vectors": tensor}``: the vocabulary's phrases embedded by
        ``text_encoder`` (see :class:`audio_gen.understanding.Vocabulary`), kept in float32
        so that a prompt check gives the same similarities as encoding them afresh.

    Returns
    -------
    Path
        The published folder.
    """
    state = {k: (v.half() if half and v.is_floating_point() else v).contiguous()
             for k, v in unet.state_dict().items()}
    index = {
        "format": FORMAT,
        "unet": unet.cfg.to_dict(),
        "codec": codec.to_dict(),
        "scheduler": {"kind": "ddim", **scheduler.config()},
        "text_encoder": {"spec": text_encoder, "dim": unet.cfg.text_dim,
                         "max_length": text_max_length},
        "parameters": unet.num_parameters,
        "meta": meta or {},
    }
    with publishing(folder) as staging:
        torch.save(state, staging / WEIGHTS)
        index["sha256"] = {WEIGHTS: sha256_file(staging / WEIGHTS)}
        if phrase_vectors is not None:
            torch.save({"phrases": list(phrase_vectors["phrases"]),
                        "vectors": phrase_vectors["vectors"].float().contiguous()},
                       staging / PHRASE_VECTORS)
            index["sha256"][PHRASE_VECTORS] = sha256_file(staging / PHRASE_VECTORS)
        (staging / INDEX).write_text(json.dumps(index, indent=2) + "\n")
    logger.info("saved model to %s", folder)
    return Path(folder)


def model_index(folder: str | Path) -> Path:
    """The index file of a model folder; CheckpointError when the folder holds none."""
    index_path = Path(folder) / INDEX
    if not index_path.is_file():
        raise CheckpointError(f"{folder}: not a songspace audio model (no {INDEX})")
    return index_path


def load_model(folder: str | Path, verify: bool = True) -> ModelBundle:
    """Read a model folder written by :func:`save_model`.

    Raises
    ------
    CheckpointError
        When the folder or a file is missing, the format is unknown or a checksum differs.
    """
    folder = Path(folder)
    index_path = model_index(folder)
    try:
        index = json.loads(index_path.read_text())
    except ValueError as error:
        raise CheckpointError(f"{index_path}: not valid JSON: {error}") from None
    if index.get("format") != FORMAT:
        raise CheckpointError(f"{folder}: model format {index.get('format')} is not {FORMAT}")
    weights = _checked_file(folder, index, WEIGHTS, verify)
    # A model saved before the beat clock existed has no such key, and no clock.
    unet = UNet(UNetConfig.from_dict({"beat_clock": False, **index["unet"]}))
    state = torch.load(weights, map_location="cpu", weights_only=True)
    unet.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    text = index["text_encoder"]
    return ModelBundle(
        unet=unet.eval(), codec=CodecConfig.from_dict(index["codec"]),
        scheduler=index["scheduler"], text_encoder=text["spec"],
        text_max_length=int(text["max_length"]), meta=index.get("meta", {}),
        phrase_vectors=_phrase_vectors(folder, index, verify),
    )


def _checked_file(folder: Path, index: dict, name: str, verify: bool) -> Path:
    """The folder's file `name`: it must exist, and (with `verify`) match the checksum the
    index records for it, when it records one."""
    path = folder / name
    if not path.is_file():
        raise CheckpointError(f"{folder}: missing {name}")
    expected = index.get("sha256", {}).get(name)
    if verify and expected and sha256_file(path) != expected:
        raise CheckpointError(f"{path}: checksum differs from {INDEX}; the file is damaged")
    return path


def _phrase_vectors(folder: Path, index: dict, verify: bool) -> dict[str, Any] | None:
    """The stored vocabulary vectors, or None when the index lists none (models saved before
    they were stored: the pipeline then encodes the vocabulary on first use)."""
    if PHRASE_VECTORS not in index.get("sha256", {}):
        return None
    path = _checked_file(folder, index, PHRASE_VECTORS, verify)
    return torch.load(path, map_location="cpu", weights_only=True)


def save_state(path: str | Path, state: dict[str, Any]) -> Path:
    """Write training state atomically: a temporary file beside it, then one rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(state, temp)
    with open(temp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, path)
    return path


def load_state(path: str | Path) -> dict[str, Any] | None:
    """Training state written by :func:`save_state`, or None when there is none yet."""
    path = Path(path)
    if not path.is_file():
        return None
    return torch.load(path, map_location="cpu", weights_only=True)
