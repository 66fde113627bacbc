"""Where the database's client tools run, and the password they need: the one place flows ask for PostgreSQL.

A compose service: `docker compose exec` in `database.service` on the db host. A managed server
(`database.host`): a one-off container of `database.client_image` on the client host, the password read on this
machine (masked from then on) and sent on each command's standard input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from ghosttasks.commands import pg_client
from ghosttasks.commands.facts import Fact
from ghosttasks.config.inventory import Host
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.domain.masking import mask
from ghosttasks.execution.executor import Result
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.projects import shared_project

T = TypeVar("T")


@dataclass(frozen=True)
class DatabaseAccess:
    """The host the client runs on (and the backups live on), the client, and the stdin its commands need."""

    host: Host
    client: pg_client.Client
    stdin: str | None = None

    def read(self, run: Run, fact: Fact[T]) -> T:
        """A fact whose command uses the client, read on the client's host."""
        return run.executor.read(self.host, fact, stdin=self.stdin)

    def run(self, run: Run, command: str, *, what: str, stream: bool = False) -> Result:
        """A command that uses the client, run on the client's host."""
        return run.executor.run(self.host, command, what=what, stream=stream, stdin=self.stdin)


def database_access(run: Run) -> DatabaseAccess:
    """The environment's database client; a managed server's password is refused before anything runs when it is
    not set on this machine."""
    env = run.env
    db = env.database
    if not db.managed:
        return DatabaseAccess(env.db_host, pg_client.ServiceClient(shared_project(run), db.service))
    client = pg_client.OneOffClient(db.client_image or "", db.host or "", db.port, db.sslmode, db.ssl_root_cert)
    return DatabaseAccess(env.database_client_host, client, f"{database_password(run)}\n")


def check_password(run: Run) -> None:
    """A managed server's password is set on this machine (refused before anything changes when not); a dry run
    says that it did not read it."""
    db = run.env.database
    if not db.managed:
        return
    if run.dry_run:
        run.note(f"dry run: the database password ({db.password_source}) is not read; a real run refuses without it")
        return
    database_password(run)


def database_password(run: Run) -> str:
    """The managed server's password from this machine (masked from here on); refused before anything changes
    when it is not set. A dry run does not read it (a plan connects nowhere)."""
    db = run.env.database
    if run.dry_run:
        return "<database password>"
    password = db.password()
    if not password:
        raise OperationFailed(
            f"the database password is missing: {db.password_source} is not set or empty on this machine; "
            "nothing was changed",
            hint=f"set it (database.password_env / database.password_file) to the password of {db.user} at "
            f"{db.host}:{db.port}",
        )
    if "\n" in password or "\r" in password:
        raise OperationFailed(f"the database password ({db.password_source}) holds a line break; nothing was changed")
    mask.add(password)
    return password
