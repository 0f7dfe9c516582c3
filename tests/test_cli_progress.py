"""Progress as a user sees it: off a terminal (CliRunner's stderr is not one) plain log lines
with done/total, rate and ETA; on an 80-column terminal a bar that fits. (`pipeline run`'s
progress is checked on tests/pipelines/test_pipeline_run.py's run.)"""

from __future__ import annotations

import io
import itertools
import re
import time

import pytest
from rich.console import Console
from rich.progress import TextColumn

from foundation import progress
from tests.conftest import run

# done/total unit (percent), rate, elapsed, ETA
COUNTED = r"(\d[\d,]*)/(\d[\d,]*) {unit} \(\d+%\), [\d.,]+ {unit}/s, elapsed \d:\d\d:\d\d"


@pytest.fixture
def fake_clock(monkeypatch):
    """Every reading of the progress clock is one second after the last; a line per update."""
    ticks = itertools.count()
    monkeypatch.setattr(progress, "clock", lambda: float(next(ticks)))
    monkeypatch.setenv(progress.INTERVAL_ENV, "0")


def test_train_logs_epochs_with_rate_and_eta_off_a_terminal(splits, tmp_path, fake_clock):
    result = run("train", "--playlists", splits / "train", "--out", tmp_path / "m",
                 "--epochs", "3", "--seed", "1", "--no-ranker", "--no-text-map")
    lines = [line for line in result.stderr.splitlines()
             if line.startswith("training song2vec: ")]
    pattern = re.compile(COUNTED.format(unit="epochs"))
    counted = [m for m in map(pattern.search, lines) if m]
    assert [m.group(1) for m in counted][-3:] == ["1", "2", "3"], lines
    assert all(m.group(2) == "3" for m in counted)
    assert any(re.search(r"ETA \d:\d\d:\d\d", line) for line in lines), lines
    assert "songs/s" in lines[-1] and "loss" in lines[-1]
    assert not any("━" in line for line in lines)  # no bar off a terminal
    # A stage after song2vec is one plain line, not also a timestamped copy of it.
    stage = [line for line in result.stderr.splitlines() if "learning co-listening" in line]
    assert stage == ["learning co-listening (similar songs)"], stage


def test_evaluate_logs_each_model_and_its_cases(model, splits, fake_clock):
    result = run("evaluate", "--model", model, "--test", splits / "test",
                 "--models", "song2vec,popularity,cooccurrence", "--max-positions", "3")
    err = result.stderr
    assert "fitting popularity (model 2/3)" in err
    assert "fitting cooccurrence (model 3/3)" in err
    for number, name in enumerate(("song2vec", "popularity", "cooccurrence"), 1):
        assert re.search(rf"evaluating {name} \(model {number}/3\): "
                         + COUNTED.format(unit="cases"), err), err
    assert "next-song prediction" in err  # the table still follows


def test_a_silent_phase_gets_a_heartbeat(monkeypatch):
    """Nothing reported for longer than the interval: a line says what is still running."""
    buffer = io.StringIO()
    console = progress.SongspaceConsole(file=buffer, width=80)
    monkeypatch.setenv(progress.INTERVAL_ENV, "0.05")
    with console.status("fitting als"):
        time.sleep(0.3)
    lines = buffer.getvalue().splitlines()
    assert lines[0] == "fitting als"
    assert any(line.startswith("fitting als (still running,") for line in lines[1:]), lines
    display = progress.progress_bar(console=console, interval=0.05)
    with display:
        display.add_task("training", total=10, unit="steps")
        time.sleep(0.3)
    assert buffer.getvalue().count("training: 0/10 steps") >= 2


def test_the_bar_fits_an_80_column_terminal():
    buffer = io.StringIO()
    console = Console(file=buffer, width=80, force_terminal=True, color_system=None)
    display = progress.progress_bar(TextColumn("{task.fields[rate]}"),
                                    TextColumn("{task.fields[loss]}"), console=console)
    task = display.add_task("training song2vec", total=100, unit="epochs",
                            rate="74,423 songs/s", loss="loss 1,194,770")
    display.update(task, completed=100)
    other = display.add_task("evaluating cooccurrence (model 3/5)", total=15_738,
                             unit="cases", rate="", loss="")
    display.update(other, completed=1_234)
    console.print(display.make_tasks_table(display.tasks))
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 2 and all(len(line) <= 80 for line in lines), lines
    assert "100/100 epochs" in lines[0] and "ETA 0:00:00" in lines[0]
    assert "1,234/15,738 cases" in lines[1] and "ETA" in lines[1]


def test_fit_widths_gives_way_in_order():
    widths = {"spinner": 0, "description": 17, "bar": 20, "count": 12, "info": 30,
              "elapsed": 7, "eta": 11}
    assert progress.fit_widths(widths, 200) == widths
    fitted = progress.fit_widths(widths, 79)
    assert fitted["elapsed"] == 0 and fitted["count"] == 12 and fitted["eta"] == 11
    assert sum(w + 1 for w in fitted.values() if w) - 1 <= 79
