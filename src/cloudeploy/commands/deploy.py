"""``cloudeploy deploy MODEL --name ENDPOINT``."""

from __future__ import annotations

import contextlib
import tempfile
from pathlib import Path

import click

from cloudeploy import api
from cloudeploy.commands._output import emit, output_option, progress_printer, provider_options
from cloudeploy.commands._render import split_line
from cloudeploy.errors import PackageError
from cloudeploy.packaging import build_package
from cloudeploy.types import Scaling


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.option("--name", "-n", required=True, help="Endpoint name (also the model name unless --model-name).")
@click.option("--model-name", default=None, help="Register the model under this name.")
@click.option("--traffic", type=click.IntRange(0, 100), default=None,
              help="Percent for this version (default: 100 for the first version, else 0).")
@click.option("--min-replicas", type=int, default=1, show_default=True)
@click.option("--max-replicas", type=int, default=None, help="Default: --min-replicas (no autoscaling).")
@click.option("--target", type=float, default=None, help="Autoscaling target (CPU % or requests in flight).")
@click.option("--scale-on", type=click.Choice(["cpu", "requests"]), default="cpu", show_default=True)
@click.option("--machine-type", default=None, help="Machine/instance type (cloud providers).")
@click.option("--alias", "aliases", multiple=True, help="Alias for this version (repeatable).")
@click.option("--port", type=int, default=None, help="Local provider: the endpoint's port.")
@click.option("--trust", is_flag=True, help="Load a pickle that imports globals outside the allowlist.")
@click.option("--allow-schema-change", is_flag=True,
              help="Deploy a version whose inputs differ from the endpoint's versions (refused by default).")
@click.option("--strict", is_flag=True,
              help="Refuse requests that do not match the model's input schema, on every provider "
                   "(clouds: served by the cloudeploy serving image, never a prebuilt one).")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE",
              help="A provider option (repeatable), e.g. capture_sample=0.1 (local), labels=team=ml "
                   "(vertex), data_capture=true (sagemaker). See docs/options.md.")
@click.option("--timeout", type=float, default=None, help="Seconds to wait (default: the provider's).")
@click.option("--code", "code_paths", multiple=True, type=click.Path(exists=True),
              help="Your own module (.py) or package directory the model needs (packaged with it). Repeatable.")
@click.option("--runtime", type=click.Choice(["onnx", "sklearn"]), default=None,
              help="onnx: refuse a model without a verified compiled graph; sklearn: deploy a package without "
                   "the graph, answered by the original model. [default: the graph when it verifies]")
@provider_options
@output_option
def deploy(model, name, model_name, traffic, min_replicas, max_replicas, target, scale_on, machine_type,
           aliases, port, trust, allow_schema_change, strict, option_pairs, timeout, code_paths, runtime, provider,
           profile, output):
    """Upload MODEL (a model file or package directory) and deploy it to endpoint --name."""
    scaling = Scaling(min_replicas=min_replicas, max_replicas=max_replicas, target=target, metric=scale_on)
    backend = api.resolve_provider(provider, profile)
    # Checked before anything is packaged: a bad option is one line naming it.
    options = backend.options_class.from_text(option_pairs)
    if port is not None:
        options["port"] = port
    backend.options_class.split(options)
    with _with_code(model, code_paths, model_name or name, trust, runtime) as model:
        deployment = api.deploy(
            model, name, provider=backend, traffic=traffic, scaling=scaling,
            machine_type=machine_type, model_name=model_name, aliases=aliases, trust=trust, allow_schema_change=allow_schema_change,
            strict=strict, timeout=timeout, progress=progress_printer(output), options=options or None,
        )
    status = deployment.status()
    data = {"endpoint": status.to_dict(), "version": deployment.version}

    def render(console, data):
        console.print(f"[green]deployed[/green] {data['version']} to [bold]{name}[/bold] at {status.url}")
        console.print(f"traffic: {split_line(status.traffic.to_dict())}")

    emit(output, data, render)


def _with_code(model, code_paths, name, trust, runtime=None):
    """``--code``: package MODEL with the user's modules first (a package directory is used as is).

    ``--runtime``: package it so that this runtime answers (``sklearn``: without
    the compiled graph, a package directory re-packaged without it; ``onnx``: a
    PackageError in one line when the model has no verified graph).
    """
    @contextlib.contextmanager
    def packaged():
        is_package = Path(model).is_dir()
        if runtime is None and (not code_paths or is_package):
            yield model
            return
        with tempfile.TemporaryDirectory(prefix="cloudeploy-") as workdir:
            built = build_package(
                model, Path(workdir) / "package", name=None if is_package else name, trust=trust,
                code_paths=() if is_package else code_paths, compile=runtime != "sklearn",
            )
            if runtime == "onnx" and built.manifest.runtime != "onnx":
                reason = (built.manifest.compiled or {}).get("reason", "it was packaged without compiling")
                raise PackageError(
                    f"--runtime onnx: {model} has no verified compiled graph: {reason}",
                    hint="deploy without --runtime to serve the original model",
                )
            yield str(built.path)

    return packaged()
