"""The provider contract as a reusable test class.

Written once, run against every provider, the way fsspec's abstract tests are
reused by each filesystem. Subclass it in a test module and provide a
``provider`` fixture that returns a provider on a clean backend::

    from cloudeploy.testing.conformance import ProviderConformance

    class TestMyProviderConformance(ProviderConformance):
        @pytest.fixture
        def provider(self, tmp_path):
            return MyProvider(Profile(name="test", provider="mine", settings={...}))

``make_package(seed)`` (overridable) builds small packages whose digests differ
by seed; ``predict_tolerance`` lets float predictions differ in the last bits on
providers whose wire format goes through float32 or protobuf.

A subclass also implements :meth:`ProviderConformance.serve_nothing`: put an
endpoint in the state no cloudeploy call makes (every version at 0%) through
the provider's own API, so the suite can check that such an endpoint reads and
can be repaired.

The tests under "contract" are one per sentence of the contract decided in
``cloudeploy.providers.base.Provider`` (docs/providers.md lists them).
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from cloudeploy.errors import (
    CloudeployError,
    ConflictError,
    NotFoundError,
    OperationTimeout,
    ValidationError,
)
from cloudeploy.types import ENDPOINT_STATES, Scaling, TrafficSplit

_names = itertools.count()


def _training_data(seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] - 0.25 * X[:, 2] + rng.normal(scale=0.1, size=120) > 0).astype(int)
    return X, y


def fitted_classifier(seed: int = 0):
    """A small LogisticRegression; different seeds give different coefficients."""
    from sklearn.linear_model import LogisticRegression

    X, y = _training_data(seed)
    return LogisticRegression(C=1.0 + seed).fit(X, y)


def sample_instances(n: int = 5, seed: int = 99) -> list[list[float]]:
    X, _ = _training_data(seed)
    return X[:n].round(4).tolist()


class ProviderConformance:
    """Behavioural tests of ``cloudeploy.providers.base.Provider``."""

    predict_tolerance = 0.0

    @pytest.fixture
    def provider(self):  # pragma: no cover - subclasses provide it
        raise NotImplementedError("subclass ProviderConformance and provide a `provider` fixture")

    def serve_nothing(self, provider, endpoint: str) -> None:  # pragma: no cover - subclasses provide it
        """Give every version of ``endpoint`` 0% through the provider's own API."""
        raise NotImplementedError("subclass ProviderConformance and implement serve_nothing")

    @pytest.fixture
    def make_package(self, tmp_path: Path):
        from cloudeploy.packaging import build_package

        def make(seed: int = 0) -> Path:
            out = tmp_path / f"package-{seed}-{next(_names)}"
            return build_package(fitted_classifier(seed), out, name="conformance").path

        return make

    @pytest.fixture
    def model_name(self) -> str:
        return f"conf-{next(_names)}"

    @pytest.fixture
    def deployed(self, provider, make_package, model_name):
        """An endpoint serving v1 at 100%; yields (endpoint name, v1)."""
        v1 = provider.upload_model(make_package(0), model_name)
        provider.create_endpoint(model_name, model=model_name)
        provider.deploy(model_name, v1, scaling=Scaling(1, 1))
        yield model_name, v1
        provider.delete_endpoint(model_name, force=True)

    def assert_predictions_match(self, actual, expected) -> None:
        assert len(actual) == len(expected)
        for a, e in zip(actual, expected, strict=True):
            if self.predict_tolerance:
                assert float(a) == pytest.approx(float(e), abs=self.predict_tolerance)
            else:
                assert a == e

    # -- registry ----------------------------------------------------------------

    def test_upload_creates_version_v1(self, provider, make_package, model_name):
        version = provider.upload_model(make_package(0), model_name)
        assert version.model == model_name
        assert version.version == "v1"
        assert model_name in provider.list_models()

    def test_upload_same_package_twice_returns_same_version(self, provider, make_package, model_name):
        package = make_package(0)
        first = provider.upload_model(package, model_name)
        second = provider.upload_model(package, model_name)
        assert second.version == first.version
        assert second.digest == first.digest
        assert [v.version for v in provider.list_versions(model_name)] == ["v1"]

    def test_different_packages_get_increasing_versions(self, provider, make_package, model_name):
        versions = [provider.upload_model(make_package(seed), model_name).version for seed in (0, 1, 2)]
        assert versions == ["v1", "v2", "v3"]
        assert provider.get_model_version(model_name, "latest").version == "v3"

    def test_alias_resolves_and_moves_between_versions(self, provider, make_package, model_name):
        provider.upload_model(make_package(0), model_name, aliases=["champion"])
        assert provider.get_model_version(model_name, "champion").version == "v1"
        provider.upload_model(make_package(1), model_name, aliases=["champion"])
        assert provider.get_model_version(model_name, "champion").version == "v2"
        assert "champion" not in provider.get_model_version(model_name, "v1").aliases

    def test_unknown_model_or_version_is_not_found(self, provider, make_package, model_name):
        with pytest.raises(NotFoundError):
            provider.get_model_version(f"{model_name}-missing", "v1")
        provider.upload_model(make_package(0), model_name)
        with pytest.raises(NotFoundError):
            provider.get_model_version(model_name, "v9")

    def test_delete_model_version_is_idempotent_and_never_reuses_its_number(
        self, provider, make_package, model_name
    ):
        for seed in (0, 1):
            provider.upload_model(make_package(seed), model_name)
        provider.delete_model_version(model_name, "v2")
        provider.delete_model_version(model_name, "v2")  # a re-run converges
        assert [v.version for v in provider.list_versions(model_name)] == ["v1"]
        with pytest.raises(NotFoundError):
            provider.get_model_version(model_name, "v2")
        assert provider.upload_model(make_package(2), model_name).version == "v3"

    def test_delete_model_version_of_a_deployed_version_is_refused(self, provider, deployed):
        endpoint, v1 = deployed
        with pytest.raises(ConflictError):
            provider.delete_model_version(v1.model, v1.version)
        assert provider.get_model_version(v1.model, v1.version).digest == v1.digest

    # -- endpoints -----------------------------------------------------------------

    def test_create_endpoint_twice_is_one_endpoint(self, provider, model_name):
        provider.create_endpoint(model_name, model=model_name)
        provider.create_endpoint(model_name, model=model_name)
        assert [e.name for e in provider.list_endpoints()].count(model_name) == 1
        provider.delete_endpoint(model_name)

    def test_first_version_takes_all_traffic(self, provider, deployed):
        endpoint, v1 = deployed
        assert provider.get_endpoint(endpoint).traffic.to_dict() == {"v1": 100}

    def test_predictions_come_from_the_model(self, provider, deployed):
        endpoint, _ = deployed
        instances = sample_instances()
        result = provider.predict(endpoint, instances)
        expected = fitted_classifier(0).predict(instances).tolist()
        self.assert_predictions_match(result.predictions, expected)
        assert result.version == "v1"

    def test_second_version_defaults_to_zero_traffic(self, provider, deployed, make_package):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        status = provider.deploy(endpoint, v2)
        assert status.traffic.to_dict() == {"v1": 100, "v2": 0}

    def test_second_version_with_traffic_shrinks_the_first(self, provider, deployed, make_package):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        status = provider.deploy(endpoint, v2, traffic=10)
        assert status.traffic.to_dict() == {"v1": 90, "v2": 10}

    def test_deploying_the_same_version_again_converges(self, provider, deployed):
        endpoint, v1 = deployed
        status = provider.deploy(endpoint, v1)
        assert [d.version for d in status.deployments] == ["v1"]
        assert status.traffic.to_dict() == {"v1": 100}

    def test_predict_on_a_pinned_version(self, provider, deployed, make_package):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        provider.deploy(endpoint, v2, traffic=0)
        instances = sample_instances()
        result = provider.predict(endpoint, instances, version="v2")
        assert result.version == "v2"
        self.assert_predictions_match(result.predictions, fitted_classifier(1).predict(instances).tolist())

    def test_set_traffic_applies_and_remembers_previous(self, provider, deployed, make_package):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        provider.deploy(endpoint, v2, traffic=0)
        status = provider.set_traffic(endpoint, TrafficSplit({"v1": 50, "v2": 50}))
        assert status.traffic.to_dict() == {"v1": 50, "v2": 50}
        assert provider.previous_traffic(endpoint).to_dict() == {"v1": 100, "v2": 0}

    def test_split_not_summing_to_100_is_refused_and_changes_nothing(self, provider, deployed):
        endpoint, _ = deployed
        with pytest.raises(ValidationError):
            provider.set_traffic(endpoint, TrafficSplit({"v1": 60}))
        assert provider.get_endpoint(endpoint).traffic.to_dict() == {"v1": 100}

    def test_split_naming_an_undeployed_version_is_refused(self, provider, deployed):
        endpoint, _ = deployed
        with pytest.raises(NotFoundError):
            provider.set_traffic(endpoint, TrafficSplit({"v1": 50, "v7": 50}))
        assert provider.get_endpoint(endpoint).traffic.to_dict() == {"v1": 100}

    def test_undeploy_moves_traffic_to_the_others(self, provider, deployed, make_package):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        provider.deploy(endpoint, v2, traffic=30)
        status = provider.undeploy(endpoint, "v2")
        assert status.traffic.to_dict() == {"v1": 100}
        assert [d.version for d in status.deployments] == ["v1"]

    def test_undeploy_of_the_version_with_all_traffic_is_refused(self, provider, deployed, make_package):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        provider.deploy(endpoint, v2, traffic=0)
        with pytest.raises(ConflictError):
            provider.undeploy(endpoint, "v1")
        assert provider.get_endpoint(endpoint).traffic.to_dict() == {"v1": 100, "v2": 0}

    def test_delete_endpoint_that_serves_is_refused_without_force(self, provider, deployed):
        endpoint, _ = deployed
        with pytest.raises(ConflictError):
            provider.delete_endpoint(endpoint)
        assert provider.get_endpoint(endpoint).traffic.to_dict() == {"v1": 100}

    def test_delete_with_force_then_again_is_a_no_op(self, provider, deployed):
        endpoint, _ = deployed
        provider.delete_endpoint(endpoint, force=True)
        provider.delete_endpoint(endpoint, force=True)
        with pytest.raises(NotFoundError):
            provider.get_endpoint(endpoint)

    def test_unknown_endpoint_is_not_found(self, provider, model_name):
        with pytest.raises(NotFoundError):
            provider.get_endpoint(f"{model_name}-nope")
        with pytest.raises(NotFoundError):
            provider.predict(f"{model_name}-nope", sample_instances(1))

    def test_bad_input_is_a_validation_error(self, provider, deployed):
        endpoint, _ = deployed
        with pytest.raises(CloudeployError) as raised:
            provider.predict(endpoint, [[1.0, 2.0]])
        assert not isinstance(raised.value, NotFoundError)

    # -- contract (one test per sentence of Provider's docstrings) ----------------

    def test_percents_are_whole_ints_bools_and_fractions_are_refused(self, provider, deployed, make_package):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        for bad in (True, 12.5, 12.0, "10", -1, 101):
            with pytest.raises(ValidationError):
                provider.deploy(endpoint, v2, traffic=bad)
        provider.deploy(endpoint, v2, traffic=0)
        for bad in ({"v1": True, "v2": 99}, {"v1": 87.5, "v2": 12.5}, {"v1": 50.0, "v2": 50}):
            with pytest.raises(ValidationError):
                provider.set_traffic(endpoint, bad)
        assert provider.get_endpoint(endpoint).traffic.to_dict() == {"v1": 100, "v2": 0}

    def test_the_empty_split_is_refused_while_a_version_is_deployed(self, provider, deployed):
        endpoint, _ = deployed
        with pytest.raises(ValidationError, match="serving nothing"):
            provider.set_traffic(endpoint, {})
        assert provider.get_endpoint(endpoint).traffic.to_dict() == {"v1": 100}

    def test_an_endpoint_serving_nothing_reads_as_idle_and_set_traffic_repairs_it(self, provider, deployed):
        endpoint, _ = deployed
        self.serve_nothing(provider, endpoint)
        status = provider.get_endpoint(endpoint)
        assert status.traffic.to_dict() == {}
        assert status.state == "idle"
        assert [d.version for d in status.deployments] == ["v1"]
        assert endpoint in [e.name for e in provider.list_endpoints()]
        provider.previous_traffic(endpoint)  # never raises
        repaired = provider.set_traffic(endpoint, {"v1": 100})
        assert repaired.traffic.to_dict() == {"v1": 100}
        assert provider.predict(endpoint, sample_instances(1)).version == "v1"

    def test_predict_where_no_version_receives_traffic_is_a_conflict(self, provider, model_name):
        provider.create_endpoint(model_name, model=model_name)
        try:
            with pytest.raises(ConflictError, match="no version") as raised:
                provider.predict(model_name, sample_instances(1))
            assert raised.value.exit_code == 5
        finally:
            provider.delete_endpoint(model_name, force=True)

    def test_undeploying_the_last_version_is_refused(self, provider, deployed):
        endpoint, _ = deployed
        with pytest.raises(ConflictError, match="last version"):
            provider.undeploy(endpoint, "v1")
        assert provider.get_endpoint(endpoint).traffic.to_dict() == {"v1": 100}

    def test_create_endpoint_for_another_model_is_refused(self, provider, deployed):
        endpoint, v1 = deployed
        with pytest.raises(ConflictError, match="serves model"):
            provider.create_endpoint(endpoint, model=f"{v1.model}-other")
        assert provider.get_endpoint(endpoint).model == v1.model

    def test_endpoint_states_come_from_one_vocabulary(self, provider, deployed, model_name):
        endpoint, _ = deployed
        serving = provider.get_endpoint(endpoint)
        assert serving.state == "serving"
        assert serving.native_state
        empty = f"{model_name}-empty"
        provider.create_endpoint(empty, model=endpoint)
        try:
            assert provider.get_endpoint(empty).state == "idle"
            assert {e.state for e in provider.list_endpoints()} <= set(ENDPOINT_STATES)
        finally:
            provider.delete_endpoint(empty)

    def test_predictions_keep_the_types_the_model_answers(self, provider, deployed):
        endpoint, _ = deployed
        instances = sample_instances()
        expected = fitted_classifier(0).predict(instances).tolist()
        for pinned in (None, "v1"):
            predictions = provider.predict(endpoint, instances, version=pinned).predictions
            assert predictions == expected
            assert [type(p) for p in predictions] == [int] * len(expected)

    def test_timeout_0_returns_at_once_and_the_change_is_still_applied(self, provider, deployed, make_package):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        provider.deploy(endpoint, v2, traffic=10, timeout=0)
        deadline = time.monotonic() + 120
        status = provider.get_endpoint(endpoint)
        while status.traffic.to_dict() != {"v1": 90, "v2": 10} or status.state != "serving":
            assert time.monotonic() < deadline, status
            time.sleep(0.2)
            status = provider.get_endpoint(endpoint)
        assert provider.predict(endpoint, sample_instances(2), version="v2").version == "v2"

    def test_a_timeout_bounds_the_whole_call(self, provider, deployed, make_package):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        started = time.monotonic()
        with pytest.raises(OperationTimeout, match="may still be in progress"):
            provider.deploy(endpoint, v2, traffic=10, timeout=0.01)
        assert time.monotonic() - started < 30

    def test_an_option_unknown_or_not_read_by_the_step_is_refused_and_changes_nothing(
        self, provider, deployed, make_package
    ):
        endpoint, _ = deployed
        v2 = provider.upload_model(make_package(1), endpoint)
        with pytest.raises(ValidationError, match="unknown option 'no_such_option'"):
            provider.deploy(endpoint, v2, traffic=50, options={"no_such_option": 1})
        specs = provider.options_class.specs()
        for name in [n for n, spec in specs.items() if "deploy" not in spec.steps]:
            with pytest.raises(ValidationError, match=f"'{name}' does not apply to deploy"):
                provider.deploy(endpoint, v2, traffic=50, options={name: object()})
        assert provider.get_endpoint(endpoint).traffic.to_dict() == {"v1": 100}

    def test_gates_count_a_refused_request_as_an_input_error_apart_from_model_errors(self, provider, deployed):
        """VersionMetrics' error classes: a request the server refuses (4xx) is an input
        error, not a model error; ``errors`` is the sum of the classes; every answer is a request."""
        endpoint, v1 = deployed
        since = time.time()
        if not provider.supports_version_metrics:
            with pytest.raises(CloudeployError):
                provider.version_metrics(endpoint, v1.version, since=since)
            return
        provider.predict(endpoint, sample_instances(2))
        provider.predict(endpoint, sample_instances(1), version=v1.version)
        with pytest.raises(ValidationError):
            provider.predict(endpoint, [[1.0]])
        metrics = provider.version_metrics(endpoint, v1.version, since=since, until=time.time() + 0.01)
        assert (metrics.requests, metrics.input_errors, metrics.model_errors, metrics.timeouts) == (3, 1, 0, 0)
        assert metrics.errors == metrics.input_errors + metrics.model_errors + metrics.timeouts
        assert metrics.error_rate == pytest.approx(1 / 3)

    def test_a_missing_capability_is_a_cloudeploy_error(self, provider, deployed):
        endpoint, _ = deployed
        checks = {
            "supports_stop": lambda: provider.stop_endpoint(endpoint),
            "supports_version_metrics": lambda: provider.version_metrics(endpoint, "v1", since=time.time() - 60),
        }
        for flag, call in checks.items():
            assert isinstance(getattr(type(provider), flag), bool)
            if not getattr(provider, flag):
                with pytest.raises(CloudeployError, match="cannot|does not"):
                    call()
        if provider.supports_version_metrics:
            assert provider.version_metrics(endpoint, "v1", since=time.time() - 60).version == "v1"
