"""Importing the monitoring package stays cheap: heavy libraries load on use."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    ["cloudeploy.monitoring", "cloudeploy.monitoring.spec", "cloudeploy.monitoring.result"],
)
def test_importing_does_not_load_numpy_or_matplotlib(module):
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('numpy', 'matplotlib', 'pandas', 'pyarrow') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert output.stdout.strip() == ""


def test_public_names_resolve_lazily():
    import cloudeploy.monitoring as monitoring

    assert monitoring.compute_skew.__module__ == "cloudeploy.monitoring.detection"
    assert set(monitoring.__all__) >= {
        "compute_baseline",
        "js_divergence",
        "write_report",
        "MonitorSpec",
    }
