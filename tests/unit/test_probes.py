"""Health probes against httpx.MockTransport sequences, tenacity waits set to zero."""

import httpx

from ghosttasks.config.settings import HealthSettings
from ghosttasks.execution import probes

URL = "http://app1:8002/api/v1/health"
FAST = probes.RetryPolicy(deadline=5, initial=0, maximum=0, attempts=6)


def client_for(answers):
    """A client whose transport returns (or raises) the given answers in order, then repeats the last."""
    calls = []

    def handler(request):
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(request)
        if isinstance(answer, Exception):
            raise answer
        status, body = answer
        return httpx.Response(status, json=body)

    return httpx.Client(transport=httpx.MockTransport(handler)), calls


OK = (200, {"status": "ok", "version": "v1.1.0", "color": "green"})


def test_connect_error_503_starting_then_ok():
    client, calls = client_for(
        [
            httpx.ConnectError("refused"),
            (503, {"status": "error"}),
            (200, {"status": "starting"}),
            OK,
        ]
    )
    log = []
    health = probes.wait_healthy(URL, expect_version="v1.1.0", policy=FAST, client=client, log=log.append)
    assert health.ok and health.attempts == 4 and len(calls) == 4
    assert health.version == "v1.1.0" and health.color is None  # the colour comes from the LB's header only
    assert [line.split(":")[0] for line in log] == ["attempt 1", "attempt 2", "attempt 3"]
    assert "ConnectError" in log[0] and "HTTP 503" in log[1] and "'starting'" in log[2]


def test_never_healthy_returns_last_answer_instead_of_retry_error():
    client, calls = client_for([(503, {"status": "error", "checks": {"database": "down"}})])
    health = probes.wait_healthy(URL, policy=FAST, client=client)
    assert not health.ok and len(calls) == 6
    assert health.status_code == 503 and health.error == "HTTP 503 status error"
    assert health.summary() == f"{URL}: HTTP 503 status error"


def test_wrong_version_is_not_healthy():
    client, _ = client_for([(200, {"status": "ok", "version": "v1.0.0"})])
    health = probes.wait_healthy(URL, expect_version="v1.1.0", policy=FAST, client=client)
    assert not health.ok and health.error == "answers version 'v1.0.0', expected 'v1.1.0'"


def test_deadline_bounds_the_wait():
    client, calls = client_for([httpx.ConnectTimeout("slow")])
    policy = probes.RetryPolicy(deadline=0.2, initial=0.05, maximum=0.05)
    health = probes.wait_healthy(URL, policy=policy, client=client)
    assert not health.ok and health.elapsed < 1 and 2 <= len(calls) <= 8


def test_non_json_body():
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")))
    health = probes.check_health(URL, client=client)
    assert not health.ok and health.error == "the answer is not JSON, expected status 'ok'"


def test_non_json_body_is_healthy_when_no_check_asks_for_json():
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>")))
    contract = HealthSettings(checks={}, version_from="none")
    health = probes.check_health(URL, client=client, contract=contract, expect_version="v1.1.0")
    assert health.ok and health.version is None
    assert health.summary() == f"{URL}: HTTP 200 version not configured"


def test_sample_traffic_reads_the_colour_from_the_lb_header_not_the_body():
    answers = [
        ("green", OK),
        ("green", (200, {"status": "ok", "version": "v1.1.0"})),  # no `color` field: the header says it
        ("blue", (200, {"status": "ok", "version": "v1.0.0", "color": "green"})),  # the body is not asked
        (None, (200, {"status": "ok", "version": "v1.1.0"})),  # no header: counted under None
        (None, httpx.ReadError("reset")),
    ]
    state = iter(answers)

    def handler(request):
        served, answer = next(state)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(answer[0], json=answer[1], headers={"X-Served-Color": served} if served else {})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    sample = probes.sample_traffic(URL, 5, client=client, color_header="x-served-color")
    assert sample.total == 5 and not sample.only("green", "v1.1.0") and sample.uncoloured == 1
    assert sample.summary() == (
        f"5 requests to {URL}: 1x ? v1.1.0, 1x blue v1.0.0, 2x green v1.1.0, 1 failed (ReadError: reset)"
    )


def test_prometheus_query_values():
    def handler(request):
        assert request.url.params["query"] == "up"
        return httpx.Response(200, json={"data": {"result": [{"value": [1, "0.25"]}]}})

    assert (
        probes.prometheus_query("http://p:9090", "up", client=httpx.Client(transport=httpx.MockTransport(handler)))
        == 0.25
    )
    empty = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"data": {"result": []}})))
    assert probes.prometheus_query("http://p:9090", "up", client=empty) is None
    nan = httpx.Client(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"data": {"result": [{"value": [1, "NaN"]}]}}))
    )
    assert probes.prometheus_query("http://p:9090", "up", client=nan) is None


def test_prometheus_vector_keeps_every_series_and_nan():
    def answer(data):
        return httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"data": data})))

    two = {"resultType": "vector", "result": [{"value": [1, "0.5"]}, {"value": [1, "NaN"]}]}
    values = probes.prometheus_vector("http://p:9090", "q", client=answer(two))
    assert values[0] == 0.5 and values[1] != values[1]
    assert probes.prometheus_vector("http://p:9090", "q", client=answer({"resultType": "vector", "result": []})) == []
    scalar = {"resultType": "scalar", "result": [1, "2"]}
    assert probes.prometheus_vector("http://p:9090", "q", client=answer(scalar)) == [2.0]
