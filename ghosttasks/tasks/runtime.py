"""The task runtime: the @ghost_task decorator (error contract, exit codes, task name), the run it
starts, confirmation, dry-run plans.

Kept free of heavy imports so that `inv --list` stays fast; flows are imported inside task bodies.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from invoke import Context, Exit, Task, task

from ghosttasks.domain.errors import BadInput, GhostError

ENV_HELP = "environment from hosts.yml (default: its default_env)"
DRY_HELP = "print the full plan (every command, upload and probe per host) and change nothing; opens no connection"
YES_HELP = "do not ask for confirmation (required for protected environments when stdin is not a terminal)"
JSON_HELP = "print JSON instead of a table"
VERBOSE_HELP = "stream the full output of builds, pulls and starts (folded into the run log by default)"

EXIT_INTERRUPTED = 130
EXIT_ABORTED = 1  # a SystemExit (or another BaseException) that is not ours: the run did not complete

#: The full name (`deploy.prod`) of the task that is running, set by @ghost_task.
current_task: contextvars.ContextVar[str] = contextvars.ContextVar("current_task", default="ghosttasks")
#: The running task's RunLog (set by start()): where @ghost_task writes an unexpected error's traceback.
current_log: contextvars.ContextVar[Any] = contextvars.ContextVar("current_log", default=None)


class GhostTask(Task):
    """An Invoke task whose automatic short flags never take -h (what users type for help).

    `short_flags` names the letter of an argument whose automatic one would be taken or misleading
    (None: no short flag).
    """

    def __init__(self, *args: Any, short_flags: dict[str, str | None] | None = None, **kwargs: Any) -> None:
        self.short_flags = short_flags or {}
        super().__init__(*args, **kwargs)

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Any]:
        """Invoke's arguments; its `help` dict is consumed by the first call, so it is put back for the next."""
        helps = dict(self.help)
        try:
            return super().get_arguments(ignore_unknown_help)
        finally:
            self.help = helps

    def arg_opts(self, name: str, default: str, taken_names: set[str]) -> dict[str, Any]:
        chosen = {flag for key, flag in self.short_flags.items() if key != name and flag}
        opts = super().arg_opts(name, default, taken_names | {"h"} | chosen)
        if name in self.short_flags:
            flag = self.short_flags[name]
            opts["names"] = [opts["names"][0], *([flag] if flag else [])]
        return opts


def ghost_task(*task_args: Any, **task_kwargs: Any) -> Callable:
    """@task plus the error contract: one clear line (and a hint) on stderr, exit 1/2/3, 130 on Ctrl-C.

    An unexpected exception (a bug, or a condition nothing handles) is no exception: one line naming
    its type, exit 1, and its traceback in the run log (the hint names the file). A SystemExit raised
    inside the task (a library exiting) or any other BaseException is an abort: one line, exit 1, its
    traceback in the run log too. The flows' guarded() has already recorded the history and released
    the lock by then. The task runs under its own signal handlers (_signals).

    The task's full name (`<module>.<name>`, as `inv --list` shows it) is derived, never repeated.
    """

    def decorate(body: Callable) -> Any:
        namespace = body.__module__.rsplit(".", 1)[-1]
        full_name = f"{namespace}.{task_kwargs.get('name') or body.__name__.replace('_', '-')}"

        @functools.wraps(body)
        def wrapper(c: Context, *args: Any, **kwargs: Any) -> Any:
            token = current_task.set(full_name)
            log_token = current_log.set(None)
            try:
                with _signals():
                    return body(c, *args, **kwargs)
            except Exit:
                raise
            except GhostError as exc:
                from ghosttasks.terminal.folding import failure_tails

                _print_error(f"error: {exc}", exc.hint, failure_tails(exc))
                raise Exit(code=exc.exit_code) from None
            except KeyboardInterrupt:
                _print_error(
                    "interrupted: the deploy lock was released and the history records where it stopped",
                    "check what serves now: inv traffic.status",
                )
                raise Exit(code=EXIT_INTERRUPTED) from None
            except Exception as exc:
                detail = str(exc).strip().splitlines()
                _print_error(
                    f"error: unexpected {type(exc).__name__}: {detail[0] if detail else 'no detail'}",
                    _keep_traceback(full_name, exc),
                )
                raise Exit(code=1) from None
            except BaseException as exc:
                _print_error(
                    f"error: aborted: {exc!r} ended the task before its end; the deploy lock was released and the "
                    "history records where it stopped",
                    _keep_traceback(full_name, exc, kind="aborted"),
                )
                raise Exit(code=EXIT_ABORTED) from None
            finally:
                current_log.reset(log_token)
                current_task.reset(token)

        return task(*task_args, klass=GhostTask, **task_kwargs)(wrapper)

    return decorate


@contextlib.contextmanager
def _signals() -> Iterator[None]:
    """The task's signal handlers, the previous ones restored after (main thread only: Python's rule).

    SIGINT and SIGTERM raise KeyboardInterrupt, SIGINT even when it was inherited ignored (a background
    job of a non-interactive shell, some CI runners); SIGHUP (the terminal closed) silences the terminal
    and the run goes on to its end.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handlers = {
        signal.SIGINT: signal.default_int_handler,
        signal.SIGTERM: signal.default_int_handler,
        signal.SIGHUP: _silencer([fd for fd in (1, 2) if os.isatty(fd)]),
    }
    previous = {signum: signal.signal(signum, handler) for signum, handler in handlers.items()}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)  # None: set outside Python


def _silencer(terminal_fds: list[int]) -> Callable[[int, Any], None]:
    """A SIGHUP handler pointing the descriptors that were the terminal at /dev/null (the run log has it all)."""

    def silence(signum: int, frame: Any) -> None:
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in terminal_fds:
            os.dup2(devnull, fd)
        os.close(devnull)

    return silence


def _keep_traceback(task_name: str, exc: BaseException, *, kind: str = "unexpected_error") -> str:
    """Write the traceback into the run's log (a new log when the run had none yet); the hint naming it."""
    import secrets
    import traceback

    from ghosttasks.terminal.runlog import RunLog

    try:
        log = current_log.get() or RunLog(task_name, secrets.token_hex(4))
        log.event(
            kind,
            type=type(exc).__name__,
            message=str(exc),
            traceback="".join(traceback.format_exception(exc)),
        )
        log.close()
    except OSError as error:
        return f"the traceback could not be written to a run log ({error}); report the command line that failed"
    return f"the full traceback is in {log.path}"


def _print_error(message: str, hint: str | None, details: list[str] | None = None) -> None:
    from ghosttasks.domain.masking import mask
    from ghosttasks.terminal.command_name import as_typed

    # the details are hosts' own lines (their output's tail): printed as they came
    lines = [as_typed(message), *(details or ()), *([as_typed(f"next: {hint}")] if hint else [])]
    for line in lines:
        with contextlib.suppress(OSError):  # the terminal is gone: the run log has the line
            print(mask(line), file=sys.stderr)
    log = current_log.get()
    if log is not None:
        with contextlib.suppress(OSError):
            for line in lines:
                log.printed("stderr", line)
            log.close()


def start(c: Context, env: str | None, *, dry_run: bool = False, quiet: bool = False, verbose: bool = False):
    """Load and validate the inventory, pick the environment, and build the run (real or plan).

    On a terminal the steps show as a live list (ghosttasks.terminal.step_view); verbose streams noisy output.
    """
    from ghosttasks.config.inventory import inventory_path, load_inventory
    from ghosttasks.execution.plan_recorder import PlanRecorder
    from ghosttasks.execution.run import Run
    from ghosttasks.execution.ssh_executor import SSHExecutor
    from ghosttasks.terminal.output import Output
    from ghosttasks.terminal.runlog import RunLog
    from ghosttasks.terminal.step_events import StepFeed
    from ghosttasks.terminal.step_view import LiveSteps, PlainSteps

    task_name = current_task.get()
    config = c.config.get("ghost", {}) or {}
    inventory = load_inventory(inventory_path(config.get("inventory")))
    environment = inventory.env(env)
    if is_dry(c, dry_run):
        out = Output(silent=True)
        return Run(environment, PlanRecorder(environment, out), out, task_name)
    out = Output(quiet=quiet)
    feed = StepFeed()
    run = Run(environment, SSHExecutor(environment, out), out, task_name, feed=feed)
    run.executor.verbose = verbose
    try:
        run.executor.log = out.log = RunLog(task_name, run.run_id)
    except OSError as exc:
        out.warn(f"no run log: {exc}")
    current_log.set(run.executor.log)
    if out.is_terminal and not quiet:
        live = LiveSteps(out, feed.clock)
        feed.subscribe(live, live.close)
    else:
        feed.subscribe(PlainSteps(out))
    return run


def is_dry(c: Context, dry_run: bool) -> bool:
    """--dry-run on the task, or Invoke's own --dry."""
    return bool(dry_run or c.config.run.dry)


def finish(run: Any) -> None:
    """Stop the live view, close connections, print the closing summary; in a dry run print the plan."""
    if run.feed is not None:
        run.feed.close()
    run.executor.close()
    if run.outcome is not None and run.outcome.steps and not run.dry_run and not run.out.quiet:
        from ghosttasks.terminal.summary import render_summary

        log = run.executor.log
        summary = render_summary(
            run.task, run.env.name, run.outcome, log.path if log else None, run.env.app.roles.public
        )
        run.out.render(summary)
    if run.executor.log:
        run.executor.log.close()
    if run.dry_run:
        print(f"# plan for {run.task} on {run.env.name} (dry run: nothing was changed, nothing connected)")
        print(run.executor.text().rstrip("\n"))


def confirm(run: Any, summary: str, yes: bool) -> None:
    """Protected environments (prod) ask on a terminal and refuse without --yes elsewhere."""
    if yes or run.dry_run or not run.env.is_protected:
        return
    if not sys.stdin.isatty():
        raise BadInput(f"refusing to change {run.env.name} without --yes: stdin is not a terminal ({summary})")
    answer = input(f"{summary} in {run.env.name}. Type the environment name to continue: ").strip()
    if answer != run.env.name:
        raise BadInput("not confirmed: nothing was changed")


def execute(
    c: Context,
    env: str | None,
    body: Callable,
    *,
    dry_run: bool = False,
    confirm_summary: str | None = None,
    yes: bool = False,
    quiet: bool = False,
    verbose: bool = False,
) -> Any:
    """Start a run, confirm if needed, call the flow, always finish."""
    run = start(c, env, dry_run=dry_run, quiet=quiet, verbose=verbose)
    try:
        if confirm_summary:
            confirm(run, confirm_summary, yes)
        return body(run)
    finally:
        finish(run)
