"""``cloudeploy batch``: JSON reports, clear errors, formats from extensions, status of a job."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli
from tests.batch.helpers import read_output, write_frame


@pytest.fixture
def run(workdir):
    def invoke(*args: str):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    return invoke


def test_json_output_reports_the_finished_job(run, workdir, forest_package, rows):
    source = write_frame(rows(200), workdir / "in.csv")

    result = run("batch", forest_package, "--source", source, "--destination", workdir / "out.jsonl",
                 "--id-column", "id", "--workers", "1", "--output", "json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["state"], report["rows"], report["failed_rows"]) == ("succeeded", 200, 0)
    assert report["outputs"] == [str(workdir / "out.jsonl")]
    assert list(read_output(workdir / "out.jsonl").columns) == ["id", "prediction"]


def test_the_report_says_which_runtime_scored_the_job_and_why(run, workdir, forest_package, rows):
    source = write_frame(rows(50), workdir / "in.csv")

    result = run("batch", forest_package, "--source", source, "--destination", workdir / "out.csv",
                 "--id-column", "id", "--workers", "1")

    assert result.exit_code == 0, result.output
    runtime_line = next(line for line in result.stdout.splitlines() if line.startswith("runtime: "))
    again = run("batch", forest_package, "--source", source, "--destination", workdir / "out.csv",
                "--id-column", "id", "--workers", "1", "-O", "json")  # the same spec: the same, finished job
    report = json.loads(again.stdout)
    assert runtime_line.startswith(f"runtime: {report['runtime']} (")
    assert report["runtime_choice"]


def test_formats_given_as_options_override_the_extensions(run, workdir, forest_package, rows):
    source = write_frame(rows(30), workdir / "in.data", fmt="csv")

    result = run("batch", forest_package, "-s", source, "-d", workdir / "out.txt", "--input-format", "csv",
                 "--output-format", "jsonl", "--id-column", "id", "-O", "json")

    assert result.exit_code == 0, result.output
    lines = (workdir / "out.txt").read_text().splitlines()
    assert len(lines) == 30 and set(json.loads(lines[0])) == {"id", "prediction"}


def test_an_unknown_extension_without_a_format_is_a_clear_error(run, workdir, forest_package, rows):
    source = write_frame(rows(5), workdir / "in.data", fmt="csv")

    result = run("batch", forest_package, "-s", source, "-d", workdir / "out.csv")

    assert result.exit_code == 2
    assert "cannot tell the input format" in result.stderr
    assert "Traceback" not in result.output


def test_a_missing_source_exits_not_found(run, workdir, forest_package):
    result = run("batch", forest_package, "-s", workdir / "nope.csv", "-d", workdir / "out.csv")

    assert result.exit_code == 4
    assert "no input files found" in result.stderr


def test_missing_arguments_are_named(run):
    result = run("batch", "--source", "in.csv")

    assert result.exit_code == 2
    assert "MODEL" in result.stderr and "--destination" in result.stderr


def test_status_reports_an_existing_job(run, workdir, forest_package, rows):
    source = write_frame(rows(50), workdir / "in.csv")
    first = json.loads(run("batch", forest_package, "-s", source, "-d", workdir / "out.csv", "--id-column", "id",
                           "-O", "json").stdout)

    result = run("batch", "--status", first["job_id"], "-O", "json")

    assert result.exit_code == 0
    assert json.loads(result.stdout)["state"] == "succeeded"


def test_a_failed_job_exits_with_the_provider_error_code(run, workdir, forest_package, rows):
    frame = rows(20).astype({"f0": object})
    frame.loc[:9, "f0"] = "bad"
    source = write_frame(frame, workdir / "in.csv")

    result = run("batch", forest_package, "-s", source, "-d", workdir / "out.csv", "--id-column", "id",
                 "--max-error-rate", "0.2")

    assert result.exit_code == 6
    assert "10 of 20 rows failed" in result.stderr


def test_no_wait_reports_a_started_job_that_runs_on_in_the_background(run, workdir, forest_package, rows):
    from cloudeploy.batch import job_handle

    source = write_frame(rows(300), workdir / "in.csv")

    result = run("batch", forest_package, "-s", source, "-d", workdir / "out.csv", "--id-column", "id",
                 "--no-wait", "-O", "json")

    report = json.loads(result.stdout)
    assert result.exit_code == 0 and report["state"] in ("pending", "running")
    assert job_handle(report["job_id"]).wait(timeout=120).state == "succeeded"


def test_carry_all_copies_every_input_column(run, workdir, regressor_package, rows):
    frame = rows(40)
    source = write_frame(frame, workdir / "in.csv")

    result = run("batch", regressor_package[0], "-s", source, "-d", workdir / "out.csv", "--carry-all", "-O", "json")

    assert result.exit_code == 0, result.output
    assert list(read_output(workdir / "out.csv").columns) == [*frame.columns, "prediction"]


def test_carry_star_is_the_same_as_carry_all(run, workdir, regressor_package, rows):
    source = write_frame(rows(40), workdir / "in.csv")

    star = json.loads(run("batch", regressor_package[0], "-s", source, "-d", workdir / "out.csv", "--carry", "*",
                          "-O", "json").stdout)
    flag = json.loads(run("batch", regressor_package[0], "-s", source, "-d", workdir / "out.csv", "--carry-all",
                          "-O", "json").stdout)

    assert star["job_id"] == flag["job_id"]


def test_carry_all_of_a_headerless_csv_is_a_clear_error(run, workdir, forest_package):
    source = workdir / "in.csv"
    source.write_text("0.1,0.2,0.3,0.4,0.5\n")

    result = run("batch", forest_package, "-s", source, "-d", workdir / "out.csv", "--carry-all")

    assert result.exit_code == 2
    assert "is data, not a header" in result.stderr and "Traceback" not in result.output
