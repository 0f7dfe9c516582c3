"""The settings of one batch pipeline run, read from a TOML or JSON file.

    [data]                    # where the raw inputs are (paths relative to the config file)
    playlists = "data/yes_small"
    songs = "catalogue.csv"   # optional, for plain playlist tables
    logs = "logs/"            # optional; without it logs are derived from training playlists
    on_error = "quarantine"   # or "fail"
    test = 0.1                # held-out playlists for the evaluation (seeded split)
    seed = 0
    [song2vec]                # recsys.song2vec.Song2VecConfig
    epochs = 30
    [profiles]                # recsys.profiles.ProfileConfig
    [batch]                   # the data-parallel steps
    partitions = 8            # user buckets of the logs / users per recommendation partition
    k = 50                    # recommendations per user
    [evaluate]
    max_positions = 5
    [report]
    famous = ["Bohemian Rhapsody", "Hotel California"]

Every table and key is optional; unknown keys are an error naming the file.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from foundation.paths import DEFAULT_DATA
from foundation.settings import Settings
from pipelines.training import MODEL_NAMES
from recsys.next_song import NextSongConfig
from recsys.profiles import ProfileConfig
from recsys.song2vec import Song2VecConfig


@dataclass
class DataSettings(Settings):
    """Raw inputs and how they are split and checked."""

    kind: ClassVar[str] = "pipeline [data]"

    playlists: str = str(DEFAULT_DATA)
    songs: str | None = None
    logs: str | None = None
    on_error: str = "fail"
    test: float = 0.1
    seed: int = 0
    min_playlists: int = 10

    def __post_init__(self) -> None:
        self._require({
            "on_error": self.on_error in ("fail", "quarantine"),
            "test": 0 < self.test < 1,
            "min_playlists": self.min_playlists >= 1,
        })


@dataclass
class BatchSettings(Settings):
    """The data-parallel steps: how work is partitioned, how many recommendations."""

    kind: ClassVar[str] = "pipeline [batch]"

    partitions: int = 8
    k: int = 50
    batch_size: int = 2048

    def __post_init__(self) -> None:
        self._require({"partitions": self.partitions >= 1, "k": 1 <= self.k <= 1000,
                       "batch_size": self.batch_size >= 1})


@dataclass
class EvaluateSettings(Settings):
    kind: ClassVar[str] = "pipeline [evaluate]"

    # Every model but the sequence models, which a run trains only when asked
    # ([next_song] sequence_minutes > 0).
    models: list[str] = field(default_factory=lambda: [
        n for n in MODEL_NAMES if n not in ("transformer", "sasrec")])
    max_positions: int | None = 5
    similar_songs: int | None = 1000  # songs judged by tags; None: all

    def __post_init__(self) -> None:
        unknown = sorted(set(self.models) - set(MODEL_NAMES))
        self._require({"models": bool(self.models) and not unknown})


@dataclass
class ReportSettings(Settings):
    kind: ClassVar[str] = "pipeline [report]"

    famous: list[str] = field(default_factory=lambda: [
        "Bohemian Rhapsody", "Hotel California", "Smells Like Teen Spirit", "Billie Jean",
        "Sweet Child O' Mine", "Yesterday", "Imagine", "Rolling In The Deep",
    ])
    top_tags: int = 8


@dataclass
class PipelineConfig:
    """Everything a run depends on; its dict form goes into the run manifest."""

    data: DataSettings = field(default_factory=DataSettings)
    # Seeded by default so that a rerun reproduces the same artifacts bit for bit.
    song2vec: Song2VecConfig = field(default_factory=lambda: Song2VecConfig(seed=0, workers=1))
    next_song: NextSongConfig = field(default_factory=NextSongConfig)
    profiles: ProfileConfig = field(default_factory=ProfileConfig)
    batch: BatchSettings = field(default_factory=BatchSettings)
    evaluate: EvaluateSettings = field(default_factory=EvaluateSettings)
    report: ReportSettings = field(default_factory=ReportSettings)

    SECTIONS: ClassVar[dict[str, type]] = {
        "data": DataSettings, "song2vec": Song2VecConfig, "next_song": NextSongConfig,
        "profiles": ProfileConfig,
        "batch": BatchSettings, "evaluate": EvaluateSettings, "report": ReportSettings,
    }

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name).to_dict() for name in self.SECTIONS}

    @classmethod
    def from_dict(cls, values: dict[str, Any], source: str = "config",
                  base: Path | None = None) -> PipelineConfig:
        """Build from nested tables; relative data paths are resolved against `base`."""
        unknown = sorted(set(values) - set(cls.SECTIONS))
        if unknown:
            raise ValueError(f"{source}: unknown table(s) {unknown}; expected some of "
                             f"{sorted(cls.SECTIONS)}")
        sections: dict[str, Any] = {}
        for name, kind in cls.SECTIONS.items():
            table = dict(values.get(name, {}))
            if name == "song2vec":
                table.setdefault("seed", 0)
                if table["seed"] is not None:
                    table.setdefault("workers", 1)
            if name == "data" and base is not None:
                for key in ("playlists", "songs", "logs"):
                    if table.get(key):
                        table[key] = str((base / table[key]).absolute())
            sections[name] = kind.from_dict(table, source)
        return cls(**sections)


def load_config(path: Path | None) -> PipelineConfig:
    """The run's settings from a TOML (or ``.json``) file; the defaults without one.

    Raises
    ------
    ValueError
        If the file cannot be read or parsed, or holds an unknown or invalid setting.
    """
    if path is None:
        return PipelineConfig()
    try:
        text = path.read_text()
        values = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: cannot read the pipeline config: {error}") from None
    try:
        return PipelineConfig.from_dict(values, str(path), base=path.parent)
    except TypeError as error:
        raise ValueError(f"{path}: {error}") from None
