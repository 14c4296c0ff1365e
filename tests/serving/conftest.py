"""Fixtures for the model server: packages built from real models, servers run as processes."""

from __future__ import annotations

import pytest

from tests.serving.helpers import SLOW_GLOBAL, ServerProcess
from tests.serving.slow_model import pause


@pytest.fixture(scope="session")
def breast_cancer():
    """The breast-cancer data as a DataFrame (30 named features) and its labels."""
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer(as_frame=True)
    return data.data, data.target


@pytest.fixture(scope="session")
def forest(breast_cancer):
    from sklearn.ensemble import RandomForestClassifier

    features, target = breast_cancer
    return RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0).fit(features, target)


@pytest.fixture(scope="session")
def forest_package(forest, tmp_path_factory):
    """A verified package of ``forest`` (features named like the breast-cancer columns)."""
    from cloudeploy.packaging import build_package

    return build_package(forest, tmp_path_factory.mktemp("forest") / "package", name="breast-cancer").path


@pytest.fixture(scope="session")
def slow_package(breast_cancer, tmp_path_factory):
    """A package whose every predict call takes 50 ms, like a big forest (see slow_model.py).

    Serve it with ``*SLOW_ARGS``.
    """
    from sklearn.dummy import DummyClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    from cloudeploy.packaging import build_package

    features, target = breast_cancer
    model = make_pipeline(FunctionTransformer(pause), DummyClassifier())
    model.fit(features.to_numpy(), target)
    return build_package(
        model, tmp_path_factory.mktemp("slow") / "package", name="slow", allowed_globals=[SLOW_GLOBAL]
    ).path


@pytest.fixture
def start_server():
    """``start_server(package_dir, *args, env=None, ready=True, port=0)`` -> a ServerProcess.

    Listens on a free port (``--port 0``; ``port=None`` leaves the port to the
    server's defaults); every process started is stopped after the test.
    """
    started: list[ServerProcess] = []

    def start(package_dir, *args, env=None, ready=True, port=0) -> ServerProcess:
        port_args = [] if port is None else ["--port", str(port)]
        server = ServerProcess([str(package_dir), *port_args, *map(str, args)], env=env)
        started.append(server)
        if ready:
            server.wait_ready()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def shared_server(forest_package):
    """One server (``--model bc --version v7``) for the read-only contract tests."""
    server = ServerProcess([str(forest_package), "--port", "0", "--model", "bc", "--version", "v7"])
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()

