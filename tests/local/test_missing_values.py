"""Missing values travel from a client to the model, and every answer names its request id.

A DataFrame with a missing value reaches a model with an imputer and gets an
answer; the same value sent to a model without one is a 400 naming the row and
the feature (one line, no client traceback). The answer's request id comes back
to the caller.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

import cloudeploy
from cloudeploy.errors import ValidationError

pytestmark = pytest.mark.slow


@pytest.fixture
def iris():
    data = load_iris(as_frame=True)
    return data.data, data.target


def test_missing_values_reach_a_model_with_an_imputer(home, iris):
    features, target = iris
    model = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500)).fit(features, target)
    baseline = features.copy()
    baseline.iloc[::7, 1] = np.nan  # the training data had missing values: the feature is nullable
    deployment = cloudeploy.deploy(model, name="with-imputer", provider="local", baseline=baseline)
    rows = features.head(3).copy()
    rows.iloc[1, 1] = np.nan

    answer = deployment.predict_detailed(rows)

    assert answer.predictions == model.predict(rows).tolist()
    assert answer.request_id  # X-Request-Id of the answer


def test_a_missing_value_without_an_imputer_is_a_400_naming_row_and_feature(home, iris):
    features, target = iris
    model = LogisticRegression(max_iter=500).fit(features, target)
    deployment = cloudeploy.deploy(model, name="no-imputer", provider="local", baseline=features)
    rows = features.head(3).copy()
    rows.iloc[2, 0] = np.nan

    with pytest.raises(ValidationError) as caught:
        deployment.predict(rows)

    message = str(caught.value)
    assert "row 2" in message and repr(features.columns[0]) in message
    assert "\n" not in message


def test_predict_cli_sends_nan_as_null_and_prints_the_request_id(home, iris, tmp_path):
    import json

    from click.testing import CliRunner

    from cloudeploy.cli import cli

    features, target = iris
    model = LogisticRegression(max_iter=500).fit(features, target)
    cloudeploy.deploy(model, name="cli-nan", provider="local", baseline=features)
    runner = CliRunner()

    good = runner.invoke(cli, ["predict", "cli-nan", "--instances", "[[5.1, 3.5, 1.4, 0.2]]", "--output", "json"])
    assert good.exit_code == 0, good.output
    assert json.loads(good.stdout)["request_id"]

    bad = runner.invoke(cli, ["predict", "cli-nan", "--instances", "[[5.1, NaN, 1.4, 0.2]]"])
    assert bad.exit_code == 2, bad.output
    assert "Traceback" not in bad.output
    assert "row 0" in bad.output and "missing a value" in bad.output


def test_a_frame_with_pandas_na_is_sent(home, iris):
    features, target = iris
    model = make_pipeline(SimpleImputer(), LogisticRegression(max_iter=500)).fit(features, target)
    baseline = features.copy()
    baseline.iloc[::5, :] = np.nan
    deployment = cloudeploy.deploy(model, name="pandas-na", provider="local", baseline=baseline)
    rows = pd.DataFrame([[5.1, None, 1.4, 0.2]], columns=features.columns).astype("Float64")

    assert deployment.predict(rows) == model.predict(rows.astype(float)).tolist()
