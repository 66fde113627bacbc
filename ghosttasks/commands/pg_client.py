"""Where PostgreSQL's client tools (psql, pg_dump, pg_restore, pg_isready) run, and how they reach the server.

- `ServiceClient`: `docker compose exec` in the database's compose service on the db host (its own socket); a
  quick read (the revision) goes by `docker exec` to the container compose labelled as that service.
- `OneOffClient`: a managed server no SSH host runs. A `docker run --rm` container of `database.client_image`
  on the client host, on the host's network, with PGHOST, PGPORT and PGSSLMODE. The password comes on the
  command's standard input (the executor sends it, a line): the remote shell reads it into its own
  environment and `docker run -e PGPASSWORD` hands it on from there; it is never in any argv, file or log.
  Every command built with a OneOffClient must be run with that password line on stdin.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from ghosttasks.commands import compose

#: Where `database.ssl_root_cert` is mounted (read-only) inside a one-off client container.
ROOT_CERT_IN_CONTAINER = "/run/ghosttasks/root.crt"
#: The remote shell takes the password from its standard input (one line) into its environment.
READ_PASSWORD = "IFS= read -r PGPASSWORD && export PGPASSWORD && "


@dataclass(frozen=True)
class ServiceClient:
    """The client tools of the database's compose service, run with `docker compose exec` on the db host."""

    project: compose.Project
    service: str
    password_on_stdin = False

    def command(self, argv: list[str], env: dict[str, str] | None = None) -> str:
        """argv in the running service container (no TTY; standard input passes through)."""
        return compose.exec_(self.project, self.service, argv, env)

    def read_command(self, argv: list[str]) -> str:
        """A quick read (no standard input): `docker exec` in the service's running container, found by its compose
        labels, without the compose CLI's own start (about 0.2 s on every call)."""
        return compose.exec_running(self.project.name, self.service, argv)


@dataclass(frozen=True)
class OneOffClient:
    """The client tools of `image` in a one-off container reaching a managed server at host:port."""

    image: str
    host: str
    port: int
    sslmode: str
    ssl_root_cert: str | None = None
    password_on_stdin = True

    def command(self, argv: list[str], env: dict[str, str] | None = None) -> str:
        """argv in `docker run --rm -i` on the host network (standard input passes through, no log kept),
        after the shell has read the password line from its standard input."""
        settings = {"PGHOST": self.host, "PGPORT": str(self.port), "PGSSLMODE": self.sslmode}
        mounts = ""
        if self.ssl_root_cert:
            settings["PGSSLROOTCERT"] = ROOT_CERT_IN_CONTAINER
            mounts = f"-v {shlex.quote(f'{self.ssl_root_cert}:{ROOT_CERT_IN_CONTAINER}:ro')} "
        flags = "".join(f"-e {shlex.quote(f'{name}={value}')} " for name, value in {**settings, **(env or {})}.items())
        return (
            f"{READ_PASSWORD}docker run --rm -i --network host --log-driver none -e PGPASSWORD {flags}{mounts}"
            f"{shlex.quote(self.image)} {shlex.join(argv)}"
        )

    def read_command(self, argv: list[str]) -> str:
        """A quick read: the same one-off container (the password line still on standard input)."""
        return self.command(argv)


Client = ServiceClient | OneOffClient
