"""Sentence vectors computed once and shipped: a table of text -> embedding for one text
encoder at one `max_length`, so that training on the embedded data does not encode its
catalogue again (all-MiniLM-L6-v2 takes about 45 s for the 3,400 sentences of `yes_small` on
two cores: most of `songspace demo`).

One file per encoder and length, ``<encoder>-<max_length>.npz``, holding the texts, their
vectors (float16, as a model artifact stores them) and the sentence version they were made
with; `data/make_text_vectors.py` writes the shipped one. A text the table lacks is encoded as
usual, so a table can never give a wrong vector, only save time.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from foundation.paths import DEFAULT_DATA

SHIPPED = DEFAULT_DATA.parent / "text_vectors"

logger = logging.getLogger(__name__)


def table_path(folder: Path, encoder: str, max_length: int) -> Path | None:
    """The table file in `folder` for an encoder named by a name ("default", "hashing-64");
    None for one named by a folder path, whose tables are never shipped."""
    if not re.fullmatch(r"[\w.-]+", encoder):
        return None
    return folder / f"{encoder}-{max_length}.npz"


def save_table(path: Path, texts: Sequence[str], vectors: np.ndarray, sentence_version: int
               ) -> None:
    """Write a table (the caller publishes `path`'s folder atomically)."""
    if len(texts) != len(vectors):
        raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
    np.savez_compressed(path, texts=np.asarray(list(texts), dtype=str),
                        vectors=np.asarray(vectors, dtype=np.float16),
                        sentence_version=np.int64(sentence_version))


def load_table(folder: Path, encoder: str, max_length: int, sentence_version: int
               ) -> dict[str, np.ndarray]:
    """text -> vector from `folder`'s table for this encoder and length; {} when there is none
    or it was made from another version of the sentences (or cannot be read: it only saves
    time)."""
    path = table_path(folder, encoder, max_length)
    if path is None or not path.is_file():
        return {}
    try:
        with np.load(path, allow_pickle=False) as table:
            if int(table["sentence_version"]) != sentence_version:
                logger.info("%s: made from sentence version %d, not %d; not used", path,
                            int(table["sentence_version"]), sentence_version)
                return {}
            texts, vectors = table["texts"].tolist(), table["vectors"].astype(np.float32)
    except (OSError, KeyError, ValueError) as error:
        logger.warning("%s: unreadable sentence vectors (%s); encoding instead", path, error)
        return {}
    return dict(zip(texts, vectors, strict=True))
