"""Running the failure zoo through a cloud emulator: endpoints, the request stream, one case.

A module of zoo tests builds one :class:`ZooEndpoint` per baseline kind
(classifier, regressor) on its provider: the baseline ``v1`` serves 100% and
the endpoint records what each version answers (SageMaker data capture,
Vertex AI request-response logging), so the prediction-shift gate has data.
:func:`run_case` deploys a candidate with no traffic, promotes it under the
zoo plan while a :class:`RequestStream` (>= 2,000 requests from 4 threads,
bounded in time) runs through the whole rollout, then undeploys the candidate
so the next case starts from the same endpoint.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import cloudeploy
from cloudeploy.errors import CloudeployError
from cloudeploy.rollout import RolloutPlan
from cloudeploy.testing import zoo

#: The request stream of every case: at least this many requests, from this many threads.
STREAM_REQUESTS = 2000
STREAM_THREADS = 4
#: A stream never runs longer than this, whatever the rollout does.
STREAM_MAX_S = 120.0
BASELINE = "v1"


@dataclass(frozen=True)
class Outcome:
    """One request of the stream: when it ran, which version answered (None: it failed), the error."""

    started: float
    ended: float
    version: str | None
    error: str = ""


class RequestStream:
    """Single-row predictions from ``threads`` threads until :meth:`finish` and ``total`` are both reached."""

    def __init__(self, provider: Any, endpoint: str, rows: list[list[float]], *,
                 total: int = STREAM_REQUESTS, threads: int = STREAM_THREADS,
                 max_seconds: float = STREAM_MAX_S) -> None:  # fmt: skip
        self.provider, self.endpoint, self.rows = provider, endpoint, rows
        self.total, self.threads, self.max_seconds = total, threads, max_seconds
        self.outcomes: list[Outcome] = []
        self._lock = threading.Lock()
        self._issued = 0
        self._finishing = threading.Event()
        self._workers: list[threading.Thread] = []

    def _ticket(self, deadline: float) -> int | None:
        with self._lock:
            if time.monotonic() >= deadline or (
                self._finishing.is_set() and self._issued >= self.total
            ):
                return None
            self._issued += 1
            return self._issued

    def _run(self, deadline: float) -> None:
        while (number := self._ticket(deadline)) is not None:
            row = self.rows[number % len(self.rows)]
            started = time.time()
            try:
                version = self.provider.predict(self.endpoint, [row]).version
                outcome = Outcome(started, time.time(), version)
            except CloudeployError as error:
                outcome = Outcome(started, time.time(), None, f"{type(error).__name__}: {error}")
            with self._lock:
                self.outcomes.append(outcome)

    def start(self) -> RequestStream:
        deadline = time.monotonic() + self.max_seconds
        self._workers = [threading.Thread(target=self._run, args=(deadline,), daemon=True)
                         for _ in range(self.threads)]  # fmt: skip
        for worker in self._workers:
            worker.start()
        return self

    def finish(self) -> list[Outcome]:
        """Let the stream reach ``total`` requests (or its time bound), then stop it."""
        self._finishing.set()
        for worker in self._workers:
            worker.join(timeout=self.max_seconds + 60)
        return list(self.outcomes)


@dataclass
class ZooEndpoint:
    """An endpoint whose baseline ``v1`` serves everything, and how to turn on answer recording."""

    provider: Any
    name: str
    kind: str
    record_answers: Any = None  # callable(provider, endpoint) run once after the baseline deploy
    rows: list[list[float]] = field(default_factory=lambda: zoo.traffic(200))

    def deploy_baseline(self, **options: Any) -> None:
        model = zoo.baseline_classifier() if self.kind == "classifier" else zoo.baseline_regressor()
        cloudeploy.deploy(model, self.name, model_name=self.name, provider=self.provider, **options)
        if self.record_answers is not None:
            self.record_answers(self.provider, self.name)

    def split(self) -> dict[str, int]:
        return {
            k: v for k, v in self.provider.get_endpoint(self.name).traffic.to_dict().items() if v
        }


@dataclass
class CaseRun:
    """What one zoo case did: the promotion (None when deploy refused the version), the stream, v1's metrics."""

    result: Any
    deploy_error: CloudeployError | None
    outcomes: list[Outcome]
    baseline: Any
    split_after: dict[str, int]
    since: float
    until: float
    exit_code: int | None = None  # of `cloudeploy promote`, when the case ran through the CLI

    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.version is None]

    def failures_after(self, moment: float) -> list[Outcome]:
        return [o for o in self.failures() if o.started >= moment]

    def summary(self) -> str:
        """For assertion messages: outcome, decisions with broken gates, failures."""
        if self.result is None:
            return f"deploy refused: {self.deploy_error}"
        lines = [f"outcome {self.result.outcome}: {self.result.reason}"]
        for decision in self.result.decisions:
            broken = [g["gate"] for g in decision.gates if g.get("passed") is False]
            lines.append(
                f"  {decision.action} {decision.percent}% broken={broken} {decision.reason}"
            )
            for side in ("new", "baseline"):
                seen = (decision.metrics or {}).get(side) or {}
                if seen:
                    lines.append(f"    {side} {seen.get('version')}: {seen.get('requests')} requests, "
                                 f"{seen.get('input_errors')}/{seen.get('model_errors')}/{seen.get('timeouts')} "
                                 f"input/model/timeout errors, p50 {seen.get('p50_ms')} ms, "
                                 f"answers {seen.get('prediction_counts')}")  # fmt: skip
        v1 = {k: v for k, v in self.baseline.to_dict().items() if k != "prediction_values"}
        lines.append(f"  {len(self.failures())} failed of {len(self.outcomes)}; v1 {v1}")
        return "\n".join(lines)


def cli_flags(plan: dict[str, Any]) -> list[str]:
    """``cloudeploy promote`` flags for a plan given as RolloutPlan keyword arguments."""
    names = {"steps": "--steps", "bake_s": "--bake", "min_requests": "--min-requests",
             "max_wait_s": "--max-wait"}  # fmt: skip
    flags: list[str] = []
    for key, value in plan.items():
        flag = names.get(key, "--" + key.replace("_", "-"))
        if key == "steps":
            value = ",".join(str(step) for step in value)
        elif key in ("bake_s", "max_wait_s"):
            value = f"{value:g}s"
        flags += [flag, str(value)]
    return flags


def promote_with_cli(profile: str, name: str, label: str, plan: dict[str, Any]) -> tuple[int, Any]:
    """``cloudeploy promote NAME --to LABEL <plan flags> --output json`` in-process: (exit code, result)."""
    import json

    from click.testing import CliRunner

    from cloudeploy.cli import cli
    from cloudeploy.rollout.result import Decision, PromotionResult

    done = CliRunner().invoke(cli, ["promote", name, "--to", label, *cli_flags(plan), "--profile", profile,
                                    "--output", "json"])  # fmt: skip
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise AssertionError(
            f"promote printed no JSON (exit {done.exit_code}): {done.output}"
        ) from None
    data["decisions"] = tuple(Decision.from_dict(d) for d in data["decisions"])
    fields = PromotionResult.__dataclass_fields__
    return done.exit_code, PromotionResult(**{k: v for k, v in data.items() if k in fields})


def run_case(endpoint: ZooEndpoint, model: Any, *, trust: bool, rollout: dict[str, Any],
             cli_profile: str | None = None) -> CaseRun:  # fmt: skip
    """Deploy ``model`` with no traffic on ``endpoint``, promote it under ``rollout`` with a stream, undeploy it.

    ``rollout`` holds RolloutPlan keyword arguments. With ``cli_profile`` the
    promotion runs through ``cloudeploy promote`` with that profile (the exit
    code is kept), otherwise through :func:`cloudeploy.promote`.
    """
    provider, name = endpoint.provider, endpoint.name
    since = time.time()
    stream = RequestStream(provider, name, endpoint.rows, total=STREAM_REQUESTS).start()
    result, deploy_error, label, exit_code = None, None, None, None
    try:
        try:
            deployed = cloudeploy.deploy(model, name, model_name=name, provider=provider, traffic=0,
                                         trust=trust, allow_schema_change=True)  # fmt: skip
            label = deployed.version
        except CloudeployError as error:
            deploy_error = error
        if label is not None and cli_profile is not None:
            exit_code, result = promote_with_cli(cli_profile, name, label, rollout)
        elif label is not None:
            result = cloudeploy.promote(name, label, provider=provider, plan=RolloutPlan(**rollout))
    finally:
        outcomes = stream.finish()
    until = time.time()
    baseline = provider.version_metrics(name, BASELINE, since=since, until=until + 1)
    split_after = endpoint.split()
    if label is not None and label != BASELINE and split_after.get(label, 0) == 0:
        provider.undeploy(name, label)
    return CaseRun(result, deploy_error, outcomes, baseline, split_after, since, until, exit_code)


def rollback_moment(run: CaseRun) -> float:
    """When the rollback decision was taken (traffic back at the start by then)."""
    return next(d.at for d in run.result.decisions if d.action == "rollback")


def assert_caught(run: CaseRun) -> None:
    """The zoo's promise for a failing candidate, on any provider."""
    assert len(run.outcomes) >= STREAM_REQUESTS, f"only {len(run.outcomes)} requests were sent"
    assert run.split_after == {BASELINE: 100}, run.summary()
    if run.result is not None:
        assert run.result.outcome == "rolled_back", run.summary()
        assert run.exit_code in (None, 3), (
            f"cloudeploy promote exited {run.exit_code}\n{run.summary()}"
        )
        assert all(d.percent < 100 for d in run.result.decisions if d.action == "step"), (
            run.summary()
        )
        assert {k: v for k, v in run.result.traffic.items() if v} == {BASELINE: 100}, run.summary()
        # Requests that started once traffic was back at the start all succeeded ...
        assert run.failures_after(rollback_moment(run)) == [], run.summary()
    else:
        # ... and a version refused at deploy never took a request: nothing failed at all.
        assert run.failures() == [], run.summary()
    # ... and the old version itself failed none of its requests in the whole window.
    assert run.baseline.requests > 0 and run.baseline.errors == 0, run.summary()


def assert_promoted(run: CaseRun) -> None:
    """A healthy candidate: promoted, serving everything, and no request of the stream failed."""
    assert len(run.outcomes) >= STREAM_REQUESTS
    assert run.result is not None and run.result.outcome == "promoted", run.summary()
    assert run.failures() == [], run.summary()
    assert list(run.split_after.values()) == [100] and BASELINE not in run.split_after, (
        run.summary()
    )


def restore(endpoint: ZooEndpoint, label: str) -> None:
    """Put ``v1`` back at 100% and undeploy ``label`` (after a case that promoted it)."""
    from cloudeploy.types import TrafficSplit

    endpoint.provider.set_traffic(endpoint.name, TrafficSplit({BASELINE: 100}))
    endpoint.provider.undeploy(endpoint.name, label)
