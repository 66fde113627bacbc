"""The health contract in the flows: the colour from the LB's header (verify_lb, the monitor), the database
reading from health.database_field, and version_from none checking the containers' images."""

from __future__ import annotations

import re

import httpx
import pytest

from ghosttasks.commands import docker_images
from ghosttasks.config.settings import HealthSettings
from ghosttasks.decisions.triggers import Reading, evaluate
from ghosttasks.domain.errors import OperationFailed
from ghosttasks.execution import probes
from ghosttasks.flows.steps import health as health_step
from ghosttasks.flows.steps import monitor, switching
from ghosttasks.testing import Answer, CapturedOutput, ScriptedExecutor, a_run, prod

LB_URL = "https://api.ghostworks.dev/api/v1/health"
REAL_CLIENT = httpx.Client


def with_health(env, **settings):
    return env.model_copy(update={"health": HealthSettings(**settings)})


def lb_answers(monkeypatch, served: str | None, body: dict, status: int = 200):
    """Every request (the probes' own httpx clients) answers `body`, with the LB's colour header when `served`."""

    def handler(request):
        headers = {"X-Served-Color": served} if served else {}
        return httpx.Response(status, json=body, headers=headers)

    monkeypatch.setattr(httpx, "Client", lambda **kw: REAL_CLIENT(transport=httpx.MockTransport(handler)))


def verify(env, monkeypatch, served, body, *, version="v1.1.0"):
    lb_answers(monkeypatch, served, body)
    executor = ScriptedExecutor(env).on_probe("x4 on new connections", lambda check: check())
    out = CapturedOutput()
    switching.verify_lb(a_run(executor, out=out), "green", version, samples=4, deadline=0.3)
    return out.printed, executor


def test_the_colour_is_read_from_the_lb_header_an_app_without_a_color_field_passes(monkeypatch):
    printed, executor = verify(prod(), monkeypatch, "green", {"status": "ok", "version": "v1.1.0"})
    assert f"LB verified: 4 requests to {LB_URL}: 4x green v1.1.0" in printed
    assert executor.entries[-1].endswith("every answer from green v1.1.0, colour from the X-Served-Color header")


def test_answers_without_the_colour_header_say_what_nginx_did_not_wrong_colour(monkeypatch):
    body = {"status": "ok", "version": "v1.1.0", "color": "green"}  # the app's own field is not believed
    with pytest.raises(OperationFailed) as caught:
        verify(prod(), monkeypatch, None, body)
    assert str(caught.value) == (
        f"4 of 4 answers through the LB carry no X-Served-Color header (4 requests to {LB_URL}: 4x ? v1.1.0): "
        "nginx drops the selector's server-level add_header in any location that sets its own add_header; check "
        "`nginx -T` on lb1 and include /etc/nginx/conf.d/ghostworks-selector.inc in each such location"
    )


def test_another_colour_is_a_failed_traffic_check(monkeypatch):
    with pytest.raises(OperationFailed) as caught:
        verify(prod(), monkeypatch, "blue", {"status": "ok", "version": "v1.1.0"})
    assert str(caught.value) == f"traffic check failed: 4 requests to {LB_URL}: 4x blue v1.1.0"


def test_with_version_from_none_the_lb_check_is_on_the_colour_alone(monkeypatch):
    env = with_health(prod(), checks={}, version_from="none")
    printed, executor = verify(env, monkeypatch, "green", {"anything": 1})
    assert "4x green ? (version: checked from the images)" in printed
    assert "every answer from green (version: not configured in the answers)" in executor.entries[-1]


def reading(env, monkeypatch, served, body, status=200):
    lb_answers(monkeypatch, served, body, status)
    watcher = monitor.Watcher(a_run(ScriptedExecutor(env)), "green", "v1.1.0")
    result = Reading(error_rate=0.0, p95=0.1)
    watcher._read_health(result)
    return result


def test_the_monitor_reads_the_database_from_the_configured_field(monkeypatch):
    ok = reading(prod(), monkeypatch, "green", {"status": "ok", "version": "v1.1.0", "checks": {"database": "ok"}})
    assert (ok.healthy, ok.database_ok, ok.line()) == (
        True,
        True,
        "error rate 0.0%, p95 0.10 s (prometheus), health ok",
    )
    down = reading(prod(), monkeypatch, "green", {"status": "ok", "checks": {"database": "down"}})
    assert (down.database_ok, down.detail) == (False, "checks.database down")
    assert evaluate(down, prod().thresholds, 0).trigger.describe() == (
        "database connection failures checks.database down (threshold none)"
    )


def test_a_database_reading_that_cannot_be_made_is_said_and_fires_nothing(monkeypatch):
    missing = reading(prod(), monkeypatch, "green", {"status": "ok"})
    assert missing.database_ok is None
    assert missing.line() == (
        "error rate 0.0%, p95 0.10 s (prometheus), health ok, database: checks.database missing from the answer"
    )
    env = with_health(prod(), checks={}, database_field=None)
    unset = reading(env, monkeypatch, "green", {"checks": {"database": "ok"}})
    assert unset.database_ok is None and unset.line().endswith("health ok, database: not configured")
    assert evaluate(unset, env.thresholds, 0).trigger is None


def test_a_monitor_answer_from_the_other_colour_is_a_failed_health_reading(monkeypatch):
    other = reading(prod(), monkeypatch, "blue", {"status": "ok", "checks": {"database": "ok"}})
    assert (other.healthy, other.detail) == (False, "answered by blue (X-Served-Color), not green")


# -- version_from none: the images ---------------------------------------------------------------------------

IMAGE = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64


def image_check(answer, pinned=None, digests="[]"):
    env = with_health(prod(), checks={}, version_from="none")
    executor = ScriptedExecutor(env).on("expected-image", reply=answer).on("RepoDigests", digests)
    out = CapturedOutput()
    error = None
    try:
        health_step.check_images(a_run(executor, out=out), "green", "v1.1.0", pinned or {})
    except OperationFailed as exc:
        error = str(exc)
    return out.printed, error, executor


def running(image, expected=IMAGE, exit_code=0):
    return lambda call: Answer(f"{image}\nexpected-image {expected}\n", "", exit_code)


def test_the_tag_check_compares_the_containers_image_with_the_one_the_tag_names():
    printed, error, executor = image_check(running(IMAGE))
    assert error is None
    assert "app1 green api: runs ghostworks-api:v1.1.0 (sha256:aaaaaaaaaaaa; version from the image: tag " in printed
    assert sum("expected-image" in c.command for c in executor.commands) == 4  # 2 hosts x api, web
    command = next(c.command for c in executor.commands if "expected-image" in c.command)
    assert "label=com.docker.compose.project=ghostworks-green" in command
    assert "docker image inspect --format '{{.Id}}' ghostworks-api:v1.1.0" in command


def test_another_image_fails_naming_host_service_and_both_images():
    _, error, _ = image_check(running(OTHER))
    assert error.startswith(
        "green is healthy but does not run v1.1.0 (health.version_from: none, the images were checked): "
        "app1 green api: runs sha256:bbbbbbbbbbbb, not ghostworks-api:v1.1.0 (sha256:aaaaaaaaaaaa)"
    )


def test_no_such_tag_and_no_container_are_said():
    _, error, _ = image_check(running(IMAGE, expected="none"))
    assert "app1 green api: there is no image ghostworks-api:v1.1.0 on the host (version from the image: tag)" in error
    _, error, _ = image_check(lambda call: Answer("", "no running container", 3))
    assert "app1 green api: " in error and "no running container" in error


def test_with_build_once_the_recorded_digest_is_checked():
    reference = f"registry.ghostworks.dev/ghostworks-api@{IMAGE}"
    pinned = {"api": reference, "web": f"registry.ghostworks.dev/ghostworks-web@{IMAGE}"}
    printed, error, _ = image_check(
        running(IMAGE), pinned=pinned, digests=f'["{reference}", "registry.ghostworks.dev/ghostworks-web@{IMAGE}"]'
    )
    assert error is None
    assert f"app1 green api: runs {reference} (version from the image: digest recorded at build)" in printed


def test_the_image_check_runs_only_with_version_from_none(monkeypatch):
    calls = []
    monkeypatch.setattr(health_step, "check_images", lambda *args: calls.append(args))
    env = prod()
    executor = ScriptedExecutor(env, dry_run=True)
    health_step.wait_for_color(a_run(executor), "green", "v1.1.0", deadline=1)
    assert calls == []
    assert "until HTTP 200, status ok, version v1.1.0" in executor.entries[0]
    none = with_health(env, checks={}, version_from="none")
    executor = ScriptedExecutor(none, dry_run=True)
    health_step.wait_for_color(a_run(executor), "green", "v1.1.0", deadline=1, pinned={"api": "x"})
    assert len(calls) == 1 and calls[0][1:] == ("green", "v1.1.0", {"api": "x"})
    assert "until HTTP 200, version not configured (then the containers' images are checked)" in executor.entries[0]


def test_the_container_image_read_parses_its_answer():
    parse = docker_images.parse_container_image_ids
    found = parse(_answer(f"{IMAGE}\n{IMAGE}\nexpected-image {IMAGE}\n"))
    assert found == docker_images.ContainerImages((IMAGE, IMAGE), IMAGE) and found.matches()
    assert not parse(_answer(f"{IMAGE}\n{OTHER}\nexpected-image {IMAGE}\n")).matches()
    assert not parse(_answer("expected-image none\n")).matches()


def _answer(stdout, exit_code=0):
    from ghosttasks.execution.executor import Result

    return Result("app1", "cmd", stdout, "", exit_code, 0.0)


def test_probes_health_keeps_the_body_for_the_monitor():
    health = probes.Health("u", True, 200, {"checks": {"database": "ok"}})
    assert health.color is None and health.version is None


# -- verify.logs: the colour of a correlated request through the LB ---------------------------------------------


def correlated(color):
    from ghosttasks.flows.steps import logs

    executor = ScriptedExecutor(prod())
    executor.on_probe("with X-Request-ID", lambda check: probes.Correlated("id", 200, color, "id"))
    return logs._send_requests(a_run(executor), "green", serving=True)


def test_a_correlated_request_through_the_lb_without_the_colour_header_says_why():
    with pytest.raises(OperationFailed) as caught:
        correlated(None)
    assert re.sub("ghosttasks-[0-9a-f]{32}", "ID", str(caught.value)) == (
        f"request ID to {LB_URL} came back without the X-Served-Color header: nginx drops the selector's "
        "server-level add_header in a location that sets its own; check `nginx -T` on lb1"
    )
    with pytest.raises(OperationFailed, match="answered from blue, expected green"):
        correlated("blue")
