"""The README's set-up: `make demo`, the main job on the embedded data, run in the checkout."""

from __future__ import annotations

import re
import subprocess

import pytest

from recsys.artifact import load_artifact
from tests.conftest import REPO
from tests.readme.blocks import ENGINES, NOT_RUN, VENV_BIN, blocks_of, check_ran, run_block

pytestmark = pytest.mark.slow


def test_set_up_make_demo():
    (block,) = blocks_of("Set-up: two commands")
    commands = [c for c in block.commands if c.split("#")[0].strip() not in NOT_RUN]
    assert [c.split("#")[0].strip() for c in commands] == ["make demo"]
    stale = subprocess.run(["make", "-q", f"{VENV_BIN.relative_to(REPO)}/songspace"],
                           cwd=REPO, capture_output=True)
    if stale.returncode:
        pytest.fail("the venv is older than pyproject.toml, so `make demo` would reinstall it "
                    "first: run `make install` (a test does not reinstall the venv it runs in)")
    (demo,) = check_ran(run_block(commands, REPO), commands).values()
    out = demo.stderr
    assert "next-song prediction" in out and all(name in out for name in ENGINES)
    # Its evaluation reports each model's cases as it goes, as `songspace evaluate` does.
    assert re.search(r"^evaluating songspace \(model 1/\d+\): [\d,]+/[\d,]+ cases", out,
                     re.M), out
    assert "songs similar to Bohemian Rhapsody by Queen" in out
    assert re.search(r"quarantined 6 rows", out)
    assert "for alice" in out and "because" in out
    # What it leaves is a model the other commands load.
    assert load_artifact(REPO / "artifacts" / "demo" / "model").model.trained.any()
