"""CreateTransformJob's ``DataProcessing``: input filter, join with the input, output filter.

SageMaker applies them per record (see "Associate Prediction Results with
Input Records" in the SageMaker guide):

1. ``InputFilter`` selects what the model sees of each input record;
2. ``JoinSource=Input`` joins each output record with its *unfiltered* input
   record: for CSV the output's cells are appended to the input row; for JSON
   the output goes under ``SageMakerOutput`` of the input object (an input
   that is not an object becomes ``{"SageMakerInput": ..., "SageMakerOutput": ...}``);
3. ``OutputFilter`` selects what is written of the joined record (of the
   output alone without a join).

A CSV record is a JSON array of its cells (text). The JSONPath subset is the
one SageMaker documents: ``$``; ``.name``; ``['a','b']``; ``[0,2,-1]``;
``[1:]``, ``[a:b]`` (end excluded) and unions of them such as ``[0,5:]``. A
bracket that selects several elements must be the last step. :func:`parse_path`
raises ValueError for anything else, which CreateTransformJob reports as a
ValidationException.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from typing import Any

CSV_TYPES = ("text/csv",)
JSON_TYPES = ("application/json", "application/jsonlines", "application/x-jsonlines")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\[([^\[\]]+)\]")
_INDEX = re.compile(r"-?\d+")
_SLICE = re.compile(r"(-?\d*):(-?\d*)")
_NAME = re.compile(r"'([^']*)'")


class RecordError(ValueError):
    """A record the filters or the join cannot handle; the transform job fails with its message."""


@dataclass(frozen=True)
class Step:
    """``.name`` / ``['a']`` (names), ``[0,1:]`` (items: ints and (start, end) slices)."""

    names: tuple[str, ...] = ()
    items: tuple[int | tuple[int | None, int | None], ...] = ()

    @property
    def single(self) -> bool:
        return len(self.names) == 1 or (len(self.items) == 1 and isinstance(self.items[0], int))


def parse_path(path: str) -> tuple[Step, ...]:
    """The steps of a JSONPath expression in SageMaker's subset; ValueError naming what is wrong."""
    if not path.startswith("$"):
        raise ValueError(f"JSONPath {path!r} must start with '$'")
    steps: list[Step] = []
    position = 1
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise ValueError(
                f"JSONPath {path!r} has an unsupported operator at {path[position:]!r}"
            )
        if steps and not steps[-1].single:
            raise ValueError(
                f"JSONPath {path!r}: a bracket selecting several elements must be the last step"
            )
        steps.append(
            Step(names=(match.group(1),)) if match.group(1) else _bracket(path, match.group(2))
        )
        position = match.end()
    return tuple(steps)


def _bracket(path: str, body: str) -> Step:
    parts = [part.strip() for part in body.split(",")]
    if all(_NAME.fullmatch(part) for part in parts):
        return Step(names=tuple(_NAME.fullmatch(part).group(1) for part in parts))  # type: ignore[union-attr]
    items: list[int | tuple[int | None, int | None]] = []
    for part in parts:
        if _INDEX.fullmatch(part):
            items.append(int(part))
        elif match := _SLICE.fullmatch(part):
            items.append(tuple(int(v) if v else None for v in match.groups()))  # type: ignore[arg-type]
        else:
            raise ValueError(
                f"JSONPath {path!r} has an unsupported selector {part!r} (use indexes, slices or 'names')"
            )
    return Step(items=tuple(items))


def select(value: Any, steps: tuple[Step, ...]) -> Any:
    """Apply parsed ``steps`` to one record; RecordError when the record does not fit them."""
    for step in steps:
        value = _names(value, step.names) if step.names else _items(value, step.items)
    return value


def _names(value: Any, names: tuple[str, ...]) -> Any:
    if not isinstance(value, dict):
        raise RecordError(f"cannot select {', '.join(names)} from a {_kind(value)}")
    missing = [name for name in names if name not in value]
    if missing:
        raise RecordError(f"the record has no attribute {', '.join(missing)}")
    return value[names[0]] if len(names) == 1 else {name: value[name] for name in names}


def _items(value: Any, items: tuple[int | tuple[int | None, int | None], ...]) -> Any:
    if not isinstance(value, list):
        raise RecordError(f"cannot index a {_kind(value)}")
    selected = []
    for item in items:
        if isinstance(item, int):
            if not -len(value) <= item < len(value):
                raise RecordError(f"index {item} is outside the record's {len(value)} elements")
            selected.append(value[item])
        else:
            selected.extend(value[item[0] : item[1]])
    return selected[0] if len(items) == 1 and isinstance(items[0], int) else selected


def _kind(value: Any) -> str:
    return {dict: "object", list: "array"}.get(type(value), "value")


@dataclass(frozen=True)
class DataProcessing:
    """A transform job's ``DataProcessing`` for one content type, applied record by record."""

    csv: bool
    input_filter: tuple[Step, ...] = ()
    output_filter: tuple[Step, ...] = ()
    join: bool = False

    @classmethod
    def of(
        cls,
        request: dict[str, Any] | None,
        content_type: str,
        accept: str | None,
        split: str | None,
    ):
        """The processing a CreateTransformJob request asks for; None when it asks for none.

        ValueError (reported as a ValidationException) for what SageMaker or
        this emulation refuses: a bad JSONPath, a content type other than CSV
        or JSON, a join of CSV with JSON, records not split by line.
        """
        request = request or {}
        join = request.get("JoinSource", "None") == "Input"
        filters = {key: request.get(key) or "$" for key in ("InputFilter", "OutputFilter")}
        if not join and filters == {"InputFilter": "$", "OutputFilter": "$"}:
            return None
        family = _family(content_type)
        out_family = _family(accept) if accept else family
        if family is None or out_family is None:
            raise ValueError(
                f"DataProcessing needs CSV or JSON data (ContentType {content_type!r}, Accept {accept!r})"
            )
        if join and family != out_family:
            raise ValueError(
                f"JoinSource Input cannot join {content_type} input with {accept} output"
            )
        if split != "Line":
            raise ValueError("DataProcessing in this emulation needs TransformInput.SplitType Line")
        parsed = {}
        for key, path in filters.items():
            try:
                parsed[key] = parse_path(path)
            except ValueError as error:
                raise ValueError(f"DataProcessing.{key}: {error}") from None
        return cls(family == "csv", parsed["InputFilter"], parsed["OutputFilter"], join)

    def model_input(self, record: bytes) -> tuple[Any, bytes]:
        """``(the parsed record, what the model is sent for it)``."""
        parsed = self._parse(record)
        return parsed, self._encode(select(parsed, self.input_filter))

    def output(self, record: Any, answer: bytes) -> bytes:
        """What is written for ``record`` given the model's ``answer`` for it."""
        result = self._parse(answer)
        if self.join:
            result = _join(record, result, self.csv)
        return self._encode(select(result, self.output_filter))

    def _parse(self, data: bytes) -> Any:
        text = data.decode("utf-8")
        if self.csv:
            return next(csv.reader([text]), [])
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise RecordError(f"a record is not valid JSON: {error}") from None

    def _encode(self, value: Any) -> bytes:
        if not self.csv:
            return json.dumps(value, separators=(",", ":")).encode()
        if isinstance(value, dict):
            raise RecordError("a CSV record cannot be an object")
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(
            value if isinstance(value, list) else [value]
        )
        return buffer.getvalue().encode()


def _join(record: Any, output: Any, is_csv: bool) -> Any:
    if is_csv:
        return [*record, *(output if isinstance(output, list) else [output])]
    if isinstance(record, dict):
        return {**record, "SageMakerOutput": output}
    return {"SageMakerInput": record, "SageMakerOutput": output}


def _family(media_type: str | None) -> str | None:
    media = (media_type or "").split(";", 1)[0].strip().lower()
    return "csv" if media in CSV_TYPES else "json" if media in JSON_TYPES else None
