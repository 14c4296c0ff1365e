"""Shadow traffic on the local provider: the gateway mirrors live requests to a candidate.

Each test streams single-row requests at the endpoint (4 client threads, a
bounded number of requests) while the CLI runs in-process, and checks what
users saw: every answer came from the serving version, and the split (and the
provider's remembered previous split) never moved for a refused candidate.
"""

from __future__ import annotations

import json
import time

from click.testing import CliRunner

from cloudeploy.cli import cli
from tests.rollout.load import RotatingLoad
from tests.shadow import models
from tests.shadow.conftest import ENDPOINT, SLOW_MS, STARTING

SHADOW = ["--duration", "2s", "--min-requests", "30"]


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def load(local) -> RotatingLoad:
    return RotatingLoad(f"{local.url}/predict", body={}, bodies=models.bodies(), concurrency=4,
                        max_requests=3000, max_seconds=90).start()


def served_by(results) -> set[str]:
    return {r.version for r in results}


def test_shadow_refuses_a_disagreeing_candidate_and_users_never_see_it(local):
    previous = local.provider.previous_traffic(ENDPOINT)
    stream = load(local)
    try:
        result = run("shadow", ENDPOINT, "--to", "v3", *SHADOW, "--output", "json")
    finally:
        results = stream.stop()
    report = json.loads(result.output)
    assert result.exit_code == 3, result.output
    assert report["passed"] is False
    agreement = {g["gate"]: g for g in report["gates"]}["agreement"]
    assert agreement["passed"] is False and agreement["value"] < 0.75
    assert report["agreement"]["rows"] >= 30
    assert report["traffic"] == STARTING
    assert local.provider.get_endpoint(ENDPOINT).traffic.to_dict() == STARTING
    assert local.provider.previous_traffic(ENDPOINT) == previous  # set_traffic was never called
    assert served_by(results) == {"v1"} and all(r.status == 200 for r in results)


def test_shadow_passes_an_agreeing_candidate_and_prints_the_comparison(local):
    stream = load(local)
    try:
        result = run("shadow", ENDPOINT, "--to", "v2", *SHADOW)
    finally:
        results = stream.stop()
    assert result.exit_code == 0, result.output
    assert "passed" in result.output and "agreement" in result.output and "v1 (serving)" in result.output
    assert local.provider.get_endpoint(ENDPOINT).traffic.to_dict() == STARTING
    assert served_by(results) == {"v1"}


def test_promote_with_shadow_refuses_a_disagreeing_candidate_before_any_user_traffic(local):
    previous = local.provider.previous_traffic(ENDPOINT)
    stream = load(local)
    try:
        result = run("promote", ENDPOINT, "--to", "v3", "--shadow", "2s", "--steps", "50,100", "--bake", "1s",
                     "--min-requests", "30", "--no-live", "--output", "json")
    finally:
        results = stream.stop()
    report = json.loads(result.output)
    assert result.exit_code == 3, result.output
    assert report["outcome"] == "rolled_back"
    assert [d["action"] for d in report["decisions"]] == ["shadow"]
    assert "before any user traffic" in report["reason"]
    assert {g["gate"]: g["passed"] for g in report["decisions"][0]["gates"]}["agreement"] is False
    assert report["traffic"] == STARTING
    assert local.provider.previous_traffic(ENDPOINT) == previous
    assert served_by(results) == {"v1"} and all(r.status == 200 for r in results)


def test_promote_with_shadow_promotes_an_agreeing_candidate(local):
    stream = load(local)
    try:
        result = run("promote", ENDPOINT, "--to", "v2", "--shadow", "2s", "--steps", "100", "--bake", "1s",
                     "--min-requests", "30", "--no-live", "--output", "json")
    finally:
        results = stream.stop()
    report = json.loads(result.output)
    assert result.exit_code == 0, result.output
    assert report["outcome"] == "promoted"
    assert report["decisions"][0]["action"] == "shadow"
    assert report["decisions"][0]["metrics"]["agreement"]["share"] >= 0.9
    assert report["traffic"] == {**STARTING, "v1": 0, "v2": 100}
    # Users met v2 only once the shadow phase had passed (results are timed on the monotonic clock).
    passed_at = report["decisions"][0]["at"] - (time.time() - time.monotonic())
    assert {r.version for r in results if r.ended < passed_at} == {"v1"}
    assert "v2" in served_by(results)
    assert all(r.status == 200 for r in results)


def test_a_slow_candidate_fails_the_latency_gate_on_copies_while_clients_do_not_wait_for_it(local):
    stream = load(local)
    try:
        result = run("shadow", ENDPOINT, "--to", "v4", *SHADOW, "--max-p99-ms", str(SLOW_MS / 2), "--output", "json")
    finally:
        results = stream.stop()
    report = json.loads(result.output)
    assert result.exit_code == 3, result.output
    gates = {g["gate"]: g for g in report["gates"]}
    assert gates["p99_ms"]["passed"] is False and gates["p99_ms"]["value"] >= SLOW_MS
    assert gates["agreement"]["value"] == 1.0  # same model: only slower
    latencies = sorted(r.ended - r.started for r in results)
    assert latencies[len(latencies) // 2] * 1000 < SLOW_MS / 2  # the median client never waited for v4
    assert served_by(results) == {"v1"}


def test_the_live_view_shows_the_shadow_phase_and_its_refusal(local):
    stream = load(local)
    try:
        result = CliRunner().invoke(cli, ["promote", ENDPOINT, "--to", "v3", "--shadow", "2s", "--steps", "100",
                                          "--bake", "1s", "--min-requests", "30", "--live"])
    finally:
        stream.stop()
    assert result.exit_code == 3, result.output
    assert "refused in shadow before any user traffic" in result.output
    assert "agreement" in result.output
