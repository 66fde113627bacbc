"""ghosttasks.testing: the scripted executor's rules, records, strictness and dry_run; the shipped inventory."""

import re

import pytest

from ghosttasks.commands.facts import Fact, stdout
from ghosttasks.domain.errors import CommandFailed
from ghosttasks.execution.plan_recorder import PlanRecorder
from ghosttasks.testing import (
    SHIPPED_INVENTORY,
    Answer,
    CapturedOutput,
    Command,
    ScriptedExecutor,
    UnscriptedCommand,
    Upload,
    a_run,
    env,
    prod,
)


def host(name):
    return next(h for h in prod().hosts if h.name == name)


def test_the_first_matching_rule_wins_in_the_order_added():
    executor = (
        ScriptedExecutor(prod())
        .on("cat /etc/os-release", "first")
        .on(re.compile(r"^cat "), "regex")
        .on(lambda command: command.endswith("release"), "predicate")
    )
    lb1 = host("lb1")
    assert executor.run(lb1, "cat /etc/os-release").stdout == "first"
    assert executor.run(lb1, "cat /etc/lsb-release").stdout == "regex"
    assert executor.run(lb1, "head /etc/lsb-release").stdout == "predicate"


def test_a_regex_matches_anywhere_and_a_fragment_only_as_written():
    executor = ScriptedExecutor(prod(), unscripted="strict").on(re.compile(r"nginx -[ts]"), "nginx")
    assert executor.run(host("lb1"), "sudo -n /usr/sbin/nginx -t -q").stdout == "nginx"
    with pytest.raises(UnscriptedCommand):
        executor.run(host("lb1"), "NGINX -t")


def test_a_rule_for_one_host_leaves_the_others_to_later_rules():
    executor = ScriptedExecutor(prod()).on("uptime", "app1's", host="app1").on("uptime", "everyone's")
    results = executor.run_parallel(prod().app_hosts, "uptime")
    assert [(r.host, r.stdout) for r in results] == [("app1", "app1's"), ("app2", "everyone's")]


def test_a_scripted_failure_fails_as_a_real_one_does():
    executor = ScriptedExecutor(prod()).on("nginx -t", stderr="duplicate upstream", exit_code=1)
    with pytest.raises(CommandFailed, match=r"^nginx test failed: \[lb1\] exit 1: duplicate upstream$"):
        executor.run(host("lb1"), "nginx -t", what="nginx test")


def test_a_reply_computes_the_answer_from_the_call():
    executor = ScriptedExecutor(prod()).on("hostname", reply=lambda call: Answer(f"{call.host.name} {call.assume}"))
    assert executor.read(host("db1"), Fact("hostname", "hostname", stdout, "assumed")) == "db1 assumed"


def test_commands_and_uploads_are_recorded_in_order_exactly():
    executor = ScriptedExecutor(prod())
    executor.run(host("lb1"), "true")
    executor.run_parallel(prod().app_hosts, lambda h: f"echo {h.name}", stdin="s3cret")
    executor.put(host("lb1"), "a\nb\n", "/etc/x.conf", mode=0o600)
    assert executor.commands == [
        Command("lb1", "true"),
        Command("app1", "echo app1", stdin=True),
        Command("app2", "echo app2", stdin=True),
    ]
    assert executor.uploads == [Upload("lb1", "/etc/x.conf", 0o600, "a\nb\n")]
    assert executor.text() == (
        "[lb1] $ true\n[app1] $ echo app1 (a secret on stdin)\n[app2] $ echo app2 (a secret on stdin)\n"
        "[lb1] upload /etc/x.conf (mode 0600):\n    | a\n    | b\n"
    )


def test_an_unscripted_command_is_empty_assumed_or_refused():
    lb1 = host("lb1")
    assert ScriptedExecutor(prod()).read(lb1, Fact("f", "cat f", stdout, "x")) == ""
    assert ScriptedExecutor(prod(), unscripted="assume").read(lb1, Fact("f", "cat f", stdout, "x")) == "x"
    strict = ScriptedExecutor(prod(), unscripted="strict")
    with pytest.raises(UnscriptedCommand, match=r"^no rule answers \[lb1\] \$ cat /var/lib/x$"):
        strict.read(lb1, Fact("x", "cat /var/lib/x", stdout, "x"))
    assert strict.commands == [Command("lb1", "cat /var/lib/x")]


def test_probes_answer_as_assumed_unless_scripted():
    def refused(check):
        raise ConnectionRefusedError("down")

    executor = ScriptedExecutor(prod()).on_probe("GET ", lambda check: check()).on_probe(re.compile("^PUT "), refused)
    assert executor.probe("GET /health", lambda: "checked", assume="assumed") == "checked"
    assert executor.probe("POST /x", lambda: "checked", assume="assumed") == "assumed"
    with pytest.raises(ConnectionRefusedError):
        executor.probe("PUT /metrics", lambda: "checked", assume="assumed")
    assert executor.entries == ["probe GET /health", "probe POST /x", "probe PUT /metrics"]


@pytest.mark.parametrize("dry_run", [False, True])
def test_the_run_sees_the_dry_run_flag(dry_run):
    run = a_run(ScriptedExecutor(prod(), dry_run=dry_run))
    assert run.dry_run is dry_run
    assert (run.identity()["run_id"] == "RUN_ID") is dry_run
    assert ScriptedExecutor(prod()).dry_run is False and PlanRecorder.dry_run is True


def test_a_run_prints_into_its_captured_output_unless_given_one():
    run = a_run(ScriptedExecutor(env("staging")), task="verify.health")
    run.note("hello")
    assert (run.env.name, run.task, run.out.printed) == ("staging", "verify.health", "hello\n")
    given = CapturedOutput()
    assert a_run(ScriptedExecutor(prod()), out=given).out is given


def test_the_shipped_inventory_is_loaded_once():
    assert SHIPPED_INVENTORY.name == "hosts.yml" and SHIPPED_INVENTORY.is_file()
    assert prod() is env("prod") and prod().name == "prod"
