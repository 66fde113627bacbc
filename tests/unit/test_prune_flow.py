"""The prune flow (ghosttasks.flows.steps.build_once.prune) against simulated app hosts: exact commands, what goes."""

import re

from ghosttasks.domain.deploy_state import ColorState, DeployState
from ghosttasks.flows.steps.build_once import prune
from ghosttasks.testing import Answer, ScriptedExecutor, a_run, prod

REG = "registry.internal.ghostworks.dev:5000/ghostworks"
PIN = {v: f"{REG}/ghostworks-api@sha256:{c * 64}" for v, c in (("v1.0.0", "a"), ("v1.1.0", "b"), ("v1.2.0", "c"))}


def app_hosts():
    """A run on app hosts that each hold worktrees and images of v1.0.0, v1.1.0, v1.2.0 (removing images frees
    300 MB); every other command succeeds silently."""
    images_size = {"app1": 900_000_000, "app2": 900_000_000}

    def remove_images(call):
        images_size[call.host.name] -= 300_000_000
        return Answer()

    executor = (
        ScriptedExecutor(prod())
        .on(
            "worktree list",
            "worktree /srv/ghostworks\n\n"
            + "".join(f"worktree /srv/ghostworks-releases/{v}\ndetached\n\n" for v in PIN),
        )
        .on(
            re.compile("^docker image ls"),
            "".join(f"ghostworks-api {v} <none>\n{REG}/ghostworks-api <none> {PIN[v].split('@')[1]}\n" for v in PIN)
            + "ghostworks-api dev <none>\n",
        )
        .on(re.compile("^du -sk"), "2048\t/srv/ghostworks-releases/v1.0.0\n")
        .on(
            re.compile("^docker system df"),
            reply=lambda call: Answer(f"Images {images_size[call.host.name] / 1e6:g}MB\n"),
        )
        .on(re.compile("^for n in"), reply=remove_images)
    )
    return a_run(executor, task="deploy.prune")


def state():
    found = DeployState(active="blue", deployed=["v1.0.0", "v1.1.0", "v1.2.0"])
    found.colors = {"blue": ColorState("v1.2.0"), "green": ColorState("v1.1.0")}
    found.version_images = {v: {"api": ref} for v, ref in PIN.items()}
    return found


def test_prune_removes_only_the_version_neither_colour_holds_and_reports_the_space():
    run = app_hosts()
    report = prune(run, state(), keep=1)
    assert report["keep"] == ["v1.1.0", "v1.2.0"]
    assert report["hosts"]["app1"] == {
        "remove": ["v1.0.0"],
        "images": ["ghostworks-api:v1.0.0", PIN["v1.0.0"]],
        "worktrees": ["/srv/ghostworks-releases/v1.0.0"],
        "freed_bytes": 300_000_000 + 2048 * 1024,
    }
    changes = [
        c.command for c in run.executor.commands if c.host == "app2" and ("remove" in c.command or " rm " in c.command)
    ]
    assert changes == [
        "git -C /srv/ghostworks worktree remove --force /srv/ghostworks-releases/v1.0.0",
        f'for n in {PIN["v1.0.0"]} ghostworks-api:v1.0.0; do o=$(docker image rm "$n" 2>&1) || case $o in '
        "*'No such image'*) ;; *) echo \"$o\" >&2; exit 1;; esac; done",
    ]


def test_a_listing_removes_nothing():
    run = app_hosts()
    report = prune(run, state(), keep=1, dry_run_only=True)
    assert report["hosts"]["app2"]["remove"] == ["v1.0.0"] and "freed_bytes" not in report["hosts"]["app2"]
    assert not [c for c in run.executor.commands if "remove" in c.command or " rm " in c.command]


def test_with_keep_five_nothing_goes():
    run = app_hosts()
    assert prune(run, state(), keep=5)["hosts"]["app1"]["remove"] == []
