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


def _encoded(frame, encoder, columns):
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.tree import DecisionTreeRegressor

    return make_pipeline(
        make_column_transformer((encoder, columns), remainder="drop"), DecisionTreeRegressor()
    ).fit(frame[[*columns, "area"]], frame["area"])


def _categories(model, tmp_path):
    return {f.name: f.categories for f in _schema(model, tmp_path).features}


def test_onehot_encoder_refusing_unknown_values_records_its_fitted_categories(frame, tmp_path):
    from sklearn.preprocessing import OneHotEncoder

    categories = _categories(_encoded(frame, OneHotEncoder(), ["city", "rooms"]), tmp_path)
    assert categories["city"] == tuple(sorted(frame["city"].unique()))
    assert categories["rooms"] == tuple(sorted(int(r) for r in frame["rooms"].unique()))
    assert all(type(value) is int for value in categories["rooms"])
    assert categories["area"] is None


def test_encoded_object_column_holding_integers_is_an_integer_feature(frame, tmp_path):
    from sklearn.preprocessing import OneHotEncoder

    # Typed "string", the server would pass "2" and the encoder (fitted on 2) refuse it.
    as_objects = frame.assign(rooms=frame["rooms"].astype(object))
    rooms = _schema(_encoded(as_objects, OneHotEncoder(), ["rooms"]), tmp_path).features[0]
    assert rooms.type == "integer"
    assert all(type(value) is int for value in rooms.categories)


def test_ordinal_encoder_refusing_unknown_values_records_its_fitted_categories(frame, tmp_path):
    from sklearn.preprocessing import OrdinalEncoder

    categories = _categories(_encoded(frame, OrdinalEncoder(), ["city"]), tmp_path)
    assert categories["city"] == tuple(sorted(frame["city"].unique()))


@pytest.mark.parametrize(
    ("encoder", "options"),
    [
        ("OneHotEncoder", {"handle_unknown": "ignore"}),
        ("OneHotEncoder", {"handle_unknown": "infrequent_if_exist"}),
        ("OrdinalEncoder", {"handle_unknown": "use_encoded_value", "unknown_value": -1}),
    ],
    ids=["ignore", "infrequent_if_exist", "use_encoded_value"],
)
def test_encoder_accepting_unknown_values_records_no_categories(frame, tmp_path, encoder, options):
    from sklearn import preprocessing

    model = _encoded(frame, getattr(preprocessing, encoder)(**options), ["city"])
    schema = _schema(model, tmp_path)
    assert [f.categories for f in schema.features] == [None, None]
    assert all("categories" not in f for f in schema.to_dict()["features"])


def test_missing_values_are_left_out_of_the_recorded_categories(frame, tmp_path):
    from sklearn.preprocessing import OneHotEncoder

    # The encoder learns NaN as a category of its own; nullable, not the categories, covers it.
    with_gaps = frame.assign(city=frame["city"].where(frame.index % 7 != 0, float("nan")))
    city = _schema(_encoded(with_gaps, OneHotEncoder(), ["city"]), tmp_path).features[0]
    assert city.categories == tuple(sorted(frame["city"].unique()))


def test_categories_of_an_encoder_behind_a_value_changing_step_are_not_recorded(frame):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

    from cloudeploy.packaging.infer import infer_schema

    # The encoder sees lower-cased values, not what the client sends.
    lower = FunctionTransformer(lambda column: column.apply(lambda s: s.str.lower()))
    model = _encoded(frame, make_pipeline(lower, OneHotEncoder()), ["city"])
    assert infer_schema(model).features[0].categories is None


def test_recorded_categories_survive_the_manifest_round_trip(frame, tmp_path):
    from sklearn.preprocessing import OneHotEncoder

    from cloudeploy.packaging import read_manifest

    package = build_package(_encoded(frame, OneHotEncoder(), ["city", "rooms"]), tmp_path / "pkg")
    read_back = read_manifest(package.path).schema
    assert read_back.features[0].categories == tuple(sorted(frame["city"].unique()))
    assert read_back == package.manifest.schema
