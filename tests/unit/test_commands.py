"""Every command builder pinned by exact output, hostile values included."""

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from ghosttasks.commands import alembic, compose, git, host, lock_dir, nginx, pg_dump, postgres, qpath, remote_file
from ghosttasks.commands.pg_client import ServiceClient

PROJECT = compose.Project(
    "/srv/rel/v1.1.0", "ghostworks-green", ("docker-compose.yml", "docker-compose.green.yml"), "v1.1.0"
)
PREFIX = (
    "cd /srv/rel/v1.1.0 && APP_VERSION=v1.1.0 docker compose -p ghostworks-green "
    "-f docker-compose.yml -f docker-compose.green.yml"
)
SHARED = compose.Project("/srv/ghostworks", "ghostworks", ("docker-compose.yml",))
SHARED_PREFIX = "cd /srv/ghostworks && docker compose -p ghostworks -f docker-compose.yml"


def test_qpath_keeps_home_and_quotes_the_rest():
    assert qpath("~/ghost works") == "\"$HOME\"/'ghost works'"
    assert qpath("~") == '"$HOME"'
    assert qpath("/a;rm -rf /") == "'/a;rm -rf /'"


@pytest.mark.parametrize(
    ("built", "expected"),
    [
        (compose.build(PROJECT, ["api", "web"]), f"{PREFIX} build api web"),
        (compose.up(PROJECT, ["api", "web"]), f"{PREFIX} up -d --no-deps api web"),
        (compose.up(PROJECT, ["api"], recreate=True), f"{PREFIX} up -d --no-deps --force-recreate api"),
        (compose.up(SHARED), f"{SHARED_PREFIX} up -d"),
        (compose.ps(PROJECT), f"{PREFIX} ps --all"),
        (compose.logs(PROJECT, "api", 50), f"{PREFIX} logs --no-color --timestamps --tail 50 api"),
        (
            compose.exec_(PROJECT, "api", ["python3", "-m", "alembic", "upgrade", "head"]),
            f"{PREFIX} exec -T api python3 -m alembic upgrade head",
        ),
        (compose.run_rm(PROJECT, "api", ["alembic", "current"]), f"{PREFIX} run --rm --no-deps -T api alembic current"),
        (compose.config(PROJECT), f"{PREFIX} config"),
        (compose.config_check(PROJECT), f"{PREFIX} config --quiet"),
        (
            compose.copy_out(PROJECT, "api", "/app/alembic/versions/x.py", "~/app/"),
            f'{PREFIX} cp api:/app/alembic/versions/x.py "$HOME"/app/',
        ),
    ],
)
def test_compose(built, expected):
    assert built == expected


def test_compose_quotes_hostile_values():
    hostile = compose.Project("/srv/x; rm -rf /", "p$(id)", ("a b.yml",), "v1.0.0`id`")
    assert compose.build(hostile, ["api"]) == (
        "cd '/srv/x; rm -rf /' && APP_VERSION='v1.0.0`id`' docker compose -p 'p$(id)' -f 'a b.yml' build api"
    )
    assert compose.exec_(hostile, "api", ["alembic", "downgrade", "$(reboot)"]).endswith(
        "exec -T api alembic downgrade '$(reboot)'"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (alembic.upgrade("python3 -m alembic"), ["python3", "-m", "alembic", "upgrade", "head"]),
        (alembic.upgrade("alembic", "ae1027a6acf"), ["alembic", "upgrade", "ae1027a6acf"]),
        (alembic.downgrade("alembic", "-1"), ["alembic", "downgrade", "-1"]),
        (alembic.history("alembic"), ["alembic", "history"]),
        (alembic.stamp("alembic", "head"), ["alembic", "stamp", "--purge", "head"]),
        (
            alembic.revision("alembic", "add tags; drop", autogenerate=True),
            ["alembic", "revision", "--autogenerate", "-m", "add tags; drop"],
        ),
        (alembic.revision("alembic", "x", autogenerate=False), ["alembic", "revision", "-m", "x"]),
        (
            alembic.upgrade_sql("alembic", "0003c3d4e5f6", "0006f6a7b8c9"),
            ["alembic", "upgrade", "0003c3d4e5f6:0006f6a7b8c9", "--sql"],
        ),
        (alembic.upgrade_sql("alembic", None, "0002b2c3d4e5"), ["alembic", "upgrade", "0002b2c3d4e5", "--sql"]),
        (
            alembic.downgrade_sql("alembic", "0005e5f6a7b8", "0003c3d4e5f6"),
            ["alembic", "downgrade", "0005e5f6a7b8:0003c3d4e5f6", "--sql"],
        ),
        (
            alembic.downgrade_sql("alembic", "0001a1b2c3d4", None),
            ["alembic", "downgrade", "0001a1b2c3d4:base", "--sql"],
        ),
    ],
)
def test_alembic(argv, expected):
    assert argv == expected


def test_migration_session_env_bounds_locks_and_statements_in_ms():
    assert alembic.session_env(5, 600) == {"PGOPTIONS": "-c lock_timeout=5000 -c statement_timeout=600000"}
    assert alembic.session_env(0.5, 1.25) == {"PGOPTIONS": "-c lock_timeout=500 -c statement_timeout=1250"}


def test_compose_passes_extra_environment_quoted():
    env = {"PGOPTIONS": "-c lock_timeout=5000"}
    assert compose.exec_(PROJECT, "api", ["alembic", "upgrade", "head"], env) == (
        f"{PREFIX} exec -T -e 'PGOPTIONS=-c lock_timeout=5000' api alembic upgrade head"
    )
    assert compose.run_rm(PROJECT, "api", ["alembic", "upgrade", "head"], env) == (
        f"{PREFIX} run --rm --no-deps -T -e 'PGOPTIONS=-c lock_timeout=5000' api alembic upgrade head"
    )


def test_backup_name():
    assert pg_dump.backup_name("prod", "v1.1.0", "20261128T203400Z") == "prod-v1.1.0-20261128T203400Z.dump"
    with pytest.raises(ValueError):
        pg_dump.backup_name("prod", "v1;rm", "x")


def test_backup_dump_writes_partial_then_renames():
    assert pg_dump.dump(
        ServiceClient(SHARED, "postgres"), user="postgres", database="ghostworks", path="/b/prod-v1.dump"
    ) == (
        f"umask 077 && mkdir -p /b && {{ {SHARED_PREFIX} exec -T postgres pg_dump -U postgres -Fc "
        "--lock-wait-timeout=60s ghostworks "
        "> /b/prod-v1.dump.partial; } && mv -f /b/prod-v1.dump.partial /b/prod-v1.dump "
        "|| { status=$?; rm -f /b/prod-v1.dump.partial; exit $status; }"
    )


def test_backup_verify_checks_restore_list_then_checksums():
    assert pg_dump.verify(ServiceClient(SHARED, "postgres"), path="/b/prod-v1.dump") == (
        f"test -s /b/prod-v1.dump && {SHARED_PREFIX} exec -T postgres pg_restore --list < /b/prod-v1.dump > /dev/null "
        "&& (cd /b && umask 077 && sha256sum prod-v1.dump > /b/prod-v1.dump.sha256) "
        "&& stat -c 'size=%s' /b/prod-v1.dump && cat /b/prod-v1.dump.sha256"
    )


def test_backup_retention_listing_restore_checksum():
    assert pg_dump.prune("/b", "prod", 14) == (
        'ls -1t /b/prod-*.dump 2>/dev/null | tail -n +15 | while read -r old; do rm -f -- "$old" "$old.sha256"; done'
    )
    assert pg_dump.listing("/b", "prod") == (
        "ls -1t /b/prod-*.dump 2>/dev/null | while read -r f; do stat -c '%n %s %y' \"$f\"; done; true"
    )
    assert pg_dump.check_checksum("/b/prod-v1.dump") == "cd /b && sha256sum --check --strict prod-v1.dump.sha256"
    assert pg_dump.restore(ServiceClient(SHARED, "postgres"), user="postgres", database="gw", path="/b/x.dump") == (
        f"{SHARED_PREFIX} exec -T postgres pg_restore -U postgres -d gw --clean --if-exists --single-transaction "
        "--no-owner < /b/x.dump"
    )


def test_nginx():
    assert nginx.test("nginx", None) == "nginx -t -q"
    assert nginx.test("nginx", "/lab/nginx.conf") == "nginx -c /lab/nginx.conf -t -q"
    assert nginx.reload("sudo nginx", "/lab/nginx.conf") == "sudo nginx -c /lab/nginx.conf -s reload"
    assert nginx.staged_path("/etc/up.conf") == "/etc/up.conf.ghosttasks-new"
    assert nginx.swap_in("/etc/up.conf") == (
        "{ if [ -f /etc/up.conf ]; then cp -p /etc/up.conf /etc/up.conf.ghosttasks-prev; "
        "else rm -f /etc/up.conf.ghosttasks-prev; fi; } && mv -f /etc/up.conf.ghosttasks-new /etc/up.conf"
    )
    assert nginx.restore_previous("/etc/up.conf") == (
        "if [ -f /etc/up.conf.ghosttasks-prev ]; then mv -f /etc/up.conf.ghosttasks-prev /etc/up.conf; "
        "else rm -f /etc/up.conf; fi"
    )


def test_git():
    assert git.fetch_tags("/srv/gw") == "git -C /srv/gw fetch --quiet --force --tags origin"
    assert git.remote_tag_exists("/srv/gw", "v1.0.0") == (
        "git -C /srv/gw ls-remote --exit-code --tags origin refs/tags/v1.0.0 > /dev/null"
    )
    assert git.checkout_release("/srv/gw", "/srv/rel/v1.0.0", "v1.0.0", ".env") == (
        "git -C /srv/gw worktree prune && { [ -e /srv/rel/v1.0.0/.git ] || git -C /srv/gw worktree add --quiet "
        "--detach /srv/rel/v1.0.0 'refs/tags/v1.0.0^{commit}'; } && git -C /srv/rel/v1.0.0 checkout --quiet --force "
        "--detach 'refs/tags/v1.0.0^{commit}' && ln -sfn /srv/gw/.env /srv/rel/v1.0.0/.env"
    )
    assert git.checkout_ref("/srv/gw", "main") == (
        "git -C /srv/gw fetch --quiet --force --tags origin main && git -C /srv/gw checkout --quiet --force "
        "--detach FETCH_HEAD && git -C /srv/gw rev-parse --short HEAD"
    )
    assert git.clone_if_missing("git@x:y.git", "~/gw") == (
        '[ -e "$HOME"/gw/.git ] || git clone --quiet git@x:y.git "$HOME"/gw'
    )
    assert git.local_create_tag(".", "v1.0.0", "Production release v1.0.0") == (
        "git -C . tag --annotate v1.0.0 --message 'Production release v1.0.0'"
    )
    assert git.local_push_tag(".", "v1.0.0") == "git -C . push origin refs/tags/v1.0.0"


def test_host_facts():
    assert host.env_names("/srv/gw/.env") == (
        "sed -n 's/^[[:space:]]*\\(export[[:space:]]\\+\\)\\?\\([A-Za-z_][A-Za-z0-9_]*\\)=.*/\\2/p' /srv/gw/.env"
    )
    assert host.env_from_example("/a/.env.example", "/a/my env").command == (
        "if [ -e '/a/my env' ]; then echo exists; elif [ -e /a/.env.example ]; then "
        "(umask 077 && cp /a/.env.example '/a/my env') && echo created; else echo no-example; fi"
    )
    assert host.memory_kib() == "awk '/^MemTotal:/ {print $2}' /proc/meminfo"


def test_lock_commands_quote_the_holder():
    info = '{"reason": "it\'s $(bad)"}'
    holder = '\'{"reason": "it\'"\'"\'s $(bad)"}\''
    unwritable = "printf 'cannot create %s: %s may not write %s\\n' /state/lock \"$(id -un)\" /state >&2; exit 2"
    assert lock_dir.acquire("/state", info) == (
        f"mkdir -p /state || exit 2; t=$(mktemp -d /state/.lock.XXXXXX 2>/dev/null) || {{ {unwritable}; }}; "
        f'printf \'%s\\n\' {holder} > "$t/info.json" || {{ rm -rf "$t"; exit 2; }}; '
        'if mv -T "$t" /state/lock 2>/dev/null; then exit 0; fi; rm -rf "$t"; '
        f"if [ -d /state/lock ]; then cat /state/lock/info.json 2>/dev/null; exit 1; fi; {unwritable}"
    )
    assert lock_dir.force_acquire("/state", info) == (
        f"mkdir -p /state && t=$(mktemp -d /state/.lock.XXXXXX) && printf '%s\\n' {holder} > \"$t/info.json\" && "
        '{ for attempt in 1 2 3 4 5; do rm -rf /state/lock; mv -T "$t" /state/lock 2>/dev/null && break; done; '
        '[ ! -e "$t" ] || { rm -rf "$t"; echo \'could not replace the lock\' >&2; false; }; }'
    )
    assert lock_dir.release("/state", "ab12cd34") == (
        "if grep -qF -- ab12cd34 /state/lock/info.json 2>/dev/null; then rm -rf /state/lock; fi"
    )
    assert lock_dir.force_release("/state") == "rm -rf /state/lock"


def test_a_run_refused_at_the_moment_the_lock_is_taken_reads_its_holder(tmp_path):
    """Eight runs at once, run by bash here: one takes the lock, each of the seven others is refused with the
    winner's holder (never an empty lock file, the race of mkdir-then-write), and nothing else is left."""
    state = tmp_path / "state"

    def take(number: int) -> subprocess.CompletedProcess:
        command = lock_dir.acquire(str(state), json.dumps({"run_id": f"run{number}"}))
        return subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=False)

    for _ in range(40):  # the old mkdir-then-write showed an empty holder in about 1 round of 11
        shutil.rmtree(state, ignore_errors=True)
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(take, range(8)))
        assert sorted(result.returncode for result in results) == [0] + [1] * 7, results
        holder = (state / "lock" / "info.json").read_text()
        assert all(result.stdout == holder for result in results if result.returncode == 1), results
        assert [path.name for path in state.iterdir()] == ["lock"]
    frozen = subprocess.run(["bash", "-c", lock_dir.force_acquire(str(state), '{"frozen": true}')], check=False)
    assert frozen.returncode == 0
    assert (state / "lock" / "info.json").read_text() == '{"frozen": true}\n'
    assert [path.name for path in state.iterdir()] == ["lock"]


def test_schema_revision_is_read_with_psql_in_the_postgres_service():
    # docker exec in the container compose labelled as the project's service: no compose CLI start (issue 26)
    assert postgres.schema_revision(ServiceClient(PROJECT, "postgres"), user="postgres", database="gw") == (
        f"c=$(docker ps -q --filter label=com.docker.compose.project={PROJECT.name} "
        "--filter label=com.docker.compose.service=postgres --filter label=com.docker.compose.oneoff=False "
        '| head -n 1); if [ -z "$c" ]; then echo '
        f"'service postgres is not running in compose project {PROJECT.name}' >&2; exit 1; fi; "
        "docker exec \"$c\" psql -U postgres -d gw -X -q -tA -c 'SELECT version_num FROM alembic_version'"
    )


def test_remote_file_commands():
    assert remote_file.append_line("/state/history.jsonl", '{"a": 1}') == (
        "mkdir -p /state && printf '%s\\n' '{\"a\": 1}' >> /state/history.jsonl"
    )
    assert remote_file.read_file("/state/x y") == "cat '/state/x y' 2>/dev/null || true"
    assert remote_file.tail_lines("~/h.jsonl", 5) == 'tail -n 5 "$HOME"/h.jsonl 2>/dev/null || true'
