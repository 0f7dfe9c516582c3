"""Progress and console output shared by the commands (on stderr, so --json stays clean).

On a terminal, progress is a rich bar that fits the terminal's width: when the line is too
long the elapsed time goes first, then the bar shrinks, then the extra information is cut.
Anywhere else (a log file, CI, ``make``, a pipe) it is plain log lines: one when a phase starts
(a task is added, its description or ``status`` field changes) or ends, and in between at
most one every ``SONGSPACE_PROGRESS_INTERVAL`` seconds (10 by default), with done/total, rate
and ETA where the work is counted. A heartbeat writes a line when nothing was written for that
long, so a long phase is never silent. ``console.status(...)`` follows the same rules.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, SpinnerColumn, Task, TaskID
from rich.table import Column, Table
from rich.text import Text

INTERVAL_ENV = "SONGSPACE_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 10.0
BAR_WIDTH, MIN_BAR_WIDTH, MIN_INFO_WIDTH = 20, 6, 10

# The clock of progress lines, rates and ETAs; tests replace it with a fake one.
clock: Callable[[], float] = time.monotonic


def _now() -> float:
    return clock()


def log_interval() -> float:
    """Seconds between plain progress lines (``SONGSPACE_PROGRESS_INTERVAL``, default 10)."""
    try:
        return max(0.0, float(os.environ.get(INTERVAL_ENV, DEFAULT_INTERVAL)))
    except ValueError:
        return DEFAULT_INTERVAL


def duration(seconds: float) -> str:
    """H:MM:SS."""
    hours, rest = divmod(round(max(seconds, 0.0)), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _rate(per_second: float, unit: str) -> str:
    unit = unit or "it"
    return f"{per_second:,.0f} {unit}/s" if per_second >= 100 else f"{per_second:.3g} {unit}/s"


class _Ticker:
    """Calls ``beat`` every ``interval`` seconds of real time until stopped (a daemon thread)."""

    def __init__(self, interval: float, beat: Callable[[], None]) -> None:
        self.interval, self.beat = interval, beat
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)


class LogStatus:
    """``console.status`` off a terminal: a line per status, and a heartbeat while it lasts."""

    def __init__(self, console: Console, status: str, interval: float | None = None) -> None:
        self.console, self.status = console, str(status)
        self.interval = log_interval() if interval is None else interval
        self._started = self._last = _now()
        self._ticker = _Ticker(self.interval, self._beat)

    def start(self) -> None:
        self._log(self.status)
        self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()

    def __enter__(self) -> LogStatus:
        self.start()
        return self

    def __exit__(self, *_) -> None:
        self.stop()

    def update(self, status=None, **_) -> None:
        if status is not None and str(status) != self.status:
            self.status = str(status)
            self._log(self.status)

    def _beat(self) -> None:
        if _now() - self._last >= self.interval:
            self._log(f"{self.status} (still running, {duration(_now() - self._started)} so far)")

    def _log(self, text: str) -> None:
        self._last = _now()
        self.console.print(Text.from_markup(text).plain, markup=False, highlight=False)


class SongspaceConsole(Console):
    """A rich console whose ``status`` writes plain lines when it is not a terminal."""

    def status(self, status, **kwargs):  # type: ignore[override]
        if self.is_terminal:
            return super().status(status, **kwargs)
        return LogStatus(self, str(status))


# soft_wrap: never break a path or an error message across lines.
console = SongspaceConsole(stderr=True, soft_wrap=True)


class ProgressDisplay(Progress):
    """The commands' progress: a width-fitting bar on a terminal, plain log lines elsewhere.

    Each row: [spinner] description, bar, done/total and the task's ``unit`` field, the extra
    columns (rate, loss...), elapsed time and ETA. A task with ``total=None`` shows no count.
    """

    def __init__(self, *extra: ProgressColumn, console: Console | None = None,
                 plain: bool | None = None, interval: float | None = None,
                 spinner: bool = False, transient: bool = False) -> None:
        target = console if console is not None else globals()["console"]
        self.plain = not target.is_terminal if plain is None else plain
        self.extra = list(extra)
        self.spinner = SpinnerColumn() if spinner else None
        super().__init__(*extra, console=target, get_time=_now, disable=self.plain,
                         transient=transient)
        self.interval = log_interval() if interval is None else interval
        self._logged: dict[TaskID, tuple] = {}
        self._origin: dict[TaskID, tuple[float, float]] = {}  # when counting began, from what
        self._last_line = _now()
        self._ticker = _Ticker(self.interval, self._beat)

    # -- the numbers ---------------------------------------------------------------------------

    def speed(self, task: Task) -> float | None:
        """Units per second: rich's recent-window estimate, else the average since the start."""
        speed = task.finished_speed or task.speed
        if speed:
            return speed
        since, base = self._origin.get(task.id, (task.start_time or _now(), 0.0))
        elapsed, done = _now() - since, task.completed - base
        return done / elapsed if elapsed > 0 and done > 0 else None

    def remaining(self, task: Task) -> float | None:
        if task.total is None:
            return None
        if task.finished:
            return 0.0
        speed = self.speed(task)
        return (task.total - task.completed) / speed if speed else None

    def _count(self, task: Task) -> str:
        unit = task.fields.get("unit", "")
        if task.total is None:
            return f"{_number(task.completed)} {unit}".strip() if task.completed else ""
        return f"{_number(task.completed)}/{_number(task.total)} {unit}".strip()

    def _info(self, task: Task) -> Text:
        parts = [column(task) for column in self.extra]
        texts = [p if isinstance(p, Text) else Text(str(p)) for p in parts]
        return Text("  ").join(t for t in texts if t.plain.strip())

    # -- plain lines ---------------------------------------------------------------------------

    def line(self, task: Task) -> str:
        """The plain log line of a task: what, done/total, rate, elapsed, ETA; extra info."""
        parts = []
        count = self._count(task)
        if count:
            if task.total:
                count += f" ({100 * task.completed / task.total:.0f}%)"
            parts.append(count)
        speed = self.speed(task)
        if speed and count:
            parts.append(_rate(speed, task.fields.get("unit", "")))
        elapsed = task.finished_time or task.elapsed or 0.0
        if count or elapsed >= 1:
            parts.append(f"elapsed {duration(elapsed)}")
        remaining = self.remaining(task)
        if task.total is not None and not task.finished:
            parts.append(f"ETA {duration(remaining) if remaining is not None else '?'}")
        info = self._info(task).plain.strip()
        text = ", ".join(parts)
        if info:
            text = f"{text}; {info}" if text else info
        title = Text.from_markup(task.description).plain.strip()
        return f"{title}: {text}" if text else title

    def _write(self, task: Task) -> None:
        now = _now()
        self._last_line = now
        self._logged[task.id] = (task.description, task.fields.get("status"), task.completed,
                                 task.finished)
        self.console.print(self.line(task), markup=False, highlight=False, soft_wrap=True)

    def _after(self, task_id: TaskID) -> None:
        if not self.plain:
            return
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None or not task.started or not task.visible:
                return
            before = self._logged.get(task_id)
            phase = (task.description, task.fields.get("status"))
            if (before is None or before[:2] != phase or (task.finished and not before[3])
                    or (task.completed != before[2]
                        and _now() - self._last_line >= self.interval)):
                self._write(task)

    def _beat(self) -> None:
        with self._lock:
            if _now() - self._last_line < self.interval:
                return
            for task in self._tasks.values():
                if task.started and task.visible and not task.finished and \
                        task.finished_time is None and task.stop_time is None:
                    self._write(task)

    # -- rich's API, with the plain lines hooked in --------------------------------------------

    def add_task(self, description: str, start: bool = True, total: float | None = 100.0,
                 completed: int = 0, visible: bool = True, **fields) -> TaskID:
        task_id = super().add_task(description, start=start, total=total, completed=completed,
                                   visible=visible, **fields)
        self._origin[task_id] = (_now(), float(completed))
        self._after(task_id)
        return task_id

    def update(self, task_id: TaskID, **kwargs) -> None:  # type: ignore[override]
        super().update(task_id, **kwargs)
        self._after(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._after(task_id)

    def reset(self, task_id: TaskID, **kwargs) -> None:  # type: ignore[override]
        super().reset(task_id, **kwargs)
        self._origin[task_id] = (_now(), float(kwargs.get("completed", 0)))
        self._logged.pop(task_id, None)
        self._after(task_id)

    def recount(self, task_id: TaskID, total: float | None = None,
                description: str | None = None, **fields) -> None:
        """Count a new phase of a task: 0 done of ``total`` (None: not counted), keeping its
        clock; the description and ``fields`` (a ``status``, say) are updated."""
        with self._lock:
            task = self._tasks[task_id]
            if description is not None:
                task.description = description
            task.total, task.completed, task.finished_time = total, 0, None
            task._progress.clear()
            task.fields.update(fields)
            self._origin[task_id] = (_now(), 0.0)
        self._after(task_id)

    def start_task(self, task_id: TaskID) -> None:
        super().start_task(task_id)
        if task_id in self._origin:  # not from inside add_task: that logs once it is set up
            self._after(task_id)

    def start(self) -> None:
        super().start()
        if self.plain:
            self._ticker.start()

    def stop(self) -> None:
        self._ticker.stop()
        super().stop()

    # -- the terminal rendering ----------------------------------------------------------------

    def make_tasks_table(self, tasks) -> Table:
        """One row per task, fitted to the console's width (see the module docstring)."""
        tasks = [t for t in tasks if t.visible]
        if not tasks:
            return Table.grid()
        rows = []
        for task in tasks:
            remaining = self.remaining(task)
            eta = "" if task.total is None else \
                f"ETA {duration(remaining) if remaining is not None else '-:--:--'}"
            rows.append({
                "spinner": (self.spinner(task) if self.spinner and task.started
                            and task.stop_time is None and not task.finished else Text(" ")),
                "description": Text.from_markup(task.description, style="bold"),
                "count": Text(self._count(task), style="green"),
                "info": self._info(task),
                "elapsed": Text(duration(task.finished_time or task.elapsed or 0.0),
                                style="yellow"),
                "eta": Text(eta, style="cyan"),
            })
        widths = {key: max((r[key].cell_len for r in rows if isinstance(r[key], Text)),
                           default=0) for key in ("description", "count", "info", "elapsed",
                                                  "eta")}
        widths["spinner"] = 1 if self.spinner else 0
        widths["bar"] = BAR_WIDTH if any(t.total is not None for t in tasks) else 0
        fitted = fit_widths(widths, self.console.width - 1)
        keys = [k for k in ("spinner", "description", "bar", "count", "info", "elapsed", "eta")
                if fitted[k] > 0]
        table = Table.grid(*(Column(no_wrap=True, overflow="ellipsis", width=fitted[k])
                             for k in keys), padding=(0, 1))
        bar = BarColumn(bar_width=fitted["bar"] or None)
        for task, row in zip(tasks, rows, strict=True):
            row["bar"] = bar(task) if task.total is not None else Text("")
            table.add_row(*(row[k] for k in keys))
        return table


def fit_widths(widths: dict[str, int], available: int) -> dict[str, int]:
    """Column widths of a progress row within ``available`` cells (one between columns): drop
    the elapsed time, shrink the bar, cut the extra info, drop the bar, cut the description."""
    fitted = dict(widths)

    def excess() -> int:
        shown = [w for w in fitted.values() if w > 0]
        return sum(shown) + len(shown) - 1 - available

    if excess() > 0:
        fitted["elapsed"] = 0
    if excess() > 0 and fitted["bar"]:
        fitted["bar"] = max(MIN_BAR_WIDTH, fitted["bar"] - excess())
    if excess() > 0 and fitted["info"]:
        fitted["info"] = max(MIN_INFO_WIDTH, fitted["info"] - excess())
    if excess() > 0:
        fitted["bar"] = 0
    if excess() > 0 and fitted["info"]:
        cut = fitted["info"] - excess()
        fitted["info"] = cut if cut >= MIN_INFO_WIDTH else 0
    if excess() > 0:
        fitted["description"] = max(8, fitted["description"] - excess())
    return fitted


def progress_bar(*columns: ProgressColumn, **options) -> ProgressDisplay:
    """The commands' progress: description, bar, done/total (the task's ``unit`` field), the
    given columns, elapsed time and ETA on a terminal; plain log lines elsewhere."""
    return ProgressDisplay(*columns, **options)

