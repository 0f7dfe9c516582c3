"""The README's examples as a whole: every bash block has a test, the config shown is shipped."""

from __future__ import annotations

import re

from tests.conftest import REPO
from tests.readme.blocks import NOT_RUN, README, SECTIONS, bash_blocks


def test_every_bash_block_is_run_by_a_test():
    blocks = bash_blocks(README.read_text())
    found: dict[str, int] = {}
    for block in blocks:
        found[block.heading] = found.get(block.heading, 0) + 1
    assert found == SECTIONS
    lines = {c for b in blocks for c in b.commands}
    # The lines left out are in the README: the list above cannot hide a real example.
    assert {c.split("#")[0].strip() for c in lines} >= set(NOT_RUN)


def test_the_pipeline_config_shown_is_the_one_shipped():
    text = README.read_text()
    section = text[text.index("## Batch pipeline"):text.index("## HTTP API")]
    blocks = re.findall(r"```toml\n(.*?)```\n", section, flags=re.S)
    assert blocks == [(REPO / "data" / "pipeline.toml").read_text()]
