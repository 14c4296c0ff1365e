"""A self-contained HTML report of a skew or drift result, plus the same data as JSON.

One section per feature, most severe first: the baseline and serving
distributions drawn side by side (grouped bars of relative frequency per bin or
category), the score against its threshold, and — given a ``history`` of
windows (:func:`cloudeploy.monitoring.trend.history`) — the feature's score over
time against its threshold. Above them: the outlier share over time, accuracy
(or error) over time when an ``evaluation`` from labels is given, and the
attribution shift chart (each feature's share of the attributions in training
and now). Times are ISO-8601 in UTC.

Plots are drawn by matplotlib's Agg backend (imported only here, and without
pyplot's global state) and embedded as base64 PNGs (``<img data-plot=...>``),
so the page needs no other file; once loaded, the page sets
``<body data-plots-loaded="N">`` to the number of plots the browser decoded.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from datetime import UTC, datetime
from pathlib import Path

from cloudeploy import lazy
from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.result import FeatureResult, MonitoringResult

mpl_agg = lazy.module("matplotlib.backends.backend_agg")
mpl_dates = lazy.module("matplotlib.dates")
mpl_figure = lazy.module("matplotlib.figure")

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
    figure, axes = _figure(8, 3.2)
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


def _png(figure) -> str:
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(width: float = 8, height: float = 2.8):
    figure = mpl_figure.Figure(figsize=(width, height), dpi=90)
    mpl_agg.FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _times(history: list[dict]) -> list:
    return [datetime.fromtimestamp(entry["end"], tz=UTC) for entry in history]


def _time_axis(axes) -> None:
    axes.xaxis.set_major_formatter(mpl_dates.DateFormatter("%Y-%m-%dT%H:%MZ", tz=UTC))
    for label in axes.get_xticklabels():
        label.set_rotation(20)
        label.set_fontsize(7)
    axes.set_xlabel("window end (UTC)", fontsize=8)


def _trend_plot(name: str, history: list[dict]) -> str | None:
    """``name``'s score per window against its threshold, or None without scores."""
    points = [(t, e["scores"].get(name)) for t, e in zip(_times(history), history, strict=True)]
    points = [(t, s) for t, s in points if s is not None]
    if not points:
        return None
    figure, axes = _figure()
    axes.plot([t for t, _ in points], [s for _, s in points], marker="o", color="#4c72b0", label="score")
    threshold = history[-1]["thresholds"].get(name)
    if threshold is not None:
        axes.axhline(threshold, color="#b00020", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
    metric = history[-1]["metrics"].get(name, "")
    axes.set_title(f"{name}: {metric} per window", fontsize=10)
    _time_axis(axes)
    axes.legend(fontsize=8)
    return _png(figure)


def _series_plot(title: str, times: list, values: list[float], threshold: float | None, ylabel: str) -> str:
    figure, axes = _figure()
    axes.plot(times, values, marker="o", color="#dd8452")
    if threshold is not None:
        axes.axhline(threshold, color="#b00020", linestyle="--", linewidth=1, label=f"threshold {threshold:g}")
        axes.legend(fontsize=8)
    axes.set_title(title, fontsize=10)
    axes.set_ylabel(ylabel, fontsize=8)
    _time_axis(axes)
    return _png(figure)


def _attribution_plot(attributions: dict) -> str:
    features = sorted(attributions["features"], key=lambda f: -f["baseline_share"])[:MAX_CATEGORIES_DRAWN]
    figure, axes = _figure(height=3.2)
    positions = list(range(len(features)))
    axes.bar([p - 0.2 for p in positions], [f["baseline_share"] for f in features], width=0.4,
             label="training", color="#4c72b0")
    axes.bar([p + 0.2 for p in positions], [f["serving_share"] for f in features], width=0.4,
             label="serving window", color="#dd8452")
    axes.set_xticks(positions, [("⚠ " if f["breached"] else "") + f["name"][:20] for f in features],
                    rotation=45, ha="right", fontsize=8)
    axes.set_ylabel("share of mean |attribution|", fontsize=8)
    dominant = attributions.get("dominant") or {}
    axes.set_title(f"attribution shift ({attributions.get('method')}): dominant feature "
                   f"{dominant.get('baseline')} -> {dominant.get('serving')}", fontsize=10)
    axes.legend(fontsize=8)
    return _png(figure)


def _img(alt: str, png: str) -> str:
    return f'<img data-plot="{html.escape(alt)}" alt="{html.escape(alt)}" src="data:image/png;base64,{png}">'


def _overview(result: MonitoringResult, history: list[dict] | None, evaluation: dict | None) -> str:
    """The plots above the per-feature sections: outliers, accuracy, attributions."""
    e = html.escape
    parts = []
    outliers = result.outliers or {}
    if outliers.get("share") is not None:
        state = "breached" if outliers.get("breached") else "ok"
        parts.append(f'<p>Outlier share of this window: {outliers["share"]:.2%} of {outliers["rows"]} rows '
                     f'(threshold {outliers["threshold"]:.2%}): <span class="{state}">{state}</span>.</p>')
    elif outliers.get("note"):
        parts.append(f'<p class="note">Outlier share: {e(outliers["note"])}</p>')
    shares = [(t, h["outlier_share"]) for t, h in zip(_times(history or []), history or [], strict=True)
              if h.get("outlier_share") is not None]
    if shares:
        parts.append(_img("outlier share over time", _series_plot(
            "outlier share per window", [t for t, _ in shares], [s for _, s in shares],
            outliers.get("threshold"), "share of rows flagged")))
    windows = (evaluation or {}).get("windows") or []
    if windows:
        key = "accuracy" if any("accuracy" in w for w in windows) else "mae"
        points = [(datetime.fromtimestamp(w["end"], tz=UTC), w[key]) for w in windows if w.get(key) is not None]
        if points:
            parts.append(_img(f"{key} over time", _series_plot(
                f"{key} per window (from labels)", [t for t, _ in points], [v for _, v in points], None, key)))
    attributions = result.attributions or {}
    if attributions.get("features"):
        parts.append(_img("attribution shift", _attribution_plot(attributions)))
    elif attributions.get("note"):
        parts.append(f'<p class="note">Attribution drift: {e(attributions["note"])}</p>')
    return "".join(parts)


_LOADED_SCRIPT = (
    "<script>window.addEventListener('load',function(){var n=0;"
    "document.querySelectorAll('img[data-plot]').forEach(function(i){if(i.complete&&i.naturalWidth>0)n++;});"
    "document.body.setAttribute('data-plots-loaded',String(n));});</script>"
)


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


def _label_value(key: str, value: object) -> str:
    if key in ("since", "until") and isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    if key in ("previous_window", "current_window") and isinstance(value, list):
        return " .. ".join(_label_value("since", v) for v in value)
    return str(value)


def render_html(
    result: MonitoringResult,
    *,
    title: str | None = None,
    history: list[dict] | None = None,
    evaluation: dict | None = None,
) -> str:
    """The report page as a string (``history`` and ``evaluation`` add the plots over time)."""
    e = html.escape
    features = result.by_severity()
    title = title or f"cloudeploy {result.kind} report"
    generated = datetime.fromtimestamp(result.generated_at, tz=UTC).isoformat(timespec="seconds").replace(
        "+00:00", "Z")
    labels = "".join(
        f"<tr><th>{e(str(k))}</th><td>{e(_label_value(str(k), v))}</td></tr>" for k, v in result.labels.items()
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
            f"{_img(f'{feature.name} distributions', _plot(feature))}"
            + (f"{_img(f'{feature.name} score over time', trend)}"
               if history and (trend := _trend_plot(feature.name, history)) else "")
            + "</section>"
        )
    breached = len(result.breached)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{e(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{e(title)}</h1>"
        f"<p>{breached} of {len(features)} feature(s) breached their threshold. Generated {generated}; "
        f"{result.baseline_rows} baseline row(s), {result.serving_rows} serving row(s).</p>"
        f"<table>{labels}</table>{_overview(result, history, evaluation)}"
        "<table><thead><tr><th>feature</th><th>metric</th><th>score</th><th>threshold</th>"
        f"<th>severity</th><th>status</th></tr></thead><tbody>{rows}</tbody></table>"
        f"{''.join(sections)}{_LOADED_SCRIPT}</body></html>\n"
    )


def write_report(
    result: MonitoringResult,
    path_html: str | Path,
    *,
    title: str | None = None,
    json_path: str | Path | None = None,
    history: list[dict] | None = None,
    evaluation: dict | None = None,
) -> Path:
    """Write the HTML report (and ``result.to_dict()``, plus ``history`` and ``evaluation``
    when given, to ``json_path``); returns the HTML path."""
    if not isinstance(result, MonitoringResult):
        raise ValidationError(f"write_report needs a MonitoringResult, got {type(result).__name__}")
    path = Path(path_html)
    if path.is_dir():
        raise ValidationError(
            f"{path} is a directory; give the report's file name, e.g. {path / 'report.html'}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(result, title=title, history=history, evaluation=evaluation), encoding="utf-8")
    if json_path is not None:
        json_file = Path(json_path)
        json_file.parent.mkdir(parents=True, exist_ok=True)
        document = result.to_dict()
        if history is not None:
            document["history"] = history
        if evaluation is not None:
            document["evaluation"] = evaluation
        json_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path
