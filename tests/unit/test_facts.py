"""Facts: each read's parser against real outputs (exact values, errors on bad output), and Executor.read in
both executors (the plan recorder answers the fact's assumed value; a scripted real run parses the real one)."""

import subprocess
import time
from pathlib import Path

import pytest
from fabric.testing.base import Command, MockRemote, Session

from ghosttasks.commands import alembic, compose, docker_images, git, host, nginx, postgres, remote_file
from ghosttasks.commands.facts import Unread, assumed_together, printed_together, split_parts, together
from ghosttasks.commands.pg_client import ServiceClient
from ghosttasks.config.inventory import load_inventory
from ghosttasks.domain.errors import BadInput, CommandFailed, OperationFailed
from ghosttasks.execution.executor import Result
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.execution.ssh_executor import SSHExecutor
from ghosttasks.terminal.output import Output
from ghosttasks.testing import ScriptedExecutor, prod

ROOT = Path(__file__).resolve().parents[2]
APP1_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAp6/DdvaSYPle28hf30OUZlHn0cbd7Yxv2c0Nl0p2oM"
A, B, C = "a1a1a1a1a1a1", "b2b2b2b2b2b2", "c3c3c3c3c3c3"
PROJECT = compose.Project("/srv/gw", "ghostworks", ("compose.yml",))


def answer(stdout="", stderr="", code=0):
    return Result("db1", "the command", stdout, stderr, code, 0.0)


def test_the_database_revisions_are_its_rows():
    fact = postgres.revision(ServiceClient(PROJECT, "postgres"), user="gw", database="gw")
    assert fact.parse(answer("b2b2b2b2b2b2\n")) == ("b2b2b2b2b2b2",)
    assert fact.parse(answer("")) == ()
    assert fact.parse(answer("", 'ERROR:  relation "alembic_version" does not exist\nLINE 1: ...', 1)) == ()
    assert fact.parse(answer("0003_customers\n0002_orders\n")) == ("0002_orders", "0003_customers")
    with pytest.raises(OperationFailed, match="cannot read the database's revision"):
        fact.parse(answer("", "psql: error: connection refused", 2))
    assert fact.check is False and fact.assumed == "b2b2b2b2b2b2"
    assert postgres.revision(ServiceClient(PROJECT, "postgres"), user="gw", database="gw", assumed=None).assumed == ""


def test_the_lb_flag_names_a_colour_or_fails():
    fact = nginx.lb_flag("/var/lib/ghosttasks/ghostworks-active-green")
    assert fact.parse(answer("green\n")) == "green"
    with pytest.raises(OperationFailed, match="cannot tell which colour db1 serves"):
        fact.parse(answer("cat: permission denied\n"))


def test_the_revision_reader_gives_the_graph_with_messages_and_fails_naming_the_version():
    fact = alembic.revisions("python3 -c READER", "v1.1.0")
    text = (ROOT / "tests/unit/alembic_fixtures/merged.graph.txt").read_text()
    history = fact.parse(answer(text))
    assert history.graph.heads() == ("0005_status",)
    assert history.messages["0004_merge"] == "merge orders and customers"
    two_heads = (ROOT / "tests/unit/alembic_fixtures/two_heads.graph.txt").read_text()
    with pytest.raises(OperationFailed, match=r"^v1.1.0: the history has several heads 0002_orders, 0003_customers"):
        fact.parse(answer(two_heads))
    with pytest.raises(OperationFailed, match="the alembic revision reader printed nothing") as failed:
        fact.parse(answer("", "Traceback (most recent call last):\nModuleNotFoundError: No module named 'alembic'"))
    assert failed.value.hint == "the reader said: ModuleNotFoundError: No module named 'alembic'"
    assumed = fact.parse(answer(fact.assumed))
    assert assumed.graph.parents == {"b2b2b2b2b2b2": ("a1a1a1a1a1a1",), "a1a1a1a1a1a1": ()}
    assert assumed.messages == {"a1a1a1a1a1a1": "older", "b2b2b2b2b2b2": "newer"}


def test_the_generated_revision_is_the_path_alembic_named():
    fact = alembic.generated("alembic revision -m x")
    said = "  Generating /app/alembic/versions/3f2a_add_note.py ...  done\n"
    assert fact.parse(answer("", said)) == "/app/alembic/versions/3f2a_add_note.py"
    with pytest.raises(OperationFailed, match="alembic did not say which file it generated"):
        fact.parse(answer("nothing to do\n"))


def test_pushed_images_are_pinned_by_their_digests():
    repositories = ["reg:5000/gw/api", "reg:5000/gw/web"]
    fact = docker_images.pushed("push", repositories, "v1.2.0")
    api, web = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    printed = f'["reg:5000/gw/api@{api}"]\n["reg:5000/gw/web@{web}"]\n'
    assert fact.parse(answer(printed)) == [f"reg:5000/gw/api@{api}", f"reg:5000/gw/web@{web}"]
    with pytest.raises(OperationFailed, match=r"push v1\.2\.0: expected 2 digests"):
        fact.parse(answer(f'["reg:5000/gw/api@{api}"]\n'))


def test_host_reads_say_why_a_host_gave_no_answer():
    names = host.defined_names("/srv/gw/.env", ["DATABASE_URL"])
    assert names.parse(answer("DATABASE_URL\nSECRET_KEY\n")) == frozenset({"DATABASE_URL", "SECRET_KEY"})
    assert names.parse(answer("", "sed: can't read /srv/gw/.env", 2)) == Unread(
        "[db1] exit 2: sed: can't read /srv/gw/.env"
    )
    facts = host.prerequisites("/srv")
    assert facts.parse(answer("28.2.2\n2.40.3\n25165824\n83886080\n")) == "28.2.2\n2.40.3\n25165824\n83886080\n"
    lost = Result("db1", "x", "", "connection lost: reset", 255, 0.0, hint="check the network")
    assert facts.parse(lost) == Unread("connection lost: reset", "check the network")


def test_sizes_and_local_git_reads():
    assert docker_images.space().parse(answer("Images 1.5GB\nContainers 0B\n")) == 1_500_000_000
    with pytest.raises(ValueError, match="no image size"):
        docker_images.space().parse(answer("Volumes 0B\n"))
    assert docker_images.release_kib(["/a", "/b"]).parse(answer("120\t/a\n30\t/b\n")) == 150
    assert git.local_tag(".", "v1.0.0").parse(answer("4e1f...\n")) is True
    with pytest.raises(BadInput, match="is not a git repository"):
        git.local_changes("/tmp/nowhere").parse(answer("", "fatal: not a git repository", 128))


def test_state_json_corrupt_is_an_error_naming_the_file():
    fact = remote_file.deploy_state("/var/lib/ghosttasks/state.json")
    assert fact.parse(answer("")).active is None
    with pytest.raises(OperationFailed, match=r"^db1:/var/lib/ghosttasks/state.json is corrupt"):
        fact.parse(answer("{not json"))


# -- Executor.read ------------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path):
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"app1.internal.ghostworks.dev {APP1_KEY}\n")
    prod = load_inventory(ROOT / "hosts.yml").env("prod")
    ssh = prod.ssh.model_copy(update={"known_hosts": str(known_hosts), "jump_host": None})
    return prod.model_copy(update={"ssh": ssh})


def test_the_plan_recorder_answers_a_read_from_its_assumed_answer(env):
    recorder = PlanRecorder(env, Output(silent=True))
    app1 = env.app_hosts[0]
    fact = remote_file.deploy_state("/var/lib/ghosttasks/state.json")
    assert recorder.read(app1, fact).active == "green"
    revision = postgres.revision(ServiceClient(PROJECT, "postgres"), user="gw", database="gw", assumed="c3c3c3c3c3c3")
    assert recorder.read(app1, revision) == ("c3c3c3c3c3c3",)
    assert recorder.entries == [
        "# dry run: state.json is assumed to say active green, blue v1.0.0, green v1.1.0",
        "[app1] $ cat /var/lib/ghosttasks/state.json 2>/dev/null || true",
        f"[app1] $ {revision.command}",
    ]


def test_a_real_read_parses_what_the_host_printed(env):
    fact = docker_images.running_image("ghostworks-blue", "api")
    digest = "reg:5000/gw/api@sha256:" + "c" * 64
    remote = MockRemote()
    try:
        remote.expect_sessions(
            Session(
                host="app1.internal.ghostworks.dev",
                user="deploy",
                port=22,
                commands=[
                    Command(fact.command, out=f'["{digest}"]\n'.encode()),
                    Command(nginx.read_flag("/f"), out=b"purple\n"),
                ],
            )
        )
        executor = SSHExecutor(env, Output(silent=True))
        app1 = next(h for h in env.hosts if h.name == "app1")
        assert executor.read(app1, fact) == [digest]
        with pytest.raises(OperationFailed, match=r"cannot tell which colour app1 serves: .*purple"):
            executor.read(app1, nginx.lb_flag("/f"))
        executor.close()
    finally:
        remote.stop()


def test_a_failed_read_with_check_raises_before_parsing(env):
    executor = ScriptedExecutor(env).on("", stderr="git: not found", exit_code=127)
    with pytest.raises(CommandFailed, match=r"list worktrees failed: .*git: not found"):
        executor.read(env.app_hosts[0], git.worktrees("/srv/gw"))
    assert executor.read_parallel(env.app_hosts, lambda h: host.prerequisites("/srv")) == [
        Unread(f"[{h.name}] exit 127: git: not found") for h in env.app_hosts
    ]


# -- several reads as one command (issue 26: one command per host a switch touches) -----------------------------


def test_together_is_one_line_the_parts_at_once_each_in_its_subshell_then_printed_between_markers():
    assert together(["echo a", "exit 2"]) == (
        "d=$(mktemp -d) || exit 1; trap 'rm -rf \"$d\"' EXIT; "
        '{ ( echo a ) </dev/null >"$d/o0" 2>"$d/e0"; echo $? >"$d/c0"; } & '
        '{ ( exit 2 ) </dev/null >"$d/o1" 2>"$d/e1"; echo $? >"$d/c1"; } & wait; '
        "cat \"$d/o0\"; printf '\\n%s\\n' '--- ghosttasks: part 0 stderr ---'; cat \"$d/e0\"; "
        "printf '\\n%s %s ---\\n' '--- ghosttasks: part 0 exit' \"$(cat \"$d/c0\")\"; "
        "cat \"$d/o1\"; printf '\\n%s\\n' '--- ghosttasks: part 1 stderr ---'; cat \"$d/e1\"; "
        "printf '\\n%s %s ---\\n' '--- ghosttasks: part 1 exit' \"$(cat \"$d/c1\")\""
    )


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_each_part_answers_as_if_it_had_run_alone(shell):
    parts = [
        "echo out; echo err >&2; exit 3",
        "printf 'no newline at the end'",
        "cd / && exit 0",
        "pwd",
        "echo '--- ghosttasks: part 9 stderr ---'",
        "sleep 0.5; cat",  # at once with the next (and its standard input is not the command's)
        "sleep 0.5",
    ]
    started = time.monotonic()
    printed = subprocess.run(
        [shell, "-c", together(parts)], capture_output=True, text=True, check=True, cwd="/tmp", input="not read\n"
    )
    assert time.monotonic() - started < 0.95
    assert split_parts(printed.stdout, len(parts)) == [
        ("out\n", "err\n", 3),
        ("no newline at the end", "", 0),
        ("", "", 0),
        ("/tmp\n", "", 0),  # the cd of another part stayed in its subshell
        ("--- ghosttasks: part 9 stderr ---\n", "", 0),
        ("", "", 0),
        ("", "", 0),
    ]


def test_a_command_cut_short_leaves_its_unfinished_parts_unanswered():
    printed = printed_together([("a\n", "", 0), ("b\n", "", 0)])
    cut = printed[: printed.index("part 1 stderr") + 5]
    assert split_parts(cut, 2) == [("a\n", "", 0), None]
    assert split_parts("", 3) == [None, None, None]


def test_what_a_dry_run_assumes_splits_into_the_assumed_answers():
    assert split_parts(assumed_together(["green\n", "", "x"]), 3) == [("green\n", "", 0), ("", "", 0), ("x", "", 0)]


class Unreachable(PlanRecorder):
    """A plan recorder whose every command finds its host gone (as SSHExecutor answers a lost connection)."""

    def _run(self, host, command, *, timeout, stream, assume, stdin=None):
        super()._run(host, command, timeout=timeout, stream=stream, assume=assume, stdin=stdin)
        return Result(host.name, command, "", "connection lost: gone", 255, 0.0)


def test_read_together_answers_each_fact_as_read_alone_and_raises_only_when_asked():
    env = prod()
    lb = env.lb_host
    flag, listing = nginx.lb_flag("/f"), nginx.missing_files(["/u"])
    recorder = ScriptedExecutor(env, unscripted="strict").on("[ -e /f ]", "green\n").on("[ -e /u ]", "/u\n")
    flag_answer, missing = recorder.read_together(lb, [flag, listing])
    assert (flag_answer.value(), missing.value()) == ("green", ["/u"])
    assert [command.command for command in recorder.commands] == [flag.command, listing.command]
    assert recorder.entries == [f"[{lb.name}] $ {together([flag.command, listing.command])}"]
    gone = Unreachable(env, Output(silent=True)).read_together(lb, [flag, listing])
    assert [answer.result.exit_code for answer in gone] == [255, 255]
    with pytest.raises(CommandFailed, match=r"read the LB.s flag failed: .*connection lost: gone"):
        gone[0].value()
    assert gone[1].result.describe() == "[lb1] exit 255: connection lost: gone"  # require_installed judges this
