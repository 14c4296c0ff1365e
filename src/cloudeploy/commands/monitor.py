"""``cloudeploy monitor configure|run|report|status|evaluate``: skew and drift monitoring.

``configure`` saves a MonitorSpec for the endpoint and sets the provider up
(SageMaker: data capture + alarms; Vertex AI: a model deployment monitoring
job). ``run`` scores the last window of captured traffic, alerts and publishes;
``report`` does the same and writes the HTML page plus its JSON. Exit status of
``run``: 0 when no threshold is breached, 4 when one is (for scripts and CI).
"""

from __future__ import annotations

import sys

import click

from cloudeploy import lazy
from cloudeploy.commands._output import emit, output_option, provider_options
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.backend import backend_for
from cloudeploy.monitoring.evaluation import evaluate as evaluate_predictions
from cloudeploy.monitoring.report import write_report
from cloudeploy.monitoring.run import configure as configure_monitoring
from cloudeploy.monitoring.run import monitor as monitor_endpoint
from cloudeploy.monitoring.run import report_history
from cloudeploy.monitoring.run import status as monitoring_status
from cloudeploy.monitoring.spec import MonitorSpec
from cloudeploy.providers import resolve_provider

rich_table = lazy.module("rich.table")

EXIT_BREACHED = 8  # not an error: the data breached a threshold (README, "Exit codes")
EXIT_NOT_JUDGED = 9  # nothing to compare: a window held no captured rows


def _thresholds(items, option, key="FEATURE"):
    table = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            table[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            example = "psi=0.2" if key == "METRIC" else "age=0.2"
            raise ValidationError(f"{option} takes {key}=THRESHOLD, got {item!r}", hint=f"e.g. {option} {example}")
    return table


def _metrics(items):
    table = {}
    for item in items:
        name, sep, metric = item.partition("=")
        if not sep or not name.strip() or not metric.strip():
            raise ValidationError(f"--metric takes FEATURE=METRIC, got {item!r}", hint="e.g. --metric age=psi")
        table[name.strip()] = metric.strip()
    return table


_PRESET_HELP = ("How each feature's statistic is chosen: vertex (Jensen-Shannon / L-infinity, 0.3) or "
                "sensitive (KS / chi² p < 0.05 up to 1,000 reference rows, else Wasserstein / JS distance 0.1).")


def _spec(window=None, webhook=None, base=None, **changes):
    """The saved spec (or defaults) with the command line's settings on top."""
    values = (base or MonitorSpec()).to_dict()
    values.update({k: v for k, v in changes.items() if v not in (None, (), {})})
    if window is not None:
        values["window"] = window
    if webhook is not None:
        values["webhook_url"] = webhook
    return MonitorSpec.from_dict(values)


def _window_options(func):
    func = click.option("--capture", "capture", type=click.Path(exists=True), default=None,
                        help="Read these capture files instead of the provider's (e.g. a Vertex AI export).")(func)
    func = click.option("--version", default=None, help="Version to monitor (default: the one with most traffic).")(func)
    func = click.option("--kind", type=click.Choice(["skew", "drift"]), default="skew", show_default=True,
                        help="skew: against the training baseline; drift: against the previous window.")(func)
    func = click.option("--window", default=None, help="Serving window scored: 15m, 1h, 1d (default: the spec's).")(func)
    func = click.option("--preset", type=click.Choice(["vertex", "sensitive"]), default=None,
                        help=_PRESET_HELP + " Default: the spec's.")(func)
    return func


@click.group()
def monitor():
    """Configure and run skew and drift monitoring."""


@monitor.command()
@click.argument("endpoint")
@click.option("--skew-threshold", "skew", multiple=True, metavar="FEATURE=T", help="Per-feature skew threshold.")
@click.option("--drift-threshold", "drift", multiple=True, metavar="FEATURE=T", help="Per-feature drift threshold.")
@click.option("--default-threshold", type=float, default=None, help="Threshold for other features (0.3).")
@click.option("--window", default=None, help="Serving window each run scores (1h).")
@click.option("--interval", default=None, help="How often monitoring runs (1h; Vertex AI: whole hours).")
@click.option("--sample-rate", type=float, default=None, help="Fraction of requests captured, in (0, 1].")
@click.option("--alert-email", "emails", multiple=True, help="Alert e-mail (Vertex AI; repeatable).")
@click.option("--webhook", default=None, help="URL that gets a JSON POST for every breach.")
@click.option("--feature", "features", multiple=True, help="Monitor only this feature (repeatable).")
@click.option("--training-data", default=None, help="Vertex AI: gs:// or bq:// URI of the training data.")
@click.option("--preset", type=click.Choice(["vertex", "sensitive"]), default=None, help=_PRESET_HELP)
@click.option("--metric", "metrics", multiple=True, metavar="FEATURE=METRIC",
              help="Score FEATURE with METRIC (jensen_shannon, l_infinity, js_distance, psi, wasserstein, ks, chi2).")
@click.option("--metric-threshold", "metric_thresholds", multiple=True, metavar="METRIC=T",
              help="Default threshold of METRIC (p-value metrics breach below it).")
@click.option("--outlier-threshold", type=float, default=None,
              help="Share of a window's rows the novelty detector may flag (0.05).")
@provider_options
@output_option
def configure(endpoint, skew, drift, default_threshold, window, interval, sample_rate, emails, webhook,
              features, training_data, preset, metrics, metric_thresholds, outlier_threshold, provider, profile,
              output):
    """Set up monitoring of ENDPOINT and save its settings for `monitor run`."""
    spec = _spec(window, webhook, skew_thresholds=_thresholds(skew, "--skew-threshold"),
                 drift_thresholds=_thresholds(drift, "--drift-threshold"), default_threshold=default_threshold,
                 interval=interval, sample_rate=sample_rate, alert_emails=tuple(emails),
                 features=tuple(features) or None, training_data=training_data, preset=preset,
                 metrics=_metrics(metrics), metric_thresholds=_thresholds(metric_thresholds, "--metric-threshold", "METRIC"),
                 outlier_threshold=outlier_threshold)
    data = configure_monitoring(endpoint, spec, provider=provider, profile=profile)

    def render(console, data):
        console.print(f"[green]monitoring configured[/green] for [bold]{endpoint}[/bold] on {data['provider']}")
        for key, value in data.items():
            if key not in ("endpoint", "provider"):
                console.print(f"  {key}: {value}")

    emit(output, data, render)


@monitor.command()
@click.argument("endpoint")
@_window_options
@click.option("--webhook", default=None, help="POST breaches here (overrides the saved spec's).")
@click.option("--no-alert", is_flag=True, help="Do not log breaches or call the webhook.")
@click.option("--no-publish", is_flag=True, help="Do not send metrics to the provider (CloudWatch).")
@provider_options
@output_option
def run(endpoint, window, preset, kind, version, capture, webhook, no_alert, no_publish, provider, profile,
        output):
    """Score ENDPOINT's captured traffic; exit 8 when a threshold is breached, 9 when a window held no rows."""
    result = _run(endpoint, window, kind, version, capture, provider, profile, webhook=webhook,
                  alert=not no_alert, publish=not no_publish, preset=preset)
    emit(output, result.to_dict(), _render_run)
    if result.breached or result.outliers_breached or result.attributions_breached:
        sys.exit(EXIT_BREACHED)
    scored = result.result
    if scored.features and all(feature.score is None for feature in scored.features):
        # Nothing was compared: "0 breached" would read as "no drift".
        empty = "the previous window" if scored.kind == "drift" and not scored.baseline_rows else (
            "the current window" if not scored.serving_rows else "either window")
        click.echo(f"not judged: {empty} holds no captured rows for {endpoint}, so no {scored.kind} was measured "
                   f"(send traffic with capture on, or widen --window)", err=True)
        sys.exit(EXIT_NOT_JUDGED)


def _run(endpoint, window, kind, version, capture, provider, profile, *, webhook=None, alert=True, publish=True,
         preset=None):
    backend = resolve_provider(provider, profile)
    spec = _spec(window, webhook, base=backend_for(backend).saved_spec(endpoint), preset=preset)
    return monitor_endpoint(endpoint, spec, kind=kind, version=version, provider=backend, capture=capture,
                            alert=alert, publish=publish)


def _render_run(console, data):
    labels = data["labels"]
    table = rich_table.Table(title=f"{data['kind']} of {data['endpoint']} {data['version']} "
                                   f"({data['serving_rows']} serving rows vs {data['baseline_rows']})", title_justify="left")
    for column in ("feature", "metric", "score", "threshold", "status"):
        table.add_column(column)
    for feature in data["features"]:
        score = "-" if feature["score"] is None else f"{feature['score']:.4g}"
        if feature["score"] is not None and feature["metric"] in ("ks", "chi2"):
            score = f"p={score}"
        status = "[red]breached[/red]" if feature["breached"] else feature.get("note") or "[green]ok[/green]"
        table.add_row(feature["name"], feature["metric"], score, f"{feature['threshold']:g}", status)
    console.print(table)
    outliers = data.get("outliers") or {}
    if outliers.get("share") is not None:
        state = "[red]breached[/red]" if outliers["breached"] else "[green]ok[/green]"
        console.print(f"outlier share {outliers['share']:.2%} of {outliers['rows']} rows "
                      f"(threshold {outliers['threshold']:.2%}): {state}")
    elif outliers.get("note"):
        console.print(f"[dim]outlier share: {outliers['note']}[/dim]")
    attributions = data.get("attributions") or {}
    if attributions.get("features"):
        dominant = attributions["dominant"]
        console.print(f"attribution ({attributions['method']}, {attributions['rows']} rows): dominant feature "
                      f"{dominant['baseline']} -> {dominant['serving']}")
        for feature in attributions["features"][:5]:
            state = "[red]breached[/red]" if feature["breached"] else "[green]ok[/green]"
            console.print(f"  {feature['name']}: share {feature['baseline_share']:.2f} -> "
                          f"{feature['serving_share']:.2f}, rank {feature['baseline_rank']} -> "
                          f"{feature['serving_rank']}: {state}")
    elif attributions.get("note"):
        console.print(f"[dim]attribution drift: {attributions['note']}[/dim]")
    if data["breached"]:
        console.print(f"[red]{len(data['breached'])} threshold(s) breached:[/red] {', '.join(data['breached'])}")
    if labels.get("since"):
        import datetime as dt

        since, until = (dt.datetime.fromtimestamp(labels[k], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
                        for k in ("since", "until"))
        console.print(f"[dim]window {since} .. {until} UTC[/dim]")


@monitor.command()
@click.argument("endpoint")
@click.option("-o", "--out", "html_path", default="report.html", show_default=True, type=click.Path(dir_okay=False),
              help="The HTML report to write.")
@click.option("--json", "json_path", default=None, type=click.Path(dir_okay=False),
              help="Where the same data goes as JSON (default: next to the HTML, .json).")
@_window_options
@click.option("--windows", type=click.IntRange(1, 500), default=6, show_default=True,
              help="Windows drawn in the plots over time (the last N windows of --window).")
@click.option("--labels", "labels", default=None, type=click.Path(exists=True, dir_okay=False),
              help="CSV with request_id,label[,index]: adds accuracy (or error) over time.")
@click.option("--task", type=click.Choice(["classification", "regression"]), default="classification",
              show_default=True, help="With --labels: what the labels are.")
@provider_options
@output_option
def report(endpoint, html_path, json_path, window, preset, kind, version, capture, windows, labels, task, provider,
           profile, output):
    """Write ENDPOINT's skew or drift report: a self-contained HTML page plus JSON."""
    from pathlib import Path

    backend = resolve_provider(provider, profile)
    result = _run(endpoint, window, kind, version, capture, backend, profile, alert=False, publish=False,
                  preset=preset)
    spec = _spec(window, None, base=backend_for(backend).saved_spec(endpoint), preset=preset)
    history = report_history(endpoint, result.version, spec, windows=windows, provider=backend, capture=capture)
    evaluation = None
    if labels:
        source = capture or backend_for(backend).capture(endpoint, result.version, since=None, until=None)
        evaluation = evaluate_predictions(source, labels, window=spec.window, task=task).to_dict()
    json_file = Path(json_path) if json_path else Path(html_path).with_suffix(".json")
    html = write_report(result.result, html_path, title=f"{endpoint} {result.version} {kind}", json_path=json_file,
                        history=history, evaluation=evaluation)
    data = {"endpoint": endpoint, "version": result.version, "kind": kind, "html": str(html),
            "json": str(json_file), "breached": result.breached}
    emit(output, data, lambda console, d: console.print(
        f"wrote {d['html']} and {d['json']} ({len(d['breached'])} breached: {', '.join(d['breached']) or 'none'})"))


@monitor.command()
@click.argument("endpoint")
@provider_options
@output_option
def status(endpoint, provider, profile, output):
    """Show what monitoring is configured for ENDPOINT."""
    data = monitoring_status(endpoint, provider=provider, profile=profile)

    def render(console, data):
        state = "[green]configured[/green]" if data["configured"] else "[yellow]not configured[/yellow]"
        console.print(f"monitoring of [bold]{endpoint}[/bold] on {data['provider']}: {state}")
        for key, value in data.items():
            if key not in ("endpoint", "provider", "configured"):
                console.print(f"  {key}: {value}")

    emit(output, data, render)


@monitor.command()
@click.argument("endpoint")
@click.option("--labels", "labels", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV with request_id,label[,index].")
@click.option("--window", default="1h", show_default=True, help="Width of each evaluation window.")
@click.option("--task", type=click.Choice(["classification", "regression"]), default="classification",
              show_default=True)
@click.option("--version", default=None, help="Version whose predictions are scored (default: most traffic).")
@click.option("--capture", type=click.Path(exists=True), default=None, help="Read these capture files instead.")
@provider_options
@output_option
def evaluate(endpoint, labels, window, task, version, capture, provider, profile, output):
    """Join ground-truth labels to ENDPOINT's captured predictions; accuracy or error per window."""
    backend = backend_for(resolve_provider(provider, profile))
    version = backend.serving_version(endpoint, version)
    source = capture or backend.capture(endpoint, version, since=None, until=None)
    data = {"endpoint": endpoint, "version": version,
            **evaluate_predictions(source, labels, window=window, task=task).to_dict()}

    def render(console, data):
        table = rich_table.Table(title=f"{task} of {endpoint} {version}", title_justify="left")
        for column in ("window start", "count", "accuracy" if task == "classification" else "mae / rmse"):
            table.add_column(column)
        for row in data["windows"]:
            value = (f"{row['accuracy']:.3f}" if task == "classification"
                     else f"{row['mae']:.4g} / {row['rmse']:.4g}")
            table.add_row(str(row["start"]), str(row["count"]), value)
        console.print(table)
        console.print(f"[dim]{data['unlabeled']} predictions without a label, "
                      f"{data['unmatched_labels']} labels without a captured request[/dim]")

    emit(output, data, render)
