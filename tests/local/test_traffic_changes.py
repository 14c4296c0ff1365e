"""Traffic changes under a live request stream: no failed request, the split as configured."""

from __future__ import annotations

import time

from cloudeploy.packaging import build_package
from cloudeploy.testing.conformance import fitted_classifier, sample_instances
from cloudeploy.types import TrafficSplit
from tests.local.loadgen import LoadGenerator

STEPS = (0, 10, 50, 100, 0)
PER_STEP = 600  # the gateway splits by weighted round-robin: only the window edges blur the share


def test_split_changes_under_load_fail_no_request_and_match_the_split(local_provider, tmp_path):
    for seed, name in ((0, "p0"), (1, "p1")):
        package = build_package(fitted_classifier(seed), tmp_path / name, name="ab").path
        version = local_provider.upload_model(package, "ab")
        if seed == 0:
            local_provider.create_endpoint("ab", model="ab")
        local_provider.deploy("ab", version, traffic=0 if seed else None)
    url = local_provider.get_endpoint("ab").url

    load = LoadGenerator(f"{url}/predict", {"instances": sample_instances(1)}, concurrency=8,
                         max_requests=len(STEPS) * PER_STEP * 3, max_seconds=240).start()
    windows = []
    try:
        for percent in STEPS:
            local_provider.set_traffic("ab", TrafficSplit({"v1": 100 - percent, "v2": percent}))
            applied = time.monotonic()
            load.wait_for(load.count() + PER_STEP + 8)
            windows.append((percent, applied, time.monotonic()))
    finally:
        results = load.stop()

    assert len(results) >= 2000
    failures = [r for r in results if r.status != 200]
    assert failures == []
    for percent, start, end in windows:
        window = [r for r in results if r.started >= start and r.ended <= end]
        assert len(window) >= PER_STEP - 16
        share = 100 * sum(r.version == "v2" for r in window) / len(window)
        assert abs(share - percent) <= 4, f"step {percent}%: observed {share:.1f}% of {len(window)}"
