"""Terminal output: rich, masked, host-prefixed; one place for every line the user sees.

A terminal that goes away (a closed pipe, a vanished terminal) silences the output, never the run: every
printed line also goes to the run's log when one is attached.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ghosttasks.domain.audit import HistoryEntry, LockHolder
from ghosttasks.domain.masking import mask
from ghosttasks.terminal.command_name import as_typed, as_typed_data

if TYPE_CHECKING:
    from ghosttasks.terminal.runlog import RunLog


class QuietStream:
    """A stream for rich that goes quiet, instead of raising, once it cannot be written.

    rich would call `Console.on_broken_pipe` (exit the process, from whichever thread wrote) on a closed
    pipe and let an EIO from a vanished terminal propagate; this wrapper sees both (any OSError) first. The
    broken descriptor then points at /dev/null, so buffered bytes and Python's flush at exit go nowhere
    instead of failing again (an exit status of 120).
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        self.gone = False

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    def isatty(self) -> bool:
        return not self.gone and self._stream.isatty()

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self._stream.write(text)
            except OSError:
                self._go_quiet()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._stream.flush()
            except OSError:
                self._go_quiet()

    def _go_quiet(self) -> None:
        self.gone = True
        try:
            descriptor = self._stream.fileno()
        except (OSError, ValueError):  # not a file (a StringIO), or already closed
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, descriptor)
        finally:
            os.close(devnull)


class Output:
    """Prints steps, host output, results and tables; every string is masked first.

    `log` (the run's RunLog, attached by the task runtime) receives every line printed, so a terminal that
    went away loses nothing.
    """

    def __init__(
        self, *, quiet: bool = False, silent: bool = False, stream: Any = None, err_stream: Any = None
    ) -> None:
        from rich.console import Console

        self.quiet = quiet or silent
        self.silent = silent
        self.log: RunLog | None = None
        self._console = Console(file=QuietStream(stream or sys.stdout), highlight=False, soft_wrap=True)
        self._errors = Console(file=QuietStream(err_stream or sys.stderr), highlight=False, soft_wrap=True)
        self._lock = threading.Lock()
        self._regions = LiveRegions(self._console)

    @property
    def is_terminal(self) -> bool:
        """stdout is a terminal (live output and prompts make sense)."""
        return self._console.is_terminal

    def _print(self, text: str, style: str | None = None, *, error: bool = False, ours: bool = True) -> None:
        """`ours`: a line of the tool's own, whose hints name the command typed (a host's output is printed as is)."""
        from rich.text import Text

        if self.silent and not error:
            return
        console = self._errors if error else self._console
        line = as_typed(mask(text)) if ours else mask(text)
        with self._lock:
            console.print(Text(line, style=style or ""))
        self._keep(line, error=error)

    def _keep(self, text: str, *, error: bool = False) -> None:
        """Hand each printed line to the run log (when one is attached)."""
        if self.log is not None:
            for line in text.splitlines():
                self.log.printed("stderr" if error else "stdout", line)

    def _text(self, renderable: Any) -> str:
        """A renderable as the plain text it prints (for the run log)."""
        lines = self._console.render_lines(renderable, pad=False)
        return "\n".join("".join(segment.text for segment in line).rstrip() for line in lines)

    def step(self, title: str) -> None:
        """The heading of a procedure step."""
        self._print(f"==> {title}", "bold cyan")

    def info(self, text: str) -> None:
        """A plain line (hidden with quiet)."""
        if not self.quiet:
            self._print(text)

    def ok(self, text: str) -> None:
        """A check or step that passed."""
        self._print(f"ok   {text}", "green")

    def warn(self, text: str) -> None:
        """Something the user should know; the run goes on."""
        self._print(f"warn {text}", "yellow")

    def fail(self, text: str) -> None:
        """A check that failed."""
        self._print(f"FAIL {text}", "bold red")

    def error(self, text: str) -> None:
        """An error line on stderr."""
        self._print(text, "bold red", error=True)

    def host_line(self, host: str, line: str, *, stderr: bool = False) -> None:
        """One line of a host's command output, prefixed with the host."""
        if not self.quiet:
            self._print(f"[{host}] {line}", "dim" if stderr else None, ours=False)

    def plain(self, text: str) -> None:
        """Text for machines (plans, JSON): masked, unstyled, no wrapping."""
        text = mask(text)
        with self._lock:
            self._console.out(text, highlight=False)
        self._keep(text)

    def json(self, data: Any) -> None:
        """Data as indented JSON (masked)."""
        self.plain(json.dumps(as_typed_data(data), indent=2, sort_keys=True, default=_json_value))

    def render(self, renderable: Any) -> None:
        """A rich renderable built elsewhere (the step lines, the closing summary); its text is masked there."""
        if self.silent:
            return
        with self._lock:
            self._console.print(renderable)
        if self.log is not None:
            self._keep(self._text(renderable))

    def live(self, frame: Callable[[], Any]) -> LiveRegion:
        """Show `frame()` at the bottom of the terminal, redrawn 8 times a second, under any region already shown.

        One rich Live holds every region (rich allows one at a time): the step list of the run and, while
        deploy.prod monitors, the monitor view beneath it. Lines printed meanwhile go above; the region's
        stop() removes it, and the Live ends with the last region.
        """
        return self._regions.add(frame)

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        """A titled table (masked cells)."""
        from rich.table import Table

        if self.silent:
            return
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*(mask("" if cell is None else str(cell)) for cell in row))
        with self._lock:
            self._console.print(table)
        if self.log is not None:
            self._keep(self._text(table))


class LiveRegion:
    """One region of the live display: refresh() redraws now, stop() removes it."""

    def __init__(self, regions: LiveRegions, frame: Callable[[], Any]) -> None:
        self._regions, self._frame = regions, frame

    def refresh(self) -> None:
        self._regions.refresh()

    def stop(self) -> None:
        self._regions.remove(self._frame)


class LiveRegions:
    """The frames shown in one rich Live, top to bottom; the Live runs while there is at least one."""

    def __init__(self, console: Any) -> None:
        self._console = console
        self._frames: list[Callable[[], Any]] = []
        self._live: Any = None
        self._lock = threading.RLock()  # rich's Live asks for the first frame while add() holds it

    def _render(self) -> Any:
        from rich.console import Group

        with self._lock:
            frames = list(self._frames)
        return Group(*(frame() for frame in frames))

    def add(self, frame: Callable[[], Any]) -> LiveRegion:
        from rich.live import Live

        with self._lock:
            self._frames.append(frame)
            start = self._live is None
            if start:
                self._live = Live(
                    console=self._console, get_renderable=self._render, refresh_per_second=8, transient=True
                )
        if start:
            self._live.start()
        return LiveRegion(self, frame)

    def refresh(self) -> None:
        live = self._live
        if live is not None:
            live.refresh()

    def remove(self, frame: Callable[[], Any]) -> None:
        with self._lock:
            if frame in self._frames:
                self._frames.remove(frame)
            live = self._live if not self._frames else None
            if live is not None:
                self._live = None
        if live is not None:
            live.stop()
        else:
            self.refresh()


def _json_value(value: Any) -> Any:
    """An audit record as the JSON it is stored as; anything else JSON cannot hold as its text."""
    return value.to_dict() if isinstance(value, HistoryEntry | LockHolder) else str(value)
