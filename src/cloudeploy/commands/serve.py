"""``cloudeploy serve PACKAGE_DIR``: serve a model package over HTTP until SIGTERM.

Serves the Vertex AI (``/health``, ``/predict``) and SageMaker (``/ping``,
``/invocations``) contracts at once. The package directory may also come from
``$CLOUDEPLOY_PACKAGE``; a lone argument ``serve`` is SageMaker's way of starting
a bring-your-own container (``docker run IMAGE serve``) and means the same.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from cloudeploy.errors import ValidationError
from cloudeploy.serving.settings import ServerSettings, env_port


def _default_port() -> int:
    return env_port()


@click.command()
@click.argument("package_dir", required=False, envvar="CLOUDEPLOY_PACKAGE")
@click.option("--host", default="127.0.0.1", show_default=True, envvar="CLOUDEPLOY_HOST", help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port to listen on. [default: $AIP_HTTP_PORT, else 8080; 0 picks a free one]")
@click.option("--workers", type=int, default=1, show_default=True, help="SO_REUSEPORT server processes (one predict thread each).")
@click.option("--model", "model_name", default=None, help="Model name reported with predictions. [default: the manifest's name]")
@click.option("--version", "version_label", default="v1", show_default=True, help="Version label reported with predictions.")
@click.option("--trust", is_flag=True, help="Load a pickle/joblib model without the allowlist check (only files you trust).")
@click.option("--allow-global", "allowed_globals", multiple=True, metavar="MODULE.NAME", help="Let the model file import this global (repeatable; MODULE.* for a module).")
@click.option("--allow-version-mismatch", is_flag=True, help="Serve a model saved with another scikit-learn version.")
@click.option("--runtime", type=click.Choice(["onnx", "sklearn"]), default=None, envvar="CLOUDEPLOY_RUNTIME", help="Force the compiled graph (onnx) or the original model file (sklearn). [default: the package's verified graph if it has one]")
@click.option("--capture-dir", type=click.Path(file_okay=False, path_type=Path), default=None, envvar="CLOUDEPLOY_CAPTURE_DIR", help="Write sampled request/response capture here (raw .raw files; the monitor turns finished ones into Arrow).")
@click.option("--capture-sample", type=float, default=None, help="Share of requests captured, 0..1. [default: 1.0 with --capture-dir]")
@click.option("--max-body-bytes", type=int, default=10 * 1024 * 1024, show_default=True, help="Larger bodies get 413.")
@click.option("--max-queue", type=int, default=1024, show_default=True, help="Requests admitted per process; beyond it 503 + Retry-After.")
@click.option("--max-batch", type=int, default=64, show_default=True, help="Most rows coalesced into one predict call.")
@click.option("--batch-wait-ms", type=float, default=2.0, show_default=True, help="Most extra wait for a batch to fill; only under concurrency, ended by a 0.5 ms lull.")
@click.option("--drain-timeout", type=float, default=25.0, show_default=True, help="Seconds in-flight requests get after SIGTERM.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="warning", show_default=True)
def serve(
    package_dir: str | None,
    host: str,
    port: int | None,
    workers: int,
    model_name: str | None,
    version_label: str,
    trust: bool,
    allowed_globals: tuple[str, ...],
    allow_version_mismatch: bool,
    runtime: str | None,
    capture_dir: Path | None,
    capture_sample: float | None,
    max_body_bytes: int,
    max_queue: int,
    max_batch: int,
    batch_wait_ms: float,
    drain_timeout: float,
    log_level: str,
) -> None:
    """Serve the model package in PACKAGE_DIR over HTTP (Vertex AI and SageMaker contracts).

    A package with a verified compiled graph is served by onnxruntime and never
    unpickled; --runtime sklearn serves the original model file instead.
    Prints "cloudeploy serve: ready on http://HOST:PORT" on stderr once the model
    is loaded; on SIGTERM finishes in-flight requests and exits 0.
    """
    # `cloudeploy serve --help` must not load the server stack, and it cannot load lazily:
    # serving.server subclasses uvicorn's Server, serving.app builds on starlette.
    from cloudeploy.serving.server import serve as run_server  # inside: uvicorn, not for --help

    package_dir = _resolve_package_dir(package_dir)
    settings = ServerSettings(
        host=host,
        port=_default_port() if port is None else port,
        workers=workers,
        model=model_name,
        version=version_label,
        trust=trust,
        allowed_globals=tuple(allowed_globals),
        allow_version_mismatch=allow_version_mismatch,
        runtime=runtime,
        capture_dir=capture_dir,
        capture_sample=capture_sample,
        max_body_bytes=max_body_bytes,
        max_queue=max_queue,
        max_batch=max_batch,
        batch_wait_ms=batch_wait_ms,
        drain_timeout=drain_timeout,
        log_level=log_level,
    )
    run_server(package_dir, settings)


def _resolve_package_dir(argument: str | None) -> Path:
    from_env = os.environ.get("CLOUDEPLOY_PACKAGE")
    if argument == "serve" and not Path(argument).is_dir() and from_env:
        argument = from_env
    if not argument:
        raise ValidationError(
            "no package directory given", hint="pass PACKAGE_DIR or set $CLOUDEPLOY_PACKAGE"
        )
    path = Path(argument)
    if not path.is_dir():
        raise ValidationError(f"package directory {argument} does not exist or is not a directory")
    return path
