"""``SageMakerProvider``: the provider contract on Amazon SageMaker, with boto3.

How cloudeploy's notions map (names in ``naming.py``):

- a model is a model package group, a version ``vN`` its package version N;
- an endpoint is a SageMaker endpoint of the same name; each deployed version is
  a production variant named after it, its traffic percent the variant weight;
- a deploy or undeploy is an UpdateEndpoint to a new endpoint config holding all
  live variants; a traffic change is UpdateEndpointWeightsAndCapacities;
- autoscaling is a target-tracking policy per variant (``scaling.py``);
- what SageMaker cannot hold (an endpoint with nothing deployed yet, the split
  before the last change) is an endpoint record in S3 (``records.py``).

After every update the endpoint's config is read back: SageMaker can silently
return an endpoint to its old config (an auto-rollback alarm, a container that
failed its health check), and that is an ``OperationFailed``, never success.
Old endpoint configs are deleted only once the endpoint serves the new one.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import (
    CloudeployError,
    NotFoundError,
    OperationFailed,
    TransientError,
)
from cloudeploy.providers.base import Prediction, Provider, VersionMetrics, no_progress, wait_until
from cloudeploy.providers.deadline import Deadline
from cloudeploy.providers.sagemaker import images, mapping, metrics, naming, payloads
from cloudeploy.providers.sagemaker import scaling as autoscaling
from cloudeploy.providers.sagemaker.capture import CaptureReader
from cloudeploy.providers.sagemaker.client import Clients
from cloudeploy.providers.sagemaker.endpoint_config import capture_config, update_config
from cloudeploy.providers.sagemaker.errors import error_code, translated
from cloudeploy.providers.sagemaker.options import SageMakerOptions
from cloudeploy.providers.sagemaker.records import EndpointRecords
from cloudeploy.providers.sagemaker.registry import Registry
from cloudeploy.providers.sagemaker.settings import SageMakerSettings
from cloudeploy.providers.sagemaker.state_store import S3StateStore
from cloudeploy.types import EndpointStatus, ModelVersion, Scaling, TrafficSplit, normalize_version

if TYPE_CHECKING:
    from cloudeploy.config import Profile

DEFAULT_INSTANCE_TYPE = "ml.m5.large"
#: SageMaker's own waiters allow an endpoint 60 minutes.
DEFAULT_TIMEOUT = 3600.0


class SageMakerProvider(Provider):
    """Amazon SageMaker (or the cloudeploy SageMaker emulation).

    Options: :class:`~cloudeploy.providers.sagemaker.options.SageMakerOptions`
    (``serving_image``, ``strict``, ``data_capture``, ``deployment_config`` and
    the batch ones), listed in docs/options.md.
    """

    name = "sagemaker"
    options_class = SageMakerOptions
    default_timeout = DEFAULT_TIMEOUT
    supports_version_metrics = True
    supports_delete_model_version = True

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        self.settings = SageMakerSettings.from_profile(profile.name, dict(profile.settings))
        self.clients = Clients(self.settings)
        self.registry = Registry(self.clients)
        self.records = EndpointRecords(self.clients)
        self._capture_reader = None  # a CaptureReader, made on first version_metrics

    # -- registry -------------------------------------------------------------

    def _upload_model(
        self,
        package_dir: Path,
        model: str,
        *,
        aliases: tuple[str, ...],
        deadline: Deadline,
        progress=no_progress,
        options: SageMakerOptions,
    ) -> ModelVersion:
        return self.registry.upload(
            Path(package_dir), model, aliases, progress,
            serving_image=options.serving_image, strict=bool(options.strict),
        )  # fmt: skip

    def get_model_version(self, model: str, version: str = "latest") -> ModelVersion:
        return self.registry.get(model, version)

    def list_models(self) -> list[str]:
        return self.registry.list_models()

    def list_versions(self, model: str) -> list[ModelVersion]:
        return self.registry.list_versions(model)

    def set_aliases(self, model: str, version: str, aliases: Sequence[str]) -> ModelVersion:
        return self.registry.set_aliases(model, version, aliases)

    def _delete_model_version(self, target: ModelVersion, *, deadline: Deadline, progress=no_progress) -> None:
        """Delete the version's model package and its SageMaker Model.

        Model package versions are never renumbered by the service, so a deleted
        version's number is not given again.
        """
        model = target.model
        progress(f"deleting {model}@{target.version}")
        # Absent when the version was never deployed, or an earlier run deleted it.
        with contextlib.suppress(NotFoundError), translated(f"deleting the model of {model}@{target.version}"):
            self.clients.sagemaker.delete_model(ModelName=naming.sagemaker_model_name(model, target.version))
        with translated(f"deleting {model}@{target.version}"):
            self.clients.sagemaker.delete_model_package(ModelPackageName=target.provider_id)

    # -- reading endpoints ------------------------------------------------------

    def _url(self, name: str) -> str:
        base = (
            self.settings.endpoint_url
            or f"https://runtime.sagemaker.{self.settings.region}.amazonaws.com"
        )
        return f"{base.rstrip('/')}/endpoints/{name}/invocations"

    def _describe(self, name: str) -> dict[str, Any] | None:
        with translated(f"describing endpoint {name}"):
            try:
                return self.clients.sagemaker.describe_endpoint(EndpointName=name)
            except Exception as error:
                if error_code(error) == "ValidationException" and "Could not find" in str(error):
                    return None
                raise

    def _config(self, name: str | None) -> dict[str, Any] | None:
        if not name:
            return None
        with translated(f"describing endpoint config {name}"):
            try:
                return self.clients.sagemaker.describe_endpoint_config(EndpointConfigName=name)
            except Exception as error:
                if error_code(error) == "ValidationException":
                    return None
                raise

    def _status(
        self, name: str, description: dict[str, Any] | None, record: dict[str, Any] | None
    ) -> EndpointStatus:
        model = (record or {}).get("model", "")  # "": made outside cloudeploy, not recorded yet
        if description is None:
            return mapping.status_of(name, model, None, None, {}, self._url(name))
        config = self._config(description.get("EndpointConfigName"))
        labels = [v["VariantName"] for v in description.get("ProductionVariants", [])]
        status = mapping.status_of(
            name,
            model,
            description,
            config,
            autoscaling.read(self.clients, name, labels),
            self._url(name),
        )
        # Which container (and, in ours, which runtime) answers each version.
        return images.with_runtimes(status, self.clients.sagemaker, self.registry.runtime_of)

    def get_endpoint(self, name: str) -> EndpointStatus:
        description = self._describe(name)
        record = self.records.get(name)
        if description is None and record is None:
            raise NotFoundError(
                f"endpoint {name!r} not found on sagemaker ({self.settings.region})"
            )
        return self._status(name, description, record)

    def list_endpoints(self) -> list[EndpointStatus]:
        names = set(self.records.names())
        sm = self.clients.sagemaker
        with translated("listing endpoints"):
            for page in sm.get_paginator("list_endpoints").paginate():
                for summary in page["Endpoints"]:
                    tags = sm.list_tags(ResourceArn=summary["EndpointArn"]).get("Tags", [])
                    if naming.MANAGED_TAG in tags:
                        names.add(summary["EndpointName"])
        statuses = []
        for name in sorted(names):
            try:
                statuses.append(self.get_endpoint(name))
            except NotFoundError:
                continue  # deleted while listing
        return statuses

    def previous_traffic(self, endpoint: str) -> TrafficSplit | None:
        record = self.records.get(endpoint)
        if record is None:
            self.get_endpoint(endpoint)  # NotFoundError for an unknown endpoint
            return None
        previous = record.get("previous_traffic")
        return TrafficSplit(previous) if previous else None

    # -- waiting ----------------------------------------------------------------

    def _settle(self, name: str, timeout: float | Deadline | None, progress) -> dict[str, Any]:
        """Poll DescribeEndpoint until no change is in progress; return the description."""
        seen: list[str] = []

        def check() -> dict[str, Any] | None:
            try:
                description = self._describe(name)
            except TransientError as error:
                # A throttled poll says nothing about the endpoint: poll again, still
                # within the caller's timeout.
                progress(f"endpoint {name}: {error.message}; polling again")
                return None
            if description is None:
                raise NotFoundError(f"endpoint {name!r} disappeared while waiting for it")
            status = description["EndpointStatus"]
            if not seen or seen[-1] != status:
                seen.append(status)
                progress(f"endpoint {name}: {status}")
            return None if status in mapping.BUSY else description

        return wait_until(
            check,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            what=f"endpoint {name} to leave {seen[-1] if seen else 'its update'}",
            how_to_check=f"`cloudeploy endpoints show {name}` or `aws sagemaker describe-endpoint --endpoint-name {name}`",
            progress=progress,
        )

    # -- changing endpoints -----------------------------------------------------

    def _create_endpoint(
        self,
        name: str,
        *,
        model: str,
        existing: EndpointStatus | None,
        deadline: Deadline,
        progress=no_progress,
        options: SageMakerOptions,
    ) -> EndpointStatus:
        naming.check_name(name, "endpoint")
        naming.check_name(model, "model")
        description = self._describe(name)
        if description is not None and description["EndpointStatus"] in mapping.BUSY and deadline.waits:
            # An endpoint made outside cloudeploy may still be Creating: adopt it once it is ready.
            description = self._settle(name, deadline, progress)
        record = self.records.get(name)
        if record is None or not record.get("model"):
            progress(
                f"recording endpoint {name}"
                + (" (adopting the existing SageMaker endpoint)" if description else "")
            )
            record = {"name": name, "model": model, "previous_traffic": None}
            self.records.put(record)
        return self._status(name, description, record)

    def ensure_model(self, version: ModelVersion) -> str:
        """The name of the SageMaker Model that serves ``version``, created from its
        model package if it does not exist yet (endpoints and transform jobs use it)."""
        name = naming.sagemaker_model_name(version.model, version.version)
        sm = self.clients.sagemaker
        with translated(f"creating the SageMaker model for {version.ref}"):
            try:
                sm.describe_model(ModelName=name)
                return name
            except Exception as error:
                if error_code(error) != "ValidationException":
                    raise
            package = sm.describe_model_package(ModelPackageName=version.provider_id)
            container = package["InferenceSpecification"]["Containers"][0]
            request: dict[str, Any] = {
                "ModelName": name,
                "PrimaryContainer": {
                    "Image": container["Image"],
                    "ModelDataUrl": container["ModelDataUrl"],
                },
                "ExecutionRoleArn": self.settings.role_arn,
                "Tags": naming.tags(
                    **{"cloudeploy-model": version.model, "cloudeploy-version": version.version}
                ),
            }
            if self.settings.vpc_config:
                request["VpcConfig"] = self.settings.vpc_config
            sm.create_model(**request)
        return name

    def _live_variants(self, description: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
        """Variant specs of the serving config, with the live weights and counts."""
        if description is None:
            return {}
        config = self._config(description.get("EndpointConfigName")) or {}
        live = {v["VariantName"]: v for v in description.get("ProductionVariants", [])}
        variants = {}
        for spec in config.get("ProductionVariants", []):
            name = spec["VariantName"]
            spec = {
                k: v
                for k, v in spec.items()
                if k
                in (
                    "VariantName",
                    "ModelName",
                    "InstanceType",
                    "InitialInstanceCount",
                    "InitialVariantWeight",
                )
            }
            if name in live:
                spec["InitialVariantWeight"] = float(
                    live[name].get("CurrentWeight", spec.get("InitialVariantWeight", 1.0))
                )
                spec["InitialInstanceCount"] = int(
                    live[name].get("CurrentInstanceCount", spec.get("InitialInstanceCount", 1))
                )
            variants[name] = spec
        return variants

    def _capture_config(
        self, options: SageMakerOptions, description: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The DataCaptureConfig the ``data_capture`` option asks for (checked by
        SageMakerOptions); not given: the endpoint keeps its current one."""
        wanted = options.data_capture
        if wanted is None:
            current = self._config((description or {}).get("EndpointConfigName")) or {}
            return current.get("DataCaptureConfig")
        if wanted is False:
            return None
        wanted = {} if wanted is True else dict(wanted)
        percent = wanted.get("sampling_percentage", 100)
        return capture_config(self, percent, wanted.get("destination"))

    def _apply(
        self,
        endpoint: str,
        variants: list[dict[str, Any]],
        description: dict[str, Any] | None,
        options: SageMakerOptions,
        *,
        wait: bool,
        timeout: float | Deadline | None,
        progress,
    ) -> None:
        """Make ``endpoint`` serve exactly ``variants``; verify; then delete old configs.

        ``timeout`` is the call's deadline (or seconds): waiting for the update
        shares it with whatever the call waited for before.
        """
        name = update_config(
            self, endpoint, variants, description=description,
            capture=self._capture_config(options, description),
            deployment_config=options.deployment_config,
            wait=wait, timeout=timeout, progress=progress, crash_prefix="sagemaker.deploy",
        )  # fmt: skip
        if description is not None and description.get("EndpointConfigName") == name:
            # Already serving exactly this (perhaps a re-run after a crash): just tidy up.
            self._delete_old_configs(endpoint, keep=name)
            return
        if not wait or timeout == 0:
            return
        crash_point("sagemaker.deploy.after_settle")
        self._delete_old_configs(endpoint, keep=name)

    def _delete_old_configs(self, endpoint: str, keep: str | None) -> None:
        pattern = re.compile(rf"^{re.escape(endpoint[:52])}-[0-9a-f]{{10}}\Z")
        sm = self.clients.sagemaker
        with translated(f"deleting old configs of {endpoint}"):
            for page in sm.get_paginator("list_endpoint_configs").paginate(
                NameContains=endpoint[:52]
            ):
                for config in page["EndpointConfigs"]:
                    name = config["EndpointConfigName"]
                    if name != keep and pattern.match(name):
                        sm.delete_endpoint_config(EndpointConfigName=name)

    def _current(self, endpoint: str, *, deadline: Deadline, progress=no_progress) -> EndpointStatus:
        """The endpoint once no update is in progress: SageMaker refuses a change meanwhile,
        and the variants of an endpoint still Updating are not the ones it will serve."""
        description = self._ready_description(endpoint, deadline if deadline.waits else None, progress)
        return self._status(endpoint, description, self.records.get(endpoint))

    def _ready_description(
        self, endpoint: str, timeout: float | Deadline | None, progress
    ) -> dict[str, Any] | None:
        """The endpoint's description once no change is in progress (SageMaker refuses
        an update meanwhile); None when only the record exists.

        A throttled DescribeEndpoint says nothing about the endpoint: it is asked
        again, within ``timeout``, as the polls of :meth:`_settle` are.
        """

        def read() -> tuple[dict[str, Any] | None] | None:
            try:
                return (self._describe(endpoint),)
            except TransientError as error:
                progress(f"endpoint {endpoint}: {error.message}; asking again")
                return None

        (description,) = wait_until(
            read,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            what=f"a description of endpoint {endpoint}",
            how_to_check=f"`cloudeploy endpoints show {endpoint}`",
            progress=progress,
        )
        if description is None:
            if self.records.get(endpoint) is None:
                raise NotFoundError(
                    f"endpoint {endpoint!r} not found on sagemaker",
                    hint=f"deploy to it with `cloudeploy deploy MODEL --name {endpoint}`, which creates it",
                )
            return None
        if description["EndpointStatus"] in mapping.BUSY:
            description = self._settle(endpoint, timeout, progress)
        return description

    def _deploy(
        self,
        endpoint: str,
        version: ModelVersion,
        *,
        split: TrafficSplit,
        traffic: int | None,
        scaling: Scaling | None,
        machine_type: str | None,
        current: EndpointStatus,
        deadline: Deadline,
        progress=no_progress,
        options: SageMakerOptions,
    ) -> EndpointStatus:
        if scaling is not None:
            scaling = autoscaling.check(scaling)
        if options.strict:
            self.registry.refuse_prebuilt(version)
        # SageMaker refuses an update while one is in progress: that wait is
        # needed even when the caller does not wait for this one.
        description = self._ready_description(endpoint, deadline if deadline.waits else None, progress)
        label = version.version
        model_name = self.ensure_model(version)
        crash_point("sagemaker.deploy.after_create_model")
        live = self._live_variants(description)
        before = mapping.traffic_of(description) if description else TrafficSplit({})
        if not live:
            split = TrafficSplit({label: 100})
        spec = dict(live.get(label, {}))
        spec.update(
            VariantName=label,
            ModelName=model_name,
            InstanceType=machine_type or spec.get("InstanceType") or DEFAULT_INSTANCE_TYPE,
            InitialInstanceCount=scaling.min_replicas
            if scaling
            else spec.get("InitialInstanceCount", 1),
        )
        live[label] = spec
        variants = []
        for name in sorted(
            live, key=lambda v: int(v[1:]) if mapping.is_version_label(v) else math.inf
        ):
            variants.append(
                {**live[name], "InitialVariantWeight": float(split.percents.get(name, 0))}
            )
        if description is not None and split.to_dict() != before.to_dict() and before:
            self.records.update(endpoint, previous_traffic=before.to_dict())
            crash_point("sagemaker.deploy.after_record")
        progress(
            f"deploying {version.ref} to {endpoint} ({split.percents.get(label, 0)}% of traffic)"
        )
        self._apply(
            endpoint, variants, description, options, wait=deadline.waits, timeout=deadline, progress=progress
        )
        if scaling is not None and deadline.waits:
            autoscaling.apply(self.clients, endpoint, label, scaling)
        return self.get_endpoint(endpoint)

    def _set_traffic(
        self,
        endpoint: str,
        split: TrafficSplit,
        *,
        current: EndpointStatus,
        deadline: Deadline,
        progress=no_progress,
    ) -> EndpointStatus:
        description = self._ready_description(endpoint, deadline if deadline.waits else None, progress)
        deployed = [v for v in self._live_variants(description) if mapping.is_version_label(v)]
        wanted = {v: split.percents.get(v, 0) for v in deployed}
        before = mapping.traffic_of(description)
        if wanted == before.to_dict():
            return self._status(endpoint, description, self.records.get(endpoint))
        if before:
            self.records.update(endpoint, previous_traffic=before.to_dict())
            crash_point("sagemaker.set_traffic.after_record")
        progress(
            f"setting traffic of {endpoint}: {', '.join(f'{v}={p}' for v, p in wanted.items())}"
        )
        with translated(f"setting the traffic of {endpoint}"):
            self.clients.sagemaker.update_endpoint_weights_and_capacities(
                EndpointName=endpoint,
                DesiredWeightsAndCapacities=[
                    {"VariantName": v, "DesiredWeight": float(p)} for v, p in wanted.items()
                ],
            )
            crash_point("sagemaker.set_traffic.after_update")
        if deadline.waits:
            final = self._settle(endpoint, deadline, progress)
            if mapping.traffic_of(final).to_dict() != wanted:
                raise OperationFailed(
                    f"endpoint {endpoint} did not take the new split: it serves {mapping.traffic_of(final).to_dict()}",
                    hint="re-run the same command",
                )
        return self.get_endpoint(endpoint)

    def _undeploy(
        self,
        endpoint: str,
        version: str,
        *,
        split: TrafficSplit,
        current: EndpointStatus,
        deadline: Deadline,
        progress=no_progress,
    ) -> EndpointStatus:
        label = version
        description = self._ready_description(endpoint, deadline if deadline.waits else None, progress)
        live = self._live_variants(description)
        if label not in live:
            return self.get_endpoint(endpoint)
        before = mapping.traffic_of(description)
        variants = [
            {**live[v], "InitialVariantWeight": float(split.percents.get(v, 0))}
            for v in live
            if v != label
        ]
        if before:
            self.records.update(endpoint, previous_traffic=before.to_dict())
        progress(f"removing {label} from {endpoint}")
        self._apply(
            endpoint, variants, description, self.options_class(), wait=deadline.waits, timeout=deadline,
            progress=progress,
        )
        if deadline.waits:
            autoscaling.remove(self.clients, endpoint, label)
        return self.get_endpoint(endpoint)

    def _predict(self, endpoint: str, instances: list[Any], *, version: str | None) -> Prediction:
        # A bare list of rows: what the prebuilt scikit-learn container decodes
        # (np.array(json.loads(body))) and what cloudeploy's serving image accepts too;
        # CSV when the prebuilt XGBoost container may answer (see payloads).
        reached = payloads.variant_images(self.clients.sagemaker, endpoint)
        request = self._invocation(endpoint, instances, version, reached)
        try:
            with translated(f"predicting on {endpoint}"):
                answer = self.clients.runtime.invoke_endpoint(**request)
                body = answer["Body"].read()
        except CloudeployError:
            # The images may have changed since they were read (a deploy from elsewhere):
            # if the payload format changed with them, send once more in the new one.
            fresh = payloads.variant_images(self.clients.sagemaker, endpoint, max_age=0)
            retry = self._invocation(endpoint, instances, version, fresh)
            if retry["ContentType"] == request["ContentType"]:
                raise
            request = retry
            with translated(f"predicting on {endpoint}"):
                answer = self.clients.runtime.invoke_endpoint(**request)
                body = answer["Body"].read()
        data = json.loads(body)
        predictions = payloads.predictions(data)
        return Prediction(
            predictions=predictions,
            version=answer.get("InvokedProductionVariant", version or ""),
            model=data.get("model", "") if isinstance(data, dict) else "",
            raw=data if isinstance(data, dict) else {"predictions": data},
            request_id=request["InferenceId"],
        )

    @staticmethod
    def _invocation(endpoint: str, instances: list[Any], version: str | None,
                    reached: dict[str, str]) -> dict[str, Any]:
        """InvokeEndpoint's arguments for ``instances``, in the format the reached containers read."""
        body, content_type = payloads.request(
            instances, [reached.get(version, "")] if version is not None else reached.values()
        )
        request: dict[str, Any] = {
            "EndpointName": endpoint,
            "Body": body,
            "ContentType": content_type,
            "Accept": "application/json",
        }
        if version is not None:
            request["TargetVariant"] = version
        # Our own id, recorded by data capture as eventMetadata.inferenceId: the key
        # `monitor evaluate` joins ground truth on (the service's RequestId is not captured).
        request["InferenceId"] = uuid.uuid4().hex
        return request

    def _delete_endpoint(
        self, name: str, *, current: EndpointStatus | None, deadline: Deadline, progress=no_progress
    ) -> None:
        payloads.forget(name)
        description = self._describe(name)
        if description is None:
            # Nothing on SageMaker (or an earlier delete finished): drop the record and
            # any config an interrupted run left.
            if self.records.get(name) is not None:
                self.records.delete(name)
            self._delete_old_configs(name, keep=None)
            return
        labels = [v["VariantName"] for v in description.get("ProductionVariants", [])]
        for label in labels:
            autoscaling.remove(self.clients, name, label)
        progress(f"deleting endpoint {name}")
        with translated(f"deleting endpoint {name}"):
            self.clients.sagemaker.delete_endpoint(EndpointName=name)
        if deadline.waits:
            wait_until(
                lambda: self._describe(name) is None,
                timeout=deadline,
                what=f"endpoint {name} to be deleted",
                how_to_check=f"`aws sagemaker describe-endpoint --endpoint-name {name}`",
                progress=progress,
            )
            self._delete_old_configs(name, keep=None)
        self.records.delete(name)

    # -- metrics ------------------------------------------------------------------

    def version_metrics(
        self, endpoint: str, version: str, *, since: float, until: float | None = None
    ) -> VersionMetrics:
        """The variant's CloudWatch invocation metrics and captured answers (see ``metrics``)."""
        label = normalize_version(version)
        until = time.time() if until is None else until
        with translated(f"reading metrics of {endpoint}/{label}"):
            description = self._describe(endpoint)
            config = self._config((description or {}).get("EndpointConfigName")) or {}
            capture = config.get("DataCaptureConfig") or {}
            reader = None
            if capture.get("EnableCapture", True) and capture.get("DestinationS3Uri"):
                if self._capture_reader is None:
                    self._capture_reader = CaptureReader(self.clients.s3)
                reader = (self._capture_reader, capture["DestinationS3Uri"])
            return metrics.version_metrics(
                self.clients.cloudwatch, endpoint=endpoint, variant=label, since=since,
                until=until, capture=reader,
            )  # fmt: skip

    # -- capabilities (see cloudeploy.providers.capabilities) -------------------

    capabilities = {
        "batch_backend": "cloudeploy.providers.sagemaker.batch:SageMakerBatch",
        "monitoring_hooks": "cloudeploy.providers.sagemaker.monitoring:SageMakerMonitoring",
        "native_rollout": "cloudeploy.providers.sagemaker.native_rollout:SageMakerNativeRollout",
        "shadow_source": "cloudeploy.providers.sagemaker.shadow:SageMakerShadow",
    }

    # -- state store --
    def _new_state_store(self) -> Any:
        """S3 objects in the profile's bucket, conditional writes (:mod:`.state_store`)."""
        return S3StateStore(self.clients)
