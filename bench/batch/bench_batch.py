"""Batch prediction benchmark: the local engine vs the naive script vs in-process predict.

    .venv/bin/python bench/batch/bench_batch.py                # 1,000,000 rows x 30 features
    .venv/bin/python bench/batch/bench_batch.py --rows 200000  # a quicker look

Every contender runs in its own process, in the same run, on the same files,
with a 100-tree random forest:

- ``naive``: pandas ``read_csv`` / ``read_parquet``, ``predict``, ``to_csv`` / ``to_parquet``;
- ``engine-wN``: ``cloudeploy.batch_predict`` with N worker processes (a fresh job each time);
  the package holds the forest compiled to ONNX and its batch graph (the trees
  in cache-sized blocks), both verified at package time with both runtimes'
  batch speed; the engine scores with the graph when the original could not
  repay loading it, else it times both on a sample of the first chunk: the
  table's ``runtime`` column says which it chose and on what figures;
- ``in-process``: ``predict`` on the already loaded array (the load is not timed).

Two output shapes, each written by the naive script and by the engine:

- ``id + prediction``: the naive script writes ``frame[["id"]]`` plus the
  predictions; the engine runs with ``id_column="id"``;
- ``full rows``: the naive script appends the predictions to the frame and
  writes all of it (``frame["prediction"] = ...; frame.to_csv(...)``), which is
  what Vertex AI and SageMaker (``JoinSource=Input``) write by default; the
  engine runs with ``carry_columns="*"``.

After the runs the bench checks that, for each shape and format, the engine's
output equals the naive script's: the same columns and the same parsed values
(CSV float text may be formatted differently).

Wall time is measured around the process (so imports count for everybody
except in-process predict, which times the predict call alone); CPU time is
the process tree's user + system time; peak memory is the highest sum of PSS
(shared pages split between the processes sharing them) over the process and
its children, sampled every 20 ms in one extra, untimed run of each contender
(sampling costs the engine's two busy cores seconds; see
``MEMORY_SAMPLE_SECONDS``). ``--repeat N`` runs N interleaved timed rounds and
reports each contender's fastest, which is what survives a noisy machine.
Results are printed as a Markdown table; every round goes to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PYTHON = sys.executable


def make_data(workdir: Path, rows: int, features: int, trees: int, depth: int) -> dict[str, Path]:
    """The model package, the raw model file, and the CSV/Parquet inputs (cached in ``workdir``)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    paths = {
        "csv": workdir / f"input-{rows}x{features}.csv",
        "parquet": workdir / f"input-{rows}x{features}.parquet",
        "model": workdir / f"forest-{trees}x{features}-depth{depth}.joblib",
        "package": workdir / f"forest-{trees}x{features}-depth{depth}-compiled-package",
    }
    if not paths["model"].exists():
        import joblib
        from sklearn.ensemble import RandomForestClassifier

        rng = np.random.default_rng(0)
        train = rng.normal(size=(20_000, features))
        target = (train[:, 0] + train[:, 1] * train[:, 2] - train[:, 3] > 0).astype(int)
        model = RandomForestClassifier(n_estimators=trees, max_depth=depth, random_state=0).fit(train, target)
        joblib.dump(model, paths["model"])
    if paths["package"].exists() and not _has_batch_graph(paths["package"]):
        shutil.rmtree(paths["package"])  # built before packages recorded their batch graph and timings
    if not paths["package"].exists():
        from cloudeploy.packaging import build_package

        build_package(paths["model"], paths["package"], name="bench-forest", trust=True)
    if not paths["csv"].exists() or not paths["parquet"].exists():
        rng = np.random.default_rng(1)
        columns = {"id": pa.array([f"row-{i:08d}" for i in range(rows)])}
        for j in range(features):
            columns[f"x{j}"] = pa.array(rng.normal(size=rows))
        table = pa.table(columns)
        pacsv.write_csv(table, paths["csv"])
        pq.write_table(table, paths["parquet"], row_group_size=100_000)
    return paths


def _has_batch_graph(package: Path) -> bool:
    from cloudeploy.packaging.manifest import read_manifest

    return bool((read_manifest(package).compiled or {}).get("batch"))


SHAPES = {"ids": "id + prediction", "full": "full rows"}

NAIVE = """
import sys, joblib, pandas as pd
model = joblib.load(sys.argv[1])
fmt, source, destination, shape = sys.argv[2:6]
frame = pd.read_csv(source) if fmt == "csv" else pd.read_parquet(source)
out = frame[["id"]].copy() if shape == "ids" else frame
out["prediction"] = model.predict(frame.drop(columns=["id"]).to_numpy())
out.to_csv(destination, index=False) if fmt == "csv" else out.to_parquet(destination, index=False)
"""

ENGINE = """
import sys, cloudeploy
package, source, destination, workers, chunk_rows, shape = sys.argv[1:7]
options = {"chunk_rows": int(chunk_rows)} if chunk_rows != "-" else {}
carry = {"id_column": "id"} if shape == "ids" else {"carry_columns": "*"}
job = cloudeploy.batch_predict(package, source, destination, workers=int(workers), **carry, **options)
status = job.status()
assert status.state == "succeeded"
import json
print(json.dumps({"runtime": status.extra.get("runtime"), "choice": status.extra.get("runtime_choice")}))
"""

IN_PROCESS = """
import sys, time, joblib, pyarrow.parquet as pq
model = joblib.load(sys.argv[1])
features = pq.read_table(sys.argv[2]).drop(["id"]).to_pandas().to_numpy()
started, cpu_started = time.perf_counter(), time.process_time()
model.predict(features)
print(time.perf_counter() - started, time.process_time() - cpu_started)
"""


def tree_memory(pid: int) -> int:
    """Proportional set size (PSS) of ``pid`` and all its descendants, in bytes.

    PSS splits pages shared between processes (the model and libraries a
    forked worker shares with its parent) among them, so the sum is what the
    process tree really occupies; a sum of RSS would count shared pages once
    per process.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup") as handle:
                for line in handle:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            pass
        stack.extend(children.get(current, []))
    return total


#: Seconds between two memory samples in a memory round. One sample reads the
#: PSS of every process of the tree, which makes the kernel walk their page
#: tables: ~24 ms of CPU per sample during an engine run. Sampling while timing
#: added 2.3–3.4 s to an engine run of ~7.7–8.4 s (runner and two workers on both
#: cores: the sampler took CPU from them) and little to the one-core naive
#: script, so timed rounds sample nothing and memory has rounds of its own.
MEMORY_SAMPLE_SECONDS = 0.02


def measure(argv: list[str], env: dict[str, str] | None = None,
            sample_seconds: float | None = None) -> dict[str, float | str]:
    """Run ``argv``: wall seconds, CPU seconds of the process tree, stdout, and with
    ``sample_seconds`` the peak tree PSS in MiB sampled that often (else 0)."""
    import resource

    peak = 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, env=env, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_memory(process.pid))
            time.sleep(sample_seconds)

    sampler = threading.Thread(target=sample, daemon=True)
    if sample_seconds is not None:
        sampler.start()
    stdout, _ = process.communicate()
    elapsed = time.perf_counter() - started
    done.set()
    if sample_seconds is not None:
        sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode:
        raise SystemExit(f"{argv[:3]} failed with exit code {process.returncode}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": elapsed, "cpu_seconds": cpu, "peak_mib": peak / 2**20, "stdout": stdout.strip()}


def formats(args) -> list[str]:
    return [args.only] if args.only else ["csv", "parquet"]


def shapes(args) -> list[str]:
    return [s for s in args.shapes.split(",") if s]


def naive_name(fmt: str, shape: str) -> str:
    return f"{fmt}, {SHAPES[shape]}: naive script"


def engine_name(fmt: str, shape: str, workers: int) -> str:
    return f"{fmt}, {SHAPES[shape]}: engine, {workers} worker(s)"


def output_path(args, who: str, fmt: str, shape: str, workers: int = 0) -> Path:
    suffix = f"-w{workers}" if workers else ""
    return args.workdir / f"{who}-out-{shape}{suffix}.{fmt}"


def contenders(args, paths) -> dict[str, tuple[list[str], dict[str, str] | None]]:
    """Name -> (argv, environment) of every run, in the order of one round."""
    runs: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "in-process predict": ([PYTHON, "-c", IN_PROCESS, str(paths["model"]), str(paths["parquet"])], None),
    }
    for fmt in formats(args):
        source = str(paths[fmt])
        for shape in shapes(args):
            naive_out = output_path(args, "naive", fmt, shape)
            runs[naive_name(fmt, shape)] = (
                [PYTHON, "-c", NAIVE, str(paths["model"]), fmt, source, str(naive_out), shape], None
            )
            for workers in [int(w) for w in args.workers.split(",")]:
                env = {**os.environ, "CLOUDEPLOY_HOME": str(args.workdir / "home")}
                argv = [PYTHON, "-c", ENGINE, str(paths["package"]), source,
                        str(output_path(args, "engine", fmt, shape, workers)), str(workers),
                        str(args.chunk_rows or "-"), shape]
                runs[engine_name(fmt, shape, workers)] = (argv, env)
    return runs


def read_output(path: Path):
    """An output file as a pyarrow table, CSV values parsed to their types."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if path.suffix == ".csv":
        return pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types={"id": "string"}))
    return pq.read_table(path)


def check_outputs(args) -> list[str]:
    """Compare every engine output with the naive script's of the same format and shape; return the mismatches."""
    import pyarrow.compute as pc

    problems = []
    for fmt in formats(args):
        for shape in shapes(args):
            naive = read_output(output_path(args, "naive", fmt, shape))
            for workers in [int(w) for w in args.workers.split(",")]:
                name = engine_name(fmt, shape, workers)
                engine = read_output(output_path(args, "engine", fmt, shape, workers))
                if engine.column_names != naive.column_names:
                    problems.append(f"{name}: columns {engine.column_names[:4]}... != {naive.column_names[:4]}...")
                    continue
                if engine.num_rows != naive.num_rows:
                    problems.append(f"{name}: {engine.num_rows} rows != {naive.num_rows}")
                    continue
                for column in naive.column_names:
                    expected, got = naive[column], engine[column].cast(naive[column].type)
                    if expected.null_count != got.null_count or not pc.all(pc.equal(expected, got)).as_py():
                        problems.append(f"{name}: column {column} differs from the naive script's")
                        break
            del naive
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=30)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=12, help="of the forest's trees (12: ~1000 nodes each)")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "cloudeploy-bench-batch")
    parser.add_argument("--workers", default="1,2", help="engine worker counts to run, comma separated")
    parser.add_argument("--chunk-rows", type=int, default=None, help="engine chunk size (default: the engine's)")
    parser.add_argument("--only", choices=["csv", "parquet"], default=None, help="run one input format")
    parser.add_argument("--shapes", default="ids,full",
                        help="output shapes to run, comma separated: ids (id + prediction), full (full rows)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds; each run's fastest round is reported")
    parser.add_argument("--json", type=Path, default=None, help="where every round goes (default: WORKDIR/results.json)")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    args.json = args.json or args.workdir / "results.json"
    paths = make_data(args.workdir, args.rows, args.features, args.trees, args.max_depth)
    runs = contenders(args, paths)
    rounds: dict[str, list[dict]] = {name: [] for name in runs}
    # Rounds interleave the contenders so that a noisy neighbour hurts them all alike.
    for _ in range(args.repeat):
        for name, (argv, env) in runs.items():
            shutil.rmtree(args.workdir / "home", ignore_errors=True)  # a fresh job, never a resumed one
            result = measure(argv, env)
            if name == "in-process predict":  # the predict call alone, timed inside
                result["seconds"], result["cpu_seconds"] = map(float, str(result["stdout"]).split())
            elif ": engine" in name:  # the runtime the job chose, and what it measured
                result.update(json.loads(str(result["stdout"]).splitlines()[-1]))
            rounds[name].append(result)
            print(f"{name}: {result['seconds']:.1f} s", file=sys.stderr)
    peaks: dict[str, float] = {}
    for name, (argv, env) in runs.items():  # memory rounds: sampled, not timed
        shutil.rmtree(args.workdir / "home", ignore_errors=True)
        peaks[name] = float(measure(argv, env, MEMORY_SAMPLE_SECONDS)["peak_mib"])
        print(f"{name}: peak {peaks[name]:.0f} MiB", file=sys.stderr)
    best = {name: {**min(results, key=lambda r: r["seconds"]), "peak_mib": peaks[name]}
            for name, results in rounds.items()}
    problems = check_outputs(args)
    targets = report(args, best, problems)
    args.json.write_text(json.dumps({"rows": args.rows, "features": args.features, "trees": args.trees,
                                     "max_depth": args.max_depth, "cores": os.cpu_count(),
                                     "outputs_equal": not problems, "output_problems": problems,
                                     "targets": targets, "rounds": rounds, "peak_mib": peaks}, indent=1))
    if problems:
        raise SystemExit("the engine's output differs from the naive script's:\n" + "\n".join(problems))


def _runtime_cell(result: dict) -> str:
    runtime = result.get("runtime")
    if not runtime:
        return "–"
    choice = result.get("choice") or {}
    measured = choice.get("cpu_seconds_per_million_rows") or {}
    if measured:  # both raced on the job's first chunk
        return f"{runtime} (job: {measured.get('onnx', 0):.1f} / {measured.get('sklearn', 0):.1f})"
    recorded = choice.get("package_time_cpu_seconds_per_million_rows") or {}
    if recorded:  # settled by the package's build timings; the original never loaded
        return f"{runtime} (package: {recorded.get('onnx', 0):.1f} / {recorded.get('original', 0):.1f})"
    return runtime


def report(args, best: dict[str, dict], problems: list[str]) -> list[dict]:
    """Print the table and the targets; return the targets as records."""
    predict_rate = args.rows / best["in-process predict"]["seconds"]
    print(f"\n{args.rows:,} rows x {args.features} features, {args.trees}-tree forest (max_depth {args.max_depth}), "
          f"{os.cpu_count()} cores, "
          f"fastest of {args.repeat} round(s)\n")
    print("| run | wall s | CPU s (all processes) | rows/s | share of in-process predict throughput | peak MiB (PSS) "
          "| runtime (CPU s per 1M rows, onnx / original, measured by the job or at package time) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, result in best.items():
        rate = args.rows / result["seconds"]
        print(f"| {name} | {result['seconds']:.1f} | {result['cpu_seconds']:.1f} | {rate:,.0f} | {rate / predict_rate:.0%} | "
              f"{result['peak_mib']:.0f} | {_runtime_cell(result)} |")
    targets = []
    for fmt in formats(args):
        for shape in shapes(args):
            engines = {k: v for k, v in best.items() if k.startswith(f"{fmt}, {SHAPES[shape]}: engine")}
            fastest = min(engines.values(), key=lambda r: r["seconds"])
            if fmt == "csv":
                value = best[naive_name(fmt, shape)]["seconds"] / fastest["seconds"]
                targets.append({"target": f"CSV, {SHAPES[shape]}: engine >= 2x faster than the naive script",
                                "value": f"{value:.2f}x", "met": value >= 2.0})
            else:
                value = (args.rows / fastest["seconds"]) / predict_rate
                targets.append({"target": f"Parquet, {SHAPES[shape]}: engine >= 120% of in-process predict throughput",
                                "value": f"{value:.0%}", "met": value >= 1.2})
    peak = max(v["peak_mib"] for k, v in best.items() if ": engine" in k)
    targets.append({"target": "engine peak memory < 1 GiB (PSS, all processes)", "value": f"{peak:.0f} MiB",
                    "met": peak < 1024})
    targets.append({"target": "engine output equals the naive script's (columns and parsed values)",
                    "value": "equal" if not problems else f"{len(problems)} mismatch(es)", "met": not problems})
    print("\n| target | this run | met |\n|---|---:|:---:|")
    for target in targets:
        print(f"| {target['target']} | {target['value']} | {'yes' if target['met'] else 'no'} |")
    return targets


if __name__ == "__main__":
    main()
