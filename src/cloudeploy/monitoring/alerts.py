"""Sending breached thresholds to the log and to a webhook.

:func:`send_alerts` never raises into its caller and its total time is bounded
(``retries`` attempts of at most ``timeout`` seconds each, plus back-off), so a
monitoring loop can call it inline; :func:`send_alerts_in_background` runs it
on a daemon thread for callers that must not wait at all (a model server).
Every breach is logged at WARNING on ``cloudeploy.monitoring.alerts``. The
webhook gets one JSON POST per result::

    {"source": "cloudeploy", "event": "monitoring.threshold_breached",
     "kind": "skew", "labels": {...}, "generated_at": 1732000000.0,
     "breached": [{"name": "age", "metric": "jensen_shannon", "score": 0.41,
                   "threshold": 0.3, "severity": 1.37}, ...]}

Connection errors, timeouts, 429 and 5xx answers are retried with exponential
back-off; other 4xx answers are not (the receiver refused the payload).
Cloud channels (Vertex AI alert e-mails, SNS) are configured by the providers.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from cloudeploy import lazy
from cloudeploy.monitoring.result import MonitoringResult

httpx = lazy.module("httpx")

logger = logging.getLogger("cloudeploy.monitoring.alerts")


@dataclass(frozen=True)
class AlertDelivery:
    """What :func:`send_alerts` did: breaches logged, webhook attempts and outcome.

    ``delivered`` is True when the webhook answered 2xx, None when no webhook
    was called (no URL, or nothing breached).
    """

    breached: tuple[str, ...]
    logged: int
    webhook_url: str | None = None
    attempts: int = 0
    delivered: bool | None = None
    status_code: int | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "breached": list(self.breached),
            "logged": self.logged,
            "webhook_url": self.webhook_url,
            "attempts": self.attempts,
            "delivered": self.delivered,
            "status_code": self.status_code,
            "errors": list(self.errors),
        }


def alert_payload(result: MonitoringResult) -> dict[str, Any]:
    """The JSON body POSTed to the webhook for ``result``."""
    return {
        "source": "cloudeploy",
        "event": "monitoring.threshold_breached",
        "kind": result.kind,
        "labels": dict(result.labels),
        "generated_at": result.generated_at,
        "breached": [
            {
                "name": f.name,
                "metric": f.metric,
                "score": f.score,
                "threshold": f.threshold,
                "severity": None if math.isinf(f.severity) else f.severity,
            }
            for f in result.breached
        ],
        **({"outliers": dict(result.outliers)} if result.outliers_breached and result.outliers else {}),
        **({"attributions": dict(result.attributions)} if result.attributions_breached and result.attributions
           else {}),
    }


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def send_alerts(
    result: MonitoringResult,
    *,
    log: logging.Logger = logger,
    webhook_url: str | None = None,
    timeout: float = 5.0,
    retries: int = 3,
    backoff: float = 0.5,
    transport: Any = None,
) -> AlertDelivery:
    """Log every breached feature and POST them to ``webhook_url``; never raises.

    ``retries`` is the number of attempts (at least 1); attempt ``n`` waits
    ``backoff * 2**(n-1)`` seconds before retrying. ``transport`` is an httpx
    transport, for tests. Nothing is sent when no threshold is breached.
    """
    breached = result.breached
    names = tuple(f.name for f in breached)
    where = ", ".join(f"{k}={v}" for k, v in result.labels.items())
    for feature in breached:
        log.warning(
            "%s threshold breached%s: feature %s %s=%.4g %s %.4g",
            result.kind,
            f" ({where})" if where else "",
            feature.name,
            feature.metric,
            feature.score,
            "<" if feature.p_value else ">",
            feature.threshold,
        )
    if result.outliers_breached:
        outliers = result.outliers or {}
        names += ("outlier_share",)
        log.warning(
            "outlier share breached%s: %.4g of %d rows > %.4g",
            f" ({where})" if where else "",
            outliers.get("share") or 0.0,
            outliers.get("rows", 0),
            outliers.get("threshold", 0.0),
        )
    for name in result.attributions_breached:
        names += (f"attribution:{name}",)
        log.warning("attribution drift breached%s: feature %s", f" ({where})" if where else "", name)
    if not names or not webhook_url:
        return AlertDelivery(breached=names, logged=len(names), webhook_url=webhook_url)

    errors: list[str] = []
    status: int | None = None
    attempts = 0
    body = alert_payload(result)
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            for attempt in range(1, max(1, retries) + 1):
                attempts = attempt
                try:
                    response = client.post(webhook_url, json=body)
                    status = response.status_code
                    if response.is_success:
                        return AlertDelivery(
                            names, len(names), webhook_url, attempts, True, status, tuple(errors)
                        )
                    errors.append(f"attempt {attempt}: HTTP {status}")
                    if not _retryable(status):
                        break
                except httpx.HTTPError as error:
                    errors.append(f"attempt {attempt}: {type(error).__name__}: {error}")
                if attempt < retries:
                    time.sleep(backoff * 2 ** (attempt - 1))
    except Exception as error:  # a broken URL or transport must not break the caller
        errors.append(f"{type(error).__name__}: {error}")
    log.error("webhook %s failed after %d attempt(s): %s", webhook_url, attempts, "; ".join(errors))
    return AlertDelivery(names, len(names), webhook_url, attempts, False, status, tuple(errors))


def send_alerts_in_background(result: MonitoringResult, **options: Any) -> Future[AlertDelivery]:
    """Run :func:`send_alerts` on a daemon thread; the future holds its :class:`AlertDelivery`."""
    future: Future[AlertDelivery] = Future()

    def run() -> None:
        future.set_result(send_alerts(result, **options))

    threading.Thread(target=run, name="cloudeploy-alerts", daemon=True).start()
    return future
