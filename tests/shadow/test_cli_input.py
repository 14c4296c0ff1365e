"""Bad shadow input is one line and exit status 2, before any endpoint is touched."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli


@pytest.fixture(autouse=True)
def _no_endpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(tmp_path / "cloudeploy.toml"))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)


@pytest.mark.parametrize("args, named", [
    (["shadow", "ep", "--to", "v2", "--duration", "10x"], "invalid shadow duration '10x'"),
    (["shadow", "ep", "--to", "v2", "--duration", "1m", "--share", "120%"], "shadow share must be between"),
    (["shadow", "ep", "--to", "v2", "--share", "0"], "shadow share must be above 0"),
    (["shadow", "ep", "--to", "v2", "--min-agreement", "1.5"], "min agreement must be between"),
    (["promote", "ep", "--to", "v2", "--shadow", "soon"], "invalid shadow duration 'soon'"),
    (["promote", "ep", "--to", "v2", "--shadow", "1m", "--shadow-share", "-5%"], "shadow share must be between"),
    (["promote", "ep", "--to", "v2", "--shadow-share", "50%"], "add --shadow DURATION"),
])
def test_bad_shadow_input_exits_2_with_one_line_naming_it(args, named):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_a_shadow_phase_with_native_sagemaker_promotion_is_refused():
    result = CliRunner().invoke(cli, ["promote", "ep", "--to", "v2", "--shadow", "1m", "--native"])
    assert result.exit_code == 2
    assert "drop --native" in result.output
