"""The CI/CD pipeline that examples/ci/github-actions.yml runs: train, package, deploy, promote, report.

Each step is a subcommand, so a workflow can run them as separate steps (and a
failed step says which); ``all`` runs them in order. Everything goes through the
``cloudeploy`` CLI, as a pipeline would call it, against the profile ``--profile``
(``staging`` in the workflow; the test points it at the SageMaker emulation).

    python examples/ci/pipeline.py train   --workdir build
    python examples/ci/pipeline.py package --workdir build
    python examples/ci/pipeline.py deploy  --workdir build --profile staging --endpoint house-price
    python examples/ci/pipeline.py promote --workdir build --profile staging --endpoint house-price
    python examples/ci/pipeline.py report  --workdir build --profile staging --endpoint house-price

- ``train``: fits a model on the (here synthetic) training data; writes
  ``model.joblib``, ``train.csv`` and ``requests.csv`` (rows to send as traffic).
- ``package``: ``cloudeploy package`` with the training data as baseline (skew
  statistics, novelty detector and training attributions go into the package).
- ``deploy``: ``cloudeploy monitor configure`` on the endpoint when it exists
  (capture on, so the gates can see traffic), then ``cloudeploy deploy`` of the
  package at 0% traffic; the first version of a new endpoint takes 100% and
  there is nothing to promote. Writes ``deployed.json`` (the new version).
- ``promote``: ``cloudeploy promote`` to the new version, step by step, with the
  error-rate and latency gates, the drift gate (Vertex AI's statistics, 0.3 per
  feature: the ``sensitive`` preset's Wasserstein at 0.1 flagged a step's few
  hundred rows of unshifted traffic at 0.101; the monitoring reports use it) and the
  outlier gate, while a background thread sends ``requests.csv`` as traffic (in
  a real staging environment, its users do). Exit 3 = rolled back.
- ``report``: ``cloudeploy monitor report``: the HTML page and its JSON, which the
  workflow uploads as an artifact.

Exit status: the failing ``cloudeploy`` command's, so CI stops at the right step.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

FEATURES = ["sqft", "rooms", "age", "distance"]


def cloudeploy(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the cloudeploy CLI (the one installed with this Python), echoing the command."""
    command = [sys.executable, "-m", "cloudeploy.cli", *args]
    print("+ cloudeploy " + " ".join(args), flush=True)
    answer = subprocess.run(command, text=True, capture_output=True)
    sys.stdout.write(answer.stdout)
    sys.stderr.write(answer.stderr)
    if check and answer.returncode != 0:
        raise SystemExit(answer.returncode)
    return answer


def rows(count: int, seed: int) -> list[list[float]]:
    import numpy as np

    rng = np.random.default_rng(seed)
    return np.column_stack([
        rng.normal(120, 30, count), rng.integers(1, 7, count), rng.exponential(20, count), rng.gamma(2, 3, count),
    ]).round(3).tolist()


def train(workdir: Path, seed: int) -> None:
    import joblib
    import numpy as np
    from sklearn.ensemble import GradientBoostingRegressor

    workdir.mkdir(parents=True, exist_ok=True)
    X = np.array(rows(3000, seed))
    y = 2500 * X[:, 0] + 8000 * X[:, 1] - 900 * X[:, 2] - 3000 * X[:, 3]
    model = GradientBoostingRegressor(n_estimators=50, max_depth=3, random_state=seed).fit(X, y)
    joblib.dump(model, workdir / "model.joblib")
    for name, data in (("train.csv", X.tolist()), ("requests.csv", rows(3000, seed + 1))):
        with (workdir / name).open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(FEATURES)
            writer.writerows(data)
    print(f"trained {type(model).__name__} on {len(X)} rows -> {workdir / 'model.joblib'}")


def package(workdir: Path) -> None:
    # --trust: this job trained model.joblib itself one step earlier. cloudeploy then opens it in
    # this process (an untrusted file is only ever opened in a sandbox), which also lets it
    # record the training attributions for attribution-drift monitoring.
    cloudeploy("package", str(workdir / "model.joblib"), "-o", str(workdir / "package"), "--overwrite",
               "--name", "house-price", "--feature-names", ",".join(FEATURES),
               "--baseline", str(workdir / "train.csv"), "--trust")


def _endpoint_exists(endpoint: str, profile: str) -> bool:
    answer = cloudeploy("endpoints", "show", endpoint, "--profile", profile, "--output", "json", check=False)
    return answer.returncode == 0


def deploy(workdir: Path, endpoint: str, profile: str) -> None:
    existed = _endpoint_exists(endpoint, profile)
    if existed:
        cloudeploy("monitor", "configure", endpoint, "--profile", profile, "--preset", "sensitive")
    answer = cloudeploy("deploy", str(workdir / "package"), "--name", endpoint, "--profile", profile,
                        *([] if not existed else ["--traffic", "0"]), "--output", "json")
    deployed = json.loads(answer.stdout)
    version = deployed.get("version") or deployed.get("model_version", {}).get("version")
    if not existed:  # the first version serves everything; capture on for the next rollout
        cloudeploy("monitor", "configure", endpoint, "--profile", profile, "--preset", "sensitive")
    (workdir / "deployed.json").write_text(json.dumps({"endpoint": endpoint, "version": version,
                                                       "first": not existed}))
    print(f"deployed {endpoint} {version}{' (first version: serves 100%)' if not existed else ' at 0%'}")


def _traffic(endpoint: str, profile: str, workdir: Path, stop: threading.Event) -> None:
    """Send requests.csv in batches until ``stop``: the traffic the gates judge."""
    from cloudeploy.api import resolve_provider

    provider = resolve_provider(None, profile)
    with (workdir / "requests.csv").open() as handle:
        reader = csv.reader(handle)
        next(reader)
        data = [[float(v) for v in row] for row in reader]
    while not stop.is_set():
        for start in range(0, len(data), 20):
            if stop.is_set():
                return
            try:
                provider.predict(endpoint, data[start:start + 20])
            except Exception as error:  # noqa: BLE001 - traffic is best effort; the gates judge errors
                print(f"traffic: {type(error).__name__}: {error}", file=sys.stderr)
                time.sleep(0.2)


def promote(workdir: Path, endpoint: str, profile: str, bake: str, steps: str) -> None:
    deployed = json.loads((workdir / "deployed.json").read_text())
    if deployed["first"]:
        print(f"{endpoint} has a single version ({deployed['version']}): nothing to promote")
        return
    stop = threading.Event()
    sender = threading.Thread(target=_traffic, args=(endpoint, profile, workdir, stop), daemon=True)
    sender.start()
    try:
        answer = cloudeploy(
            "promote", endpoint, "--to", deployed["version"], "--steps", steps, "--bake", bake,
            "--min-requests", "20", "--max-error-rate", "1%", "--max-p99-ms", "2000",
            "--gate", "drift:max=0.3,min_rows=30", "--gate", "outliers:max=0.1,min_rows=30",
            "--profile", profile, "--output", "json", check=False)
    finally:
        stop.set()
        sender.join(timeout=30)
    (workdir / "promote.json").write_text(answer.stdout)
    if answer.returncode != 0:
        raise SystemExit(answer.returncode)


def report(workdir: Path, endpoint: str, profile: str, window: str) -> None:
    cloudeploy("monitor", "report", endpoint, "--profile", profile, "--window", window, "--windows", "3",
               "-o", str(workdir / "report" / "report.html"), "--output", "json")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=["train", "package", "deploy", "promote", "report", "all"])
    parser.add_argument("--workdir", type=Path, default=Path("build"))
    parser.add_argument("--endpoint", default="house-price")
    parser.add_argument("--profile", default=os.environ.get("CLOUDEPLOY_PROFILE", "staging"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bake", default="10m", help="bake time per rollout step")
    parser.add_argument("--steps", default="10,50,100")
    parser.add_argument("--window", default="1h", help="window the report scores")
    args = parser.parse_args(argv)
    steps = ["train", "package", "deploy", "promote", "report"] if args.step == "all" else [args.step]
    for step in steps:
        print(f"== {step}", flush=True)
        if step == "train":
            train(args.workdir, args.seed)
        elif step == "package":
            package(args.workdir)
        elif step == "deploy":
            deploy(args.workdir, args.endpoint, args.profile)
        elif step == "promote":
            promote(args.workdir, args.endpoint, args.profile, args.bake, args.steps)
        else:
            report(args.workdir, args.endpoint, args.profile, args.window)
    return 0


if __name__ == "__main__":
    sys.exit(main())
