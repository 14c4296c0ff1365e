"""Monitoring hooks of SageMaker: data capture to S3, scores published to CloudWatch with alarms.

- ``configure`` turns the endpoint's data capture on (a new endpoint config
  with ``DataCaptureConfig``, same variants and weights, applied by
  UpdateEndpoint through ``endpoint_config.update_config``, which waits like
  every provider call) and, when the spec has alert e-mails, an SNS topic they
  subscribe to, which every alarm notifies.
- ``captured`` reads the capture objects under
  ``{DestinationS3Uri}/{endpoint}/{variant}/yyyy/mm/dd/hh/`` for the window's
  hours and rewrites them as cloudeploy capture files (see ``capture``), so
  the engine scores them exactly as it scores the local server's.
- ``publish`` puts one custom metric per feature, ``feature_skew`` or
  ``feature_drift`` in namespace ``cloudeploy/Monitoring`` with dimensions
  EndpointName, VariantName and Feature, and an alarm per feature at its
  threshold (GreaterThanThreshold, as Vertex AI's rule is "strictly above").
  CloudWatch evaluates those alarms; one that goes to ALARM notifies the SNS
  topic, and ``status`` reports every alarm's state. When the spec chooses
  other statistics (``preset`` other than vertex, or per-feature ``metrics``)
  a feature's metric, and whether lower or higher is worse, can change from
  one pass to the next (``sensitive`` picks by sample size), so the metric is
  the feature's *severity* instead (breached above 1, see ``FeatureResult``)
  and every alarm's threshold is 1.

The manifest (and the package's files) come from the version's ``model.tar.gz``.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import NotFoundError, ValidationError
from cloudeploy.packaging.manifest import MANIFEST_NAME, Manifest
from cloudeploy.providers.base import no_progress
from cloudeploy.providers.capabilities import MonitoringHooks
from cloudeploy.providers.sagemaker import capture as capture_format
from cloudeploy.providers.sagemaker import naming
from cloudeploy.providers.sagemaker.endpoint_config import capture_config, update_config
from cloudeploy.providers.sagemaker.errors import translated

if TYPE_CHECKING:
    from cloudeploy.monitoring.result import MonitoringResult
    from cloudeploy.monitoring.spec import MonitorSpec

NAMESPACE = "cloudeploy/Monitoring"


class SageMakerMonitoring(MonitoringHooks):
    # -- the package ------------------------------------------------------------

    def _tarball(self, endpoint: str, version: str) -> tuple[str, bytes]:
        """``(uri, bytes)`` of ``version``'s ``model.tar.gz`` (read once per hooks object)."""
        cache = self.__dict__.setdefault("_tarballs", {})
        if (endpoint, version) not in cache:
            model = self.provider.get_endpoint(endpoint).model
            uri = self.provider.get_model_version(model, version).uri
            bucket, key = capture_format.split_s3(uri)
            with translated(f"reading the package {uri}"):
                cache[(endpoint, version)] = uri, self.provider.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        return cache[(endpoint, version)]

    def manifest(self, endpoint: str, version: str) -> Manifest:
        uri, body = self._tarball(endpoint, version)
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            member = archive.extractfile(MANIFEST_NAME) if MANIFEST_NAME in archive.getnames() else None
            if member is None:
                raise ValidationError(f"{uri} holds no {MANIFEST_NAME}: version {version} is not a cloudeploy package")
            return Manifest.from_dict(json.loads(member.read()))

    def package(self, endpoint: str, version: str, folder: Path) -> tuple[Path, Manifest]:
        """The package (manifest and every file it lists) copied out of the tarball."""
        manifest = self.manifest(endpoint, version)
        _, body = self._tarball(endpoint, version)
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            names = set(archive.getnames())
            for name in [MANIFEST_NAME, *manifest.files]:
                target = (folder / name).resolve()
                if not target.is_relative_to(folder.resolve()):
                    continue  # a name leaving the folder is never written
                member = archive.extractfile(name) if name in names else None
                if member is not None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(member.read())
        return folder, manifest

    # -- capture ----------------------------------------------------------------

    def _capture_config(self, endpoint: str) -> dict[str, Any] | None:
        sm = self.provider.clients.sagemaker
        name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        config = sm.describe_endpoint_config(EndpointConfigName=name).get("DataCaptureConfig")
        return config if config and config.get("EnableCapture", True) else None

    def captured(self, endpoint: str, version: str, features: Sequence[str], *, since: float | None,
                 until: float | None) -> Iterator[dict[str, Any]]:
        """The capture events under ``{destination}/{endpoint}/{version}/`` in the window's hours."""
        with translated(f"reading the data capture settings of {endpoint}"):
            config = self._capture_config(endpoint)
        if config is None:
            raise ValidationError(f"endpoint {endpoint} does not capture its requests",
                                  hint=f"cloudeploy monitor configure {endpoint} --provider sagemaker")
        bucket, root = capture_format.split_s3(f"{config['DestinationS3Uri'].rstrip('/')}/{endpoint}/{version}/")
        s3 = self.provider.clients.s3
        with translated(f"reading the captures of {endpoint}/{version}"):
            for prefix in capture_format.hour_prefixes(root, since, until):
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                    for item in page.get("Contents", []):
                        text = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
                        yield from (r for r in (_record(line, list(features)) for line in text.splitlines()) if r)

    # -- configure / publish --------------------------------------------------------

    def configure(self, endpoint: str, spec: MonitorSpec, *, serving: Callable[[], tuple[str, list[str]]],
                  saved: Any) -> dict[str, Any]:
        done: dict[str, Any] = {}
        with translated(f"enabling data capture on {endpoint}"):
            done["data_capture"] = self._enable_capture(endpoint, round(spec.sample_rate * 100))
        with translated(f"creating the alert topic of {endpoint}"):
            done["sns_topic"] = self._topic(endpoint, spec, saved)
        version, features = serving()
        with translated(f"creating the alarms of {endpoint}"):
            done["alarms"] = self._alarms(endpoint, version, features, spec, "skew", done["sns_topic"])
        return done

    def publish(self, endpoint: str, result: MonitoringResult, spec: MonitorSpec, *, saved: Any) -> dict[str, Any]:
        version = result.labels["version"]
        metric = f"feature_{result.kind}"
        data = [
            {"MetricName": metric, "Value": _published_value(f, spec), "Unit": "None",
             "Dimensions": _dimensions(endpoint, version, f.name)}
            for f in result.features if f.score is not None
        ]
        with translated(f"publishing {result.kind} metrics of {endpoint}"):
            for start in range(0, len(data), 20):  # PutMetricData takes at most 20 datapoints here
                self.provider.clients.cloudwatch.put_metric_data(Namespace=NAMESPACE,
                                                                 MetricData=data[start:start + 20])
            alarms = self._alarms(endpoint, version, [f.name for f in result.features], spec, result.kind,
                                  self._topic(endpoint, spec, saved, create=False))
        return {"namespace": NAMESPACE, "metric": metric, "datapoints": len(data), "alarms": alarms}

    def status(self, endpoint: str) -> dict[str, Any]:
        with translated(f"describing monitoring of {endpoint}"):
            config = self._capture_config(endpoint)
            pages = self.provider.clients.cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=f"cloudeploy-{endpoint}-")
            # The prefix of "mon" also matches "mon-2"'s alarms: keep those of this endpoint.
            states = {a["AlarmName"]: a["StateValue"] for page in pages for a in page["MetricAlarms"]
                      if a.get("Namespace") == NAMESPACE and _endpoint_of(a) == endpoint}
        return {"data_capture": config, "alarms": states,
                "alarms_in_alarm": sorted(name for name, state in states.items() if state == "ALARM")}

    def _enable_capture(self, endpoint: str, percent: int) -> dict[str, Any]:
        """Data capture on at ``percent``: the endpoint's variants (live weights) in a new config with
        capture (:func:`~cloudeploy.providers.sagemaker.endpoint_config.update_config`), kept
        where an earlier capture wrote. Nothing changes when capture is on at ``percent`` already."""
        description = self.provider._ready_description(endpoint, None, no_progress)
        if description is None:
            raise NotFoundError(f"endpoint {endpoint!r} does not exist on sagemaker yet", hint="deploy to it first")
        current = self.provider._config((description or {}).get("EndpointConfigName")) or {}
        existing = current.get("DataCaptureConfig") or {}
        if existing.get("EnableCapture") and existing.get("InitialSamplingPercentage") == percent:
            return existing
        wanted = capture_config(self.provider, percent, existing.get("DestinationS3Uri"))
        variants = list(self.provider._live_variants(description).values())
        update_config(self.provider, endpoint, variants, description=description, capture=wanted,
                      tags=naming.tags(**{"cloudeploy-endpoint": endpoint}),
                      failure_hint="its previous config still serves, without capture; re-run "
                                   f"`cloudeploy monitor configure {endpoint}`")
        return wanted

    def _topic(self, endpoint: str, spec: MonitorSpec, saved: Any, *, create: bool = True) -> str | None:
        """The SNS topic the alarms notify; None when neither ``spec`` nor the saved spec has alert e-mails.

        A pass run with a spec of its own (a window, a webhook) keeps the topic
        that ``configure`` set up, so its alarms still notify the e-mails.
        """
        emails = spec.alert_emails or (saved.alert_emails if saved else ())
        if not emails:
            return None
        sns = self.provider.clients("sns")
        arn = sns.create_topic(Name=f"cloudeploy-monitoring-{endpoint}")["TopicArn"]  # idempotent
        if create:
            for email in emails:
                sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=email)
        return arn

    def _alarms(self, endpoint: str, version: str, features: list[str], spec: MonitorSpec, kind: str,
                topic: str | None) -> list[str]:
        cloudwatch = self.provider.clients.cloudwatch
        names = []
        for feature in features:
            name = _alarm_name(endpoint, version, kind, feature)
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                AlarmDescription=f"{kind} of feature {feature} on {endpoint}/{version} above its threshold",
                Namespace=NAMESPACE, MetricName=f"feature_{kind}",
                Dimensions=_dimensions(endpoint, version, feature),
                Statistic="Maximum", Period=max(60, int(float(spec.interval))), EvaluationPeriods=1,
                Threshold=1.0 if _by_severity(spec) else spec.threshold_for(feature, kind),
                ComparisonOperator="GreaterThanThreshold",
                TreatMissingData="notBreaching", ActionsEnabled=topic is not None,
                AlarmActions=[topic] if topic else [],
            )
            names.append(name)
        return names


def _by_severity(spec: MonitorSpec) -> bool:
    """Whether scores are published as severities (any statistic but Vertex AI's two)."""
    return spec.preset != "vertex" or bool(spec.metrics)


def _published_value(feature: Any, spec: MonitorSpec) -> float:
    if not _by_severity(spec):
        return float(feature.score)
    return min(float(feature.severity), 1e6)  # CloudWatch takes no infinity


def _alarm_name(endpoint: str, version: str, kind: str, feature: str) -> str:
    return f"cloudeploy-{endpoint}-{version}-{kind}-{feature}"


def _endpoint_of(alarm: dict[str, Any]) -> str | None:
    return next((d["Value"] for d in alarm.get("Dimensions", []) if d["Name"] == "EndpointName"), None)


def _dimensions(endpoint: str, version: str, feature: str) -> list[dict[str, str]]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": version},
            {"Name": "Feature", "Value": feature}]


def _record(line: str, features: list[str]) -> dict[str, Any] | None:
    """One SageMaker capture event as a cloudeploy capture record (None when unreadable)."""
    event = capture_format.parse_event(line)
    if event is None or not isinstance(event.instances, list):
        return None
    predictions = event.predictions
    rows = [[row.get(name) for name in features] if isinstance(row, dict) else row for row in event.instances]
    return {"ts": event.ts, "request_id": event.request_id, "features": features,
            "instances": rows, "predictions": predictions if isinstance(predictions, list) else []}
