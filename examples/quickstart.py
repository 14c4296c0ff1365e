"""cloudeploy quickstart: from a notebook model to a canary and back, on this machine.

Runs on the local provider (no cloud account): trains a scikit-learn Pipeline on
the breast-cancer data that scikit-learn ships, deploys it, predicts over HTTP,
deploys a second version as a 10% canary, shows the split it observes, promotes
the canary step by step behind error-rate and latency gates, rolls back, scores a CSV file with a batch job, and writes a drift report
for shifted traffic.

    python examples/quickstart.py          # cleans up its endpoint at the end
    python examples/quickstart.py --keep   # leave it running (cloudeploy status)
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
from rich.console import Console
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import cloudeploy
from cloudeploy.monitoring import write_report

ENDPOINT = "breast-cancer"
console = Console()


def step(number: int, title: str) -> None:
    console.rule(f"[bold]{number}. {title}")


def observed_split(url: str, rows: list[dict], n: int = 400) -> dict[str, float]:
    counts: collections.Counter[str] = collections.Counter()
    with httpx.Client(timeout=30) as client:
        for i in range(n):
            answer = client.post(f"{url}/predict", json={"instances": [rows[i % len(rows)]]})
            answer.raise_for_status()
            counts[answer.headers["x-cloudeploy-version"]] += 1
    return {version: round(100 * count / n, 1) for version, count in sorted(counts.items())}


class BackgroundTraffic:
    """Steady requests from one thread while a promotion bakes (its gates need traffic)."""

    def __init__(self, url: str, rows: list[dict], max_requests: int = 5000) -> None:
        self.url, self.rows, self.max_requests = url, rows, max_requests
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=30) as client:
            for i in range(self.max_requests):
                if self.stop.is_set():
                    return
                client.post(f"{self.url}/predict", json={"instances": [self.rows[i % len(self.rows)]]})
                time.sleep(0.01)

    def __enter__(self) -> BackgroundTraffic:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        self.thread.join()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the endpoint running at the end")
    args = parser.parse_args()
    os.environ.setdefault("CLOUDEPLOY_HOME", ".cloudeploy")
    started = time.monotonic()

    step(1, "train a Pipeline on scikit-learn's breast-cancer data")
    X, y = load_breast_cancer(return_X_y=True, as_frame=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
    v1_model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X_train, y_train)
    console.print(f"v1 (scaler + logistic regression) test accuracy: {v1_model.score(X_test, y_test):.3f}")

    step(2, "deploy it locally")
    progress = lambda message: console.print(f"[dim]  … {message}[/dim]")  # noqa: E731
    # baseline=: training statistics stored in the package, for skew monitoring.
    deployment = cloudeploy.deploy(v1_model, name=ENDPOINT, baseline=X_train, progress=progress)
    console.print(f"endpoint [bold]{ENDPOINT}[/bold] serves {deployment.version} at {deployment.url}")

    step(3, "predict over HTTP")
    rows = X_test.head(5).to_dict(orient="records")
    answer = httpx.post(f"{deployment.url}/predict", json={"instances": rows}, timeout=30)
    answer.raise_for_status()
    served = answer.json()["predictions"]
    local = v1_model.predict(X_test.head(5)).tolist()
    console.print(f"served by {answer.headers['x-cloudeploy-version']}: {served}")
    console.print(f"in-process predict:     {local}  ->  {'identical' if served == local else 'DIFFERENT'}")
    if served != local:
        return 1

    step(4, "deploy v2 as a 10% canary")
    v2_model = RandomForestClassifier(n_estimators=50, random_state=0).fit(X_train, y_train)
    console.print(f"v2 (random forest) test accuracy: {v2_model.score(X_test, y_test):.3f}")
    canary = cloudeploy.deploy(v2_model, name=ENDPOINT, traffic=10, baseline=X_train, progress=progress)
    console.print(f"configured split: {canary.status().traffic.to_dict()}")
    all_rows = X_test.to_dict(orient="records")
    console.print(f"observed split over 400 requests: {observed_split(deployment.url, all_rows)}")

    step(5, "promote v2 step by step (25% -> 50% -> 100%) with error-rate and latency gates")
    plan = cloudeploy.RolloutPlan(steps=(25, 50, 100), bake_s="2s", min_requests=20,
                                  max_error_rate=0.01, max_p99_ms=500)
    with BackgroundTraffic(deployment.url, all_rows):
        result = cloudeploy.promote(ENDPOINT, canary.version, plan=plan)
    for decision in result.decisions:
        gates = "; ".join(f"{g['gate']} {g['value']:.3g} (max {g['threshold']:g})"
                          for g in decision.gates if g["value"] is not None)
        console.print(f"  {decision.action:>9} at {decision.percent:>3}%: {decision.reason}"
                      + (f"  [dim]{gates}[/dim]" if gates else ""))
    console.print(f"outcome: [bold]{result.outcome}[/bold], split {result.traffic}")
    console.print(f"observed over 400 requests: {observed_split(deployment.url, all_rows)}")

    step(6, "roll back to the split before the promotion")
    status = cloudeploy.rollback(ENDPOINT)
    console.print(f"split: {status.traffic.to_dict()}")

    step(7, "batch prediction over a CSV file")
    workdir = Path(os.environ["CLOUDEPLOY_HOME"]) / "quickstart"
    workdir.mkdir(parents=True, exist_ok=True)
    source = workdir / "patients.csv"
    X_test.assign(patient_id=[f"p{i:04d}" for i in range(len(X_test))]).to_csv(source, index=False)
    job = cloudeploy.batch_predict(f"{ENDPOINT}@v1", source, workdir / "scored.csv", id_column="patient_id",
                                   progress=progress)
    status = job.status()
    scored = pd.read_csv(workdir / "scored.csv")
    same = scored["prediction"].tolist() == v1_model.predict(X_test).tolist()
    console.print(f"job {status.state}: {status.rows} rows, {status.failed_rows} failed -> {workdir / 'scored.csv'}")
    console.print(f"batch predictions {'identical to' if same else 'DIFFERENT from'} in-process predict")
    console.print(scored.head(3).to_string(index=False))
    if not same:
        return 1

    step(8, "send shifted data and write a drift report")
    shifted = X_test.copy()
    shifted["mean radius"] *= 1.8
    shifted["worst texture"] *= 1.8
    window_start = time.time()
    httpx.post(f"{deployment.url}/predict", json={"instances": shifted.to_dict(orient="records")},
               timeout=30).raise_for_status()
    time.sleep(0.5)  # replicas write capture lines just after answering
    run = cloudeploy.monitor(ENDPOINT, cloudeploy.MonitorSpec(window=time.time() - window_start + 1))
    breached = ", ".join(f"{f.name} ({f.score:.2f})" for f in run.result.breached) or "none"
    console.print(f"Jensen-Shannon skew above 0.3 on: {breached}")
    report = write_report(run.result, workdir / "drift-report.html", title=f"{ENDPOINT}: skew of shifted traffic",
                          json_path=workdir / "drift-report.json")
    console.print(f"drift report: {report} (and drift-report.json)")

    step(9, "where things stand")
    for version in cloudeploy.models(ENDPOINT):
        console.print(f"  {version.ref}  digest {version.digest[:12]}  scikit-learn {version.framework_version}")
    if args.keep:
        console.print(f"endpoint left running: `cloudeploy status`, `cloudeploy endpoints stop {ENDPOINT}`")
    else:
        cloudeploy.endpoint(ENDPOINT).provider.delete_endpoint(ENDPOINT, force=True)
        console.print(f"deleted endpoint {ENDPOINT} (run with --keep to leave it running)")
    console.print(f"[green]quickstart finished in {time.monotonic() - started:.1f}s[/green]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
