from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def scratch(tmp_path_factory) -> Path:
    """The working folder of a file's examples: a copy of data/ (they write beside it)."""
    folder = tmp_path_factory.mktemp("readme")
    shutil.copytree(REPO / "data", folder / "data",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return folder
