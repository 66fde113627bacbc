"""Emergency rollback says who was told: the receivers and their answers, or that nobody was."""

import json
import re
import shlex

import httpx
import pytest

from ghosttasks.flows.emergency import emergency_rollback
from ghosttasks.observability import notify
from ghosttasks.observability.notify import Delivery, redact_url
from ghosttasks.testing import ScriptedExecutor, a_run, prod

WEBHOOK = "https://hooks.ghostworks.dev/deployments"
INCIDENTS = "https://hooks.ghostworks.dev/incidents"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (WEBHOOK, WEBHOOK),
        ("https://hooks.slack.com/services/T000/B000/XXXXSECRET", "https://hooks.slack.com/services/…"),
        ("https://events.example.com/v2/enqueue?routing_key=abc", "https://events.example.com/v2/…"),
        ("https://alerts.example.com/hook?token=abc", "https://alerts.example.com/hook/…"),
        ("https://bot:s3cret@alerts.example.com/hook", "https://alerts.example.com/hook/…"),
        ("http://127.0.0.15:8080/", "http://127.0.0.15:8080"),
        ("http://127.0.0.15:8080/deployments", "http://127.0.0.15:8080/deployments"),
    ],
)
def test_receivers_are_named_without_their_secrets(url, shown):
    assert redact_url(url) == shown


def test_a_delivery_says_what_it_got():
    assert (Delivery(None).ok, Delivery(None).receiver, Delivery(None).answer) == (False, "nobody", "not configured")
    assert (Delivery(WEBHOOK, 202).ok, Delivery(WEBHOOK, 202).answer) == (True, "HTTP 202")
    refused = Delivery(WEBHOOK, 503, "HTTP 503 Service Unavailable")
    assert (refused.ok, refused.answer) == (False, "HTTP 503 Service Unavailable")


def answering(monkeypatch, *answers):
    """httpx.post returns (or raises) the answers in order, the last one repeated."""
    calls = []

    def post(url, *, json, timeout):
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(url)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer, request=httpx.Request("POST", url))

    monkeypatch.setattr(httpx, "post", post)
    return calls


def test_post_gives_the_status(monkeypatch):
    calls = answering(monkeypatch, 503, 202)
    assert notify.post(WEBHOOK, {}, timeout=1) == Delivery(WEBHOOK, 202)
    assert len(calls) == 2


def test_post_gives_the_last_error_after_its_attempts(monkeypatch):
    calls = answering(monkeypatch, 503)
    assert notify.post(WEBHOOK, {}, timeout=1) == Delivery(WEBHOOK, 503, "HTTP 503 Service Unavailable")
    assert len(calls) == notify.ATTEMPTS
    answering(monkeypatch, httpx.ConnectError("[Errno 111] Connection refused"))
    assert notify.post(WEBHOOK, {}, timeout=1) == Delivery(
        WEBHOOK, None, "ConnectError: [Errno 111] Connection refused"
    )


def emergency(monkeypatch, webhook_url, incident_url, answers=None):
    """An emergency rollback as a dry run, except that notifications are really sent (to the stubbed notify.post)."""
    env = prod().model_copy(
        update={"notify": prod().notify.model_copy(update={"webhook_url": webhook_url, "incident_url": incident_url})}
    )
    monkeypatch.setattr(notify, "post", lambda url, payload, *, timeout: (answers or {})[url])
    recorder = ScriptedExecutor(env, dry_run=True, unscripted="assume").on_probe(
        re.compile("^POST "), lambda check: check()
    )
    run = a_run(recorder, task="deploy.emergency-rollback")
    emergency_rollback(run, reason="p95 over 5 s")
    [history] = [line for line in recorder.entries if "history.jsonl" in line]
    entry = json.loads(next(word for word in shlex.split(history.split("$ ", 1)[1]) if word.startswith("{")))
    return run.out.printed.splitlines(), entry, recorder.entries


def test_with_no_webhooks_it_says_no_one_was_told(monkeypatch):
    printed, entry, plan = emergency(monkeypatch, None, None)
    assert "warn no one was alerted: notify.webhook_url is not set" in printed
    assert "warn no incident was opened: notify.incident_url is not set" in printed
    assert "warn do it by hand: alert on-call and open the incident" in printed
    assert any(line.startswith("ok   traffic is on blue (v1.0.0)") for line in printed), "the switch still succeeds"
    assert (entry["result"], entry["alerted"], entry["incident"]) == ("ok", False, False)
    assert not [line for line in plan if line.startswith("probe POST")]


def test_it_names_the_receivers_and_their_answers(monkeypatch):
    answers = {WEBHOOK: Delivery(WEBHOOK, 200), INCIDENTS: Delivery(INCIDENTS, 503, "HTTP 503 Service Unavailable")}
    printed, entry, _ = emergency(monkeypatch, WEBHOOK, INCIDENTS, answers)
    assert f"ok   on-call alerted: {WEBHOOK} answered HTTP 200" in printed
    assert f"warn no incident was opened: {INCIDENTS}: HTTP 503 Service Unavailable" in printed
    assert "warn do it by hand: open the incident" in printed
    assert (entry["alerted"], entry["incident"]) == (True, False)


def test_a_webhook_token_is_not_printed(monkeypatch):
    slack = "https://hooks.slack.com/services/T000/B000/XXXXSECRET"
    answers = {slack: Delivery(slack, 200), INCIDENTS: Delivery(INCIDENTS, 201)}
    printed, entry, _ = emergency(monkeypatch, slack, INCIDENTS, answers)
    assert "ok   on-call alerted: https://hooks.slack.com/services/… answered HTTP 200" in printed
    assert f"ok   incident opened: {INCIDENTS} answered HTTP 201" in printed
    assert not [line for line in printed if "XXXXSECRET" in line or "do it by hand" in line]
    assert (entry["alerted"], entry["incident"]) == (True, True)
