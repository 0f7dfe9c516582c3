"""The `songspace` entry point: importing each command module registers its commands."""

from __future__ import annotations

import logging
import os

import cli.models
import cli.pipeline
import cli.profiles
import cli.search
import cli.serve
import cli.text  # noqa: F401
from cli.audio import register as register_audio
from cli.common import app

register_audio(app)

__all__ = ["app", "main"]


def main() -> None:  # pragma: no cover - console entry point
    logging.basicConfig(level=os.environ.get("SONGSPACE_LOG", "WARNING"))
    app()
