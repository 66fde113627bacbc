"""Every fact is read once per run (issue 26): the database's revision once per change, each version's revision
graph once per run. Counted in the golden dry-run plans (tests/unit/plans, compared exactly by test_plans.py),
which list every command a run sends, in order."""

import re
from pathlib import Path

import pytest

PLANS = Path(__file__).parent / "plans"
REVISION_READ = "SELECT version_num FROM alembic_version"
GRAPH_READ = "from alembic.config import Config"
# what can change the database's revision: alembic run for real (not its offline --sql), a restore
SCHEMA_CHANGE = re.compile(r" alembic (upgrade|downgrade|stamp) (?!.*--sql)|pg_restore .*--clean")


def commands(name: str) -> list[str]:
    return [line for line in (PLANS / f"{name}.txt").read_text().splitlines() if line.startswith("[")]


@pytest.mark.parametrize("name", sorted(path.stem for path in PLANS.glob("*.txt")))
def test_the_revision_is_read_again_only_after_a_change(name):
    read_since_change = False
    for command in commands(name):
        if SCHEMA_CHANGE.search(command):
            read_since_change = False
        elif REVISION_READ in command:
            assert not read_since_change, f"{name}: the revision read twice with no change between:\n{command}"
            read_since_change = True


@pytest.mark.parametrize("name", sorted(path.stem for path in PLANS.glob("*.txt")))
def test_each_version_graph_is_read_once(name):
    reads = [command for command in commands(name) if GRAPH_READ in command]
    versions = [re.search(r"APP_VERSION=(\S+)", command).group(1) for command in reads]
    assert len(versions) == len(set(versions)), f"{name}: graphs read {versions}"


@pytest.mark.parametrize(
    ("name", "revision_reads", "graph_reads"),
    [
        ("traffic-switch", 1, 0),  # planned from one read; nothing changes the schema
        ("deploy-prod", 2, 1),  # review (once for the review and the migration), then after the upgrade
        ("db-downgrade", 2, 0),  # the plan, then after the downgrade (saved in the state from that read)
        ("deploy-rollback", 2, 0),  # the plan, then after the downgrade
    ],
)
def test_reads_per_command(name, revision_reads, graph_reads):
    sent = commands(name)
    assert (sum(REVISION_READ in c for c in sent), sum(GRAPH_READ in c for c in sent)) == (revision_reads, graph_reads)


def section(name: str, title: str) -> list[str]:
    """The commands of one `== title` section of a golden plan."""
    lines = (PLANS / f"{name}.txt").read_text().split(f"\n== {title}\n", 1)[1].split("\n== ", 1)[0].splitlines()
    return [line for line in lines if line.startswith("[")]


@pytest.mark.parametrize("name", ["traffic-switch", "two-lbs-traffic-switch", "workers-traffic-switch"])
def test_a_switch_plans_from_one_command_per_host_it_touches(name):
    hosts = [line.split("]", 1)[0] + "]" for line in section(name, "plan switch")]
    assert len(hosts) == len(set(hosts)), f"{name}: {hosts}"
    assert "[db1]" in hosts and "[lb1]" in hosts  # the revision and the state, with the access checks


@pytest.mark.parametrize(
    "name", ["deploy-emergency-rollback", "two-lbs-deploy-emergency-rollback", "workers-deploy-emergency-rollback"]
)
def test_the_emergency_rollback_reads_the_state_lb_once_before_its_flip(name):
    reads = section(name, "switch to the previous colour")
    flip = next(
        i for i, line in enumerate(reads) if line.endswith("$ rm -f /var/lib/ghosttasks/ghostworks-active-green")
    )
    before_flip = reads[:flip]
    assert [line.split("]", 1)[0] for line in before_flip] == ["[lb1"]
