"""The executor against an in-memory provider and a fake clock: decisions, state, resume, rollback."""

from __future__ import annotations

import pytest

from cloudeploy.errors import ConflictError, NotFoundError, ValidationError
from cloudeploy.providers.sqlite_store import LocalStateStore
from cloudeploy.rollout import RolloutPlan, gates, rollback_stopped, run_promotion
from cloudeploy.rollout.gates import Gate, GateResult, register_gate
from cloudeploy.rollout.state import RolloutStore, store_for
from tests.rollout.fakes import FakeClock, FakeProvider

PLAN = RolloutPlan(steps=(10, 50, 100), bake_s=10, min_requests=20, max_error_rate=0.05)


def failing_at(share: float):
    """A version whose errors are ``share`` of its requests."""

    def behaviour(version, percent, seconds):
        requests = int(100 * seconds * percent / 100)
        return requests, int(requests * share), 20.0 if requests else None

    return behaviour


def slow(p99_ms: float):
    def behaviour(version, percent, seconds):
        requests = int(100 * seconds * percent / 100)
        return requests, 0, p99_ms if requests else None

    return behaviour


@pytest.fixture
def clock():
    return FakeClock()


def make_provider(tmp_path, clock, **behaviours):
    return FakeProvider(tmp_path, clock, behaviours)


def promote(provider, clock, plan=PLAN, **kwargs):
    return run_promotion(provider, "ep", kwargs.pop("to", "v2"), plan, clock=clock, sleep=clock.sleep, **kwargs)


def test_healthy_version_goes_through_every_step_to_100(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    result = promote(provider, clock)
    assert result.outcome == "promoted"
    assert provider.traffic_calls == [{"v1": 90, "v2": 10}, {"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}]
    assert result.traffic == {"v1": 0, "v2": 100}


def test_each_step_bakes_at_least_the_bake_time(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    result = promote(provider, clock)
    started = {d.step: d.at for d in result.decisions if d.action == "step"}
    judged = {d.step: d.at for d in result.decisions if d.action in ("proceed", "promoted")}
    assert all(judged[step] - started[step] >= PLAN.bake_s for step in started)


def test_failing_version_is_rolled_back_at_the_first_step_to_the_starting_split(tmp_path, clock):
    provider = make_provider(tmp_path, clock, v2=failing_at(0.2))
    result = promote(provider, clock)
    assert result.outcome == "rolled_back"
    assert provider.split == {"v1": 100, "v2": 0}
    assert [d.action for d in result.decisions] == ["step", "rollback"]


def test_gate_breaks_as_soon_as_min_requests_are_seen_not_after_the_bake(tmp_path, clock):
    provider = make_provider(tmp_path, clock, v2=failing_at(0.5))
    result = promote(provider, clock)
    step, rollback = result.decisions
    assert rollback.at - step.at < PLAN.bake_s


def test_rollback_decision_records_the_numbers_it_was_based_on(tmp_path, clock):
    provider = make_provider(tmp_path, clock, v2=failing_at(0.2))
    rollback = promote(provider, clock).decisions[-1]
    gate = next(g for g in rollback.gates if g["gate"] == "error_rate")
    new = rollback.metrics["new"]
    assert gate["passed"] is False
    assert gate["value"] == pytest.approx(new["errors"] / new["requests"])
    assert gate["threshold"] == 0.05
    assert "error_rate broke" in rollback.reason


def test_version_that_only_breaks_at_higher_traffic_is_rolled_back_at_that_step(tmp_path, clock):
    def breaks_at_half(version, percent, seconds):
        requests = int(100 * seconds * percent / 100)
        return requests, requests // 5 if percent >= 50 else 0, 10.0

    provider = make_provider(tmp_path, clock, v2=breaks_at_half)
    result = promote(provider, clock)
    assert result.outcome == "rolled_back"
    assert result.decisions[-1].percent == 50
    assert provider.split == {"v1": 100, "v2": 0}


def test_slow_version_breaks_the_absolute_latency_gate(tmp_path, clock):
    provider = make_provider(tmp_path, clock, v2=slow(450.0))
    result = promote(provider, clock, plan=PLAN.with_overrides(max_p99_ms=300))
    assert result.outcome == "rolled_back"
    assert "p99_ms broke" in result.reason


def test_version_slower_than_the_current_one_breaks_the_relative_latency_gate(tmp_path, clock):
    provider = make_provider(tmp_path, clock, v2=slow(60.0))  # v1 answers in 20 ms
    result = promote(provider, clock, plan=PLAN.with_overrides(max_p99_ratio=2.0))
    gate = next(g for g in result.decisions[-1].gates if g["gate"] == "p99_ratio")
    assert result.outcome == "rolled_back"
    assert gate["value"] == pytest.approx(3.0)


def test_relative_latency_is_not_judged_when_the_current_version_gets_no_traffic(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    result = promote(provider, clock, plan=PLAN.with_overrides(max_p99_ratio=2.0))
    last = next(d for d in result.decisions if d.action == "promoted")
    gate = next(g for g in last.gates if g["gate"] == "p99_ratio")
    assert result.outcome == "promoted"
    assert gate["passed"] is None


def test_step_without_enough_requests_waits_then_rolls_back(tmp_path, clock):
    provider = make_provider(tmp_path, clock, v2=lambda v, p, s: (3, 0, 10.0))
    result = promote(provider, clock)
    step, rollback = result.decisions
    assert result.outcome == "rolled_back"
    assert "not enough traffic" in rollback.reason
    assert rollback.at - step.at >= PLAN.wait_limit_s


def test_registered_gate_takes_part_in_the_judgement(tmp_path, clock, monkeypatch):
    class AlwaysBreaks(Gate):
        name = "always"

        def describe(self):
            return "always breaks"

        def evaluate(self, window):
            return GateResult(self.name, False, window.new.requests, 0, "by design")

    monkeypatch.setattr(gates, "_REGISTRY", dict(gates._REGISTRY))  # registered for this test only
    register_gate("always", lambda settings: AlwaysBreaks())
    provider = make_provider(tmp_path, clock)
    result = promote(provider, clock, plan=PLAN.with_overrides(gates={"always": {}}))
    assert result.outcome == "rolled_back"
    assert "always broke" in result.reason


def test_version_not_deployed_is_refused_before_any_change(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    with pytest.raises(NotFoundError):
        promote(provider, clock, to="v7")
    assert provider.traffic_calls == []


def test_promote_while_another_holds_the_endpoint_is_refused(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    other = RolloutStore(LocalStateStore(tmp_path), "fake", "ep")  # another runner's view of the same store
    with other.locked("promote v3"), pytest.raises(ConflictError, match="ep is being promoted: promote v3 by"):
        promote(provider, clock)
    assert provider.traffic_calls == []


def stop_during_bake_of(step_percent: int, provider: FakeProvider, clock: FakeClock):
    """Raise KeyboardInterrupt from the first sleep once the split gives v2 ``step_percent``."""

    def interrupt(seconds):
        if provider.split.get("v2") == step_percent:
            clock.on_sleep = None
            raise KeyboardInterrupt

    clock.on_sleep = interrupt


def test_ctrl_c_leaves_the_rollout_interrupted_and_the_split_where_it_was(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    stop_during_bake_of(50, provider, clock)
    with pytest.raises(KeyboardInterrupt):
        promote(provider, clock)
    state = store_for(provider, "ep").load()
    assert (state.status, state.step_index) == ("interrupted", 1)
    assert provider.split == {"v1": 50, "v2": 50}


def test_promote_with_another_plan_is_refused_while_a_stopped_rollout_exists(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    stop_during_bake_of(10, provider, clock)
    with pytest.raises(KeyboardInterrupt):
        promote(provider, clock)
    with pytest.raises(ConflictError, match="runs another plan"):
        promote(provider, clock, plan=RolloutPlan(steps=(50, 100), bake_s=10, min_requests=20))
    assert provider.split == {"v1": 90, "v2": 10}


def test_the_same_promote_run_again_resumes_the_stopped_rollout(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    stop_during_bake_of(50, provider, clock)
    with pytest.raises(KeyboardInterrupt):
        promote(provider, clock)
    result = promote(provider, clock)
    assert result.outcome == "promoted"
    assert [d.action for d in result.decisions].count("resume") == 1
    assert [d.percent for d in result.decisions if d.action == "step"] == [10, 50, 100]


def test_promote_of_another_version_is_refused_while_a_stopped_rollout_exists(tmp_path, clock):
    provider = FakeProvider(tmp_path, clock, split={"v1": 100, "v2": 0, "v3": 0})
    stop_during_bake_of(10, provider, clock)
    with pytest.raises(KeyboardInterrupt):
        promote(provider, clock)
    with pytest.raises(ConflictError, match="promotes v2, not v3"):
        promote(provider, clock, to="v3")
    assert provider.split == {"v1": 90, "v2": 10, "v3": 0}


def test_promote_of_the_version_serving_everything_changes_nothing(tmp_path, clock):
    provider = FakeProvider(tmp_path, clock, split={"v1": 0, "v2": 100})
    result = promote(provider, clock)
    assert (result.outcome, result.decisions) == ("promoted", ())
    assert provider.traffic_calls == []
    assert store_for(provider, "ep").load() is None


def test_resume_continues_from_the_recorded_step_without_restarting_it(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    stop_during_bake_of(50, provider, clock)
    with pytest.raises(KeyboardInterrupt):
        promote(provider, clock)
    calls_before = len(provider.traffic_calls)
    result = run_promotion(provider, "ep", None, resume=True, clock=clock, sleep=clock.sleep)
    assert result.outcome == "promoted"
    assert provider.traffic_calls[calls_before:] == [{"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}]
    assert [d.percent for d in result.decisions if d.action == "step"] == [10, 50, 100]


def test_resume_with_another_version_is_refused(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    stop_during_bake_of(10, provider, clock)
    with pytest.raises(KeyboardInterrupt):
        promote(provider, clock)
    with pytest.raises(ValidationError, match="promotes v2, not v1"):
        run_promotion(provider, "ep", "v1", resume=True, clock=clock, sleep=clock.sleep)


def test_resume_with_nothing_stopped_is_refused(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    with pytest.raises(ConflictError, match="nothing to resume"):
        run_promotion(provider, "ep", None, resume=True, clock=clock, sleep=clock.sleep)


def test_rollback_of_a_stopped_rollout_restores_its_starting_split(tmp_path, clock):
    provider = FakeProvider(tmp_path, clock, split={"v1": 80, "v2": 0, "v3": 20})
    stop_during_bake_of(50, provider, clock)
    with pytest.raises(KeyboardInterrupt):
        promote(provider, clock)
    result = rollback_stopped(provider, "ep")
    assert provider.split == {"v1": 80, "v2": 0, "v3": 20}
    assert result.outcome == "rolled_back"
    assert store_for(provider, "ep").load().status == "rolled_back"


def test_rollback_with_no_recorded_rollout_defers_to_the_provider(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    assert rollback_stopped(provider, "ep") is None


def test_rollback_after_a_promotion_restores_the_split_before_it(tmp_path, clock):
    provider = FakeProvider(tmp_path, clock, split={"v1": 70, "v2": 0, "v3": 30})
    promote(provider, clock)
    rollback_stopped(provider, "ep")
    assert provider.split == {"v1": 70, "v2": 0, "v3": 30}


def test_steps_below_the_share_the_version_already_has_are_skipped(tmp_path, clock):
    provider = FakeProvider(tmp_path, clock, split={"v1": 70, "v2": 30})
    promote(provider, clock)
    assert provider.traffic_calls == [{"v1": 50, "v2": 50}, {"v1": 0, "v2": 100}]


def test_state_file_holds_the_plan_split_and_decisions(tmp_path, clock):
    provider = make_provider(tmp_path, clock)
    promote(provider, clock)
    state = store_for(provider, "ep").load()
    assert state.plan == PLAN.to_dict()
    assert state.from_split == {"v1": 100, "v2": 0}
    assert state.status == "promoted"
    assert [d["action"] for d in state.decisions] == ["step", "proceed", "step", "proceed", "step", "promoted"]


def test_a_transient_metrics_failure_is_retried(tmp_path, clock):
    from cloudeploy.errors import TransientError

    failures = iter([True, True])

    def flaky(version, percent, seconds):
        if next(failures, False):
            raise TransientError("throttled")
        requests = int(100 * seconds * percent / 100)
        return requests, 0, 20.0

    provider = make_provider(tmp_path, clock, v2=flaky)
    assert promote(provider, clock).outcome == "promoted"


def test_lasting_metrics_failure_stops_the_rollout_resumably(tmp_path, clock):
    from cloudeploy.errors import TransientError

    def down(version, percent, seconds):
        raise TransientError("metrics unavailable")

    provider = make_provider(tmp_path, clock, v2=down)
    with pytest.raises(TransientError):
        promote(provider, clock)
    assert store_for(provider, "ep").load().status == "interrupted"


def test_rollout_stopped_while_rolling_back_finishes_the_rollback_when_resumed(tmp_path, clock):
    provider = make_provider(tmp_path, clock, v2=failing_at(0.5))
    set_traffic = provider.set_traffic

    def ctrl_c_on_the_way_back(endpoint, split, **kwargs):
        if split.get("v1") == 100:
            provider.set_traffic = set_traffic
            raise KeyboardInterrupt
        return set_traffic(endpoint, split, **kwargs)

    provider.set_traffic = ctrl_c_on_the_way_back
    with pytest.raises(KeyboardInterrupt):
        promote(provider, clock)
    assert store_for(provider, "ep").load().status == "rolling_back"

    result = run_promotion(provider, "ep", None, resume=True, clock=clock, sleep=clock.sleep)
    assert result.outcome == "rolled_back"
    assert provider.split == {"v1": 100, "v2": 0}


def test_provider_without_per_version_metrics_is_refused_before_traffic_moves(tmp_path, clock):
    from cloudeploy.errors import CloudeployError, ProviderError

    provider = make_provider(tmp_path, clock)

    def no_metrics(*args, **kwargs):
        raise CloudeployError("the fake provider does not report per-version metrics")

    provider.version_metrics = no_metrics
    with pytest.raises(ProviderError, match="cannot run a gated rollout"):
        promote(provider, clock)
    assert provider.traffic_calls == []
