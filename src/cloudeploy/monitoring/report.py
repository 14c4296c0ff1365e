"""A self-contained HTML report of a skew or drift result, plus the same data as JSON.

One section per feature, most severe first: the baseline and serving
distributions drawn side by side (grouped bars of relative frequency per bin or
category), the score against its threshold. Plots are drawn by matplotlib's Agg
backend (imported only here, and without pyplot's global state) and embedded as
base64 PNGs, so the page needs no other file.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.result import FeatureResult, MonitoringResult

#: Categorical plots show at most this many categories (the largest on either side).
MAX_CATEGORIES_DRAWN = 25

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1rem 0}td,th{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}
.breached{color:#b00020;font-weight:600}.ok{color:#2e7d32}
section{margin:2rem 0;border-top:2px solid #eee;padding-top:1rem}img{max-width:100%}
.note{color:#666}
"""


def _frequencies(counts: tuple[int, ...]) -> list[float]:
    total = sum(counts)
    return [c / total if total else 0.0 for c in counts]


def _plot(feature: FeatureResult) -> str:
    """The feature's two distributions as a base64 PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 3.2), dpi=90)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    reference_label = "baseline" if feature.kind == "skew" else "previous window"
    serving_label = "serving" if feature.kind == "skew" else "current window"
    reference, serving = _frequencies(feature.baseline_counts), _frequencies(feature.serving_counts)
    if feature.bin_edges is not None:
        edges = feature.bin_edges
        widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        axes.bar(
            edges[:-1],
            reference,
            width=[w / 2 for w in widths],
            align="edge",
            label=reference_label,
            color="#4c72b0",
        )
        axes.bar(
            [a + w / 2 for a, w in zip(edges[:-1], widths, strict=True)],
            serving,
            width=[w / 2 for w in widths],
            align="edge",
            label=serving_label,
            color="#dd8452",
        )
        axes.set_xlabel(
            f"{feature.name} ({len(widths)} equal-width bins; edge bins hold out-of-range values)"
        )
    else:
        categories = list(feature.categories or ())
        order = sorted(range(len(categories)), key=lambda i: -max(reference[i], serving[i]))[
            :MAX_CATEGORIES_DRAWN
        ]
        positions = list(range(len(order)))
        axes.bar(
            [p - 0.2 for p in positions],
            [reference[i] for i in order],
            width=0.4,
            label=reference_label,
            color="#4c72b0",
        )
        axes.bar(
            [p + 0.2 for p in positions],
            [serving[i] for i in order],
            width=0.4,
            label=serving_label,
            color="#dd8452",
        )
        axes.set_xticks(
            positions, [str(categories[i])[:20] for i in order], rotation=45, ha="right", fontsize=8
        )
        shown = (
            ""
            if len(categories) <= MAX_CATEGORIES_DRAWN
            else f", {MAX_CATEGORIES_DRAWN} of {len(categories)} shown"
        )
        axes.set_xlabel(f"{feature.name} (categories{shown})")
    axes.set_ylabel("relative frequency")
    score = _score(feature)
    status = " — BREACHED" if feature.breached else ""
    axes.set_title(
        f"{feature.name}: {feature.metric} = {score} (threshold {feature.threshold:g}){status}",
        fontsize=10,
        color="#b00020" if feature.breached else "black",
    )
    axes.legend(fontsize=8)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _status(feature: FeatureResult) -> str:
    if feature.score is None:
        return '<span class="note">no data</span>'
    if feature.breached:
        return '<span class="breached">breached</span>'
    return '<span class="ok">ok</span>'


def _score(feature: FeatureResult) -> str:
    """The score, a p-value marked as one (``p=1.2e-05``)."""
    if feature.score is None:
        return "n/a"
    return f"p={feature.score:.3g}" if feature.p_value else f"{feature.score:.4f}"


def _severity(feature: FeatureResult) -> str:
    return "∞" if math.isinf(feature.severity) else f"{feature.severity:.2f}"


def render_html(result: MonitoringResult, *, title: str | None = None) -> str:
    """The report page as a string."""
    e = html.escape
    features = result.by_severity()
    title = title or f"cloudeploy {result.kind} report"
    generated = datetime.fromtimestamp(result.generated_at, tz=UTC).strftime(
        "%Y-%m-%d %H:%M:%S UTC"
    )
    labels = "".join(
        f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in result.labels.items()
    )
    rows = "".join(
        f'<tr><td><a href="#f-{i}">{e(f.name)}</a></td><td>{e(f.metric)}</td><td>{_score(f)}</td>'
        f"<td>{f.threshold:g}</td><td>{_severity(f)}</td><td>{_status(f)}</td></tr>"
        for i, f in enumerate(features)
    )
    sections = []
    for i, feature in enumerate(features):
        note = f'<p class="note">{e(feature.note)}</p>' if feature.note else ""
        sections.append(
            f'<section id="f-{i}" data-feature="{e(feature.name)}"><h2>{e(feature.name)} — {_status(feature)}</h2>'
            f"<p>{e(feature.metric)} {_score(feature)} against threshold {feature.threshold:g} "
            f"(severity {_severity(feature)}); missing values: baseline {feature.baseline_missing}, "
            f"serving {feature.serving_missing}.</p>{note}"
            f'<img alt="{e(feature.name)} distributions" src="data:image/png;base64,{_plot(feature)}"></section>'
        )
    breached = len(result.breached)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"
        f"<p>{breached} of {len(features)} feature(s) breached their threshold. Generated {generated}; "
        f"{result.baseline_rows} baseline row(s), {result.serving_rows} serving row(s).</p>"
        f"<table>{labels}</table>"
        "<table><thead><tr><th>feature</th><th>metric</th><th>score</th><th>threshold</th>"
        f"<th>severity</th><th>status</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{''.join(sections)}</body></html>\n"
    )


def write_report(
    result: MonitoringResult,
    path_html: str | Path,
    *,
    title: str | None = None,
    json_path: str | Path | None = None,
) -> Path:
    """Write the HTML report (and ``result.to_dict()`` to ``json_path``); returns the HTML path."""
    if not isinstance(result, MonitoringResult):
        raise ValidationError(f"write_report needs a MonitoringResult, got {type(result).__name__}")
    path = Path(path_html)
    if path.is_dir():
        raise ValidationError(
            f"{path} is a directory; give the report's file name, e.g. {path / 'report.html'}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result, title=title), encoding="utf-8")
    if json_path is not None:
        json_file = Path(json_path)
        json_file.parent.mkdir(parents=True, exist_ok=True)
        json_file.write_text(json.dumps(result.to_dict(), indent=2) + "\n", encoding="utf-8")
    return path
