"""``cloudeploy batch MODEL --source URI --destination URI``: a batch prediction job.

Runs on the configured provider (the local engine by default), shows a progress
bar on stderr while it waits, and reports the job's status: text, or one JSON
document with ``--output json``. ``--status JOB_ID`` reports an existing job.
"""

from __future__ import annotations

import click

from cloudeploy import lazy
from cloudeploy.batch.api import job_handle, submit
from cloudeploy.batch.spec import CARRY_ALL, BatchSpec
from cloudeploy.commands._output import (
    emit,
    output_option,
    progress_printer,
    provider_options,
    stderr_console,
)
from cloudeploy.errors import ValidationError
from cloudeploy.providers import resolve_provider

rich_progress = lazy.module("rich.progress")


@click.command()
@click.argument("model", required=False)
@click.option("--source", "-s", default=None, help="Input: a local path or glob, gs://... or s3://...")
@click.option("--destination", "-d", default=None, help="Output file or URI; failed rows go beside it.")
@click.option("--input-format", type=click.Choice(["csv", "jsonl", "parquet"]), default=None,
              help="Default: from the source's extension.")
@click.option("--output-format", type=click.Choice(["csv", "jsonl", "parquet"]), default=None,
              help="Default: from the destination's extension.")
@click.option("--id-column", default=None, help="Input column copied to every output row (first).")
@click.option("--carry", "carry_columns", multiple=True,
              help="Another input column to copy (repeatable); '*' copies every input column, in input order.")
@click.option("--carry-all", is_flag=True, help="Copy every input column, in input order (same as --carry '*').")
@click.option("--feature", "features", multiple=True,
              help="Input column for the model's next feature (repeatable; default: the model's feature names).")
@click.option("--machine-type", default=None, help="Cloud machine/instance type.")
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True, help="Cloud replica count.")
@click.option("--max-replicas", type=click.IntRange(min=1), default=None, help="Cloud max replicas (default: --replicas).")
@click.option("--max-error-rate", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Fraction of rows that may fail before the job fails.")
@click.option("--chunk-rows", type=click.IntRange(min=1), default=50_000, show_default=True,
              help="Local engine: rows per chunk.")
@click.option("--workers", type=click.IntRange(min=1), default=None, help="Local engine: worker processes (default: cores).")
@click.option("--job-id", default=None, help="Job id (default: derived from the spec, so a re-run resumes).")
@click.option("--trust", is_flag=True, help="Load a pickle that imports globals outside the allowlist.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the job to end.")
@click.option("--timeout", type=float, default=None, help="Seconds to wait (the job may go on after).")
@click.option("--status", "status_of", default=None, metavar="JOB_ID", help="Report the job JOB_ID and exit.")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE",
              help="A provider batch option (repeatable), e.g. batch_strategy=SingleRecord (sagemaker). "
                   "See docs/options.md.")
@provider_options
@output_option
def batch(model, source, destination, input_format, output_format, id_column, carry_columns, carry_all, features,
          machine_type, replicas, max_replicas, max_error_rate, chunk_rows, workers, job_id, trust, wait,
          timeout, status_of, option_pairs, provider, profile, output):
    """Score the rows of --source with MODEL into --destination.

    MODEL is a registered name (NAME, NAME@VERSION, NAME@ALIAS), a model file or
    a package directory. Formats default from the file extensions (.csv with a
    header, .jsonl, .parquet). The output holds the --id-column and --carry
    columns (--carry-all: every input column), then `prediction`; rows that
    fail are written to DEST.errors.jsonl with their row number and reason. Running the same
    command again resumes an interrupted job and skips finished chunks.
    """
    backend = resolve_provider(provider, profile)
    if status_of:
        emit(output, job_handle(status_of, provider=backend).status().to_dict(), _render)
        return
    missing = [name for name, value in (("MODEL", model), ("--source", source), ("--destination", destination)) if not value]
    if missing:
        raise ValidationError(f"batch needs {', '.join(missing)}", hint="cloudeploy batch MODEL --source IN --destination OUT")
    if carry_all and CARRY_ALL not in carry_columns:
        carry_columns = (*carry_columns, CARRY_ALL)
    carry = ([id_column] if id_column else []) + [c for c in carry_columns if c != id_column]
    spec = BatchSpec(
        model=model, source=source, destination=destination, input_format=input_format,
        output_format=output_format, carry_columns=tuple(carry), features=tuple(features),
        machine_type=machine_type, replica_count=replicas, max_replica_count=max_replicas,
        max_error_rate=max_error_rate, chunk_rows=chunk_rows, workers=workers, job_id=job_id,
        options=backend.options_class.from_text(option_pairs),
    )
    job = submit(spec, provider=backend, trust=trust, wait=False, progress=progress_printer(output))
    status = _wait_with_bar(job, timeout, show=output != "json") if wait else job.status()
    emit(output, status.to_dict(), _render)


def _wait_with_bar(job, timeout, *, show: bool):
    """Wait for ``job``, drawing a progress bar of its chunks on stderr."""
    if not show:
        return job.wait(timeout)

    columns = (rich_progress.TextColumn("[bold]{task.description}"), rich_progress.BarColumn(),
               rich_progress.MofNCompleteColumn(), rich_progress.TextColumn("{task.fields[rows]} rows"),
               rich_progress.TimeElapsedColumn())
    with rich_progress.Progress(*columns, console=stderr_console(), transient=True) as bar:
        task = bar.add_task(job.job_id, total=None, rows=0)

        def update(status) -> None:
            bar.update(task, total=status.chunks_total or None, completed=status.chunks_done, rows=status.rows,
                       description=f"{job.job_id} {status.state}")

        return job.wait(timeout, progress=update)


def _render(console, data) -> None:
    colour = {"succeeded": "green", "failed": "red", "interrupted": "yellow"}.get(data["state"], "white")
    console.print(f"batch job [bold]{data['job_id']}[/bold] ({data['provider']}): [{colour}]{data['state']}[/{colour}]")
    console.print(f"rows: {data['rows']}, failed: {data['failed_rows']}, chunks: {data['chunks_done']}/{data['chunks_total']}")
    if data.get("runtime"):
        console.print(f"runtime: {data['runtime']}{_runtime_reason(data.get('runtime_choice') or {})}")
    for uri in data["outputs"]:
        console.print(f"output: {uri}")
    if data.get("errors"):
        console.print(f"errors: {data['errors']}")
    if data.get("message"):
        console.print(f"message: {data['message']}")


def _runtime_reason(choice: dict) -> str:
    """Why the job scores with its runtime, in a few words (the JSON output has the figures)."""
    raced = choice.get("cpu_seconds_per_million_rows")
    if raced:
        return " (faster on the first chunk: " + ", ".join(f"{k} {v:.3g}" for k, v in raced.items()) + " CPU-s per 1M rows)"
    if choice.get("package_time_cpu_seconds_per_million_rows"):
        return " (the original could not repay loading it, by the package's timings)"
    return f" ({choice['reason']})" if choice.get("reason") else ""
