"""Typed provider options: every option is known, of the right kind, and read by the step it is given to."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from cloudeploy.errors import ValidationError
from cloudeploy.providers.local.options import LocalOptions
from cloudeploy.providers.options import DEPLOY_FLOW, STEPS, NoOptions
from cloudeploy.providers.sagemaker.options import SageMakerOptions
from cloudeploy.providers.vertex.options import VertexOptions

CLASSES = [LocalOptions, VertexOptions, SageMakerOptions]
DOCS = Path(__file__).resolve().parents[2] / "docs" / "options.md"


@pytest.mark.parametrize("options_class", CLASSES, ids=lambda c: c.provider)
def test_every_option_is_documented_with_its_steps(options_class):
    text = DOCS.read_text()
    section = text.split(f"(`{options_class.__name__}`)", 1)[1].split("\n## ", 1)[0]
    for name, spec in options_class.specs().items():
        assert spec.steps and set(spec.steps) <= set(STEPS) and spec.doc
        row = re.search(rf"^\| `{name}` \|.*$", section, re.MULTILINE)
        assert row, f"docs/options.md does not list {options_class.provider} option {name}"
        for step in spec.steps:
            assert step in row.group(0), f"docs/options.md: {name} is read by {step}"
        assert name in (options_class.__doc__ or ""), f"{options_class.__name__} docstring misses {name}"


@pytest.mark.parametrize("options_class", CLASSES, ids=lambda c: c.provider)
def test_options_are_frozen(options_class):
    options = options_class.parse({"strict": True}, step="deploy")
    with pytest.raises(AttributeError):
        options.strict = False  # type: ignore[misc]


@pytest.mark.parametrize(
    "options_class, given, step",
    [
        (LocalOptions, {"colour": "blue"}, "deploy"),
        (LocalOptions, {"labels": {"team": "ml"}}, "create_endpoint"),  # Vertex's, not local's
        (VertexOptions, {"gpu": 1}, "upload"),
        (VertexOptions, {"data_capture": True}, "deploy"),  # SageMaker's, not Vertex's
        (SageMakerOptions, {"port": 8080}, "create_endpoint"),  # local's
    ],
)
def test_an_unknown_option_is_refused_by_name(options_class, given, step):
    (name,) = given
    with pytest.raises(ValidationError, match=rf"unknown option '{name}' for the {options_class.provider} provider"):
        options_class.parse(given, step=step)


@pytest.mark.parametrize(
    "options_class, given, step, message",
    [
        (LocalOptions, {"port": "8080"}, "create_endpoint", "'port' .* must be a whole number 1..65535, got '8080'"),
        (LocalOptions, {"port": 70000}, "create_endpoint", "'port' .* got 70000"),
        (LocalOptions, {"port": True}, "create_endpoint", "'port' .* got True"),
        (LocalOptions, {"capture_sample": 1.5}, "create_endpoint", "'capture_sample' .* between 0 and 1, got 1.5"),
        (LocalOptions, {"capture_sample": float("nan")}, "create_endpoint", "'capture_sample'"),
        (LocalOptions, {"capture_sample": "10%"}, "create_endpoint", "'capture_sample'"),
        (LocalOptions, {"trust": "yes"}, "upload", "'trust' .* true or false, got 'yes'"),
        (LocalOptions, {"host": ""}, "create_endpoint", "'host'"),
        (VertexOptions, {"labels": ["team", "ml"]}, "upload", "'labels'"),
        (VertexOptions, {"labels": {"Team": "ml"}}, "upload", "'labels' .* bad entry 'Team'"),
        (VertexOptions, {"labels": {"team": "Machine Learning"}}, "upload", "'labels' .* bad entry 'team'"),
        (VertexOptions, {"labels": {"team": 7}}, "create_endpoint", "'labels' .* bad entry 'team'"),
        (VertexOptions, {"labels": {"cloudeploy-model": "x"}}, "upload", "cloudeploy's own labels"),
        (VertexOptions, {"strict": 1}, "deploy", "'strict' .* true or false"),
        (VertexOptions, {"service_account": 42}, "deploy", "'service_account'"),
        (SageMakerOptions, {"data_capture": "yes"}, "deploy", "'data_capture'"),
        (SageMakerOptions, {"data_capture": {"sampling_percentage": 150}}, "deploy", "sampling_percentage"),
        (SageMakerOptions, {"data_capture": {"sampling_percentage": 20.5}}, "deploy", "sampling_percentage"),
        (SageMakerOptions, {"data_capture": {"bucket": "b"}}, "deploy", "not bucket"),
        (SageMakerOptions, {"data_capture": {"destination": "gs://b/c"}}, "deploy", "s3:// URI"),
        (SageMakerOptions, {"deployment_config": "blue/green"}, "deploy", "'deployment_config'"),
        (SageMakerOptions, {"deployment_config": {"Canary": {}}}, "deploy", "unknown keys Canary"),
        (SageMakerOptions, {"batch_strategy": "AllAtOnce"}, "batch", "MultiRecord, SingleRecord"),
        (SageMakerOptions, {"max_payload_mb": 500}, "batch", "'max_payload_mb'"),
    ],
)
def test_a_wrongly_typed_value_is_refused_naming_the_option(options_class, given, step, message):
    with pytest.raises(ValidationError, match=message):
        options_class.parse(given, step=step)


@pytest.mark.parametrize(
    "options_class, given, step, read_by",
    [
        (LocalOptions, {"capture_sample": 0.5}, "deploy", "create_endpoint"),
        (LocalOptions, {"port": 8080}, "upload", "create_endpoint"),
        (LocalOptions, {"trust": True}, "deploy", "upload"),
        (VertexOptions, {"labels": {"team": "ml"}}, "deploy", "upload, create_endpoint"),
        (VertexOptions, {"serving_image": "eu-docker.pkg.dev/p/r/serve:1"}, "deploy", "upload"),
        (VertexOptions, {"service_account": "sa@p.iam.gserviceaccount.com"}, "upload", "deploy"),
        (VertexOptions, {"model_name": "house"}, "deploy", "batch"),
        (SageMakerOptions, {"data_capture": True}, "upload", "deploy"),
        (SageMakerOptions, {"deployment_config": {"BlueGreenUpdatePolicy": {}}}, "create_endpoint", "deploy"),
        (SageMakerOptions, {"batch_strategy": "SingleRecord"}, "deploy", "batch"),
    ],
)
def test_an_option_the_step_does_not_read_is_refused(options_class, given, step, read_by):
    (name,) = given
    with pytest.raises(ValidationError, match=rf"option '{name}' does not apply to {step} .* read by {read_by}"):
        options_class.parse(given, step=step)


def test_an_option_the_step_does_not_read_is_refused_whatever_its_value():
    with pytest.raises(ValidationError, match="'capture_sample' does not apply to deploy"):
        LocalOptions.parse({"capture_sample": "lots"}, step="deploy")


def test_parse_gives_the_typed_values_and_none_for_what_was_not_given():
    options = LocalOptions.parse({"capture_sample": 0, "port": 8123}, step="create_endpoint")
    assert options.capture_sample == 0.0 and isinstance(options.capture_sample, float)
    assert options.port == 8123
    assert options.host is None
    assert options.given() == {"capture_sample": 0.0, "port": 8123}


def test_a_deploy_hands_each_step_the_options_it_reads():
    steps = VertexOptions.split(
        {"labels": {"team": "ml"}, "serving_image": "eu-docker.pkg.dev/p/r/serve:1", "service_account": "sa@x",
         "strict": True}
    )
    assert set(steps) == set(DEPLOY_FLOW)
    assert steps["upload"].given() == {
        "labels": {"team": "ml"}, "serving_image": "eu-docker.pkg.dev/p/r/serve:1", "strict": True,
    }
    assert steps["create_endpoint"].given() == {"labels": {"team": "ml"}}
    assert steps["deploy"].given() == {"service_account": "sa@x", "strict": True}


def test_a_deploy_refuses_an_option_no_deploy_step_reads():
    with pytest.raises(ValidationError, match="'batch_strategy' does not apply to deploy .* read by batch"):
        SageMakerOptions.split({"batch_strategy": "SingleRecord"})


def test_typed_options_pass_through_a_step_that_reads_them():
    typed = LocalOptions.parse({"trust": True}, step="upload")
    assert LocalOptions.parse(typed, step="upload") == typed
    with pytest.raises(ValidationError, match="does not apply to deploy"):
        LocalOptions.parse(typed, step="deploy")
    with pytest.raises(ValidationError, match="not options of the vertex provider"):
        VertexOptions.parse(typed, step="upload")


def test_a_provider_without_options_refuses_any():
    with pytest.raises(ValidationError, match="unknown option 'x' for this provider .options: none"):
        NoOptions.parse({"x": 1}, step="deploy")
    assert NoOptions.parse(None, step="deploy").given() == {}


@pytest.mark.parametrize(
    "options_class, pairs, expected",
    [
        (LocalOptions, ["capture_sample=0.25", "port=8123", "trust=true"],
         {"capture_sample": 0.25, "port": 8123, "trust": True}),
        (VertexOptions, ["labels=team=ml,env=prod"], {"labels": {"team": "ml", "env": "prod"}}),
        (VertexOptions, ['labels={"team": "ml"}', "strict=false"], {"labels": {"team": "ml"}, "strict": False}),
        (SageMakerOptions, ["data_capture=true"], {"data_capture": True}),
        (SageMakerOptions, ['data_capture={"sampling_percentage": 20}'], {"data_capture": {"sampling_percentage": 20}}),
        (SageMakerOptions, ["max_payload_mb=12", "batch_strategy=SingleRecord"],
         {"max_payload_mb": 12, "batch_strategy": "SingleRecord"}),
    ],
)
def test_cli_text_becomes_typed_values(options_class, pairs, expected):
    assert options_class.from_text(pairs) == expected


@pytest.mark.parametrize(
    "options_class, pairs, message",
    [
        (LocalOptions, ["capture_sample=lots"], "'capture_sample' .* between 0 and 1, got 'lots'"),
        (LocalOptions, ["port=80.5"], "'port'"),
        (LocalOptions, ["capture_sample"], "KEY=VALUE"),
        (LocalOptions, ["colour=blue"], "unknown option 'colour'"),
        (VertexOptions, ["labels=team"], "'labels'"),
        (SageMakerOptions, ["data_capture={not json"], "'data_capture'"),
    ],
)
def test_bad_cli_text_is_refused_naming_the_option(options_class, pairs, message):
    with pytest.raises(ValidationError, match=message):
        options_class.from_text(pairs)


# -- through the API and the CLI (local provider; refused before anything is packaged) -------


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(path))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(tmp_path / "cloudeploy.toml"))
    return path


@pytest.fixture
def model_file(tmp_path):
    import joblib

    from cloudeploy.testing.conformance import fitted_classifier

    path = tmp_path / "model.joblib"
    joblib.dump(fitted_classifier(0), path)
    return path


@pytest.mark.parametrize(
    "options, message",
    [
        ({"colour": "blue"}, "unknown option 'colour'"),
        ({"capture_sample": "half"}, "'capture_sample'"),
        ({"labels": {"team": "ml"}}, "unknown option 'labels' for the local provider"),
    ],
)
def test_deploy_refuses_a_bad_option_before_registering_anything(home, model_file, options, message):
    import cloudeploy
    from cloudeploy.config import Profile
    from cloudeploy.providers.local import LocalProvider

    with pytest.raises(ValidationError, match=message):
        cloudeploy.deploy(model_file, "iris", provider="local", options=options)
    assert LocalProvider(Profile(name="check", settings={"home": str(home)})).list_models() == []


@pytest.mark.parametrize(
    "option, message",
    [
        ("colour=blue", "unknown option 'colour' for the local provider"),
        ("capture_sample=lots", "option 'capture_sample' of the local provider must be a number between 0 and 1"),
        ("capture_sample", "--option takes KEY=VALUE"),
    ],
)
def test_cli_deploy_refuses_a_bad_option_in_one_line(home, model_file, option, message):
    result = CliRunner().invoke(cli, ["deploy", str(model_file), "--name", "iris", "--option", option])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (home / "artifacts").exists() or not any((home / "artifacts").iterdir())


def test_cli_batch_refuses_an_option_the_provider_does_not_have_in_one_line(home, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("a,b\n1,2\n")
    result = CliRunner().invoke(
        cli, ["batch", "house@v1", "--source", str(source), "--destination", str(tmp_path / "out.csv"),
              "--option", "batch_strategy=SingleRecord"],
    )
    assert result.exit_code == 2
    assert "unknown option 'batch_strategy' for the local provider" in result.output
    assert "Traceback" not in result.output
