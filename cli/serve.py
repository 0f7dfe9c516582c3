"""`songspace serve`: the HTTP API and the web page under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import app, fail
from foundation.progress import console


@app.command()
def serve(
    artifacts: Annotated[Path, typer.Option(
        help="Model folder written by `songspace train` (or a folder with a `current` "
             "pointer to one).")],
    profiles: Annotated[Path | None, typer.Option(
        help="Profiles folder written by `songspace profiles build` (enables /users).")] = None,
    events_db: Annotated[Path | None, typer.Option(
        help="Durable event log (SQLite); default <profiles>.events.sqlite.")] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=0, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the HTTP API and the web page (http://HOST:PORT/). Other settings (API key,
    limits) come from SONGSPACE_* environment variables or a .env file."""
    import uvicorn

    for name, folder in (("--artifacts", artifacts), ("--profiles", profiles)):
        if folder is not None and not folder.is_dir():
            raise fail(f"{name} {folder}: no such folder")
    # The settings travel to every worker process through the environment.
    os.environ["SONGSPACE_ARTIFACTS"] = str(artifacts.absolute())
    for name, value in (("SONGSPACE_PROFILES", profiles), ("SONGSPACE_EVENTS_DB", events_db)):
        if value is not None:
            os.environ[name] = str(value.absolute())
    console.print(f"serving {artifacts} on http://{host}:{port}/ ({workers} worker(s))")
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False)
