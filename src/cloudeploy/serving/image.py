"""The Docker build context of cloudeploy's own serving image.

Prebuilt cloud scikit-learn images lag scikit-learn releases, so a model saved
with a newer version is served by this image instead: the model package, the
exact library versions the manifest records, and ``cloudeploy serve`` as the
exec-form entry point. The same image runs on Vertex AI (custom container: it
honours ``AIP_HTTP_PORT`` / ``AIP_HEALTH_ROUTE`` / ``AIP_PREDICT_ROUTE``) and on
SageMaker (bring your own container: port 8080, ``/ping``, ``/invocations``; the
``serve`` argument SageMaker appends is understood by ``cloudeploy serve``).

Layout written::

    DIR/Dockerfile
    DIR/requirements.txt      every dependency pinned (==), model libraries to the manifest's versions
    DIR/model/                the package, byte for byte (its digests are verified at startup)
    DIR/cloudeploy-src/       this cloudeploy's source, installed with --no-deps
    DIR/README.md             how to build and push

Building needs a Docker engine (``docker build -t IMAGE DIR``); writing the
context does not.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cloudeploy._version import __version__
from cloudeploy.errors import PackageError, ValidationError
from cloudeploy.packaging.manifest import read_manifest

PACKAGE_MOUNT = "/opt/cloudeploy/model"
SERVING_PORT = 8080
USER_ID = 10001
#: Manifest framework keys that are not pip distributions.
_NOT_DISTRIBUTIONS = {"python", "cpython"}
#: Model formats whose loader lives in an optional dependency.
_FORMAT_DISTRIBUTIONS = {"skops": "skops", "onnx": "onnxruntime"}


@dataclass(frozen=True)
class ImageContext:
    """A written build context: its directory and the pins it holds (name -> version)."""

    path: Path
    requirements: dict[str, str]
    base_image: str

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "dockerfile": str(self.dockerfile),
            "base_image": self.base_image,
            "requirements": self.requirements,
        }


def write_image_context(
    package_dir: str | Path,
    output_dir: str | Path,
    *,
    base_image: str | None = None,
    serve_args: Sequence[str] = (),
    overwrite: bool = False,
) -> ImageContext:
    """Write the serving image's build context for the package in ``package_dir``.

    ``base_image`` defaults to ``python:<manifest's major.minor>-slim``.
    ``serve_args`` are appended to the entry point (e.g. ``["--trust"]``).
    Refuses a non-empty ``output_dir`` unless ``overwrite``. The package is read
    but not loaded (no model code runs).
    """
    package_dir = Path(package_dir)
    manifest = read_manifest(package_dir)
    output = Path(output_dir)
    if output.exists() and any(output.iterdir()):
        if not overwrite:
            raise ValidationError(f"{output} is not empty", hint="pass an empty directory or --overwrite")
        shutil.rmtree(output)
    output.mkdir(parents=True, exist_ok=True)

    pins = pinned_requirements(manifest.frameworks, manifest.format)
    base = base_image or f"python:{_python_minor(manifest.python_version)}-slim"
    shutil.copytree(package_dir, output / "model", ignore=shutil.ignore_patterns("__pycache__"))
    _write_cloudeploy_source(output / "cloudeploy-src")
    (output / "requirements.txt").write_text(
        "# Pinned by cloudeploy from the package manifest (model libraries) and this install.\n"
        + "".join(f"{name}=={version}\n" for name, version in pins.items())
    )
    (output / "Dockerfile").write_text(render_dockerfile(base, manifest.name, manifest.digest, serve_args))
    (output / "README.md").write_text(_README.format(name=manifest.name, port=SERVING_PORT))
    return ImageContext(path=output, requirements=pins, base_image=base)


def pinned_requirements(frameworks: dict[str, str], model_format: str = "joblib") -> dict[str, str]:
    """Exact versions for every runtime dependency: the manifest's where it records one."""
    recorded = {_canonical(name): version for name, version in frameworks.items() if version}
    recorded = {name: v for name, v in recorded.items() if name not in _NOT_DISTRIBUTIONS}
    names = [_canonical(name) for name in _core_dependencies()]
    extra = _FORMAT_DISTRIBUTIONS.get(model_format)
    if extra:
        names.append(extra)
    names += [name for name in recorded if name not in names]
    pins: dict[str, str] = {}
    for name in names:
        version = recorded.get(name) or _installed_version(name)
        if version is None:
            raise PackageError(
                f"cannot pin {name}: the manifest records no version and it is not installed",
                hint=f"pip install {name}",
            )
        pins[name] = version
    return dict(sorted(pins.items()))


def render_dockerfile(base_image: str, model_name: str, digest: str, serve_args: Sequence[str] = ()) -> str:
    entrypoint = json.dumps(["cloudeploy", "serve", *serve_args])
    healthcheck = json.dumps(
        [
            "python", "-c",
            "import os, urllib.request; urllib.request.urlopen("
            "'http://127.0.0.1:' + os.environ.get('AIP_HTTP_PORT', '8080') + '/readyz', timeout=2)",
        ]
    )  # fmt: skip
    return f"""# Serving image for model {model_name!r} (package digest {digest[:16]}), written by cloudeploy.
# Vertex AI custom container and SageMaker bring-your-own container: `docker build -t IMAGE .`
FROM {base_image}

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1 \\
    CLOUDEPLOY_PACKAGE={PACKAGE_MOUNT} \\
    CLOUDEPLOY_HOST=0.0.0.0

RUN useradd --system --uid {USER_ID} --no-create-home --shell /usr/sbin/nologin cloudeploy
WORKDIR /opt/cloudeploy

COPY requirements.txt ./
RUN pip install --requirement requirements.txt
COPY cloudeploy-src ./cloudeploy-src
RUN pip install --no-deps ./cloudeploy-src
COPY model {PACKAGE_MOUNT}

USER {USER_ID}
EXPOSE {SERVING_PORT}
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 CMD {healthcheck}
ENTRYPOINT {entrypoint}
"""


def _core_dependencies() -> list[str]:
    try:
        requires = importlib.metadata.requires("cloudeploy") or []
    except importlib.metadata.PackageNotFoundError:  # running from a source tree
        requires = []
    names = []
    for requirement in requires:
        if ";" in requirement:  # extras are not needed to serve
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        if match:
            names.append(match.group(0))
    return names


def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _python_minor(version: str) -> str:
    match = re.match(r"(\d+)\.(\d+)", version or "")
    if not match:
        import sys

        return f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"{match.group(1)}.{match.group(2)}"


def _write_cloudeploy_source(target: Path) -> None:
    source = Path(__file__).resolve().parents[1]  # the cloudeploy package this module is part of
    shutil.copytree(source, target / "src" / "cloudeploy", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (target / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "cloudeploy"
version = "{__version__}"
requires-python = ">=3.11"

[project.scripts]
cloudeploy = "cloudeploy.cli:main"

[tool.hatch.build.targets.wheel]
packages = ["src/cloudeploy"]
"""
    )


_README = """# Serving image for `{name}`

Written by `cloudeploy image context`. Building needs a Docker engine:

    docker build -t IMAGE .
    docker run -p {port}:{port} IMAGE          # then GET /ping, POST /invocations or /predict

Push IMAGE to Artifact Registry (Vertex AI custom container) or ECR (SageMaker
bring-your-own container). The entry point is `cloudeploy serve`; the model
package is verified against its digests when the container starts.
"""
