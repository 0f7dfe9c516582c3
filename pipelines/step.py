"""What a pipeline step is: a name, the steps and raw files it reads, the part of the config it
depends on, and a function that writes its outputs into a folder.

A step's fingerprint is the sha256 of its name and version, its config part, the contents of
its raw input files and the fingerprints of the steps it reads. It is known before anything
runs, so the whole plan has one hash (which names the run folder), and a step whose
fingerprint has a finished record is skipped: that is the cache, and what makes a rerun after
a crash resume where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from foundation.publishing import sha256_file

if TYPE_CHECKING:
    from pipelines.engines import Engine
    from pipelines.pipeline_config import PipelineConfig


class BadInput(ValueError):
    """The run's inputs or config are unusable (exit code 2), as opposed to a step failing."""


@dataclass
class StepContext:
    """What a running step sees.

    out : the (staging) folder the step writes its outputs into.
    run_dir : the run folder; ``input(name)`` is the finished output folder of an earlier step.
    on_stage : told what the step is doing now (for the progress display).
    on_progress : told ``(done, total, unit)`` as the current stage's counted work goes
        (epochs, cases...), for a bar with rate and ETA.
    """

    out: Path
    run_dir: Path
    config: PipelineConfig
    engine: Engine
    on_stage: Callable[[str], None] = lambda _: None
    on_progress: Callable[[int, int, str], None] = lambda *_: None
    records: dict[str, dict] = field(default_factory=dict)

    def input(self, step: str) -> Path:
        return self.run_dir / step


@dataclass(frozen=True)
class Step:
    """One step of the pipeline.

    name : also the name of its output folder inside the run folder.
    needs : the earlier steps whose outputs it reads.
    settings : the part of the config its outputs depend on.
    files : its raw input files or folders (fingerprinted by content).
    run : writes the outputs into ``ctx.out`` and returns the step's metrics (JSON-able).
    version : bump when the step's code changes what it writes, to invalidate old caches.
    """

    name: str
    needs: tuple[str, ...]
    settings: Callable[[PipelineConfig], dict]
    run: Callable[[StepContext], dict]
    files: Callable[[PipelineConfig], list[Path]] = lambda _: []
    version: int = 1


def hash_json(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def fingerprint_path(path: Path) -> dict[str, str]:
    """sha256 of a file, or of every file under a folder (hidden ones skipped), by name."""
    if not path.exists():
        raise BadInput(f"{path}: no such file or folder")
    if path.is_file():
        return {path.name: sha256_file(path)}
    found = {}
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith("."):
                file = Path(root) / name
                found[str(file.relative_to(path))] = sha256_file(file)
    return found


def plan(steps: list[Step], config: PipelineConfig) -> dict[str, dict]:
    """Each step's fingerprint and what it was made of, in order.

    Returns
    -------
    dict
        ``{step: {"fingerprint", "settings", "files": {path: {name: sha256}}, "needs"}}``.
    """
    out: dict[str, dict] = {}
    for step in steps:
        missing = [n for n in step.needs if n not in out]
        if missing:
            raise ValueError(f"step {step.name!r} needs {missing}, which come later or not at all")
        files = {str(p): fingerprint_path(p) for p in step.files(config)}
        settings = step.settings(config)
        needs = {n: out[n]["fingerprint"] for n in step.needs}
        fingerprint = hash_json({"step": step.name, "version": step.version,
                                 "settings": settings, "files": files, "needs": needs})
        out[step.name] = {"fingerprint": fingerprint, "settings": settings, "files": files,
                          "needs": needs}
    return out
