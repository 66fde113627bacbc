"""Terminal output: rich, masked, host-prefixed; one place for every line the user sees."""

from __future__ import annotations

import json
import sys
import threading
from typing import Any

from ghosttasks.masking import mask


class Output:
    """Prints steps, host output, results and tables; every string is masked first."""

    def __init__(
        self, *, quiet: bool = False, silent: bool = False, stream: Any = None, err_stream: Any = None
    ) -> None:
        from rich.console import Console

        self.quiet = quiet or silent
        self.silent = silent
        self._console = Console(file=stream or sys.stdout, highlight=False, soft_wrap=True)
        self._errors = Console(file=err_stream or sys.stderr, highlight=False, soft_wrap=True)
        self._lock = threading.Lock()

    @property
    def is_terminal(self) -> bool:
        """stdout is a terminal (live output and prompts make sense)."""
        return self._console.is_terminal

    def _print(self, text: str, style: str | None = None, *, error: bool = False) -> None:
        from rich.text import Text

        if self.silent and not error:
            return
        console = self._errors if error else self._console
        with self._lock:
            console.print(Text(mask(text), style=style or ""))

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
            self._print(f"[{host}] {line}", "dim" if stderr else None)

    def plain(self, text: str) -> None:
        """Text for machines (plans, JSON): masked, unstyled, no wrapping."""
        with self._lock:
            self._console.out(mask(text), highlight=False)

    def json(self, data: Any) -> None:
        """Data as indented JSON (masked)."""
        self.plain(json.dumps(data, indent=2, sort_keys=True, default=str))

    def render(self, renderable: Any) -> None:
        """A rich renderable built elsewhere (the step lines, the closing summary); its text is masked there."""
        if self.silent:
            return
        with self._lock:
            self._console.print(renderable)

    def live(self, frame: Any) -> Any:
        """Start a rich Live region redrawn from `frame()` (lines printed meanwhile go above it); stop() ends it."""
        from rich.live import Live

        live = Live(console=self._console, get_renderable=frame, refresh_per_second=8, transient=True)
        live.start()
        return live

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
