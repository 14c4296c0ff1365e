"""Hypothesis strategies over a package's input schema: valid rows and every way to break them.

``valid_rows(schema, categories)`` draws rows the model accepts (as lists in
schema order or as objects keyed by feature name); ``categories`` restricts
categorical features to values the model was fitted on (by default, the
categories the schema records). The other strategies
draw one specific kind of damage, so a test can say what answer it expects.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from cloudeploy.packaging.schema import Feature, InputSchema


def _json_values(floats: st.SearchStrategy) -> st.SearchStrategy:
    return st.recursive(
        st.none() | st.booleans() | st.integers() | floats | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
        max_leaves=12,
    )


#: JSON-ish values of every kind, nested a little, NaN and infinities included
#: (``json_body`` writes them as bare tokens, which strict JSON refuses).
json_values = _json_values(st.floats())
#: The same, strictly valid JSON.
strict_json_values = _json_values(st.floats(allow_nan=False, allow_infinity=False))


def valid_value(feature: Feature, categories: Mapping[str, Sequence[Any]] = {}) -> st.SearchStrategy:
    if feature.name in categories:
        values = st.sampled_from(list(categories[feature.name]))
    elif feature.categories:
        values = st.sampled_from(list(feature.categories))
    elif feature.type == "number":
        values = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(2**63), 2**63 - 1)
    elif feature.type == "integer":
        values = st.integers(-(2**63), 2**63 - 1)
    elif feature.type == "boolean":
        values = st.booleans()
    else:
        values = st.text(max_size=30)
    return (values | st.none()) if feature.nullable else values


def valid_rows(schema: InputSchema, categories: Mapping[str, Sequence[Any]] = {}) -> st.SearchStrategy:
    """One row: a list in schema order or an object keyed by feature name (keys in any order)."""
    values = st.tuples(*(valid_value(f, categories) for f in schema.features)).map(list)
    as_object = values.flatmap(lambda row: st.permutations(list(zip(schema.names, row, strict=True))).map(dict))
    return values | as_object


def bad_value(feature: Feature) -> st.SearchStrategy:
    """A value the schema refuses for ``feature`` (whatever the model)."""
    structured = st.dictionaries(st.text(max_size=5), strict_json_values, max_size=3) | st.lists(strict_json_values, max_size=3)
    if feature.type in ("number", "integer"):
        not_numbers = st.text(max_size=10).filter(lambda s: not _parses_as_float(s))
        bad = structured | not_numbers | st.sampled_from(["inf", "-Infinity", "1e999"])
        if not feature.nullable:
            bad |= st.sampled_from(["nan", "NaN"])
    elif feature.type == "boolean":
        bad = structured | st.text(max_size=10) | st.floats(allow_nan=False, allow_infinity=False)
    else:
        bad = structured
    return (bad | st.none()) if not feature.nullable else bad


@st.composite
def rows_with_one_bad_value(draw, schema: InputSchema, categories: Mapping[str, Sequence[Any]] = {}):
    """(instances, index of the bad row, name of the bad feature)."""
    rows = draw(st.lists(valid_rows(schema, categories), min_size=1, max_size=5))
    index = draw(st.integers(0, len(rows) - 1))
    position = draw(st.integers(0, len(schema.features) - 1))
    feature = schema.features[position]
    row = rows[index]
    if isinstance(row, dict):
        row[feature.name] = draw(bad_value(feature))
    else:
        row[position] = draw(bad_value(feature))
    return rows, index, feature.name


@st.composite
def rows_of_the_wrong_shape(draw, schema: InputSchema, categories: Mapping[str, Sequence[Any]] = {}):
    """(instances, index of the misshapen row): too long/short, missing or unknown keys, scalars."""
    rows = draw(st.lists(valid_rows(schema, categories), min_size=1, max_size=5))
    index = draw(st.integers(0, len(rows) - 1))
    valid = draw(st.tuples(*(valid_value(f, categories) for f in schema.features)).map(list))
    width = len(schema.features)
    unknown_key = st.text(min_size=1, max_size=10).filter(lambda k: k not in schema.names)
    kind = draw(st.sampled_from(["short", "long", "missing", "unknown", "scalar"]))
    if kind == "short":
        broken: Any = valid[: draw(st.integers(0, width - 1))]
    elif kind == "long":
        broken = valid + draw(st.lists(strict_json_values, min_size=1, max_size=3))
    elif kind == "missing":
        missing = draw(st.sampled_from(schema.names))
        broken = {n: v for n, v in zip(schema.names, valid, strict=True) if n != missing}
    elif kind == "unknown":
        broken = dict(zip(schema.names, valid, strict=True)) | {draw(unknown_key): draw(strict_json_values)}
    else:
        broken = draw(st.none() | st.booleans() | st.integers() | st.text(max_size=10))
    rows[index] = broken
    return rows, index


def csv_body(rows: list[list[Any]]) -> bytes:
    """Rows (lists in schema order) as headerless CSV; None is an empty cell, booleans true/false."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow(["" if v is None else str(v).lower() if isinstance(v, bool) else repr(v) if isinstance(v, float) else v for v in row])
    return buffer.getvalue().encode()


def as_list(row: Any, schema: InputSchema) -> list[Any]:
    return [row[n] for n in schema.names] if isinstance(row, dict) else row


def json_body(document: Any) -> bytes:
    """JSON as a lenient client writes it: NaN and Infinity appear as bare tokens."""
    return json.dumps(document, allow_nan=True).encode()


#: Text made of what CSV parsers trip over.
csv_like_text = st.lists(
    st.sampled_from(list('0123456789.,-+eE"\'\r\n\t ;|\\\x00') + ["nan", "inf", "true", "false", "é", "\ufeff"]),
    max_size=120,
).map("".join)

#: Media types the SageMaker route does not take.
other_media_types = st.sampled_from(
    ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data",
     "application/octet-stream", "application/jsonlines", "image/png", "text/html", "application/x-npy"]
) | st.from_regex(r"\A[a-z]{1,10}/[a-z0-9.+-]{1,15}\Z").filter(lambda m: m not in ("application/json", "text/csv"))


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
