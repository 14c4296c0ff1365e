"""BatchSpec: formats from extensions, refusal of bad specs, errors file naming."""

from __future__ import annotations

import pytest

from cloudeploy.batch.spec import BatchSpec, errors_uri
from cloudeploy.errors import ValidationError


@pytest.mark.parametrize(
    ("uri", "expected"),
    [("data.csv", "csv"), ("gs://b/x/*.jsonl", "jsonl"), ("s3://b/rows.parquet", "parquet"), ("d.ndjson", "jsonl")],
)
def test_formats_default_from_the_extensions(uri, expected):
    spec = BatchSpec(model="m", source=uri, destination=uri)

    assert (spec.input_format, spec.output_format) == (expected, expected)


def test_an_explicit_format_wins_over_the_extension():
    spec = BatchSpec(model="m", source="a.csv", destination="b.csv", output_format="parquet")

    assert spec.output_format == "parquet"


def test_an_unknown_format_is_refused_naming_the_known_ones():
    with pytest.raises(ValidationError, match="unknown output format 'xml'.*csv, jsonl, parquet"):
        BatchSpec(model="m", source="a.csv", destination="b.xml", output_format="xml")


def test_carrying_the_prediction_column_is_refused():
    with pytest.raises(ValidationError, match="prediction"):
        BatchSpec(model="m", source="a.csv", destination="b.csv", carry_columns=("id", "prediction"))


def test_a_column_carried_twice_is_refused():
    with pytest.raises(ValidationError, match="twice: id"):
        BatchSpec(model="m", source="a.csv", destination="b.csv", carry_columns=("id", "id"))


@pytest.mark.parametrize("rate", [-0.1, 1.5, True])
def test_max_error_rate_must_be_a_fraction(rate):
    with pytest.raises(ValidationError, match="max_error_rate"):
        BatchSpec(model="m", source="a.csv", destination="b.csv", max_error_rate=rate)


def test_max_replicas_below_replicas_is_refused():
    with pytest.raises(ValidationError, match="max_replica_count"):
        BatchSpec(model="m", source="a.csv", destination="b.csv", replica_count=3, max_replica_count=2)


def test_output_columns_are_the_carried_columns_then_prediction():
    spec = BatchSpec(model="m", source="a.csv", destination="b.csv", carry_columns=("id", "region"))

    assert spec.output_columns == ["id", "region", "prediction"]


def test_a_spec_survives_a_round_trip_through_a_dict():
    spec = BatchSpec(model="m@v2", source="a.csv", destination="b.parquet", carry_columns=("id",),
                     features=("a", "b"), job_id="nightly-1")

    assert BatchSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("destination", "expected"),
    [("out/preds.csv", "out/preds.errors.jsonl"), ("gs://b/p/preds.parquet", "gs://b/p/preds.errors.jsonl"),
     ("preds.jsonl", "preds.errors.jsonl")],
)
def test_the_errors_file_sits_beside_the_destination(destination, expected):
    assert errors_uri(destination) == expected


# -- carry_columns "*" --------------------------------------------------------


def _resolved(source, fmt=None, carry=("*",)):
    from cloudeploy.batch.plan import SourceFiles, resolve_carry

    spec = BatchSpec(model="m", source=str(source), destination="out.csv", input_format=fmt, carry_columns=carry)
    return resolve_carry(spec, SourceFiles.of(str(source))).carry_columns


def test_carry_all_is_kept_until_the_input_is_read():
    spec = BatchSpec(model="m", source="a.csv", destination="b.csv", carry_columns="*")

    assert spec.carries_all and spec.carry_columns == ("*",)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_carry_all_becomes_every_input_column_in_input_order(tmp_path, rows, fmt):
    from tests.batch.helpers import write_frame

    frame = rows(5)[["f3", "id", "f0"]]

    assert _resolved(write_frame(frame, tmp_path / f"in.{fmt}")) == ("f3", "id", "f0")


def test_columns_named_besides_carry_all_keep_their_place(tmp_path, rows):
    from tests.batch.helpers import write_frame

    source = write_frame(rows(5)[["f1", "f0", "id"]], tmp_path / "in.csv")

    assert _resolved(source, carry=("id", "*")) == ("id", "f1", "f0")


def test_carry_all_without_a_csv_header_is_refused(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("0.5,1.25,3\n0.1,0.2,0.3\n")

    with pytest.raises(ValidationError, match="first line of .*in.csv is data, not a header") as raised:
        _resolved(source)
    assert "header" in raised.value.hint


def test_carry_all_of_an_empty_file_is_refused(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("")

    with pytest.raises(ValidationError, match="has no header"):
        _resolved(source)


def test_carry_all_of_json_lines_without_objects_is_refused(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("[1, 2, 3]\n")

    with pytest.raises(ValidationError, match="has no header"):
        _resolved(source)


def test_carry_all_refuses_an_input_column_named_prediction(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("id,prediction\na,1\n")

    with pytest.raises(ValidationError, match="column named 'prediction'"):
        _resolved(source)


def test_carry_all_refuses_an_unnamed_column(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(",id,f0\n0,a,1\n")

    with pytest.raises(ValidationError, match=r"leaves column\(s\) 1 unnamed"):
        _resolved(source)


class _CountingStore:
    """An in-memory object store that counts the bytes it serves."""

    def __init__(self, scheme: str, objects: dict[str, bytes]) -> None:
        from cloudeploy.batch.remote import ObjectStore

        self.served = 0
        self.objects = objects
        store = self

        class Store(ObjectStore):
            def read_range(self, uri, start, length):
                data = store.objects[uri][start:start + length]
                store.served += len(data)
                return data

        self.store = Store(scheme, client=None)

    def source(self):
        from cloudeploy.batch.plan import SourceFiles
        from cloudeploy.batch.remote import RemoteObject

        items = [RemoteObject(uri, len(body), "1") for uri, body in sorted(self.objects.items())]
        return SourceFiles([], [], items, self.store)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_carry_all_of_a_cloud_input_reads_only_its_header_or_footer(tmp_path, rows, fmt):
    from cloudeploy.batch.plan import resolve_carry
    from tests.batch.helpers import write_frame

    body = tmp_path / f"in.{fmt}"
    write_frame(rows(20_000), body)
    store = _CountingStore("s3", {f"s3://b/in.{fmt}": body.read_bytes()})
    spec = BatchSpec(model="m", source=f"s3://b/in.{fmt}", destination="out.csv", carry_columns="*")

    resolved = resolve_carry(spec, store.source())

    assert resolved.carry_columns == ("id", "f0", "f1", "f2", "f3", "f4")
    assert store.served < body.stat().st_size / 4


def test_carry_all_of_an_s3_input_reads_the_header_from_the_bucket(sagemaker_emulator, workdir, monkeypatch, rows):
    for key, value in sagemaker_emulator.environment().items():
        monkeypatch.setenv(key, value)
    client = sagemaker_emulator.client("s3")
    client.create_bucket(Bucket="carry-all")
    client.put_object(Bucket="carry-all", Key="in/rows.csv", Body=rows(30)[["id", "f2", "f1"]].to_csv(index=False).encode())

    assert _resolved("s3://carry-all/in/*.csv") == ("id", "f2", "f1")


def test_carry_all_of_a_gcs_input_reads_the_schema_from_the_bucket(vertex_emulator, workdir, monkeypatch, rows):
    import io as bytes_io

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", vertex_emulator.storage_endpoint)
    vertex_emulator.profile_settings(bucket="carry-all")
    body = bytes_io.BytesIO()
    rows(30)[["f4", "id"]].to_parquet(body, index=False)
    client = storage.Client(project=vertex_emulator.project, credentials=AnonymousCredentials())
    client.bucket("carry-all").blob("in/rows.parquet").upload_from_string(body.getvalue())

    assert _resolved("gs://carry-all/in/rows.parquet") == ("f4", "id")


@pytest.mark.parametrize("provider", ["vertex", "sagemaker"])
def test_cloud_runners_receive_the_carried_columns_by_name(tmp_path, monkeypatch, rows, provider):
    import importlib

    import cloudeploy.batch.api
    import cloudeploy.batch.cloudjob
    from cloudeploy.batch.api import submit
    from cloudeploy.config import Profile
    from cloudeploy.providers.base import Provider
    from tests.batch.helpers import write_frame

    class Registered(Exception):
        pass

    received = []

    def registered_version(spec, *_):
        received.append(spec)
        raise Registered

    module = importlib.import_module(f"cloudeploy.providers.{provider}.batch")
    backend_class = getattr(module, {"vertex": "VertexBatch", "sagemaker": "SageMakerBatch"}[provider])
    # A provider offering only the cloud's batch backend (the cloud is never called).
    stubs = {name: None for name in Provider.__abstractmethods__}
    fake = type("Fake", (Provider,), {**stubs, "name": provider,
                                            "batch_backend": lambda self: backend_class(self)})(
        Profile(name="fake", provider=provider))
    monkeypatch.setattr(cloudeploy.batch.api, "resolve_provider", lambda *_: fake)
    monkeypatch.setattr(cloudeploy.batch.cloudjob, "registered_version", registered_version)
    source = write_frame(rows(5)[["id", "f1", "f0"]], tmp_path / "in.csv")

    with pytest.raises(Registered):
        submit(BatchSpec(model="m", source=source, destination="gs://b/out.csv", carry_columns="*"))

    assert received[0].carry_columns == ("id", "f1", "f0")
