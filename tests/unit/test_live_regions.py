"""One rich Live for every live region: the step list and the monitor view share it (rich allows one Live)."""

import io

from rich.console import Console
from rich.text import Text

from ghosttasks.terminal.output import LiveRegions


def _console() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=True, width=60, color_system=None), buffer


def test_two_regions_are_drawn_in_one_live_top_to_bottom_and_the_live_ends_with_the_last():
    console, buffer = _console()
    regions = LiveRegions(console)
    steps = regions.add(lambda: Text("steps: migrate running"))
    monitor = regions.add(lambda: Text("monitor: error rate 0.0%"))
    steps.refresh()
    drawn = buffer.getvalue()
    assert drawn.rindex("steps: migrate running") < drawn.rindex("monitor: error rate 0.0%")

    monitor.stop()  # the monitor ends inside the still running step list
    assert regions._live is not None and regions._live.is_started
    buffer.truncate(0)
    steps.refresh()
    assert "monitor:" not in buffer.getvalue()
    assert "steps: migrate running" in buffer.getvalue()

    steps.stop()
    assert regions._live is None


def test_a_region_started_alone_starts_and_stops_its_own_live():
    console, buffer = _console()
    regions = LiveRegions(console)
    region = regions.add(lambda: Text("monitor alone"))
    region.refresh()
    assert "monitor alone" in buffer.getvalue()
    region.stop()
    region.stop()  # twice is harmless
    assert regions._live is None
