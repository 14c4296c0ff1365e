"""The local engine: same predictions as in process, ids through, every format, bad rows, resume."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from cloudeploy import batch_predict
from cloudeploy.errors import ConflictError, OperationFailed, ValidationError
from tests.batch.helpers import expected_predictions, read_output, write_frame

FORMATS = ["csv", "jsonl", "parquet"]


@pytest.mark.parametrize("input_format", FORMATS)
@pytest.mark.parametrize("output_format", FORMATS)
def test_every_format_pair_gives_in_process_predictions_with_ids(
    workdir, forest_package, rows, input_format, output_format
):
    frame = rows(900)
    source = write_frame(frame, workdir / f"in.{input_format}")

    job = batch_predict(forest_package, source, str(workdir / f"out.{output_format}"), id_column="id",
                        chunk_rows=300, workers=1)

    output = read_output(job.outputs()[0])
    assert list(output.columns) == ["id", "prediction"]
    assert output["id"].tolist() == frame["id"].tolist()
    assert output["prediction"].tolist() == expected_predictions(forest_package, frame)


def test_two_workers_keep_input_order_across_many_chunks(workdir, forest_package, rows):
    frame = rows(3000)
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", chunk_rows=200, workers=2)

    output = read_output(job.outputs()[0])
    assert job.status().chunks_total > 2
    assert output["id"].tolist() == frame["id"].tolist()
    assert output["prediction"].tolist() == expected_predictions(forest_package, frame)


def test_float_predictions_of_a_named_model_survive_csv_exactly(workdir, regressor_package, rows):
    package_dir, _ = regressor_package
    frame = rows(500)
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(package_dir, source, str(workdir / "out.csv"), id_column="id", workers=1)

    assert read_output(job.outputs()[0])["prediction"].tolist() == expected_predictions(package_dir, frame, job)


def test_columns_are_carried_in_the_order_given(workdir, regressor_package, rows):
    frame = rows(50)
    frame["region"] = ["north", "south"] * 25
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(regressor_package[0], source, str(workdir / "out.csv"), id_column="id",
                        carry_columns=["region", "f3"], workers=1)

    output = pd.read_csv(job.outputs()[0], dtype={"id": str})
    assert list(output.columns) == ["id", "region", "f3", "prediction"]
    assert output["region"].tolist() == frame["region"].tolist()


def test_ids_that_look_like_numbers_keep_their_text(workdir, forest_package, rows):
    frame = rows(20)
    frame["id"] = [f"{i:05d}" for i in range(20)]
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", workers=1)

    with open(job.outputs()[0]) as handle:
        first_id = handle.read().splitlines()[1].split(",")[0].strip('"')
    assert first_id == "00000"


def test_input_columns_can_be_mapped_to_features(workdir, forest_package, rows):
    frame = rows(100).rename(columns={f"f{i}": f"col_{i}" for i in range(5)})
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id",
                        features=[f"col_{i}" for i in range(5)], workers=1)

    renamed = frame.rename(columns={f"col_{i}": f"f{i}" for i in range(5)})
    assert read_output(job.outputs()[0])["prediction"].tolist() == expected_predictions(forest_package, renamed)


def test_a_glob_reads_every_matching_file_in_name_order(workdir, forest_package, rows):
    first, second = rows(120, seed=1), rows(80, seed=2)
    (workdir / "data").mkdir()
    write_frame(first, workdir / "data" / "part-a.csv")
    write_frame(second, workdir / "data" / "part-b.csv")

    job = batch_predict(forest_package, str(workdir / "data" / "*.csv"), str(workdir / "out.csv"),
                        id_column="id", workers=1)

    both = pd.concat([first, second])
    assert read_output(job.outputs()[0])["id"].tolist() == both["id"].tolist()



# -- carry every input column -----------------------------------------------------


@pytest.mark.parametrize(("input_format", "output_format"), [("csv", "csv"), ("parquet", "parquet"), ("jsonl", "csv")])
def test_carry_all_writes_every_input_column_then_the_prediction(
    workdir, regressor_package, rows, input_format, output_format
):
    package_dir, _ = regressor_package
    frame = rows(700)
    frame["region"] = ["north", "south"] * 350
    source = write_frame(frame, workdir / f"in.{input_format}")

    job = batch_predict(package_dir, source, str(workdir / f"out.{output_format}"), carry_columns="*",
                        chunk_rows=300, workers=1)

    output = read_output(job.outputs()[0])
    assert list(output.columns) == [*frame.columns, "prediction"]
    pd.testing.assert_frame_equal(output[list(frame.columns)], frame, check_dtype=False)
    assert output["prediction"].tolist() == expected_predictions(package_dir, frame, job)


def test_carry_all_leaves_an_unnamed_models_features_to_the_columns_not_named(workdir, forest_package, rows):
    frame = rows(40)
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", carry_columns="*",
                        workers=1)

    assert read_output(job.outputs()[0])["prediction"].tolist() == expected_predictions(forest_package, frame)


def test_carry_all_copies_the_text_of_csv_values_as_it_was(workdir, forest_package, rows):
    source = workdir / "in.csv"
    lines = rows(3).to_csv(index=False).splitlines()
    lines[1] = "007," + ",".join(["1.50"] * 5)
    source.write_text("\n".join(lines) + "\n")

    job = batch_predict(forest_package, str(source), str(workdir / "out.csv"), id_column="id", carry_columns="*",
                        workers=1)

    with open(job.outputs()[0]) as handle:
        first_row = handle.read().splitlines()[1]
    assert first_row.rsplit(",", 1)[0] == "007," + ",".join(["1.50"] * 5)


def test_carry_all_still_reports_bad_values_of_carried_features(workdir, forest_package, rows):
    frame = _with_bad_values(rows(600))
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", carry_columns="*",
                        chunk_rows=200, workers=1)

    errors = job.errors()
    assert [(e["row"], e["id"]) for e in errors] == [(6, frame.loc[5, "id"]), (251, frame.loc[250, "id"]),
                                                    (421, frame.loc[420, "id"])]
    good = frame.drop(index=[5, 250, 420]).astype({"f1": float, "f3": float})
    assert read_output(job.outputs()[0])["prediction"].tolist() == expected_predictions(forest_package, good)


def test_carried_text_with_commas_and_quotes_survives_csv(workdir, forest_package, rows):
    frame = rows(6)
    frame["note"] = ['north, east', 'say "hi"', "plain", "", "a", "b"]
    source = write_frame(frame, workdir / "in.parquet")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", carry_columns=["note"],
                        workers=1)

    notes = read_output(job.outputs()[0])["note"].fillna("").tolist()
    assert notes == frame["note"].tolist()


def test_carry_all_with_an_id_column_puts_the_id_first(workdir, forest_package, rows):
    frame = rows(50)[["f0", "f1", "id", "f2", "f3", "f4"]]
    source = write_frame(frame, workdir / "in.parquet")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", carry_columns="*",
                        workers=1)

    assert list(read_output(job.outputs()[0]).columns) == ["id", "f0", "f1", "f2", "f3", "f4", "prediction"]


# -- bad rows ---------------------------------------------------------------------


def _with_bad_values(frame):
    frame = frame.astype({"f1": object, "f3": object})
    frame.loc[5, "f1"] = "not-a-number"
    frame.loc[250, "f3"] = None
    frame.loc[420, "f1"] = "inf"
    return frame


def test_bad_values_go_to_the_errors_file_and_the_job_succeeds(workdir, forest_package, rows):
    frame = _with_bad_values(rows(600))
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", chunk_rows=200, workers=1)

    errors = job.errors()
    assert [(e["row"], e["id"]) for e in errors] == [(6, frame.loc[5, "id"]), (251, frame.loc[250, "id"]),
                                                    (421, frame.loc[420, "id"])]
    assert "'f1' must be a number" in errors[0]["reason"] and "not-a-number" in errors[0]["reason"]
    assert "'f3' is missing a value" in errors[1]["reason"]
    assert "'f1' is infinite" in errors[2]["reason"]
    assert job.status().failed_rows == 3


def test_failed_rows_are_left_out_of_the_output(workdir, forest_package, rows):
    frame = _with_bad_values(rows(600))
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", chunk_rows=200, workers=1)

    good = frame.drop(index=[5, 250, 420])
    output = read_output(job.outputs()[0])
    assert output["id"].tolist() == good["id"].tolist()
    assert output["prediction"].tolist() == expected_predictions(forest_package, good.astype({"f1": float, "f3": float}))


def test_csv_rows_with_the_wrong_number_of_fields_are_reported(workdir, forest_package, rows):
    frame = rows(10)
    source = workdir / "in.csv"
    lines = frame.to_csv(index=False).splitlines()
    lines[3] = lines[3] + ",extra"
    lines[7] = ",".join(lines[7].split(",")[:3])
    source.write_text("\n".join(lines) + "\n")

    job = batch_predict(forest_package, str(source), str(workdir / "out.csv"), id_column="id", workers=1,
                        max_error_rate=0.5)

    assert [(e["row"], e["reason"]) for e in job.errors()] == [(3, "expected 6 fields, got 7"),
                                                             (7, "expected 6 fields, got 3")]
    assert len(read_output(job.outputs()[0])) == 8


def test_invalid_json_lines_are_reported(workdir, forest_package, rows):
    frame = rows(10)
    source = workdir / "in.jsonl"
    lines = frame.to_json(orient="records", lines=True).splitlines()
    lines[4] = "{not json"
    record = json.loads(lines[6])
    del record["f2"]
    lines[6] = json.dumps(record)
    source.write_text("\n".join(lines) + "\n")

    job = batch_predict(forest_package, str(source), str(workdir / "out.jsonl"), id_column="id", workers=1,
                        max_error_rate=0.5)

    errors = job.errors()
    assert [e["row"] for e in errors] == [5, 7]
    assert errors[0]["reason"].startswith("invalid JSON")
    assert "'f2' is missing a value" in errors[1]["reason"]


def test_rows_the_model_itself_refuses_are_isolated(workdir, rows, tmp_path):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from cloudeploy.packaging import build_package

    train = pd.DataFrame({"colour": ["red", "blue"] * 50, "size": np.arange(100.0)})
    pipeline = make_pipeline(
        ColumnTransformer([("colour", OneHotEncoder(handle_unknown="error"), ["colour"])], remainder="passthrough"),
        LogisticRegression(),
    ).fit(train, np.arange(100) % 2)
    package = build_package(pipeline, tmp_path / "pipeline", name="pipeline").path
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(40)], "colour": ["red", "blue"] * 20,
                          "size": np.arange(40.0)})
    frame.loc[17, "colour"] = "green"
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(package, source, str(workdir / "out.csv"), id_column="id", workers=1)

    errors = job.errors()
    assert [(e["row"], e["id"]) for e in errors] == [(18, "r17")]
    assert "the model rejected the row" in errors[0]["reason"]
    assert len(read_output(job.outputs()[0])) == 39


def test_predictions_made_in_slices_equal_in_process_predictions(workdir, forest_package, rows, monkeypatch):
    from cloudeploy.batch import engine

    monkeypatch.setattr(engine, "PREDICT_BYTES", 1)  # the smallest slice: 1,024 rows
    frame = rows(2600)
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", workers=1)

    assert read_output(job.outputs()[0])["prediction"].tolist() == expected_predictions(forest_package, frame)


def test_rows_refused_in_later_slices_keep_their_row_numbers(workdir, tmp_path, monkeypatch):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    from cloudeploy.batch import engine
    from cloudeploy.packaging import build_package

    monkeypatch.setattr(engine, "PREDICT_BYTES", 1)
    train = pd.DataFrame({"colour": ["red", "blue"] * 50, "size": np.arange(100.0)})
    pipeline = make_pipeline(
        ColumnTransformer([("colour", OneHotEncoder(handle_unknown="error"), ["colour"])], remainder="passthrough"),
        LogisticRegression(),
    ).fit(train, np.arange(100) % 2)
    package = build_package(pipeline, tmp_path / "pipeline", name="pipeline").path
    frame = pd.DataFrame({"id": [f"r{i}" for i in range(2500)], "colour": ["red", "blue"] * 1250,
                          "size": np.arange(2500.0)})
    frame.loc[[17, 2100], "colour"] = "green"
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(package, source, str(workdir / "out.csv"), id_column="id", workers=1)

    assert [(e["row"], e["id"]) for e in job.errors()] == [(18, "r17"), (2101, "r2100")]
    output = read_output(job.outputs()[0])
    good = frame.drop(index=[17, 2100])
    assert output["id"].tolist() == good["id"].tolist()
    assert output["prediction"].tolist() == pipeline.predict(good[["colour", "size"]]).tolist()


def test_too_many_failed_rows_fail_the_job_without_output(workdir, forest_package, rows):
    frame = rows(100).astype({"f0": object})
    frame.loc[:19, "f0"] = "x"
    source = write_frame(frame, workdir / "in.csv")
    destination = workdir / "out.csv"

    with pytest.raises(OperationFailed, match="20 of 100 rows failed"):
        batch_predict(forest_package, source, str(destination), id_column="id", max_error_rate=0.1, workers=1)

    assert not destination.exists()
    assert len((workdir / "out.errors.jsonl").read_text().splitlines()) == 20


def test_a_missing_column_is_refused_before_the_job_runs(workdir, regressor_package, rows):
    source = write_frame(rows(10).drop(columns=["f2"]), workdir / "in.csv")

    with pytest.raises(ValidationError, match="no column.*f2"):
        batch_predict(regressor_package[0], source, str(workdir / "out.csv"), id_column="id")

    assert not list((workdir / "home").glob("batch/batch-*"))


def test_an_unnamed_model_needs_one_input_column_per_feature(workdir, forest_package, rows):
    source = write_frame(rows(10).drop(columns=["f2"]), workdir / "in.csv")

    with pytest.raises(ValidationError, match="takes 5 unnamed features but the input has 4"):
        batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id")


def test_an_unknown_id_column_is_refused(workdir, forest_package, rows):
    source = write_frame(rows(10), workdir / "in.csv")

    with pytest.raises(ValidationError, match="no column.*row_id"):
        batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="row_id")


# -- jobs ---------------------------------------------------------------------------


def test_running_the_same_spec_again_reuses_the_finished_job(workdir, forest_package, rows):
    source = write_frame(rows(300), workdir / "in.csv")
    first = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", chunk_rows=100, workers=1)
    before = {i: r["finished_at"] for i, r in first.job.finished().items()}

    second = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", chunk_rows=100, workers=1)

    assert second.job_id == first.job_id
    assert {i: r["finished_at"] for i, r in second.job.finished().items()} == before


def test_a_changed_input_is_a_new_job(workdir, forest_package, rows):
    source = write_frame(rows(100), workdir / "in.csv")
    first = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", workers=1)
    write_frame(rows(120, seed=5), workdir / "in.csv")

    second = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", workers=1)

    assert second.job_id != first.job_id
    assert len(read_output(second.outputs()[0])) == 120


def test_an_explicit_job_id_with_another_spec_is_a_conflict(workdir, forest_package, rows):
    source = write_frame(rows(100), workdir / "in.csv")
    batch_predict(forest_package, source, str(workdir / "out.csv"), job_id="nightly", id_column="id", workers=1)

    with pytest.raises(ConflictError, match="nightly"):
        batch_predict(forest_package, source, str(workdir / "other.csv"), job_id="nightly", id_column="id", workers=1)


def test_no_wait_returns_at_once_and_wait_completes_the_job(workdir, forest_package, rows):
    frame = rows(400)
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest_package, source, str(workdir / "out.csv"), id_column="id", wait=False, workers=1)
    try:
        assert job.status().state in ("pending", "running")
        status = job.wait(timeout=120)
    finally:
        job.stop()

    assert status.state == "succeeded" and status.rows == 400
    assert read_output(status.outputs[0])["id"].tolist() == frame["id"].tolist()


def test_a_registered_version_is_resolved_through_the_local_registry(workdir, forest_package, rows):
    from cloudeploy.providers import get_provider

    get_provider(provider="local").upload_model(forest_package, "churn", aliases=["prod"])
    frame = rows(60)
    source = write_frame(frame, workdir / "in.parquet")

    job = batch_predict("churn@prod", source, str(workdir / "out.parquet"), id_column="id", workers=1)

    assert read_output(job.outputs()[0])["prediction"].tolist() == expected_predictions(forest_package, frame)


def test_an_unknown_registered_model_is_not_found(workdir, rows):
    from cloudeploy.errors import NotFoundError

    source = write_frame(rows(5), workdir / "in.csv")

    with pytest.raises(NotFoundError, match="nosuchmodel"):
        batch_predict("nosuchmodel@v1", source, str(workdir / "out.csv"))


def test_a_fitted_estimator_can_be_passed_directly(workdir, forest, forest_package, rows):
    frame = rows(50)
    source = write_frame(frame, workdir / "in.csv")

    job = batch_predict(forest, source, str(workdir / "out.csv"), id_column="id", workers=1)

    assert read_output(job.outputs()[0])["prediction"].tolist() == expected_predictions(forest_package, frame)


def test_options_the_local_engine_does_not_know_are_refused(workdir, forest_package, rows):
    source = write_frame(rows(5), workdir / "in.csv")

    with pytest.raises(ValidationError, match="unknown batch option.*batch_strategy.*known: none"):
        batch_predict(forest_package, source, str(workdir / "out.csv"), options={"batch_strategy": "SingleRecord"})
