"""Shadow runs of regressors on the local provider: agreement within a relative tolerance.

Its own endpoint (``shadow-reg``): v1 a Ridge regression serving 100%, v2 the
same estimator retrained with more regularisation (answers within 10% of v1's
on ~98% of rows), v3 a DummyRegressor that answers the training mean.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.config import Profile
from cloudeploy.providers.local import LocalProvider
from cloudeploy.providers.local.processes import pid_alive, terminate
from tests.rollout.load import RotatingLoad
from tests.shadow import models

ENDPOINT = "shadow-reg"


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    import cloudeploy

    home = tmp_path_factory.mktemp("shadow-regression")
    provider = LocalProvider(Profile(name="shadow-regression", settings={"home": str(home)}))
    try:
        for number, model in enumerate((models.regressor(1.0), models.regressor(30.0), models.constant_regressor())):
            cloudeploy.deploy(model, ENDPOINT, model_name="ridge", provider=provider,
                              traffic=None if number == 0 else 0)
        yield provider, home
    finally:
        with contextlib.suppress(Exception):
            for row in provider.store.endpoints():
                if pid_alive(row.gateway_pid):
                    terminate(row.gateway_pid, timeout=20)


def shadow(regression, monkeypatch, version):
    provider, home = regression
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(home))
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(home / "cloudeploy.toml"))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    stream = RotatingLoad(f"{provider.get_endpoint(ENDPOINT).url}/predict", body={},
                          bodies=models.regression_bodies(), concurrency=4, max_requests=3000, max_seconds=90).start()
    try:
        result = CliRunner().invoke(cli, ["shadow", ENDPOINT, "--to", version, "--duration", "2s",
                                          "--min-requests", "30", "--tolerance", "0.1", "--output", "json"])
    finally:
        results = stream.stop()
    assert {r.version for r in results} == {"v1"}
    return result, json.loads(result.output)


def test_a_retrained_regressor_agrees_within_the_tolerance(regression, monkeypatch):
    result, report = shadow(regression, monkeypatch, "v2")
    assert result.exit_code == 0, result.output
    assert report["agreement"]["kind"] == "regression"
    assert report["agreement"]["share"] >= 0.9
    assert report["agreement"]["mean_rel_error"] < 0.05


def test_a_constant_regressor_is_refused(regression, monkeypatch):
    result, report = shadow(regression, monkeypatch, "v3")
    assert result.exit_code == 3, result.output
    assert report["agreement"]["kind"] == "regression"
    assert report["agreement"]["share"] < 0.75
