"""The README's batch pipeline example: a run of the shipped quick config, its status and report."""

from __future__ import annotations

import pytest

from tests.readme.blocks import blocks_of, check_ran, only, run_block

pytestmark = pytest.mark.slow


def test_batch_pipeline(scratch):
    (block,) = blocks_of("Batch pipeline")
    results = check_ran(run_block(block.commands, scratch), block.commands)
    status = only(results, r"^songspace pipeline status .*--json").json()
    assert status["current"] and status["runs"][0]["status"] == "complete"
    assert (scratch / "pipelines_out" / "current" / "report" / "report.html").is_file()
