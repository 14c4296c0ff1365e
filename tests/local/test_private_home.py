"""Everything under $CLOUDEPLOY_HOME is private: folders 0700, files 0600, whatever the umask.

Captured requests hold the users' inputs and predictions; the state file and the
logs name every endpoint. A permissive umask (022, the common default) must not
make any of them readable by other users.
"""

from __future__ import annotations

import os
import stat
import time

import pytest

import cloudeploy
from cloudeploy.testing.conformance import fitted_classifier, sample_instances

pytestmark = pytest.mark.slow


@pytest.fixture
def permissive_umask():
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _modes(root):
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def test_home_folders_and_files_are_private(home, permissive_umask):
    deployment = cloudeploy.deploy(fitted_classifier(0), name="private-ep", provider="local")
    for _ in range(3):
        deployment.predict(sample_instances(4))
    deadline = time.monotonic() + 15
    # capture files (capture/<endpoint>/<version>/...), not endpoints/<name>.capture.json, which exists at once
    while time.monotonic() < deadline and not any(
        p.startswith("capture") and os.path.isfile(home / p) for p in _modes(home)
    ):
        deployment.predict(sample_instances(4))
        time.sleep(0.5)

    modes = _modes(home)

    assert any(path.startswith("capture") and os.path.isfile(home / path) for path in modes), sorted(modes)
    assert "state.db" in modes
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    wrong = {
        path: oct(mode)
        for path, mode in modes.items()
        if mode != (0o700 if os.path.isdir(home / path) else 0o600)
    }
    assert not wrong, wrong


def test_a_corrupt_state_file_is_one_line_naming_it_and_is_left_untouched(home, tmp_path):
    from click.testing import CliRunner

    from cloudeploy.cli import cli

    home.mkdir(parents=True, exist_ok=True)
    state = home / "state.db"
    state.write_bytes(b"SQLite format 3\x00" + b"\x13" * 300)  # a truncated, overwritten file
    before = state.read_bytes()

    result = CliRunner().invoke(cli, ["status"])

    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and str(state) in lines[0] and "corrupt" in lines[0]
    assert state.read_bytes() == before
