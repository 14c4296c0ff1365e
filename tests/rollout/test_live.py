"""The rich live view renders the step, the bake countdown and the gate values."""

from __future__ import annotations

import io
import time

from rich.console import Console

from cloudeploy.rollout import RolloutPlan, run_promotion
from cloudeploy.rollout.live import LiveView
from tests.rollout.fakes import FakeClock, FakeProvider


def render(view: LiveView) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(view)
    return console.file.getvalue()


def events_of_a_rollout(tmp_path, **plan):
    clock = FakeClock()
    provider = FakeProvider(tmp_path, clock)
    events = []
    run_promotion(provider, "ep", "v2", RolloutPlan(**plan), clock=clock, sleep=clock.sleep,
                  on_event=events.append)
    return events


def test_view_shows_the_step_split_and_gate_values_while_baking(tmp_path):
    events = events_of_a_rollout(tmp_path, steps=(25, 100), bake_s=60, min_requests=5, max_p99_ms=300)
    view = LiveView(Console(file=io.StringIO()))
    view(next(e for e in events if e.kind == "sample" and e.percent == 25 and e.new.requests >= 5))
    text = render(view)
    assert "step 1/2" in text and "v2 at 25%" in text and "v1=75%, v2=25%" in text
    assert "p99_ms" in text and "300.0 ms" in text and "20.0 ms" in text
    assert "requests" in text


def test_view_counts_down_the_bake(tmp_path):
    events = events_of_a_rollout(tmp_path, steps=(25, 100), bake_s=600, min_requests=5)
    sample = next(e for e in events if e.kind == "sample")
    sample.state.step_started_at = time.time() - 60
    view = LiveView(Console(file=io.StringIO()))
    view(sample)
    assert "baking: 9:00 left" in render(view)


def test_view_shows_the_outcome_when_done(tmp_path):
    events = events_of_a_rollout(tmp_path, steps=(100,), bake_s=1, min_requests=1)
    view = LiveView(Console(file=io.StringIO()))
    for event in events:
        view(event)
    text = render(view)
    assert "promoted" in text and "v2 serves 100%" in text


def test_view_shows_each_gates_numbers_for_both_versions(tmp_path):
    events = events_of_a_rollout(tmp_path, steps=(25, 100), bake_s=60, min_requests=5, max_p99_ratio=2.0)
    view = LiveView(Console(file=io.StringIO()))
    view(next(e for e in events if e.kind == "sample" and e.percent == 25 and e.new.requests >= 5))
    text = render(view)
    header = next(line for line in text.splitlines() if "gate" in line and "threshold" in line)
    assert "v2" in header and "v1" in header and "judged" in header
    ratio = next(line for line in text.splitlines() if "p99_ratio" in line)
    assert ratio.count("20.0 ms") == 2 and "2" in ratio
