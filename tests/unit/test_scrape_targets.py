"""Which Prometheus targets verify.monitoring judges: the serving colour's, at this environment's instances."""

from ghosttasks.decisions.scrape_targets import environment_instances, targets_of_environment

PORTS = {"blue": {"api": 8001, "web": 8002}, "green": {"api": 8101, "web": 8102}}


def target(instance: str, color: str, health: str = "up") -> dict:
    return {"labels": {"instance": instance, "color": color}, "health": health}


def test_instances_are_the_serving_colours_ports_on_every_app_host():
    assert environment_instances(["10.0.0.1", "10.0.0.2"], PORTS, "green") == {
        "10.0.0.1:8101",
        "10.0.0.1:8102",
        "10.0.0.2:8101",
        "10.0.0.2:8102",
    }


def test_with_nothing_serving_every_colours_ports_are_instances():
    assert len(environment_instances(["10.0.0.1"], PORTS, None)) == 4


def test_another_apps_targets_of_the_same_colour_are_left_out():
    ours, theirs = target("10.0.0.1:8101", "green"), target("10.0.0.1:3101", "green", health="down")
    instances = environment_instances(["10.0.0.1"], PORTS, "green")
    assert targets_of_environment([ours, theirs], "green", instances) == [ours]


def test_the_idle_colours_targets_are_left_out():
    serving, idle = target("10.0.0.1:8101", "green"), target("10.0.0.1:8001", "blue", health="down")
    instances = environment_instances(["10.0.0.1"], PORTS, "green")
    assert targets_of_environment([serving, idle], "green", instances) == [serving]


def test_metrics_on_another_port_count_every_target_of_the_colour():
    metrics_port = [target("10.0.0.1:9100", "green"), target("10.0.0.1:9000", "blue")]
    instances = environment_instances(["10.0.0.1"], PORTS, "green")
    assert targets_of_environment(metrics_port, "green", instances) == [metrics_port[0]]


def test_no_target_of_the_colour_is_an_empty_answer():
    instances = environment_instances(["10.0.0.1"], PORTS, "green")
    assert targets_of_environment([target("10.0.0.1:8001", "blue")], "green", instances) == []
