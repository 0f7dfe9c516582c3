"""Runs the pipeline's steps in order with the cache, then publishes the run.

For each step, in order:

1. its record in this run folder has the planned fingerprint -> skipped ("cached");
2. another run of the same DIR finished it with that fingerprint -> its outputs are
   hard-linked into this run ("reused"; artifacts are never modified once written);
3. otherwise it runs: its outputs go to a hidden staging folder that is renamed into place
   when the step returns, then its record is written. A step killed half-way leaves only a
   staging folder, removed on the next attempt.

Only when every step has a record is the run marked complete and ``current`` moved to it
(`pipelines.run_manifest.publish`).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from foundation.publishing import write_json
from pipelines.engines import Engine, make_engine
from pipelines.pipeline_config import PipelineConfig
from pipelines.run_manifest import (
    find_record,
    now,
    publish,
    read_manifest,
    read_record,
    run_folder,
    versions,
)
from pipelines.schemas import DataError
from pipelines.step import BadInput, Step, StepContext, hash_json, plan

logger = logging.getLogger(__name__)

# Told (step, status, detail): status is "running", "cached", "reused", "done", "failed",
# or "published" (step "publish").
Listener = Callable[[str, str, str], None]
# Told (step, done, total, unit) as the running step's current stage counts its work.
ProgressListener = Callable[[str, int, int, str], None]


class StepFailed(RuntimeError):
    """A step raised; `code` is 2 for bad input, 3 for anything else."""

    def __init__(self, step: str, log: Path, error: BaseException, code: int) -> None:
        self.step, self.log, self.error, self.code = step, log, error, code
        super().__init__(f"step {step!r} failed: {error} (log: {log})")


@dataclass
class RunResult:
    run: Path
    manifest: dict


class _LazyEngine:
    """Starts the real engine (a Ray instance, say) only when a step first needs it."""

    def __init__(self, name: str, address: str | None) -> None:
        self.name, self.address = name, address
        self._engine: Engine | None = None

    def map(self, fn, items, /, **shared) -> list[Any]:
        if self._engine is None:
            self._engine = make_engine(self.name, self.address)
        return self._engine.map(fn, items, **shared)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


def _link_copy(source: Path, target: Path) -> None:
    shutil.copytree(source, target, copy_function=os.link)


def _clean_staging(run: Path) -> None:
    for leftover in run.glob(".*.tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def _run_step(step: Step, run: Path, ctx: StepContext, log: Path) -> tuple[dict, float]:
    """Run one step into a staging folder and rename it into place; returns its metrics."""
    staging = run / f".{step.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    ctx.out = staging
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    started = time.perf_counter()
    try:
        metrics = step.run(ctx)
        seconds = time.perf_counter() - started
        final = run / step.name
        if final.exists():  # outputs of an attempt whose record was never written
            shutil.rmtree(final)
        staging.rename(final)
        return metrics, seconds
    except BaseException:
        with open(log, "a") as handle:
            handle.write(traceback.format_exc())
        raise
    finally:
        root.removeHandler(handler)
        handler.close()
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def run_pipeline(
    config: PipelineConfig,
    out: str | Path,
    *,
    engine: str = "local",
    ray_address: str | None = None,
    steps: list[Step] | None = None,
    on_event: Listener | None = None,
    on_progress: ProgressListener | None = None,
) -> RunResult:
    """Run (or resume) the pipeline into ``out/runs/<time>-<hash>`` and publish it.

    Parameters
    ----------
    config : PipelineConfig
    out : str or Path
        The pipeline folder: ``runs/`` and the ``current`` pointer.
    engine : {"local", "ray"}
        Where the data-parallel steps run.
    ray_address : str, optional
        A Ray cluster to join (only with ``engine="ray"``).
    steps : list of Step, optional
        The steps to run (`pipelines.steps.STEPS` by default).
    on_event : callable, optional
        Told ``(step, status, detail)`` as the run goes (for a progress display).
    on_progress : callable, optional
        Told ``(step, done, total, unit)`` as the running step counts its work (epochs of
        training, cases of evaluation), for a bar with rate and ETA.

    Returns
    -------
    RunResult
        The run folder and its manifest.

    Raises
    ------
    BadInput
        If the config or the raw inputs are unusable before any step runs.
    StepFailed
        If a step raised; the run is marked failed and ``current`` is left alone.
    """
    if steps is None:
        from pipelines.steps import STEPS

        steps = STEPS
    if engine not in ("local", "ray"):
        raise BadInput(f"unknown engine {engine!r}; expected 'local' or 'ray'")
    if ray_address and engine != "ray":
        raise BadInput("--ray-address only goes with --engine ray")
    tell = on_event or (lambda *_: None)
    count = on_progress or (lambda *_: None)
    out = Path(out).absolute()
    planned = plan(steps, config)
    plan_hash = hash_json({n: p["fingerprint"] for n, p in planned.items()})[:10]
    run = run_folder(out, plan_hash)
    (run / "logs").mkdir(parents=True, exist_ok=True)
    _clean_staging(run)
    manifest = read_manifest(run) or {"run": run.name, "plan": plan_hash, "created": now(),
                                      "attempts": 0}
    manifest.update(
        status="running", pid=os.getpid(), updated=now(), attempts=manifest["attempts"] + 1,
        engine=engine,
        ray_address=ray_address, config=config.to_dict(), packages=versions(),
        inputs={path: files for p in planned.values() for path, files in p["files"].items()},
        steps={})
    manifest_path = run / "run.json"
    write_json(manifest_path, manifest)
    runner = _LazyEngine(engine, ray_address)
    records: dict[str, dict] = {}
    try:
        for step in steps:
            fingerprint = planned[step.name]["fingerprint"]
            record = read_record(run, step.name)
            if record and record["fingerprint"] == fingerprint:
                record["status"] = "cached"
            elif (source := find_record(out, step.name, fingerprint, exclude=run)) is not None:
                staging = run / f".{step.name}.tmp-{uuid.uuid4().hex[:8]}"
                _link_copy(source / step.name, staging)
                if (run / step.name).exists():
                    shutil.rmtree(run / step.name)
                staging.rename(run / step.name)
                record = {**read_record(source, step.name), "status": "reused",
                          "reused_from": source.name}
                write_json(run / "steps" / f"{step.name}.json", record)
            else:
                tell(step.name, "running", "")
                log = run / "logs" / f"{step.name}.log"
                ctx = StepContext(out=run, run_dir=run, config=config, engine=runner,
                                  on_stage=lambda detail, n=step.name: tell(n, "running", detail),
                                  on_progress=lambda done, total, unit, n=step.name: count(
                                      n, done, total, unit),
                                  records=dict(records))
                started = now()
                try:
                    metrics, seconds = _run_step(step, run, ctx, log)
                except Exception as error:
                    code = 2 if isinstance(error, BadInput | DataError) else 3
                    manifest["steps"][step.name] = {"fingerprint": fingerprint,
                                                    "status": "failed", "error": str(error),
                                                    "log": str(log)}
                    manifest.update(status="failed", updated=now())
                    write_json(manifest_path, manifest)
                    tell(step.name, "failed", str(error))
                    raise StepFailed(step.name, log, error, code) from error
                record = {"step": step.name, "fingerprint": fingerprint, "status": "done",
                          "engine": engine, "started": started, "finished": now(),
                          "seconds": round(seconds, 3), "metrics": metrics,
                          "settings": planned[step.name]["settings"]}
                write_json(run / "steps" / f"{step.name}.json", record)
            records[step.name] = record
            manifest["steps"][step.name] = record
            manifest["updated"] = now()
            write_json(manifest_path, manifest)
            tell(step.name, record["status"], f"{record.get('seconds', 0.0):.1f}s")
    finally:
        runner.close()
    manifest.update(status="complete", updated=now(),
                    metrics={name: record.get("metrics", {}) for name, record in records.items()})
    write_json(manifest_path, manifest)
    publish(out, run)
    tell("publish", "published", str(run))
    return RunResult(run, manifest)
