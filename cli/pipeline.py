"""Commands for the batch pipeline: ``pipeline run`` and ``pipeline status``.

Exit codes of ``pipeline run``: 0 published, 2 bad input (config, raw files, validation),
3 a step failed (the step and its log are named).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import TextColumn
from rich.table import Table

from cli.common import JsonOption, app, fail
from foundation.progress import console, progress_bar
from pipelines.pipeline_config import load_config
from pipelines.run_manifest import current_run, read_manifest, runs_of
from pipelines.runner import StepFailed, run_pipeline
from pipelines.step import BadInput
from pipelines.steps import STEPS

pipeline_app = typer.Typer(help="Batch pipeline: raw files to published artifacts and a report.",
                           no_args_is_help=True)
app.add_typer(pipeline_app, name="pipeline")

OutOption = Annotated[Path, typer.Option(
    help="Pipeline folder: holds runs/ and the `current` pointer.")]
_STYLE = {"done": "green", "cached": "cyan", "reused": "cyan", "failed": "red",
          "running": "yellow"}


def _value(value) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.4f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _metrics_note(metrics: dict) -> str:
    """The first three plain values of a step's metrics."""
    plain = [(k, v) for k, v in metrics.items() if not isinstance(v, dict | list)]
    return ", ".join(f"{k}={_value(v)}" for k, v in plain[:3])


def _summary(manifest: dict) -> Table:
    table = Table(title=f"run {manifest['run']} ({manifest['status']})")
    for column, justify in (("step", "left"), ("status", "left"), ("seconds", "right"),
                            ("notes", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for name, record in manifest.get("steps", {}).items():
        status = record["status"]
        note = record.get("error") or _metrics_note(record.get("metrics", {}))
        if record.get("reused_from"):
            note = f"from {record['reused_from']}; {note}"
        seconds = record.get("seconds")
        table.add_row(name, f"[{_STYLE.get(status, 'white')}]{status}[/]",
                      "" if seconds is None else f"{seconds:.1f}", escape(note))
    return table


@pipeline_app.command("run")
def run(
    out: OutOption,
    config: Annotated[Path | None, typer.Option(
        help="TOML or JSON pipeline settings (see pipelines/pipeline_config.py); without it, "
             "the embedded data with the default settings.")] = None,
    engine: Annotated[str, typer.Option(
        help="local: polars in this process; ray: data-parallel steps as Ray Data jobs.")
    ] = "local",
    ray_address: Annotated[str | None, typer.Option(
        help="Join this Ray cluster (default: start a local Ray instance).")] = None,
    json_output: JsonOption = False,
) -> None:
    """Run every step (skipping those whose inputs are unchanged) and publish the run."""
    try:
        settings = load_config(config)
    except ValueError as error:
        raise fail(str(error)) from None
    # A row per step: its status and stage, and a bar with rate and ETA while a stage counts
    # its work (the train step's epochs, the evaluate step's cases); plain lines off a terminal.
    progress = progress_bar(TextColumn("{task.fields[status]}"), spinner=True)
    width = max(len(name) for name in [*(s.name for s in STEPS), "publish"])
    tasks = {name: progress.add_task(f"{name:<{width}}", total=None, start=False,
                                     status="[dim]waiting[/]")
             for name in [*(s.name for s in STEPS), "publish"]}

    def on_event(step: str, status: str, detail: str) -> None:
        task = tasks[step]
        text = f"[{_STYLE.get(status, 'green')}]{status}[/]"
        text = f"{text} {escape(detail)}" if detail else text
        if status == "running":
            progress.recount(task, None, status=text)
            progress.start_task(task)
        else:
            progress.update(task, status=text)
            progress.start_task(task)
            progress.stop_task(task)

    def on_progress(step: str, done: int, total: int, unit: str) -> None:
        progress.update(tasks[step], completed=done, total=total, unit=unit)

    try:
        with progress:
            result = run_pipeline(settings, out, engine=engine, ray_address=ray_address,
                                  on_event=on_event, on_progress=on_progress)
    except BadInput as error:
        raise fail(str(error)) from None
    except StepFailed as failure:
        manifest = read_manifest(failure.log.parents[1])
        if manifest:
            console.print(_summary(manifest))
        raise fail(f"step '{failure.step}' failed: {failure.error}; its log: {failure.log}",
                   code=failure.code) from None
    console.print(_summary(result.manifest))
    console.print(f"published [bold]{escape(str(result.run))}[/] -> "
                  f"{escape(str(Path(out) / 'current'))}; report: "
                  f"{escape(str(result.run / 'report' / 'report.html'))}")
    if json_output:
        print(json.dumps({"run": str(result.run), "status": result.manifest["status"],
                          "steps": {n: r["status"] for n, r in result.manifest["steps"].items()}}))


@pipeline_app.command("status")
def status(
    out: OutOption,
    run_id: Annotated[str | None, typer.Option(
        "--run", help="Show the steps of this run (default: the latest).")] = None,
    json_output: JsonOption = False,
) -> None:
    """List the runs of a pipeline folder and the steps of one of them."""
    runs = runs_of(out)
    if not runs:
        raise fail(f"{out}: no pipeline runs here (run `songspace pipeline run --out {out}`)")
    current = current_run(out)
    manifests = [m for m in (read_manifest(r) for r in runs) if m]
    chosen = next((m for m in manifests if m["run"] == run_id), None) if run_id \
        else (manifests[-1] if manifests else None)
    if run_id and chosen is None:
        raise fail(f"{out}: no run {run_id!r}; runs: {[m['run'] for m in manifests]}")
    if json_output:
        print(json.dumps({"current": current.name if current else None, "runs": [
            {"run": m["run"], "status": m["status"], "engine": m.get("engine"),
             "created": m["created"], "updated": m.get("updated"),
             "steps": {n: r["status"] for n, r in m.get("steps", {}).items()}}
            for m in manifests]}))
        return
    table = Table(title=f"runs in {out}")
    for column in ("run", "status", "engine", "created", "steps done", "current"):
        table.add_column(column, overflow="fold")
    for m in manifests:
        done = sum(r["status"] != "failed" for r in m.get("steps", {}).values())
        is_current = current is not None and current.name == m["run"]
        table.add_row(m["run"], m["status"], str(m.get("engine")), m["created"],
                      f"{done}/{len(STEPS)}", "*" if is_current else "")
    console.print(table)
    if chosen:
        console.print(_summary(chosen))
