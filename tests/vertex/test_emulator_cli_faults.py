"""``cloudeploy emulator vertex --fault``: faults given on the command line."""

from __future__ import annotations

import json
import select
import subprocess
import sys

import httpx
from click.testing import CliRunner

from cloudeploy.cli import cli


def test_fault_option_injects_the_fault_into_the_running_emulator():
    process = subprocess.Popen(
        [sys.executable, "-m", "cloudeploy.cli", "emulator", "vertex", "--output", "json",
         "--fault", "ListEndpoints:throttle:count=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        ready_to_read, _, _ = select.select([process.stdout], [], [], 60)
        assert ready_to_read, "the emulator printed nothing within 60 s"
        ready = json.loads(process.stdout.readline())
        assert [(r["operation"], r["kind"]) for r in ready["faults"]] == [
            ("ListEndpoints", "throttle")
        ]
        url = f"{ready['api_endpoint']}/v1/projects/test-project/locations/us-central1/endpoints"
        assert [httpx.get(url).status_code for _ in range(2)] == [429, 200]
    finally:
        process.kill()
        process.wait(timeout=10)


def test_a_bad_fault_option_is_a_clear_error_before_anything_starts():
    result = CliRunner().invoke(cli, ["emulator", "vertex", "--fault", "GetEndpoint:fail"])
    assert result.exit_code == 2
    assert "GetEndpoint" in result.output
    assert "Traceback" not in result.output
