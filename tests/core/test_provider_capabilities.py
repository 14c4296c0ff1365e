"""Workflows reach providers only through their capabilities (providers/capabilities.py).

- No module outside ``providers/<cloud>/`` and ``testing/`` imports a cloud SDK
  or touches a provider's ``clients``, ``settings`` or underscore members.
- No workflow (``rollout/``, ``batch/``, ``monitoring/``) dispatches on a
  provider's name, so a third-party provider that offers a batch backend gets
  batch prediction: the end-to-end run below goes through a tiny provider with
  an in-memory "cloud", and one without a backend gets a one-line error.
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from cloudeploy.config import Profile
from cloudeploy.errors import CapabilityError
from cloudeploy.packaging.manifest import Manifest
from cloudeploy.packaging.schema import Feature, InputSchema
from cloudeploy.providers.base import Provider, no_progress
from cloudeploy.providers.capabilities import CloudBatchBackend, MonitoringHooks
from cloudeploy.types import DeployedVersion, EndpointStatus, ModelVersion, Scaling

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "cloudeploy"
SDKS = ("boto3", "botocore", "google")
#: Packages allowed to use a provider's insides: the providers themselves, and the emulators.
INSIDE = ("providers/local/", "providers/vertex/", "providers/sagemaker/", "testing/")
WORKFLOWS = ("rollout/", "batch/", "monitoring/")


def _modules(prefixes: Sequence[str] = (), *, outside: Sequence[str] = ()) -> list[tuple[str, ast.Module]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if prefixes and not relative.startswith(tuple(prefixes)):
            continue
        if relative.startswith(tuple(outside)):
            continue
        found.append((relative, ast.parse(path.read_text(), filename=relative)))
    return found


def _receiver(node: ast.AST) -> str:
    """The last name of an attribute's receiver: ``provider`` for ``self.provider.x``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def _provider_like(name: str) -> bool:
    return "provider" in name.lower() or name in ("backend", "cloud")


def _boundary_breaks(relative: str, tree: ast.Module) -> list[str]:
    found = []
    for node in ast.walk(tree):
        where = f"{relative}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{where} imports {a.name}" for a in node.names if a.name.split(".")[0] in SDKS]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in SDKS:
                found.append(f"{where} imports from {node.module}")
        elif isinstance(node, ast.Attribute):
            receiver = _receiver(node.value)
            if node.attr == "clients":
                found.append(f"{where} touches .clients")
            elif _provider_like(receiver) and (
                node.attr == "settings" or (node.attr.startswith("_") and not node.attr.startswith("__"))
            ):
                found.append(f"{where} touches {receiver}.{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr"):
            names = [a.value for a in node.args[1:2] if isinstance(a, ast.Constant)]
            inside = names and (names[0] in ("clients", "settings") or str(names[0]).startswith("_"))
            if inside and _provider_like(_receiver(node.args[0])):
                found.append(f"{where} {node.func.id}s {names[0]!r} of a provider")
    return found


def test_only_provider_packages_and_testing_use_cloud_sdks_or_provider_insides():
    breaks = [b for relative, tree in _modules(outside=INSIDE) for b in _boundary_breaks(relative, tree)]

    assert breaks == []


def test_the_scan_sees_what_it_forbids():
    """The scan itself works: the provider packages do all of these."""
    inside = [b for relative, tree in _modules(("providers/sagemaker/", "providers/vertex/"))
              for b in _boundary_breaks(relative, tree)]

    assert any("imports boto3" in b for b in inside)
    assert any("imports from google" in b for b in inside)
    assert any("touches .clients" in b for b in inside)
    assert any("touches provider._" in b for b in inside)


def test_no_workflow_dispatches_on_a_provider_name():
    found = []
    for relative, tree in _modules(WORKFLOWS):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Compare):
                continue
            sides = [node.left, *node.comparators]
            names = [s for s in sides if isinstance(s, ast.Attribute) and s.attr == "name"
                     and _provider_like(_receiver(s.value))]
            constants = [s for s in sides if isinstance(s, ast.Constant) and isinstance(s.value, str)]
            if names and constants:
                found.append(f"{relative}:{node.lineno}")

    assert found == []


# -- a third-party provider --------------------------------------------------------------

SCHEMA = InputSchema(features=(Feature("f0"), Feature("f1")), named=True)


class MemoryCloud(CloudBatchBackend):
    """A batch service in a dict: answers every staged row with ``f0 + 10 * f1``."""

    name = "acme"
    job_kind = "acme job"
    staged_format = "jsonl"
    known_options = frozenset({"priority"})

    def __init__(self, provider: Any, objects: dict[str, bytes]) -> None:
        super().__init__(provider)
        self.store = objects

    def staging_uri(self, job_id: str) -> str:
        return f"mem://jobs/{job_id}"

    def schema_of(self, uri: str) -> InputSchema:
        assert uri == "mem://models/scorer/v1"
        return SCHEMA

    def new_record(self, spec: Any, version: ModelVersion, schema: InputSchema) -> dict[str, Any]:
        return {"remote": ""}

    def start(self, spec: Any, record: dict[str, Any], version: ModelVersion, parts: Sequence[int], *,
              save: Callable[[dict[str, Any]], None], progress: Callable[[str], None] = no_progress) -> None:
        import json

        for index in parts:
            rows = [json.loads(line) for line in self.store[f"{record['input_uri']}/part-{index:05d}.jsonl"].splitlines()]
            self.store[f"{record['output_uri']}/{index}"] = json.dumps([a + 10 * b for a, b in rows]).encode()
        record["remote"] = f"acme-{spec.job_id}"
        save(record)

    def state(self, record: dict[str, Any]) -> tuple[str, str]:
        return ("succeeded", "") if record["remote"] else ("pending", "")

    def predictions(self, record: dict[str, Any], index: int, staged: Path) -> Iterable[Any]:
        import json

        return json.loads(self.store[f"{record['output_uri']}/{index}"])

    def upload(self, path: Path, uri: str) -> None:
        self.store[uri] = path.read_bytes()

    def remote_ids(self, record: dict[str, Any]) -> dict[str, str]:
        return {"acme_job": record["remote"]}


def _unsupported(*args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError


def _acme(**methods: Any) -> Provider:
    """A third-party provider: only the registry lookup batch needs, plus ``methods``."""

    def get_model_version(self: Provider, model: str, version: str = "latest") -> ModelVersion:
        return ModelVersion(model=model, version="v1", digest="sha256:" + "0" * 64, uri=f"mem://models/{model}/v1")

    stubs = {name: _unsupported for name in Provider.__abstractmethods__}
    cls = type("AcmeProvider", (Provider,), {**stubs, "name": "acme", "get_model_version": get_model_version,
                                              **methods})
    return cls(Profile(name="acme", provider="acme"))


def test_batch_prediction_reaches_a_third_party_providers_backend(tmp_path, monkeypatch):
    from cloudeploy.batch.api import batch_predict

    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    objects: dict[str, bytes] = {}
    provider = _acme(batch_backend=lambda self: MemoryCloud(self, objects))
    source = tmp_path / "rows.csv"
    source.write_text("id,f1,f0\na,1,2\nb,3,4\nc,5,6\n")

    job = batch_predict("scorer@v1", str(source), str(tmp_path / "out.csv"), id_column="id", provider=provider)

    status = job.status()
    assert (status.state, status.provider, status.rows) == ("succeeded", "acme", 3)
    assert status.extra["acme_job"].startswith("acme-")
    with open(tmp_path / "out.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["id"], float(r["prediction"])) for r in rows] == [("a", 12.0), ("b", 34.0), ("c", 56.0)]
    assert any(uri.startswith("mem://jobs/") and "/input/part-" in uri for uri in objects)


def test_a_third_party_backend_refuses_options_it_does_not_know(tmp_path, monkeypatch):
    from cloudeploy.batch.api import batch_predict
    from cloudeploy.errors import ValidationError

    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    provider = _acme(batch_backend=lambda self: MemoryCloud(self, {}))

    with pytest.raises(ValidationError, match="unknown batch option.*machine_class.*known: priority"):
        batch_predict("scorer@v1", "in.csv", "out.csv", provider=provider, options={"machine_class": "big"})


@pytest.mark.parametrize("ask", ["batch_backend", "monitoring_hooks", "native_rollout", "shadow_source"])
def test_a_provider_without_a_capability_says_so_in_one_line(ask):
    provider = _acme()

    with pytest.raises(CapabilityError, match=r"^the acme provider has no ") as raised:
        getattr(provider, ask)()

    assert raised.value.exit_code == 2 and raised.value.hint


def test_batch_on_a_provider_without_a_backend_is_a_capability_error(tmp_path):
    from cloudeploy.batch.api import batch_predict

    with pytest.raises(CapabilityError, match="the acme provider has no batch backend"):
        batch_predict("scorer@v1", "in.csv", str(tmp_path / "out.csv"), provider=_acme())


# -- monitoring through a third party's hooks --------------------------------------------


class MemoryMonitoring(MonitoringHooks):
    """Monitoring hooks over dicts: one package, two logged requests, a job registry."""

    jobs: dict[str, Any] = {}

    def manifest(self, endpoint: str, version: str) -> Manifest:
        baseline = {"features": [{"name": "f0"}, {"name": "f1"}]}
        return Manifest(name="scorer", format="joblib", model_file="model.joblib", files={}, schema=SCHEMA,
                        baseline=baseline)

    def package(self, endpoint: str, version: str, folder: Path) -> tuple[Path, Manifest]:
        return folder, self.manifest(endpoint, version)

    def captured(self, endpoint: str, version: str, features: Sequence[str], *, since: float | None,
                 until: float | None) -> Iterable[dict[str, Any]]:
        for ts, row in ((1000.0, [1.0, 2.0]), (2000.0, [3.0, 4.0])):
            if (since is None or ts >= since) and (until is None or ts < until):
                yield {"ts": ts, "request_id": f"r{ts:g}", "features": list(features), "instances": [row],
                       "predictions": [sum(row)]}

    def configure(self, endpoint: str, spec: Any, *, serving: Callable[[], tuple[str, list[str]]],
                  saved: Any) -> dict[str, Any]:
        version, features = serving()
        self.jobs[endpoint] = {"version": version, "features": features}
        return {"acme_job": f"watch-{endpoint}"}

    def status(self, endpoint: str) -> dict[str, Any]:
        return {"acme_job": self.jobs.get(endpoint)}


def _acme_endpoint(self: Provider, name: str) -> EndpointStatus:
    deployed = DeployedVersion(version="v1", traffic=100, scaling=Scaling())
    return EndpointStatus(name=name, provider="acme", model="scorer", state="serving", url="mem://",
                          deployments=(deployed,))


def test_monitoring_reaches_a_third_party_providers_hooks(tmp_path, monkeypatch):
    from cloudeploy.monitoring import MonitorSpec, configure, status
    from cloudeploy.monitoring.backend import backend_for
    from cloudeploy.monitoring.capture import capture_files

    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    provider = _acme(get_endpoint=_acme_endpoint, monitoring_hooks=lambda self: MemoryMonitoring(self))

    configured = configure("ep", MonitorSpec(features=["f1"]), provider=provider)
    shown = status("ep", provider=provider)
    folder = backend_for(provider).capture("ep", "v1", since=1500.0, until=None)

    assert configured["acme_job"] == "watch-ep" and configured["provider"] == "acme"
    assert shown["configured"] is True and shown["acme_job"] == {"version": "v1", "features": ["f1"]}
    lines = [json.loads(line) for path in capture_files(folder) for line in path.read_text().splitlines()]
    assert [(r["request_id"], r["version"], r["instances"]) for r in lines] == [("r2000", "v1", [[3.0, 4.0]])]
