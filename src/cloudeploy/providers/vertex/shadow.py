"""Shadow traffic on Vertex AI: replay the serving version's logged requests against the candidate.

Vertex AI has no request mirror. What it has is request-response logging: with
``predict_request_response_logging_config`` on, sampled predict calls land in a
BigQuery table with the deployed model that answered, the instances and the
predictions. While the run lasts, every ``read`` fetches the rows logged since
the last one (``list_rows(start_index=...)``: the log is append-only), keeps the
serving version's rows logged since the start, draws ``share`` of them, and
sends their instances to the candidate pinned by its deployed-model id
(``deployedModels/{id}:predict``, which no user request reaches). The logged
predictions are the serving answers the candidate's are compared with.

The candidate's metrics are those of the replayed calls (status class, latency
measured here, answers); the serving version's come from Cloud Monitoring over
the same window. At most :data:`MAX_REPLAYS_PER_READ` rows are replayed per
read; rows not replayed yet wait for the next read.
"""

from __future__ import annotations

import random
import time
from typing import Any

from cloudeploy.errors import (
    CloudeployError,
    NotFoundError,
    OperationTimeout,
    TransientError,
    ValidationError,
)
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.capabilities import (
    MAX_PAIRS,
    ShadowSource,
    ShadowUnavailable,
    ShadowWindow,
)
from cloudeploy.providers.shadow_metrics import metrics_from_answers, row_pairs
from cloudeploy.providers.vertex import mapping
from cloudeploy.providers.vertex.request_log import logging_table, parse_row

MAX_REPLAYS_PER_READ = 200


class VertexShadow(ShadowSource):
    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self._runs: dict[str, _Replay] = {}

    def _logging(self, endpoint: str) -> tuple[Any, Any]:
        resource = self.provider._endpoint(endpoint)
        return resource, resource.predict_request_response_logging_config

    def check(self, endpoint: str) -> None:
        _, logging = self._logging(endpoint)
        if not logging.enabled or logging.sampling_rate <= 0:
            raise ShadowUnavailable(
                f"endpoint {endpoint} does not log its requests (request-response logging is off), and "
                "Vertex AI shadows by replaying that log",
                hint=f"turn logging on: cloudeploy monitor configure {endpoint} --provider vertex",
            )

    def start(self, endpoint: str, serving: str, candidate: str, share: float, *,
              progress: ProgressCallback = no_progress) -> None:
        self.check(endpoint)
        resource, logging = self._logging(endpoint)
        deployed = mapping.deployed_versions(resource)
        table = logging_table(logging.bigquery_destination.output_uri, resource, self.provider.settings.project)
        run = _Replay(table, str(deployed[serving].id), share, time.time())
        run.offset = self._row_count(table)  # replay what is logged from now on
        self._runs[endpoint] = run
        progress(f"shadow: replaying {serving}'s calls logged in {table} against {candidate}")

    def _row_count(self, table: str) -> int:
        from google.api_core.exceptions import NotFound

        try:
            return sum(1 for _ in self.provider.clients.bigquery.list_rows(table))
        except NotFound:
            return 0  # nothing logged yet: Vertex AI creates the table with its first row

    def read(self, endpoint: str, serving: str, candidate: str, *, since: float, until: float) -> ShadowWindow:
        from google.api_core.exceptions import NotFound

        run = self._runs[endpoint]
        try:
            for row in self.provider.clients.bigquery.list_rows(run.table, start_index=run.offset):
                run.offset += 1
                call = parse_row(row)
                ours = call is not None and call.deployed_model_id == run.serving_id and call.ts >= run.started
                if ours and run.rng.random() < run.share:
                    run.pending.append(call)
        except NotFound:
            pass
        for call in run.pending[:MAX_REPLAYS_PER_READ]:
            run.answers.append(self._replay(endpoint, candidate, call, run))
        del run.pending[:MAX_REPLAYS_PER_READ]
        inside = [a for a in run.answers if since <= a[0] <= until]
        return ShadowWindow(
            pairs=[p for a in inside for p in a[4]][-MAX_PAIRS:],
            candidate=metrics_from_answers(candidate, [a[1:4] for a in inside], since=since, until=until),
            serving=self.provider.version_metrics(endpoint, serving, since=since, until=until),
            mirrored=len(inside), dropped=len(run.pending),
            note=f"replayed from {run.table}",
        )

    def _replay(self, endpoint: str, candidate: str, call: Any, run: _Replay) -> tuple:
        started = time.perf_counter()
        try:
            answer = self.provider.predict(endpoint, list(call.instances), version=candidate)
            status, predictions = 200, answer.predictions
        except ValidationError:
            status, predictions = 400, None
        except NotFoundError:
            status, predictions = 404, None
        except OperationTimeout:
            status, predictions = 0, None
        except TransientError:
            status, predictions = 503, None
        except CloudeployError:
            status, predictions = 500, None
        latency = (time.perf_counter() - started) * 1000
        return (time.time(), status, latency, predictions,
                row_pairs(call.predictions, predictions) if predictions is not None else [])

    def stop(self, endpoint: str, serving: str, candidate: str, *,
             progress: ProgressCallback = no_progress) -> None:
        self._runs.pop(endpoint, None)


class _Replay:
    """One replay run: where it reads the log, what it kept to replay, and what came back."""

    def __init__(self, table: str, serving_id: str, share: float, started: float) -> None:
        self.table, self.serving_id, self.share, self.started = table, serving_id, share, started
        self.offset = 0
        self.rng = random.Random(serving_id)
        self.pending: list[Any] = []
        self.answers: list[tuple] = []
