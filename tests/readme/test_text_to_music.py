"""The README's text-to-music examples: generate, learn from a folder, a bounded training."""

from __future__ import annotations

import re

import pytest

from tests.readme.blocks import blocks_of, check_ran, is_wav, run_block

pytestmark = pytest.mark.slow


def test_text_to_music(scratch):
    block = blocks_of("Text-to-music")[0]
    results = check_ran(run_block(block.commands, scratch), block.commands)
    for result in results.values():
        match = re.search(r"--out (\S+\.wav)", result.command)
        if match:
            assert is_wav(scratch / match.group(1)), result.command
    assert (scratch / "my_audio" / "captions.csv").is_file()
    assert (scratch / "runs" / "mine" / "model").is_dir()
    (pipes,) = [r for r in results.values() if "bagpipes" in r.command]
    assert 'warning: the model does not know "bagpipes"' in " ".join(pipes.stderr.split())
    assert len(list((scratch / "previews").glob("*.wav"))) == 3
    (judged,) = [r for r in results.values() if "shipped_eval" in r.command]
    assert "what the judges hear, 6 held-out captions" in judged.stderr
    assert (scratch / "shipped_eval" / "adherence.png").is_file()


def test_text_to_music_training_is_bounded(scratch):
    block = blocks_of("Text-to-music")[1]
    (command,) = block.commands
    minutes = float(re.search(r"--max-minutes (\S+)", command).group(1))
    # Starting up (torch, the text encoder) and saving come on top of the bound.
    (result,) = check_ran(run_block(block.commands, scratch, timeout=minutes * 60 + 90),
                          block.commands).values()
    assert result.seconds < minutes * 60 + 60
    assert "nan" not in (result.stdout + result.stderr).lower()
