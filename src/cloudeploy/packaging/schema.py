"""The input schema of a model: feature names and types, and turning requests into rows.

``InputSchema.to_frame(instances)`` is the one place where client input becomes
model input, used by the model server and the batch engine alike. It accepts
instances as lists (positional) or as objects keyed by feature name, and raises
:class:`InputError` naming the row and the field for anything the model cannot
take, so that servers answer 4xx and never 5xx for bad input.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from cloudeploy import lazy
from cloudeploy.errors import ValidationError

np = lazy.module("numpy")
pd = lazy.module("pandas")

FeatureType = Literal["number", "integer", "string", "boolean"]
_NUMERIC = ("number", "integer")


class InputError(ValidationError):
    """Client input does not match the schema. ``row`` and ``field`` locate it."""

    def __init__(self, message: str, *, row: int | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.row = row
        self.field = field


@dataclass(frozen=True)
class Feature:
    """One input column. ``categories``, when set, are the only values it accepts
    (besides null/NaN if nullable): an encoder fitted on them refuses any other."""

    name: str
    type: FeatureType = "number"
    nullable: bool = False
    categories: tuple | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "type": self.type, "nullable": self.nullable}
        if self.categories is not None:
            # Only when set, so manifests (and digests) of packages without categories stay the same.
            data["categories"] = list(self.categories)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Feature:
        categories = data.get("categories")
        return cls(
            name=data["name"],
            type=data.get("type", "number"),
            nullable=bool(data.get("nullable", False)),
            categories=tuple(categories) if categories is not None else None,
        )

    @cached_property  # on the request path: built once per feature
    def accepted(self) -> frozenset | None:
        return frozenset(self.categories) if self.categories is not None else None


@dataclass(frozen=True)
class InputSchema:
    """Ordered features a model takes.

    ``named`` is true when the model was fitted on named columns
    (``feature_names_in_``) and so expects a DataFrame; otherwise features are
    called ``x0 .. x{n-1}`` and the model gets a plain array.
    """

    features: tuple[Feature, ...] = field(default_factory=tuple)
    named: bool = False

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def __len__(self) -> int:
        return len(self.features)

    def to_dict(self) -> dict[str, Any]:
        return {"named": self.named, "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputSchema:
        return cls(
            features=tuple(Feature.from_dict(f) for f in data.get("features", [])),
            named=bool(data.get("named", False)),
        )

    @classmethod
    def positional(cls, n_features: int) -> InputSchema:
        return cls(features=tuple(Feature(f"x{i}") for i in range(n_features)), named=False)

    def rows(self, instances: Any) -> list[list[Any]]:
        """Validate ``instances`` and return them as rows of Python values in schema order.

        Numeric features become floats (ints for ``integer``, which refuse
        fractional values); NaN and None are refused unless the feature is nullable;
        a feature with ``categories`` refuses any other value.
        """
        if not isinstance(instances, Sequence) or isinstance(instances, (str, bytes)):
            raise InputError("instances must be a list of rows")
        if len(instances) == 0:
            raise InputError("instances is empty: send at least one row")
        names = self.names
        width = len(names)
        rows: list[list[Any]] = []
        for index, instance in enumerate(instances):
            if isinstance(instance, dict):
                unknown = [k for k in instance if k not in set(names)]
                if unknown:
                    raise InputError(
                        f"row {index}: unknown feature(s) {', '.join(map(str, unknown))}; expected {', '.join(names)}",
                        row=index,
                        field=str(unknown[0]),
                    )
                missing = [n for n in names if n not in instance]
                if missing:
                    raise InputError(
                        f"row {index}: missing feature(s) {', '.join(missing)}",
                        row=index,
                        field=missing[0],
                    )
                values = [instance[n] for n in names]
            elif isinstance(instance, (list, tuple)):
                if len(instance) != width:
                    raise InputError(
                        f"row {index}: expected {width} features, got {len(instance)}",
                        row=index,
                    )
                values = list(instance)
            else:
                raise InputError(
                    f"row {index}: expected a list of {width} values or an object keyed by feature name",
                    row=index,
                )
            rows.append([self._coerce(feature, value, index) for feature, value in zip(self.features, values, strict=True)])
        return rows

    def _coerce(self, feature: Feature, value: Any, row: int) -> Any:
        value = self._coerce_type(feature, value, row)
        # None/NaN got past _coerce_type only if the feature is nullable.
        if feature.accepted is None or value is None or value != value or value in feature.accepted:
            return value
        shown = ", ".join(map(repr, feature.categories[:5]))
        if len(feature.categories) > 5:
            shown += ", ..."
        raise InputError(
            f"row {row}: feature {feature.name!r} does not accept {value!r}; "
            f"expected one of {len(feature.categories)} categories: {shown}",
            row=row,
            field=feature.name,
        )

    def _coerce_type(self, feature: Feature, value: Any, row: int) -> Any:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            if feature.nullable:
                return float("nan") if feature.type in _NUMERIC else None
            raise InputError(f"row {row}: feature {feature.name!r} is missing a value (null/NaN)", row=row, field=feature.name)
        if feature.type in _NUMERIC:
            if isinstance(value, bool):
                value = int(value)
            if isinstance(value, str):
                try:
                    value = float(value)
                except ValueError:
                    raise InputError(
                        f"row {row}: feature {feature.name!r} must be a number, got {value!r}",
                        row=row,
                        field=feature.name,
                    ) from None
            if not isinstance(value, (int, float)):
                raise InputError(
                    f"row {row}: feature {feature.name!r} must be a number, got {type(value).__name__}",
                    row=row,
                    field=feature.name,
                )
            if isinstance(value, float) and math.isinf(value):
                raise InputError(f"row {row}: feature {feature.name!r} is infinite", row=row, field=feature.name)
            if isinstance(value, float) and math.isnan(value) and not feature.nullable:
                raise InputError(f"row {row}: feature {feature.name!r} is NaN", row=row, field=feature.name)
            if feature.type == "number":
                return float(value)
            if isinstance(value, float) and not value.is_integer():
                # Truncating would change what the client sent; batch jobs refuse it the same way.
                raise InputError(
                    f"row {row}: feature {feature.name!r} must be a whole number, got {value!r}",
                    row=row,
                    field=feature.name,
                )
            return int(value)
        if feature.type == "boolean":
            if isinstance(value, bool):
                return value
            raise InputError(f"row {row}: feature {feature.name!r} must be true or false", row=row, field=feature.name)
        if isinstance(value, (dict, list)):
            raise InputError(f"row {row}: feature {feature.name!r} must be a scalar", row=row, field=feature.name)
        return str(value)

    def to_model_input(self, rows: list[list[Any]]):
        """The object to pass to ``predict``: a DataFrame for named schemas, else an array.

        Imports numpy (and pandas for named schemas) lazily.
        """
        if self.named:
            return pd.DataFrame(rows, columns=self.names)
        if self.all_numeric:
            return np.asarray(rows, dtype=float)
        return np.asarray(rows, dtype=object)

    @cached_property  # on the request path: computed once per schema
    def all_numeric(self) -> bool:
        return all(f.type in _NUMERIC for f in self.features)
