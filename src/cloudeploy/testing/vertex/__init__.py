"""A Vertex AI v1 REST + Cloud Storage emulator that the real SDKs talk to.

::

    from cloudeploy.testing.vertex import start_emulator

    with start_emulator() as emu:
        emu.init_sdk()                      # google-cloud-aiplatform, REST, anonymous
        settings = emu.profile_settings()   # a cloudeploy "vertex" profile
        ...
        emu.reset()                         # forget everything between tests

Served: models (upload, versions, aliases, update, delete), endpoints (create,
traffic, deploy, undeploy, predict and rawPredict through real model servers),
batch prediction jobs, model deployment monitoring jobs (with their
``serving_predict`` BigQuery log) and the operations the SDK polls; and Cloud
Monitoring's prediction metrics per deployed model (``prediction_count``,
``error_count``, ``response_count`` by response code, ``prediction_latencies`` by
latency type), fed by every prediction served, over
gRPC for ``monitoring_v3.MetricServiceClient`` (``emu.monitoring_endpoint``) and
as REST ``GET /v3/projects/P/timeSeries``; and the endpoints' request-response
logging as BigQuery tables read through ``google.cloud.bigquery`` (BigQuery v2
REST under ``/bigquery/v2`` on the same port). Fault injection per REST method
and per-method call counts (``emu.faults.add("DeployModel", "throttle",
count=2)``, ``emu.calls(...)``; see ``faults.py``). State changes are driven by
polls, never by sleeps. A call it does not implement answers 501 UNIMPLEMENTED
naming the method. The rules enforced, with their sources, and what is not
emulated: ``docs/emulators/vertex.md``.
"""

from __future__ import annotations

from cloudeploy.testing.vertex.emulator import VertexEmulator, start_emulator

__all__ = ["VertexEmulator", "start_emulator"]
