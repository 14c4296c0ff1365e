"""``cloudeploy package MODEL -o DIR``: build a verified model package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cloudeploy import lazy
from cloudeploy.commands._output import emit, output_option, stderr_console
from cloudeploy.errors import ValidationError
from cloudeploy.packaging.build import CompileWarning, build_package

pd = lazy.module("pandas")
rich_table = lazy.module("rich.table")


@click.command()
@click.argument("model", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "output_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory to write the package to.",
)
@click.option("--name", default=None, help="Package name. [default: the model file's name]")
@click.option(
    "--trust",
    is_flag=True,
    help="Load a pickle/joblib file even if it imports globals outside the allowlist. Only for files you trust: they run code when loaded.",
)
@click.option(
    "--allow-global",
    "allowed_globals",
    multiple=True,
    metavar="MODULE.NAME",
    help="Add a global (or MODULE.*) to the pickle allowlist. Repeatable.",
)
@click.option(
    "--feature-names",
    default=None,
    metavar="A,B,C",
    help="Input features in order, optionally typed: a:number,b:string. [default: from the model]",
)
@click.option(
    "--output-kind",
    type=click.Choice(["class_labels", "probabilities", "regression"]),
    default=None,
    help="What predictions return. [default: class_labels for classifiers, regression for regressors]",
)
@click.option(
    "--baseline",
    "baseline_csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Training data (CSV with a header) for the baseline statistics used by drift monitoring.",
)
@click.option(
    "--allow-version-mismatch",
    is_flag=True,
    help="Package a model saved with another scikit-learn than the one installed.",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace the package already in the output directory."
)
@click.option(
    "--compile/--no-compile",
    "compile_model",
    default=True,
    show_default=True,
    help="Convert the model to ONNX and verify it answers the same (it then serves without unpickling).",
)
@click.option(
    "--code",
    "code_paths",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Your own module (.py) or package directory the model needs; copied into the package "
    "(covered by its digest) and importable wherever it is loaded. Repeatable.",
)
@output_option
def package(
    model: Path,
    output_dir: Path,
    name: str | None,
    trust: bool,
    allowed_globals: tuple[str, ...],
    feature_names: str | None,
    output_kind: str | None,
    baseline_csv: Path | None,
    allow_version_mismatch: bool,
    overwrite: bool,
    compile_model: bool,
    code_paths: tuple[Path, ...],
    output: str,
) -> None:
    """Package MODEL (.joblib, .pkl, .pickle, .skops, .onnx, or a package directory).

    Writes the model file and cloudeploy.json (sha256 of every file, framework
    versions, input schema, output kind, baseline) to the output directory.
    Pickle-based files are checked against an allowlist before they are loaded.
    The model is compiled to ONNX and verified on the baseline (or on rows
    generated within the schema); when that fails the package serves with the
    original runtime and a one-line warning says why.
    """
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CompileWarning)
        built = build_package(
            model,
            output_dir,
            name=name,
            schema=parse_feature_names(feature_names),
            output_kind=output_kind,
            baseline=_read_csv(baseline_csv) if baseline_csv else None,
            trust=trust,
            allowed_globals=allowed_globals,
            overwrite=overwrite,
            allow_version_mismatch=allow_version_mismatch,
            compile=compile_model,
            code_paths=code_paths,
        )
    for warning in caught:
        if issubclass(warning.category, CompileWarning):
            stderr_console().print(f"[yellow]warning:[/yellow] {warning.message}", markup=True, highlight=False, soft_wrap=True)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    emit(output, summary(built.path, built.manifest), _render)


def parse_feature_names(text: str | None) -> list[str] | dict[str, str] | None:
    """``a,b,c`` -> names; ``a:number,b:string`` -> {name: type}."""
    if text is None:
        return None
    items = [item.strip() for item in text.split(",")]
    if not all(items):
        raise ValidationError(
            f"--feature-names has an empty name: {text!r}", hint="use a,b,c or a:number,b:string"
        )
    if not any(":" in item for item in items):
        return items
    typed: dict[str, str] = {}
    for item in items:
        feature, sep, kind = item.partition(":")
        typed[feature.strip()] = kind.strip() if sep else "number"
    return typed


def _read_csv(path: Path) -> Any:
    try:
        return pd.read_csv(path)
    except (ValueError, OSError) as error:
        raise ValidationError(f"--baseline {path}: cannot read it as CSV: {error}") from None


def summary(path: Path, manifest) -> dict[str, Any]:
    """The manifest as the command reports it (the baseline statistics summarised)."""
    data = {"path": str(path), **manifest.to_dict()}
    baseline = data.pop("baseline")
    data["baseline"] = None if baseline is None else {"features": len(baseline.get("features", []))}
    return data


def _runtime_line(data: dict) -> str:
    compiled = data.get("compiled") or {}
    if compiled.get("file"):
        check = compiled.get("verification", {})
        deviation = check.get("max_deviation")
        shown = "labels identical" if check.get("labels_identical") else ""
        if deviation is not None:
            shown = ", ".join(filter(None, [shown, f"largest deviation {deviation:.2g}"]))
        return (
            f"onnx ({compiled['file']}, {compiled.get('precision')}; verified on {check.get('rows')} "
            f"{check.get('source')} rows: {shown}, tolerance {check.get('tolerance')})"
        )
    if compiled.get("reason"):
        return f"{data['runtime']} (not compiled: {compiled['reason']})"
    return str(data["runtime"])


def _batch_line(data: dict) -> str | None:
    """How batch jobs score the compiled model, and how fast both runtimes were here; None without a graph."""
    batch = (data.get("compiled") or {}).get("batch")
    if not (data.get("compiled") or {}).get("file") or not batch:
        return None
    graph = (f"{batch['file']} ({batch.get('blocks')} blocks of trees, verified like the graph)"
             if batch.get("file") else "the same graph")
    speeds = batch.get("cpu_seconds_per_million_rows") or {}
    if "onnx" in speeds and "original" in speeds:
        graph += (f"; CPU-s per million rows here: onnx {speeds['onnx']:.3g}, original {speeds['original']:.3g}"
                  f" ({batch.get('speed_rows')}-row batches)")
    return graph


def _render(console, data: dict) -> None:
    console.print(f"Package [bold]{data['name']}[/bold] written to [bold]{data['path']}[/bold]")
    console.print(f"  digest      {data['digest']}")
    console.print(f"  model       {data['model_file']} ({data['format']})")
    console.print(f"  runtime     {_runtime_line(data)}")
    batch = _batch_line(data)
    if batch:
        console.print(f"  batch       {batch}")
    console.print(
        f"  output      {data['output_kind']}"
        + (f", classes {data['classes']}" if data["classes"] else "")
    )
    versions = ", ".join(f"{k} {v}" for k, v in data["frameworks"].items())
    console.print(f"  frameworks  {versions}")
    console.print(f"  python      {data['python_version']}")
    if data["trusted_types"]:
        console.print(
            f"  [yellow]allowed beyond the allowlist: {', '.join(data['trusted_types'])}[/yellow]"
        )
    baseline = data["baseline"]
    console.print(
        f"  baseline    {'none' if baseline is None else str(baseline['features']) + ' features'}"
    )
    table = rich_table.Table("feature", "type", "nullable", title=None, box=None, padding=(0, 2))
    for feature in data["schema"]["features"]:
        table.add_row(feature["name"], feature["type"], "yes" if feature["nullable"] else "")
    console.print(table)
