"""A small causal transformer that reads a playlist the way a language model reads words and
predicts the next song, behind the shared `Recommender` interface.

Two presets share this code:
- "transformer" (the seed's sequence model): song embeddings start from a trained song2vec's
  input vectors and the output layer from its output vectors, so step zero already scores like
  song2vec's last-song in·out and the few minutes of CPU training refine a good model instead of
  learning the catalogue from scratch;
- "sasrec" (Kang & McAuley 2018): the same architecture with random embeddings (trained with the
  full softmax cross-entropy, which beats the paper's sampled binary loss on small catalogues).

Training is time-boxed (`max_minutes`) and seeded; weights save to and load from a folder.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal, Self

import numpy as np

from recsys.base import Context, Recommender

logger = logging.getLogger(__name__)

Init = Literal["song2vec", "random"]


@dataclass
class SequenceConfig:
    """Settings of the causal transformer.

    dim : model width; with init="song2vec" the song vectors are projected to it when it
        differs from their size (0 = use the song2vec size).
    layers, heads : transformer blocks and attention heads.
    max_len : the most recent songs the model reads.
    dropout : on embeddings and inside blocks.
    epochs : full passes at most; `max_minutes` stops earlier.
    batch_size, lr, weight_decay : AdamW training.
    label_smoothing : of the cross-entropy over the whole catalogue.
    threads : torch intra-op threads.
    init : "song2vec" (needs vectors) or "random".
    seed : of the initial weights and the batch order.
    """

    dim: int = 0
    layers: int = 2
    heads: int = 4
    max_len: int = 50
    dropout: float = 0.2
    epochs: int = 20
    max_minutes: float = 8.0
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    label_smoothing: float = 0.0
    threads: int = 2
    init: Init = "song2vec"
    seed: int = 0


def _build_network(n_items: int, dim: int, cfg: SequenceConfig):
    import torch
    from torch import nn

    class CausalSongLM(nn.Module):
        """Pre-LN transformer encoder with a causal mask; item n_items is padding."""

        def __init__(self) -> None:
            super().__init__()
            self.items = nn.Embedding(n_items + 1, dim, padding_idx=n_items)
            self.positions = nn.Embedding(cfg.max_len, dim)
            nn.init.normal_(self.positions.weight, std=0.02)
            layer = nn.TransformerEncoderLayer(
                dim, cfg.heads, dim_feedforward=2 * dim, dropout=cfg.dropout,
                batch_first=True, norm_first=True, activation="gelu",
            )
            self.blocks = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
            self.norm = nn.LayerNorm(dim)
            self.drop = nn.Dropout(cfg.dropout)
            self.out = nn.Parameter(torch.randn(n_items, dim) * 0.02)
            self.bias = nn.Parameter(torch.zeros(n_items))

        def hidden(self, seq: torch.Tensor) -> torch.Tensor:
            """seq: (B, L) right-aligned item ids, padding = n_items. Returns (B, L, dim)."""
            length = seq.shape[1]
            pad = seq == n_items
            # Positions count from the first real song (padding sits on the left), so a
            # truncated context at inference reads like a training window.
            start = pad.sum(dim=1, keepdim=True)
            pos = (torch.arange(length, device=seq.device)[None] - start).clamp(min=0)
            x = self.drop(self.items(seq) + self.positions(pos))
            causal = torch.triu(torch.ones(length, length, dtype=torch.bool), diagonal=1)
            # A fully padded prefix row would attend to nothing (NaN): let padding see itself.
            x = self.blocks(x, mask=causal, src_key_padding_mask=pad & ~_diag_safe(pad))
            return self.norm(x)

        def logits(self, h: torch.Tensor) -> torch.Tensor:
            return h @ self.out.T + self.bias

    def _diag_safe(pad: torch.Tensor) -> torch.Tensor:
        # Keep the first column unmasked so that every query has one key to attend to;
        # outputs at padded positions are never used.
        safe = torch.zeros_like(pad)
        safe[:, 0] = True
        return safe

    return CausalSongLM()


class SequenceModel(Recommender):
    """Causal transformer next-song model.

    vectors: optional (input, output) song2vec vectors (n_items, d) each, used when
    config.init == "song2vec"; pass `Song2Vec.input_vectors, Song2Vec.output_vectors`.
    """

    name = "transformer"

    def __init__(
        self,
        config: SequenceConfig | None = None,
        vectors: tuple[np.ndarray, np.ndarray] | None = None,
        name: str | None = None,
    ) -> None:
        self.config = config or SequenceConfig()
        self.vectors = vectors
        if name is not None:
            self.name = name
        self.net = None
        self.history: list[dict] = []

    @property
    def dim(self) -> int:
        if self.config.dim:
            return self.config.dim
        if self.vectors is not None:
            return int(self.vectors[0].shape[1])
        return 64

    # -- training ---------------------------------------------------------------------------
    def _init_from_vectors(self, known: np.ndarray) -> None:
        import torch

        inputs, outputs = self.vectors
        dim = self.dim
        if inputs.shape[1] != dim:
            # A fixed random projection keeps inner products roughly (Johnson-Lindenstrauss).
            rng = np.random.default_rng(self.config.seed)
            proj = rng.normal(size=(inputs.shape[1], dim)) / math.sqrt(dim)
            inputs, outputs = inputs @ proj, outputs @ proj * (dim / inputs.shape[1])
        # Scale input vectors to the embedding's usual size; put the scale on the outputs so
        # that input . output (song2vec's score) is unchanged at step zero.
        scale = float(np.sqrt((inputs[known] ** 2).mean())) or 1.0
        with torch.no_grad():
            self.net.items.weight[:-1] = torch.as_tensor(inputs / scale, dtype=torch.float32)
            self.net.out.copy_(torch.as_tensor(outputs * scale, dtype=torch.float32))

    def fit(self, sentences: Sequence[np.ndarray], n_items: int) -> Self:
        import torch

        cfg = self.config
        torch.manual_seed(cfg.seed)
        torch.set_num_threads(cfg.threads)
        self.n_items = n_items
        cleaned = [s[s >= 0] for s in sentences]
        cleaned = [s for s in cleaned if len(s) >= 2]
        counts = np.bincount(np.concatenate(cleaned) if cleaned else np.zeros(0, int),
                             minlength=n_items)
        self.known = counts > 0
        self.net = _build_network(n_items, self.dim, cfg)
        if cfg.init == "song2vec":
            if self.vectors is None:
                raise ValueError("init='song2vec' needs the song2vec vectors")
            self._init_from_vectors(self.known)
        windows = _training_windows(cleaned, cfg.max_len, n_items)
        optimiser = torch.optim.AdamW(self.net.parameters(), lr=cfg.lr,
                                      weight_decay=cfg.weight_decay)
        steps = max(1, cfg.epochs * math.ceil(len(windows) / cfg.batch_size))
        rng = np.random.default_rng(cfg.seed)
        unknown = torch.as_tensor(~self.known)
        started = time.perf_counter()
        budget = max(cfg.max_minutes * 60, 1e-9)
        step = 0
        progress = 0.0
        self.net.train()
        for epoch in range(cfg.epochs):
            order = rng.permutation(len(windows))
            total, tokens = 0.0, 0
            for first in range(0, len(order), cfg.batch_size):
                # Whichever budget binds (steps or minutes) sets the progress, so warm-up and
                # cosine decay complete inside the time box too.
                progress = max(step / steps, (time.perf_counter() - started) / budget)
                if progress >= 1:
                    break
                for group in optimiser.param_groups:
                    group["lr"] = _learning_rate(cfg.lr, progress)
                batch = torch.as_tensor(windows[order[first:first + cfg.batch_size]])
                inputs, targets = batch[:, :-1], batch[:, 1:]
                keep = (targets != n_items) & (inputs != n_items)
                hidden = self.net.hidden(inputs)[keep]
                logits = self.net.logits(hidden).masked_fill(unknown, float("-inf"))
                loss = torch.nn.functional.cross_entropy(
                    logits, targets[keep], label_smoothing=cfg.label_smoothing
                )
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
                optimiser.step()
                step += 1
                total += float(loss.detach()) * int(keep.sum())
                tokens += int(keep.sum())
            if tokens == 0:
                break
            self.history.append({"epoch": epoch + 1, "loss": total / max(tokens, 1),
                                 "seconds": round(time.perf_counter() - started, 1)})
            logger.info("%s epoch %d loss %.4f", self.name, epoch + 1, total / max(tokens, 1))
            if progress >= 1:
                break
        self.net.eval()
        return self

    # -- scoring ----------------------------------------------------------------------------
    def score(self, contexts: Sequence[Context]) -> np.ndarray:
        import torch

        torch.set_num_threads(self.config.threads)
        length = max(1, min(self.config.max_len, max((len(c) for c in contexts), default=1)))
        seq = np.full((len(contexts), length), self.n_items, np.int64)
        for row, c in enumerate(contexts):
            c = np.asarray(c, np.int64)[-length:]
            if len(c):
                seq[row, length - len(c):] = c  # right-aligned: the last column is the last song
        empty = np.array([len(c) == 0 for c in contexts])
        with torch.inference_mode():
            hidden = self.net.hidden(torch.as_tensor(seq))[:, -1]
            scores = self.net.logits(hidden).numpy().astype(np.float32, copy=False)
        scores = np.array(scores)
        scores[:, ~self.known] = -np.inf
        scores[empty] = np.where(self.known, 0.0, -np.inf)
        return scores

    # -- persistence ------------------------------------------------------------------------
    def save(self, folder: str | Path) -> list[str]:
        import torch

        folder = Path(folder)
        stem = self.name
        torch.save(self.net.state_dict(), folder / f"{stem}.pt")
        np.save(folder / f"{stem}_known.npy", self.known)
        meta = {"config": asdict(self.config), "dim": self.dim, "n_items": self.n_items,
                "history": self.history}
        (folder / f"{stem}.json").write_text(json.dumps(meta, indent=2) + "\n")
        return [f"{stem}.pt", f"{stem}_known.npy", f"{stem}.json"]

    @classmethod
    def load(cls, folder: str | Path, name: str = "transformer") -> SequenceModel:
        import torch

        folder = Path(folder)
        meta = json.loads((folder / f"{name}.json").read_text())
        config = SequenceConfig(**{**meta["config"], "dim": meta["dim"]})
        model = cls(config, name=name)
        model.n_items = meta["n_items"]
        model.history = meta["history"]
        model.known = np.load(folder / f"{name}_known.npy")
        model.net = _build_network(model.n_items, meta["dim"], config)
        model.net.load_state_dict(torch.load(folder / f"{name}.pt", weights_only=True))
        model.net.eval()
        return model


def _learning_rate(peak: float, progress: float, warmup: float = 0.05) -> float:
    """Linear warm-up to `peak`, then cosine decay to zero at progress 1."""
    if progress < warmup:
        return peak * (progress + 1e-3) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup)))


def _training_windows(sentences: Sequence[np.ndarray], max_len: int, pad: int) -> np.ndarray:
    """Playlists cut into right-aligned windows of max_len + 1 songs (inputs and their next
    songs); long playlists give several windows that overlap by nothing but context."""
    rows: list[np.ndarray] = []
    width = max_len + 1
    for s in sentences:
        # Windows end at len(s), len(s) - max_len, ...: each target is predicted once.
        end = len(s)
        while end >= 2:
            start = max(0, end - width)
            row = np.full(width, pad, np.int64)
            row[width - (end - start):] = s[start:end]
            rows.append(row)
            end -= max_len
    return np.stack(rows) if rows else np.zeros((0, width), np.int64)
