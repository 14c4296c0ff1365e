"""The checkov gate, .ci/checkov.sh: an explicit list of check ids, zero failed checks.

checkov lives in its own venv (.venv-checkov, made by the script); the test that
runs it needs that venv and says so when it is missing. CI calls the script itself.
"""

from __future__ import annotations

import json
import re
import subprocess

from tests.terraform.hcl import ROOT, checkov_skips

SCRIPT = ROOT / ".ci" / "checkov.sh"

REQUIRED = {
    "CKV_AWS_98",
    "CKV_AWS_370",
    "CKV_AWS_355",
    "CKV_AWS_145",
    "CKV_AWS_21",
    "CKV2_AWS_6",
    "CKV_GCP_114",
    # the Cloud Storage and IAM checks that apply to the Vertex AI module
    "CKV_GCP_28",
    "CKV_GCP_29",
    "CKV_GCP_62",
    "CKV_GCP_78",
    "CKV_GCP_41",
    "CKV_GCP_42",
    "CKV_GCP_46",
    "CKV_GCP_49",
    "CKV_GCP_117",
}


def listed_checks() -> set[str]:
    return set(re.findall(r"^\s+(CKV2?_[A-Z]+_[0-9]+)\b", SCRIPT.read_text(), re.M))


def test_check_list_has_the_required_checks():
    assert listed_checks() >= REQUIRED


def test_every_inline_skip_is_of_a_listed_check():
    assert {check for _, check, _ in checkov_skips()} <= listed_checks()


def test_checkov_version_is_pinned():
    assert re.search(r'^CHECKOV_VERSION="\d+\.\d+\.\d+"$', SCRIPT.read_text(), re.M)


def test_checkov_reports_no_failed_check_over_terraform():
    # The script makes checkov's own venv on first use (a few minutes, once); CI makes
    # it in a step of its own before the tests.
    result = subprocess.run(
        ["bash", str(SCRIPT), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = json.loads(result.stdout)
    assert (
        result.returncode,
        report["summary"]["failed"],
        report["summary"]["parsing_errors"],
    ) == (0, 0, 0)
    assert report["summary"]["passed"] > 0
