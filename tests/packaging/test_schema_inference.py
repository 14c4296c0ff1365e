"""The input schema: derived from the fitted model, or given explicitly (which wins)."""

from __future__ import annotations

import pytest

from cloudeploy.errors import PackageError, ValidationError
from cloudeploy.packaging import Feature, InputSchema, build_package


def _schema(model, tmp_path, **kwargs):
    return build_package(model, tmp_path / "pkg", **kwargs).manifest.schema


def test_array_model_gets_positional_feature_names(classifier, tmp_path):
    schema = _schema(classifier, tmp_path)
    assert schema.names == [f"x{i}" for i in range(classifier.n_features_in_)]
    assert not schema.named


def test_dataframe_model_gets_its_column_names_in_fit_order(frame_pipeline, frame, tmp_path):
    schema = _schema(frame_pipeline, tmp_path)
    assert schema.named
    assert schema.names == list(frame.columns)


def test_text_column_routed_to_a_onehot_encoder_is_a_string(frame_pipeline, tmp_path):
    types = {f.name: f.type for f in _schema(frame_pipeline, tmp_path).features}
    assert types["city"] == "string"


def test_integer_column_routed_to_an_encoder_keeps_its_integer_type(frame_pipeline, tmp_path):
    types = {f.name: f.type for f in _schema(frame_pipeline, tmp_path).features}
    assert types["rooms"] == "integer"


def test_untouched_columns_are_numbers(frame_pipeline, tmp_path):
    types = {f.name: f.type for f in _schema(frame_pipeline, tmp_path).features}
    assert types["area"] == "number"


def test_column_routed_through_an_imputer_is_nullable(frame_pipeline, tmp_path):
    nullable = {f.name: f.nullable for f in _schema(frame_pipeline, tmp_path).features}
    assert nullable == {"area": False, "city": False, "rooms": False, "age": True}


def test_ordinal_encoded_text_column_is_a_string(frame, tmp_path):
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder
    from sklearn.tree import DecisionTreeRegressor

    model = make_pipeline(
        make_column_transformer((OrdinalEncoder(), ["city"]), remainder="drop"),
        DecisionTreeRegressor(),
    ).fit(frame[["city", "area"]], frame["area"])
    types = {f.name: f.type for f in _schema(model, tmp_path).features}
    assert types == {"city": "string", "area": "number"}


def test_explicit_names_label_an_array_model(classifier, tmp_path):
    names = ["a", "b", "c", "d"]
    schema = _schema(classifier, tmp_path, schema=names)
    assert schema.names == names
    assert not schema.named


def test_explicit_types_are_recorded(classifier, tmp_path):
    schema = _schema(
        classifier, tmp_path, schema={"a": "number", "b": "integer", "c": "number", "d": "boolean"}
    )
    assert [f.type for f in schema.features] == ["number", "integer", "number", "boolean"]


def test_explicit_schema_object_wins_over_inference(frame_pipeline, tmp_path):
    given = InputSchema(
        features=(
            Feature("area"),
            Feature("city", "string"),
            Feature("rooms", "string"),
            Feature("age", nullable=True),
        ),
        named=True,
    )
    assert _schema(frame_pipeline, tmp_path, schema=given) == given


def test_explicit_names_are_reordered_to_the_fit_order(frame_pipeline, frame, tmp_path):
    schema = _schema(frame_pipeline, tmp_path, schema=list(reversed(frame.columns)))
    assert schema.names == list(frame.columns)


def test_wrong_number_of_explicit_names_is_refused(classifier, tmp_path):
    with pytest.raises(ValidationError, match="3 features but the model takes 4"):
        _schema(classifier, tmp_path, schema=["a", "b", "c"])


def test_names_that_differ_from_the_fitted_columns_are_refused_naming_them(
    frame_pipeline, tmp_path
):
    with pytest.raises(ValidationError, match="missing rooms; unknown bedrooms"):
        _schema(frame_pipeline, tmp_path, schema=["area", "city", "bedrooms", "age"])


def test_unknown_feature_type_is_refused_naming_it(classifier, tmp_path):
    with pytest.raises(ValidationError, match="'float64'"):
        _schema(
            classifier,
            tmp_path,
            schema={"a": "float64", "b": "number", "c": "number", "d": "number"},
        )


def test_duplicate_feature_names_are_refused(classifier, tmp_path):
    with pytest.raises(ValidationError, match="more than once: a"):
        _schema(classifier, tmp_path, schema=["a", "a", "c", "d"])


def test_model_without_feature_information_needs_an_explicit_schema(tmp_path, custom_model_module):
    model = custom_model_module.ConstantModel()
    type(model).n_features_in_ = None
    try:
        with pytest.raises(PackageError, match="cannot infer the input schema"):
            build_package(model, tmp_path / "pkg", trust=True)
    finally:
        type(model).n_features_in_ = 3
