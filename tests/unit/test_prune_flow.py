"""The prune flow (ghosttasks.flows.steps.build_once.prune) against simulated app hosts: exact commands, what goes."""

import io
from pathlib import Path

from ghosttasks.config.inventory import load_inventory
from ghosttasks.domain.deploy_state import ColorState, DeployState
from ghosttasks.execution.executor import Executor, Result
from ghosttasks.execution.run import Run
from ghosttasks.flows.steps.build_once import prune
from ghosttasks.terminal.output import Output

ROOT = Path(__file__).resolve().parents[2]
REG = "registry.internal.ghostworks.dev:5000/ghostworks"
PIN = {v: f"{REG}/ghostworks-api@sha256:{c * 64}" for v, c in (("v1.0.0", "a"), ("v1.1.0", "b"), ("v1.2.0", "c"))}


class AppHosts(Executor):
    """Each app host holds worktrees and images of v1.0.0, v1.1.0, v1.2.0; records every command."""

    def __init__(self, env, out):
        super().__init__(env, out)
        self.commands = []
        self.images_size = {"app1": 900_000_000, "app2": 900_000_000}

    def _run(self, host, command, *, timeout, stream, assume, stdin=None):
        self.commands.append((host.name, command))
        stdout = ""
        if "worktree list" in command:
            stdout = "worktree /srv/ghostworks\n\n" + "".join(
                f"worktree /srv/ghostworks-releases/{v}\ndetached\n\n" for v in PIN
            )
        elif command.startswith("docker image ls"):
            stdout = (
                "".join(f"ghostworks-api {v} <none>\n{REG}/ghostworks-api <none> {PIN[v].split('@')[1]}\n" for v in PIN)
                + "ghostworks-api dev <none>\n"
            )
        elif command.startswith("du -sk"):
            stdout = "2048\t/srv/ghostworks-releases/v1.0.0\n"
        elif command.startswith("docker system df"):
            stdout = f"Images {self.images_size[host.name] / 1e6:g}MB\n"
        elif command.startswith("for n in"):
            self.images_size[host.name] -= 300_000_000
        return Result(host.name, command, stdout, "", 0, 0.0)


def a_run():
    prod = load_inventory(ROOT / "hosts.yml").env("prod")
    out = Output(stream=io.StringIO())
    return Run(prod, AppHosts(prod, out), out, "deploy.prune")


def state():
    found = DeployState(active="blue", deployed=["v1.0.0", "v1.1.0", "v1.2.0"])
    found.colors = {"blue": ColorState("v1.2.0"), "green": ColorState("v1.1.0")}
    found.version_images = {v: {"api": ref} for v, ref in PIN.items()}
    return found


def test_prune_removes_only_the_version_neither_colour_holds_and_reports_the_space():
    run = a_run()
    report = prune(run, state(), keep=1)
    assert report["keep"] == ["v1.1.0", "v1.2.0"]
    assert report["hosts"]["app1"] == {
        "remove": ["v1.0.0"],
        "images": ["ghostworks-api:v1.0.0", PIN["v1.0.0"]],
        "worktrees": ["/srv/ghostworks-releases/v1.0.0"],
        "freed_bytes": 300_000_000 + 2048 * 1024,
    }
    changes = [c for host, c in run.executor.commands if host == "app2" and ("remove" in c or " rm " in c)]
    assert changes == [
        "git -C /srv/ghostworks worktree remove --force /srv/ghostworks-releases/v1.0.0",
        f'for n in {PIN["v1.0.0"]} ghostworks-api:v1.0.0; do o=$(docker image rm "$n" 2>&1) || case $o in '
        "*'No such image'*) ;; *) echo \"$o\" >&2; exit 1;; esac; done",
    ]


def test_a_listing_removes_nothing():
    run = a_run()
    report = prune(run, state(), keep=1, dry_run_only=True)
    assert report["hosts"]["app2"]["remove"] == ["v1.0.0"] and "freed_bytes" not in report["hosts"]["app2"]
    assert not [c for _, c in run.executor.commands if "remove" in c or " rm " in c]


def test_with_keep_five_nothing_goes():
    run = a_run()
    assert prune(run, state(), keep=5)["hosts"]["app1"]["remove"] == []
