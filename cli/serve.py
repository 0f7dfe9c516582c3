"""`songspace serve`: the HTTP API and the web page under uvicorn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from cli.common import app, fail, one_line
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
    insecure_open_writes: Annotated[bool, typer.Option(
        "--insecure-open-writes",
        help="Start without an API key: anyone who can reach the server may post events, "
             "reload and generate. Without it, serve refuses to start unless "
             "SONGSPACE_API_KEY is set.")] = False,
) -> None:
    """Serve the HTTP API and the web page (http://HOST:PORT/). Other settings (API key,
    limits) come from SONGSPACE_* environment variables or a .env file. Writes (events,
    reload, generate) need SONGSPACE_API_KEY, unless --insecure-open-writes."""
    import uvicorn

    for name, folder in (("--artifacts", artifacts), ("--profiles", profiles)):
        if folder is not None and not folder.is_dir():
            raise fail(f"{name} {folder}: no such folder")
    # The settings travel to every worker process through the environment.
    exported = {"SONGSPACE_ARTIFACTS": str(artifacts.absolute())}
    for name, value in (("SONGSPACE_PROFILES", profiles), ("SONGSPACE_EVENTS_DB", events_db)):
        if value is not None:
            exported[name] = str(value.absolute())
    if insecure_open_writes:
        exported["SONGSPACE_INSECURE_OPEN_WRITES"] = "1"
    previous = {name: os.environ.get(name) for name in exported}
    os.environ.update(exported)
    try:
        settings = _checked_settings()
    except BaseException:
        # A refused start leaves the environment as it found it (the CLI may run in-process).
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        raise
    writes = ("writes need the API key" if settings.api_key is not None else
              "OPEN WRITES: anyone who can reach it may post events, reload and generate")
    console.print(f"serving {artifacts} on http://{host}:{port}/ ({workers} worker(s); "
                  f"{writes})")
    uvicorn.run("api.main:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, access_log=False)


def _checked_settings():
    """The server's settings from the environment, refused (one line, exit 2) when invalid,
    open to writes without being told so, or pointing at artifacts that do not load."""
    from pydantic import ValidationError

    from api.lifespan import OPEN_WRITES_REFUSED
    from api.settings import Settings

    try:
        settings = Settings()  # type: ignore[call-arg]
    except ValidationError as error:
        problem = error.errors()[0]
        raise fail(f"SONGSPACE_{str(problem['loc'][0]).upper()}: {problem['msg']}") from None
    if settings.api_key is None and not settings.insecure_open_writes:
        raise fail(OPEN_WRITES_REFUSED)
    _preflight(settings)
    return settings


def _preflight(settings) -> None:
    """Load what the server is about to serve once here, so that a broken artifact (a
    truncated file, a bad manifest) is one line naming it and exit 2, not a worker's
    traceback."""
    from api.lifespan import served_paths
    from recsys.artifact import load_artifact
    from recsys.profile_artifact import load_profiles

    try:
        folder, profiles = served_paths(settings)
        load_artifact(folder, verify=settings.verify)
        if profiles is not None:
            load_profiles(profiles, verify=settings.verify)
    except Exception as error:  # any way a folder can be broken: say which and why
        raise fail(f"cannot serve {settings.artifacts}: {one_line(error)}") from None
