"""The HTML report in a real browser: headless Chromium loads it and decodes every plot.

The page counts, once loaded, the plots the browser could decode
(``<body data-plots-loaded="N">``); Chromium's ``--dump-dom`` shows the DOM after
that script ran. Chromium is installed by .ci/run when missing.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from cloudeploy.monitoring.attribution import (
    attribution_drift,
    baseline_attributions,
    serving_attributions,
)
from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.capture import read_capture
from cloudeploy.monitoring.detection import compute_skew
from cloudeploy.monitoring.evaluation import evaluate
from cloudeploy.monitoring.novelty import fit_novelty, outlier_share
from cloudeploy.monitoring.report import write_report
from cloudeploy.monitoring.spec import MonitorSpec
from cloudeploy.monitoring.trend import history

from .conftest import capture_record, write_capture

NAMES = ["age", "income", "rooms"]
END = datetime(2026, 11, 20, 12, tzinfo=UTC).timestamp()
WINDOW = 600.0
WINDOWS = 4


def _browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise AssertionError("no Chromium on PATH: .ci/run installs it (apt-get install -y chromium)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """A report with every plot: distributions, scores over 4 windows, outliers, accuracy, attributions."""
    folder = tmp_path_factory.mktemp("report")
    rng = np.random.default_rng(0)
    train = pd.DataFrame(rng.normal(size=(1500, 3)), columns=NAMES)
    labels_train = (train["age"] + train["income"] > 0).astype(int)
    model = LogisticRegression().fit(train, labels_train)
    baseline = compute_baseline(train)
    records = []
    for window in range(WINDOWS):  # the later the window, the more `income` drifts
        start = END - (WINDOWS - window) * WINDOW
        rows = rng.normal(size=(120, 3))
        rows[:, 1] += window * 0.8
        predictions = model.predict(pd.DataFrame(rows, columns=NAMES)).tolist()
        for i in range(0, 120, 4):
            records.append(capture_record(start + i * 4, NAMES, rows[i:i + 4].tolist(),
                                          predictions=predictions[i:i + 4]))
    capture = folder / "capture"
    write_capture(capture, records)
    labels = folder / "labels.csv"
    with labels.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["request_id", "label", "index"])
        for record in read_capture(capture):
            for index, row in enumerate(record["instances"]):
                writer.writerow([record["request_id"], int(row[0] + row[1] > 0), index])
    spec = MonitorSpec(window=WINDOW)
    detector = fit_novelty(train, baseline, NAMES, n_estimators=30)
    result = compute_skew(baseline, capture, spec, since=END - WINDOW, until=END,
                          labels={"endpoint": "houses", "since": END - WINDOW, "until": END})
    last = [r for r in records if r["ts"] >= END - WINDOW]
    current = {n: np.array([row[j] for r in last for row in r["instances"]]) for j, n in enumerate(NAMES)}
    record = baseline_attributions(model, train, NAMES)
    from dataclasses import replace

    result = replace(
        result,
        outliers=outlier_share(detector, [current], spec.outlier_threshold).to_dict(),
        attributions=attribution_drift(record, serving_attributions(model, record, current)),
    )
    trend = history(capture, baseline, spec, end=END, windows=WINDOWS, detector=detector)
    evaluation = evaluate(capture, labels, window=WINDOW).to_dict()
    page = write_report(result, folder / "report.html", json_path=folder / "report.json", history=trend,
                        evaluation=evaluation)
    return page


@pytest.fixture(scope="module")
def dom(report, tmp_path_factory):
    profile = tmp_path_factory.mktemp("chromium-profile")
    answer = subprocess.run(
        [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={profile}", "--virtual-time-budget=10000", "--dump-dom", report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert answer.returncode == 0, answer.stderr[-2000:]
    return answer.stdout


def _plots(text: str) -> list[str]:
    return re.findall(r'<img data-plot="([^"]+)"', text)


def test_chromium_decodes_every_plot_of_the_report(dom, report):
    plots = _plots(report.read_text())
    loaded = re.search(r'data-plots-loaded="(\d+)"', dom)
    assert loaded is not None, "the page's load script did not run"
    assert int(loaded.group(1)) == len(plots) == len(_plots(dom))


def test_the_report_has_a_trend_plot_per_feature_and_the_plots_over_time(dom):
    plots = set(_plots(dom))
    assert {f"{name} score over time" for name in NAMES} <= plots
    assert {f"{name} distributions" for name in NAMES} <= plots
    assert {"outlier share over time", "accuracy over time", "attribution shift"} <= plots


def test_times_in_the_report_are_iso_8601(dom):
    assert "2026-11-20T12:00:00Z" in dom  # the window's end, from its labels
    assert re.search(r"Generated \d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", dom)


def test_the_trend_follows_the_drifting_feature(report):
    import json

    trend = json.loads(report.with_suffix(".json").read_text())["history"]
    income = [entry["scores"]["income"] for entry in trend]
    assert income == sorted(income) and income[-1] > income[0]
    assert [entry["end_iso"] for entry in trend][-1] == "2026-11-20T12:00:00Z"
