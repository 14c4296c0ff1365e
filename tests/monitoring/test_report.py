"""The HTML report: self-contained, one plot per feature, most severe first."""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest

from cloudeploy.errors import ValidationError
from cloudeploy.monitoring.baseline import compute_baseline
from cloudeploy.monitoring.detection import compute_skew
from cloudeploy.monitoring.report import write_report

IMAGE = re.compile(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


@pytest.fixture(scope="module")
def result():
    rng = np.random.default_rng(11)
    training = pd.DataFrame(
        {
            "age": rng.normal(40, 8, 2000),
            "income": rng.normal(3000, 500, 2000),
            "city": rng.choice(["Paris", "Berlin"], 2000),
        }
    )
    serving = training.assign(age=training["age"] + 12, city="Rome")
    return compute_skew(compute_baseline(training), serving, labels={"endpoint": "<houses>"})


@pytest.fixture(scope="module")
def page(result, tmp_path_factory) -> str:
    return write_report(result, tmp_path_factory.mktemp("report") / "report.html").read_text()


def test_the_page_embeds_one_png_per_feature(page, result):
    images = IMAGE.findall(page)
    assert len(images) == len(result.features)
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)


def test_the_page_needs_no_other_file(page):
    assert not re.search(r'(src|href)="(?!data:|#)', page)


def test_features_appear_most_severe_first(page, result):
    order = re.findall(r'<section id="f-\d+" data-feature="([^"]+)"', page)
    assert order == [f.name for f in result.by_severity()]
    assert order != sorted(order)  # severity, not the alphabet, decides


def test_each_section_states_the_score_against_its_threshold(page, result):
    age = result["age"]
    assert f"{age.score:.4f} against threshold {age.threshold:g}" in page


def test_labels_and_title_are_escaped(result):
    from cloudeploy.monitoring.report import render_html

    html = render_html(result, title="a <b> title")
    assert "&lt;houses&gt;" in html and "a &lt;b&gt; title" in html
    assert "<houses>" not in html


def test_the_json_file_holds_the_same_result(tmp_path, result):
    write_report(result, tmp_path / "r.html", json_path=tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text()) == json.loads(json.dumps(result.to_dict()))


def test_a_directory_as_the_report_path_is_refused(tmp_path, result):
    with pytest.raises(ValidationError, match="is a directory"):
        write_report(result, tmp_path)
