"""Instances as clients send them: JSON-ready rows, missing values as ``null``.

JSON has no NaN or Infinity. A DataFrame with a missing value, or ``--instances``
holding ``NaN``, must still reach the server, whose schema decides whether the
feature may be missing (a model with an imputer) or answers a 400 naming row and
feature. So every client path (the Python API, ``cloudeploy predict``) turns
missing values (NaN, ``None``, pandas' NA/NaT) into ``None`` here, and refuses an
infinite value in one line naming row and feature: infinity is not a missing
value, and no JSON encoder can send it.

This module is a leaf: it imports nothing heavy (NumPy and pandas objects are
recognised by duck typing).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from cloudeploy.errors import ValidationError

_MISSING_TYPES = frozenset({"NAType", "NaTType"})


def json_ready(rows: Iterable[Any]) -> list[Any]:
    """``rows`` (lists or mappings of scalars) with missing values as ``None``.

    Raises ValidationError naming the row (0-based, as the server counts) and the
    feature (name, or position for list rows) for an infinite value.
    """
    ready: list[Any] = []
    for index, row in enumerate(rows):
        if isinstance(row, Mapping):
            ready.append({key: _scalar(value, index, key) for key, value in row.items()})
        elif isinstance(row, (list, tuple)):
            ready.append([_scalar(value, index, position) for position, value in enumerate(row)])
        else:
            ready.append(_scalar(row, index, 0))
    return ready


def _scalar(value: Any, row: int, feature: Any) -> Any:
    if value is None:
        return None
    if type(value).__name__ in _MISSING_TYPES:
        return None
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        number = float(value)
        if math.isnan(number):
            return None
        if math.isinf(number):
            where = f"feature {feature!r}" if isinstance(feature, str) else f"feature #{feature}"
            raise ValidationError(
                f"row {row}, {where}: {number} is not a finite number",
                hint="JSON cannot carry infinity; clip or drop the value, or send null for a missing one",
            )
        return number
    return value
