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
