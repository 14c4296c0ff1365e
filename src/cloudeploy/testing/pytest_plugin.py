"""cloudeploy's pytest plugin (entry point ``pytest11``).

Fixtures import their emulator only when a test asks for them, so the plugin
costs nothing for test suites that do not use them.

- ``vertex_emulator``: a running Vertex AI + Cloud Storage emulator for the
  test session, reset before each test; see ``cloudeploy.testing.vertex``.
- ``sagemaker_emulator``: a running SageMaker emulation for the test session,
  reset before each test; see ``cloudeploy.testing.sagemaker``.
- ``vertex_emulator_session`` / ``sagemaker_emulator_session``: the same
  emulators *without* the reset, for module-scoped fixtures that build state
  once (an endpoint shared by several tests); such a fixture resets what it
  needs itself.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def vertex_emulator_session():
    from cloudeploy.testing.vertex import start_emulator

    with start_emulator() as emulator:
        yield emulator


@pytest.fixture
def vertex_emulator(vertex_emulator_session):
    vertex_emulator_session.reset()
    yield vertex_emulator_session


@pytest.fixture(scope="session")
def sagemaker_emulator_session():
    from cloudeploy.testing.sagemaker import start_emulation

    with start_emulation() as emulation:
        yield emulation


@pytest.fixture
def sagemaker_emulator(sagemaker_emulator_session):
    sagemaker_emulator_session.reset()
    yield sagemaker_emulator_session


# Earlier names, kept so existing suites keep working.
@pytest.fixture(scope="session")
def _vertex_emulator_session(vertex_emulator_session):
    return vertex_emulator_session


@pytest.fixture(scope="session")
def _sagemaker_emulator_session(sagemaker_emulator_session):
    return sagemaker_emulator_session
