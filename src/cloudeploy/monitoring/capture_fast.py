"""Fast paths from a block of capture lines to float columns and category counts.

Parsing JSON numbers is most of the cost of monitoring from capture files, so
blocks skip per-record Python objects when they can. Each function returns the
block's monitored instances as ``{feature: float column or CategoryCounts}``, or
None when the block is not one it can take; the caller then tries the next path
and finally orjson line by line, which counts the same.

- :func:`csv_columns`: when no record needs filtering out, the ``instances``
  arrays are cut out of the block with C-speed byte operations and parsed by
  pyarrow's multithreaded CSV reader. Any irregularity — a missing or repeated
  key, nesting, null rows, spaces, a string holding brackets, commas or escapes,
  a non-number, a row of another width — makes a check fail or pyarrow refuse
  the block, never a silent miscount.
- :func:`json_table_columns`: pyarrow's JSON reader with an explicit schema, which
  also applies the ``ts`` and ``version`` filters (numerical features only).

Both require every line to carry byte-identical ``"features"`` lists
(:func:`shared_features`), so that one column order holds for the whole block.
"""

from __future__ import annotations

import io
from typing import Any

import orjson

from cloudeploy import lazy
from cloudeploy.monitoring.histogram import CategoryCounts

pa = lazy.module("pyarrow")
pa_csv = lazy.module("pyarrow.csv")
pa_json = lazy.module("pyarrow.json")
pc = lazy.module("pyarrow.compute")

np = lazy.module("numpy")

INSTANCES_KEY = b'"instances":[['


def shared_features(block: bytes) -> tuple[list[str], int] | None:
    """The first line's feature list and how many times its exact bytes occur in ``block``.

    When that count equals the number of records, every record carries the same
    feature list (callers check it against what they count).
    """
    first_end = block.find(b"\n")
    first = block if first_end < 0 else block[:first_end]
    start = first.find(b'"features"')
    end = first.find(b"]", start)
    if start < 0 or end < 0:
        return None
    raw = first[start : end + 1]
    try:
        names = orjson.loads(first).get("features")
        # The raw bytes must hold the whole list (a "]" inside a name would cut it short).
        if not isinstance(names, list) or orjson.loads(b"{" + raw + b"}") != {"features": names}:
            return None
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return names, block.count(raw)


def csv_columns(
    block: bytes, names: list[str], records: int, kinds: dict[str, str]
) -> dict[str, np.ndarray | CategoryCounts] | None:
    """The monitored columns of every instance of ``block``, with no record filtered out.

    ``names`` is the block's feature order, ``kinds`` maps each monitored feature
    to "numerical" (float column) or "categorical" (:class:`CategoryCounts`, keyed
    like plain parsing: ``str`` of the JSON value). ``records`` is the number of
    records (from :func:`shared_features`); the block must hold exactly one
    compact ``"instances":[[`` per record.
    """
    parts = block.split(INSTANCES_KEY)
    if len(parts) - 1 != records:
        return None
    tails = parts[1:]
    ends = [tail.find(b"]]") for tail in tails]
    if -1 in ends:
        return None
    pieces = [tail[:end] for tail, end in zip(tails, ends, strict=True)]
    # One CSV line per instance: rows of a request are separated by "],[".
    body = b"\n".join(pieces).replace(b"],[", b"\n")
    if not _cut_cleanly(body, pieces):
        return None
    columns = [f"c{j}" for j in range(len(names))]
    wanted = {f"c{names.index(name)}": name for name in kinds}
    types = {
        column: pa.float64() if kinds[name] == "numerical" else pa.string()
        for column, name in wanted.items()
    }
    try:
        table = pa_csv.read_csv(
            io.BytesIO(body),
            read_options=pa_csv.ReadOptions(column_names=columns, block_size=4 << 20),
            # No quote handling: a categorical value keeps its JSON quotes (so the string
            # "true" and the boolean true stay apart), and a comma inside a string
            # misaligns the columns, which pyarrow refuses.
            parse_options=pa_csv.ParseOptions(quote_char=False, newlines_in_values=False),
            convert_options=pa_csv.ConvertOptions(
                include_columns=list(wanted),
                column_types=types,
                null_values=["null"],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    result: dict[str, np.ndarray | CategoryCounts] = {}
    for column, name in wanted.items():
        values = table[column]
        if kinds[name] == "numerical":
            result[name] = values.to_numpy()
            continue
        counted = _category_counts(values)
        if counted is None:
            return None
        result[name] = counted
    return result


def _cut_cleanly(body: bytes, pieces: list[bytes]) -> bool:
    """Whether each piece is exactly a flat ``instances`` array's contents.

    A bracket or brace left means nesting, a null row or spaces; an odd number of
    quotes means a string holding "]]" cut the piece short. Escaped quotes would
    spoil the count, so any backslash sends the block to the slower paths.
    """
    if any(mark in body for mark in (b"[", b"]", b"{", b"}")):
        return False
    if b'"' not in body:
        return True
    return b"\\" not in body and not any(piece.count(b'"') % 2 for piece in pieces)


def _category_counts(tokens: Any) -> CategoryCounts | None:
    """Raw JSON tokens of a categorical column counted by ``str`` of their value."""
    counts: dict[str, int] = {}
    missing = 0
    for entry in pc.value_counts(tokens).to_pylist():
        token, count = entry["values"], entry["counts"]
        if token is None:
            missing += count
            continue
        try:
            value = orjson.loads(token)
        except orjson.JSONDecodeError:
            return None
        if value is None:
            missing += count
        elif isinstance(value, (dict, list)):
            return None
        else:
            key = value if isinstance(value, str) else str(value)
            counts[key] = counts.get(key, 0) + count
    return CategoryCounts(counts, missing)


def json_table_columns(
    block: bytes,
    names: list[str],
    records: int,
    *,
    since: float | None,
    until: float | None,
    version: str | None,
) -> dict[str, np.ndarray] | None:
    """The instances of the records with ``since <= ts < until`` (and ``version``) as float columns."""
    schema = pa.schema(
        [
            ("ts", pa.float64()),
            ("version", pa.string()),
            ("instances", pa.list_(pa.list_(pa.float64()))),
        ]
    )
    try:
        table = pa_json.read_json(
            io.BytesIO(block),
            read_options=pa_json.ReadOptions(block_size=4 << 20),
            parse_options=pa_json.ParseOptions(
                explicit_schema=schema, unexpected_field_behavior="ignore"
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != records:
        return None
    mask: Any = None
    if since is not None:
        mask = pc.greater_equal(table["ts"], since)
    if until is not None:
        upper = pc.less(table["ts"], until)
        mask = upper if mask is None else pc.and_(mask, upper)
    if version is not None:
        same = pc.equal(table["version"], version)
        mask = same if mask is None else pc.and_(mask, same)
    if mask is not None:
        table = table.filter(pc.fill_null(mask, False))
    width = len(names)
    matrices = [np.empty((0, width))]
    for chunk in table["instances"].chunks:
        rows = chunk.flatten()  # drops null instances
        if len(rows) == 0:
            continue
        if pc.any(pc.not_equal(pc.list_value_length(rows), width)).as_py():
            return None
        values = rows.flatten().to_numpy(zero_copy_only=False)
        matrices.append(values.reshape(-1, width))
    matrix = np.concatenate(matrices) if len(matrices) > 2 else matrices[-1]
    return {name: matrix[:, j] for j, name in enumerate(names)}
