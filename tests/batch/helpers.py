"""Helpers for the batch tests: input files, outputs read back, in-process predictions."""

from __future__ import annotations

N_FEATURES = 5
FEATURES = [f"f{i}" for i in range(N_FEATURES)]


def write_frame(frame, path, fmt: str | None = None) -> str:
    """Write ``frame`` as CSV (with a header), JSON Lines or Parquet, chosen by extension."""
    fmt = fmt or str(path).rsplit(".", 1)[-1]
    if fmt == "csv":
        frame.to_csv(path, index=False)
    elif fmt == "jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=400)
    return str(path)


def expected_predictions(package_dir, frame, job=None) -> list:
    """What the package's model predicts in process for ``frame``'s features
    (with the runtime ``job`` chose, when given: float outputs differ in the last digits)."""
    from cloudeploy.packaging import load_package

    model = load_package(package_dir, runtime=job.status().extra.get("runtime") if job is not None else None)
    if model.schema.named:
        return model.predict(frame[FEATURES])
    return model.predict(frame[FEATURES].to_numpy(dtype=float))


def read_output(path):
    """A job's output as a DataFrame, ids as text."""
    import pandas as pd

    path = str(path)
    if path.endswith(".csv"):
        return pd.read_csv(path, dtype={"id": str})
    if path.endswith(".jsonl"):
        return pd.read_json(path, lines=True, dtype={"id": str})
    return pd.read_parquet(path)


def submit_here_follow_elsewhere(provider, package_dir, folder, monkeypatch):
    """Submit a cloud job from one runner's home (not waiting), then follow it by id from an empty one.

    Returns ``(frame, handle followed from the second runner, its final status)``; the
    output is written where the spec says (``folder/out.parquet``).
    """
    import numpy as np
    import pandas as pd

    from cloudeploy import batch_predict
    from cloudeploy.batch.api import job_handle

    rng = np.random.default_rng(11)
    frame = pd.DataFrame(rng.normal(size=(40, N_FEATURES)), columns=FEATURES)
    frame.insert(0, "id", [f"id-{i}" for i in range(40)])
    frame = frame.astype({"f2": object})
    frame.loc[7, "f2"] = "not a number"
    source = write_frame(frame, folder / "in.csv")
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(folder / "first-runner"))
    submitted = batch_predict(package_dir, source, str(folder / "out.parquet"), id_column="id",
                              provider=provider, wait=False)
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(folder / "second-runner"))
    followed = job_handle(submitted.job_id, provider=provider)
    return frame, followed, followed.wait(300)


def assert_finished_by_the_second_runner(frame, followed, status, *, folder, package_dir) -> None:
    """What :func:`submit_here_follow_elsewhere` must give: the job ended on the second runner,
    its output holds the good rows' ids in input order with the model's predictions, and the
    refused row (input row 8) is reported with its id."""
    import numpy as np

    assert status.state == "succeeded"
    assert str(folder / "second-runner") in status.extra["job_dir"]
    output = read_output(folder / "out.parquet")
    good = frame.drop(index=7)
    assert output["id"].tolist() == good["id"].tolist()
    np.testing.assert_allclose(output["prediction"].to_numpy(dtype=float),
                               expected_predictions(package_dir, good.astype({"f2": float}), followed))
    assert [e["row"] for e in followed.errors()] == [8] and followed.errors()[0]["id"] == "id-7"
