"""Run one endpoint's gateway: ``python -m cloudeploy.providers.local.gateway --home H --endpoint E``.

The process holds an exclusive lock on ``H/endpoints/E.lock`` for its life, so two
gateways can never serve one endpoint (a re-run after a crash finds the live one
instead of starting a second). It records its pid in the state file, serves
until SIGTERM, then drains: uvicorn stops accepting and finishes in-flight
requests, the replicas are told to drain, and the pid is cleared.
"""

from __future__ import annotations

import argparse
import fcntl
import logging
import os
import sys
import threading
from pathlib import Path

import uvicorn

from cloudeploy.errors import OperationFailed
from cloudeploy.providers.local.gateway.app import MAX_IN_FLIGHT, create_gateway_app
from cloudeploy.providers.local.gateway.metrics import VersionMetrics
from cloudeploy.providers.local.gateway.supervisor import Supervisor
from cloudeploy.providers.local.state import StateStore

log = logging.getLogger("cloudeploy.gateway")

HEALTH_INTERVAL_S = 1.0
AUTOSCALE_INTERVAL_S = 2.0


def _background(supervisor: Supervisor, stop: threading.Event) -> None:
    ticks = 0
    while not stop.wait(HEALTH_INTERVAL_S):
        ticks += 1
        try:
            supervisor.check_health()
            if ticks % int(AUTOSCALE_INTERVAL_S / HEALTH_INTERVAL_S) == 0:
                supervisor.autoscale(AUTOSCALE_INTERVAL_S)
        except Exception:  # the loop must survive anything; log it
            log.exception("supervisor step failed")


def _max_in_flight() -> int:
    """``$CLOUDEPLOY_GATEWAY_MAX_IN_FLIGHT`` (requests forwarded at once), else the default."""
    value = os.environ.get("CLOUDEPLOY_GATEWAY_MAX_IN_FLIGHT", "")
    return int(value) if value.isdigit() and int(value) > 0 else MAX_IN_FLIGHT


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudeploy-gateway")
    parser.add_argument("--home", required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--capture-sample", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    # httpx logs every forwarded request at INFO: a busy endpoint would fill the disk.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    store = StateStore(Path(args.home))
    lock_path = store.home / "endpoints" / f"{args.endpoint}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock_file = open(lock_path, "w")  # noqa: SIM115 - held for the life of the process
    try:
        fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another gateway already serves endpoint {args.endpoint}", file=sys.stderr)
        return 3

    row = store.endpoint(args.endpoint)
    if row is None:
        print(f"endpoint {args.endpoint} is not in {store.path}", file=sys.stderr)
        return 2

    supervisor = Supervisor(store, args.endpoint, capture_sample=args.capture_sample)
    try:
        supervisor.reconcile(partial=True)  # a broken version does not take the others down
    except OperationFailed as error:
        log.error("starting with no versions serving: %s", error)
    metrics = VersionMetrics()
    app = create_gateway_app(supervisor, metrics, endpoint=args.endpoint, max_in_flight=_max_in_flight())
    server = uvicorn.Server(
        uvicorn.Config(app, host=row.host, port=row.port, log_level="warning", access_log=False, timeout_graceful_shutdown=30)
    )
    stop = threading.Event()
    threading.Thread(target=_background, args=(supervisor, stop), daemon=True).start()
    store.set_gateway_pid(args.endpoint, os.getpid())
    log.info("gateway for %s listening on http://%s:%d", args.endpoint, row.host, row.port)
    try:
        server.run()
    finally:
        stop.set()
        supervisor.shutdown()
        current = store.endpoint(args.endpoint)
        if current is not None and current.gateway_pid == os.getpid():
            store.set_gateway_pid(args.endpoint, None)
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
