"""`cloudeploy --help` stays light: no cloud SDK, scikit-learn or server stack imported."""

from __future__ import annotations

import subprocess
import sys

# "google" and "google.cloud" are namespace packages that .pth files import at start-up;
# the SDKs below them are the weight.
HEAVY = ("sklearn", "numpy", "starlette", "uvicorn", "google.cloud.aiplatform", "google.cloud.storage",
         "google.auth", "google.api_core", "google.protobuf", "boto3", "botocore",
         "pandas", "httpx", "moto")
_LOADED = f"sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in {HEAVY!r}))"


def test_help_imports_nothing_heavy():
    code = (
        "import sys; from cloudeploy.cli import cli\n"
        "try:\n    cli(['--help'], prog_name='cloudeploy')\nexcept SystemExit:\n    pass\n"
        f"heavy = {_LOADED}\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY="


def test_help_lists_every_command():
    out = subprocess.run([sys.executable, "-m", "cloudeploy.cli", "--help"], capture_output=True, text=True,
                         check=True).stdout
    for command in ("deploy", "predict", "traffic", "promote", "rollback", "serve", "package", "emulator"):
        assert command in out


def test_import_cloudeploy_is_light():
    code = f"import sys, cloudeploy; print({_LOADED})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
