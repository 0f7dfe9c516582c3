"""Issue 16, item 8: staging folders of an interrupted publish (a `train` killed with
kill -9) are removed by the next publish of that artifact, and a live publisher's staging
folder is never touched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO, run

# Stands in for a `songspace train` that is inside its publish: writes into its staging
# folder, says where, and waits (to be killed, or to be released).
PUBLISHER = """
import sys, time
from pathlib import Path
from foundation.publishing import publishing
with publishing(sys.argv[1]) as staging:
    (staging / "vectors.npy").write_bytes(b"x" * 1000)
    print(staging, flush=True)
    time.sleep(600)
"""


def start_publisher(target: Path) -> tuple[subprocess.Popen, Path]:
    process = subprocess.Popen([sys.executable, "-c", PUBLISHER, str(target)], cwd=REPO,
                               stdout=subprocess.PIPE, text=True)
    staging = Path(process.stdout.readline().strip())
    assert staging.is_dir() and staging.name.startswith(f".{target.name}.tmp-")
    return process, staging


def leftovers(target: Path) -> list[str]:
    return sorted(p.name for p in target.parent.iterdir() if p.name.startswith(f".{target.name}."))


def test_next_train_removes_a_killed_publish_but_not_a_live_one(tmp_path):
    out = tmp_path / "models" / "m"
    killed, dead_staging = start_publisher(out)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert dead_staging.is_dir()  # what a kill -9 leaves behind
    live, live_staging = start_publisher(out)
    try:
        result = run("train", "--playlists", "data/yes_small", "--out", out, "--epochs", "1",
                     "--seed", "1", "--no-ranker", "--no-text-map", "--json")
        assert json.loads(result.stdout.strip().splitlines()[-1])["model"]
        assert not dead_staging.exists()
        assert live_staging.is_dir() and (live_staging / "vectors.npy").is_file()
        assert leftovers(out) == [live_staging.name]
    finally:
        live.kill()
        live.wait()
    time.sleep(0.1)
    from foundation.publishing import clean_stale_staging

    assert clean_stale_staging(out) == [live_staging]
    assert leftovers(out) == []
