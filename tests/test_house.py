"""The house rules: which package may import which, and no source file grows past ~700 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("foundation", "recsys", "audio_gen", "pipelines", "api", "cli")
# What each package must never import: the foundation is the bottom of the house, audio and
# recommendation are siblings, and the CLI is the top (only the entry point knows it).
FORBIDDEN = {
    "foundation": {"recsys", "audio_gen", "pipelines", "api", "cli"},
    "recsys": {"audio_gen", "pipelines", "api", "cli"},
    "audio_gen": {"recsys", "pipelines", "api", "cli"},
    "pipelines": {"api", "cli"},
    "api": {"cli"},
    "cli": set(),
}
MAX_LINES = 700


def _sources(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_package_imports_only_what_the_house_allows(package: str) -> None:
    files = _sources(package)
    assert files, f"{package}/ has no Python files"
    broken = {
        str(path.relative_to(REPO)): sorted(_imported_packages(path) & FORBIDDEN[package])
        for path in files
    }
    assert {k: v for k, v in broken.items() if v} == {}


def test_the_rule_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\nfrom recsys.artifact import publishing\nimport pipelines.cli\n")
    assert _imported_packages(module) == {"os", "recsys", "pipelines"}


def test_no_source_file_is_over_700_lines() -> None:
    long = {
        str(path.relative_to(REPO)): n
        for package in (*PACKAGES, "bench")
        for path in _sources(package)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
