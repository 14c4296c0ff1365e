"""Monitoring on SageMaker: data capture to S3, scores published to CloudWatch with alarms.

- ``configure`` turns the endpoint's data capture on (a new endpoint config
  with ``DataCaptureConfig``, same variants and weights, applied by
  UpdateEndpoint through ``endpoint_config.update_config``, which waits like
  every provider call) and, when the spec has alert e-mails, an SNS topic they
  subscribe to, which every alarm notifies.
- ``capture`` reads the capture objects under
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

The baseline comes from the version's ``model.tar.gz`` (its ``cloudeploy.json``).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.errors import NotFoundError
from cloudeploy.monitoring.backend import CopiedPackageMonitoring, require_baseline
from cloudeploy.providers.base import no_progress
from cloudeploy.providers.sagemaker import capture as capture_format

if TYPE_CHECKING:
    from cloudeploy.monitoring.result import MonitoringResult
    from cloudeploy.monitoring.spec import MonitorSpec

NAMESPACE = "cloudeploy/Monitoring"


class SageMakerMonitoring(CopiedPackageMonitoring):
    # -- baseline ---------------------------------------------------------------

    def baseline(self, endpoint: str, version: str) -> dict[str, Any]:
        from cloudeploy.packaging.manifest import MANIFEST_NAME, Manifest
        from cloudeploy.providers.sagemaker.errors import translated

        model = self.provider.get_endpoint(endpoint).model
        uri = self.provider.get_model_version(model, version).uri
        bucket, key = capture_format.split_s3(uri)
        with translated(f"reading the package {uri}"):
            body = self.provider.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as archive:
            member = archive.extractfile(MANIFEST_NAME)
            manifest = Manifest.from_dict(json.loads(member.read())) if member else None
            if manifest is not None:
                self._extract_package(endpoint, version, archive, manifest)
        return require_baseline(manifest.baseline if manifest else None, version)

    def _extract_package(self, endpoint: str, version: str, archive: Any, manifest: Any) -> None:
        """Copy the package (manifest and every file it lists) out of the tarball, for the
        novelty detector and the attributions; each file is digest-checked when loaded."""
        from cloudeploy.packaging.manifest import MANIFEST_NAME

        self._artifacts = getattr(self, "_artifacts", {})
        folder = self.package_file_dir(endpoint, version)
        for name in [MANIFEST_NAME, *manifest.files]:
            target = (folder / name).resolve()
            if not target.is_relative_to(folder.resolve()):
                continue  # a name leaving the folder is never written
            member = archive.extractfile(name) if name in archive.getnames() else None
            if member is not None:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(member.read())
        self._artifacts[(endpoint, version)] = (folder, manifest)

    def _package(self, endpoint: str, version: str) -> tuple[Path, Any]:
        if (endpoint, version) not in getattr(self, "_artifacts", {}):
            self.baseline(endpoint, version)
        return self._artifacts[(endpoint, version)]

    # -- capture ----------------------------------------------------------------

    def _capture_config(self, endpoint: str) -> dict[str, Any] | None:
        sm = self.provider.clients.sagemaker
        name = sm.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        config = sm.describe_endpoint_config(EndpointConfigName=name).get("DataCaptureConfig")
        return config if config and config.get("EnableCapture", True) else None

    def capture(self, endpoint: str, version: str, *, since: float | None, until: float | None) -> Path:
        from cloudeploy.errors import ValidationError
        from cloudeploy.monitoring.capture import write_capture
        from cloudeploy.providers.sagemaker.errors import translated

        with translated(f"reading the data capture settings of {endpoint}"):
            config = self._capture_config(endpoint)
        if config is None:
            raise ValidationError(f"endpoint {endpoint} does not capture its requests",
                                  hint=f"cloudeploy monitor configure {endpoint} --provider sagemaker")
        features = [f["name"] for f in self.baseline(endpoint, version)["features"]]
        target = self.fresh_capture_dir(endpoint, version)
        bucket, root = capture_format.split_s3(f"{config['DestinationS3Uri'].rstrip('/')}/{endpoint}/{version}/")
        s3 = self.provider.clients.s3
        with translated(f"reading the captures of {endpoint}/{version}"):
            for prefix in capture_format.hour_prefixes(root, since, until):
                for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                    for item in page.get("Contents", []):
                        text = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().decode()
                        records = (_record(line, features) for line in text.splitlines())
                        write_capture(target, ({**r, "version": version} for r in records if r))
        return target

    # -- configure / publish --------------------------------------------------------

    def configure(self, endpoint: str, spec: MonitorSpec) -> dict[str, Any]:
        from cloudeploy.providers.sagemaker.errors import translated

        done = super().configure(endpoint, spec)
        with translated(f"enabling data capture on {endpoint}"):
            done["data_capture"] = self._enable_capture(endpoint, round(spec.sample_rate * 100))
        with translated(f"creating the alert topic of {endpoint}"):
            done["sns_topic"] = self._topic(endpoint, spec)
        version = self.serving_version(endpoint)
        features = [f["name"] for f in self.baseline(endpoint, version)["features"]
                    if spec.features is None or f["name"] in spec.features]
        with translated(f"creating the alarms of {endpoint}"):
            done["alarms"] = self._alarms(endpoint, version, features, spec, "skew", done["sns_topic"])
        return done

    def publish(self, endpoint: str, result: MonitoringResult, spec: MonitorSpec) -> dict[str, Any]:
        from cloudeploy.providers.sagemaker.errors import translated

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
                                  self._topic(endpoint, spec, create=False))
        return {"namespace": NAMESPACE, "metric": metric, "datapoints": len(data), "alarms": alarms}

    def status(self, endpoint: str) -> dict[str, Any]:
        from cloudeploy.providers.sagemaker.errors import translated

        with translated(f"describing monitoring of {endpoint}"):
            config = self._capture_config(endpoint)
            pages = self.provider.clients.cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=f"cloudeploy-{endpoint}-")
            # The prefix of "mon" also matches "mon-2"'s alarms: keep those of this endpoint.
            states = {a["AlarmName"]: a["StateValue"] for page in pages for a in page["MetricAlarms"]
                      if a.get("Namespace") == NAMESPACE and _endpoint_of(a) == endpoint}
        return {**super().status(endpoint), "data_capture": config, "alarms": states,
                "alarms_in_alarm": sorted(name for name, state in states.items() if state == "ALARM")}

    def _enable_capture(self, endpoint: str, percent: int) -> dict[str, Any]:
        """Data capture on at ``percent``: the endpoint's variants (live weights) in a new config with
        capture (:func:`~cloudeploy.providers.sagemaker.endpoint_config.update_config`), kept
        where an earlier capture wrote. Nothing changes when capture is on at ``percent`` already."""
        from cloudeploy.providers.sagemaker import naming
        from cloudeploy.providers.sagemaker.endpoint_config import capture_config, update_config

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

    def _topic(self, endpoint: str, spec: MonitorSpec, *, create: bool = True) -> str | None:
        """The SNS topic the alarms notify; None when neither ``spec`` nor the saved spec has alert e-mails.

        A pass run with a spec of its own (a window, a webhook) keeps the topic
        that ``configure`` set up, so its alarms still notify the e-mails.
        """
        saved = self.saved_spec(endpoint)
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
