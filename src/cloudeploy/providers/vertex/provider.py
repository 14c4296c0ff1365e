"""The Vertex AI provider: the cloudeploy contract on google-cloud-aiplatform.

Models are Vertex models with versions; endpoints are Vertex endpoints whose
resource id is the cloudeploy endpoint name; a deployed version is a
DeployedModel, and splits by version label are translated to and from
deployed-model ids here, never shown to the caller. Long-running operations are
polled by cloudeploy itself, so ``timeout`` is honoured as given (the SDK's own
waits stop at 900 s), with progress reported on the way; the retries of every
call an operation makes stop at its ``timeout`` too.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudeploy.crashpoints import crash_point
from cloudeploy.errors import (
    CloudeployError,
    ConflictError,
    NotFoundError,
    OperationFailed,
    PackageError,
    TransientError,
    ValidationError,
)
from cloudeploy.packaging.manifest import read_manifest
from cloudeploy.providers.base import (
    Prediction,
    ProgressCallback,
    Provider,
    VersionMetrics,
    wait_until,
)
from cloudeploy.providers.deadline import Deadline
from cloudeploy.providers.vertex import containers, explanations, mapping, metrics, retries
from cloudeploy.providers.vertex.containers import (
    PREBUILT_FILE_NAMES,
    choose_container,
    runtime_of_image,
)
from cloudeploy.providers.vertex.errors import translate, translated
from cloudeploy.providers.vertex.options import VertexOptions
from cloudeploy.providers.vertex.pending import unfinished
from cloudeploy.providers.vertex.request_log import RequestLogReader, logging_table
from cloudeploy.providers.vertex.sdk import VertexClients
from cloudeploy.providers.vertex.settings import VertexSettings
from cloudeploy.providers.vertex.state_store import GcsStateStore
from cloudeploy.types import EndpointStatus, ModelVersion, Scaling, TrafficSplit, normalize_version

if TYPE_CHECKING:
    from cloudeploy.config import Profile

#: Seconds to wait for an operation when the caller gives no timeout.
DEFAULT_TIMEOUT = 3600.0
#: Seconds between "still waiting" progress messages.
PROGRESS_EVERY = 10.0


def _retries_within_timeout(method: Callable[..., Any]) -> Callable[..., Any]:
    """Stop the retries of every call the primitive ``method`` makes at its ``deadline``
    (see :func:`.retries.deadline`).

    A deadline that does not wait (``timeout=0``, ``wait=False``) leaves the
    attempts as the only bound: it only means "do not wait for the operation",
    not "do not retry the request".
    """

    @functools.wraps(method)
    def bounded(self: VertexProvider, *args: Any, **kwargs: Any) -> Any:
        deadline: Deadline | None = kwargs.get("deadline")
        with retries.deadline(deadline.remaining_or_none() if deadline is not None and deadline.waits else None):
            return method(self, *args, **kwargs)

    return bounded


def _refuse_prebuilt(image_uri: str, version: ModelVersion) -> None:
    """The ``strict`` option: refuse a version that a prebuilt image serves, since
    those hand any array to the model instead of checking it against the schema."""
    if runtime_of_image(image_uri) == "cloudeploy":
        return
    raise ValidationError(
        f"strict: {version.ref} is registered with the prebuilt image {image_uri.rsplit('/', 1)[-1]}, "
        "which does not refuse requests that do not match the input schema",
        hint="register the model under another name with strict (it then gets the cloudeploy serving "
        "image), or deploy without strict",
    )


class VertexProvider(Provider):
    """Google Vertex AI (or the cloudeploy Vertex emulator, via ``api_endpoint``).

    Options: :class:`~cloudeploy.providers.vertex.options.VertexOptions`
    (``serving_image``, ``labels``, ``service_account``, ``strict``, ``model_name``),
    listed in docs/options.md.
    """

    name = "vertex"
    options_class = VertexOptions
    default_timeout = DEFAULT_TIMEOUT
    supports_version_metrics = True
    supports_delete_model_version = True

    def __init__(self, profile: Profile) -> None:
        super().__init__(profile)
        self.settings = VertexSettings.from_profile(profile.name, dict(profile.settings))
        self.clients = VertexClients(self.settings)
        self._request_log = None  # a RequestLogReader, made on first version_metrics

    # -- helpers -------------------------------------------------------------

    def _within(self, deadline: Deadline) -> Any:
        """Every call a public method makes, reads included, stops retrying at its deadline
        (see :func:`_retries_within_timeout`)."""
        return retries.deadline(deadline.remaining_or_none() if deadline.waits else None)

    def _model_name(self, model: str) -> str:
        return f"{self.settings.parent}/models/{mapping.check_name(model, 'model')}"

    def _endpoint_name(self, endpoint: str) -> str:
        return f"{self.settings.parent}/endpoints/{mapping.check_name(endpoint, 'endpoint')}"

    def _add_labels(self, registered: Any, options: VertexOptions) -> None:
        """Give the ``labels`` option to a version registered earlier (an upload of the same package)."""
        held = dict(registered.labels)
        wanted = {k: mapping.label_value(v) for k, v in (options.labels or {}).items()}
        if all(held.get(k) == v for k, v in wanted.items()):
            return
        name = f"{registered.name}@{registered.version_id}"
        with translated(f"labelling {name}"):
            self.clients.models.update_model(
                model={"name": name, "labels": {**held, **wanted}}, update_mask={"paths": ["labels"]}
            )

    def _labels(self, options: VertexOptions, **extra: str) -> dict[str, str]:
        labels = {k: mapping.label_value(v) for k, v in (options.labels or {}).items()}
        labels.update({k: mapping.label_value(v) for k, v in extra.items()})
        labels[mapping.MANAGED_LABEL] = "true"
        return labels

    def _wait(
        self,
        operation: Any,
        *,
        what: str,
        timeout: float | Deadline | None,
        progress: ProgressCallback,
        how_to_check: str,
    ) -> Any:
        """Poll ``operation`` until done and return its result.

        cloudeploy polls instead of ``operation.result()`` so that ``timeout``
        (the call's :class:`Deadline`, or seconds) is honoured as given (None:
        :data:`DEFAULT_TIMEOUT`) rather than the SDK's
        900 s, and progress is reported every :data:`PROGRESS_EVERY` seconds. A
        poll that is throttled or fails transiently does not end the wait: the
        next one follows, until the timeout (OperationTimeout). An operation that
        ends in error raises OperationFailed with the service's message
        (ValidationError when the service calls the request invalid).
        """
        from google.api_core.exceptions import GoogleAPICallError

        progress(f"waiting for {what}")
        started = last_report = time.monotonic()

        def done() -> bool:
            nonlocal last_report
            try:
                with translated(what):
                    finished = operation.done(retry=None)
            except TransientError as error:
                progress(f"polling {what} failed ({error.message}); polling again")
                return False
            if not finished and time.monotonic() - last_report >= PROGRESS_EVERY:
                last_report = time.monotonic()
                progress(f"still waiting for {what} ({last_report - started:.0f}s)")
            return finished

        wait_until(
            done,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            what=what,
            how_to_check=how_to_check,
            progress=progress,
            interval=0.05,
        )
        try:
            return operation.result(timeout=60)
        except GoogleAPICallError as error:
            failure = translate(error, what)
            if isinstance(failure, (ValidationError, NotFoundError)):
                raise failure from error
            raise OperationFailed(failure.message, hint=how_to_check) from error

    def _finish_pending(
        self, resource: str, *, timeout: float | Deadline | None, progress: ProgressCallback
    ) -> None:
        """Wait for the operations an earlier, interrupted run left running on ``resource``.

        See :mod:`.pending`. How each ends does not matter: the caller reads the
        resource afterwards and does what is still missing.
        """
        short = resource.rsplit("/", 1)[-1]
        try:
            with translated(f"listing the operations on {short}"):
                running = unfinished(self.clients.endpoints, resource)
        except NotFoundError:
            return
        for operation in running:
            what = f"operation {operation.name.rsplit('/', 1)[-1]} on {short}, started earlier"
            try:
                self._wait(
                    operation,
                    what=what,
                    timeout=timeout,
                    progress=progress,
                    how_to_check=f"run `cloudeploy status {short}`",
                )
            except (OperationFailed, ValidationError, NotFoundError) as error:
                progress(f"{what} did not succeed ({error.message}); doing its work again")

    # -- registry ------------------------------------------------------------

    def _versions(self, model: str) -> list[Any]:
        """Vertex versions of ``model`` by version id; [] if the model does not exist."""
        try:
            with translated(f"listing versions of {model}"):
                found = list(self.clients.models.list_model_versions(name=self._model_name(model)))
        except NotFoundError:
            return []
        return sorted(found, key=lambda m: int(m.version_id))

    @_retries_within_timeout
    def _upload_model(
        self,
        package_dir: Path,
        model: str,
        *,
        aliases: tuple[str, ...],
        deadline: Deadline,
        progress: ProgressCallback,
        options: VertexOptions,
    ) -> ModelVersion:
        """Stage the package and register it as a new version (idempotent by digest).

        The registration is always awaited, since the version label is only known
        once Vertex AI has assigned it; the deadline bounds that wait (the
        provider's default when the caller does not wait).
        """
        timeout = deadline if deadline.waits else None
        aliases = mapping.check_aliases(list(aliases))
        model_name = self._model_name(model)
        package_dir = Path(package_dir)
        if not package_dir.is_dir():
            raise PackageError(
                f"{package_dir} is not a package directory",
                hint="build one with `cloudeploy package`",
            )
        manifest = read_manifest(package_dir)
        digest = manifest.digest
        self._finish_pending(model_name, timeout=timeout, progress=progress)
        versions = self._versions(model)
        for existing in versions:
            if mapping.model_version(existing, model).digest == digest:
                progress(
                    f"{model} {mapping.version_label(existing.version_id)} already holds this package"
                )
                if options.strict:
                    _refuse_prebuilt(existing.container_spec.image_uri, mapping.model_version(existing, model))
                self._add_labels(existing, options)
                return (
                    self.set_aliases(model, mapping.version_label(existing.version_id), aliases)
                    if aliases
                    else mapping.model_version(existing, model)
                )

        container = choose_container(
            model_format=manifest.format,
            sklearn_version=manifest.sklearn_version,
            region=self.settings.region,
            serving_image=options.serving_image or self.settings.serving_image,
            frameworks=manifest.frameworks,
            strict=bool(options.strict),
        )
        progress(f"container: {container.image_uri} ({container.reason})")
        artifact_uri = self._stage(package_dir, manifest, model, container, progress)
        self._release_aliases(model, versions, aliases)
        spec = self._model_spec(model, manifest, artifact_uri, container, aliases, options)
        request: dict[str, Any] = {"parent": self.settings.parent, "model": spec}
        if versions:
            request["parent_model"] = model_name
        else:
            request["model_id"] = model
        progress(f"registering a new version of {model}")
        with translated(f"uploading {model}"):
            operation = self.clients.models.upload_model(request=request)
        crash_point("vertex.deploy.after_upload_started")
        response = self._wait(
            operation,
            what=f"the upload of {model}",
            timeout=timeout,
            progress=progress,
            how_to_check=f"run `cloudeploy models show {model}`",
        )
        crash_point("vertex.deploy.after_upload")
        return self.get_model_version(model, mapping.version_label(response.model_version_id))

    def _stage(
        self,
        package_dir: Path,
        manifest: Any,
        model: str,
        container: Any,
        progress: ProgressCallback,
    ) -> str:
        """Copy the package to ``<staging_bucket>/cloudeploy/<model>/<digest[:16]>``; its URI.

        For a prebuilt image the model file is also staged under the name those
        images load (``model.joblib`` / ``model.pkl``).
        """
        parts = (self.settings.staging_prefix, "cloudeploy", model, manifest.digest[:16])
        artifact_uri = f"gs://{self.settings.bucket}/" + "/".join(p for p in parts if p)
        extra = {}
        prebuilt_name = PREBUILT_FILE_NAMES.get(manifest.format)
        if container.prebuilt and prebuilt_name and Path(manifest.model_file).name != prebuilt_name:
            extra[prebuilt_name] = package_dir / manifest.model_file
        progress(f"staging package to {artifact_uri}")
        with translated(f"staging the package to {artifact_uri}"):
            self.clients.upload_folder(package_dir, artifact_uri, extra)
        return artifact_uri

    def _model_spec(
        self,
        model: str,
        manifest: Any,
        artifact_uri: str,
        container: Any,
        aliases: list[str],
        options: VertexOptions,
    ) -> dict[str, Any]:
        """The Vertex ``Model`` of a new version: labels, aliases, digest, container."""
        extra = {
            mapping.MODEL_LABEL: model,
            mapping.DIGEST_LABEL: manifest.digest,
            mapping.FORMAT_LABEL: manifest.format,
            containers.RUNTIME_LABEL: manifest.runtime,
        }
        if manifest.sklearn_version:
            extra[mapping.SKLEARN_LABEL] = manifest.sklearn_version.replace(".", "_")
        spec: dict[str, Any] = {
            "display_name": model,
            "artifact_uri": artifact_uri,
            "labels": self._labels(options, **extra),
            "version_aliases": [*aliases, mapping.DEFAULT_ALIAS],
            "version_description": f"{mapping.DIGEST_PREFIX}{manifest.digest}",
            "container_spec": {"image_uri": container.image_uri},
        }
        if not container.prebuilt:
            spec["container_spec"].update(
                {
                    "predict_route": "/predict",
                    "health_route": "/health",
                    "ports": [{"container_port": 8080}],
                }
            )
        if self.settings.encryption_key:
            spec["encryption_spec"] = {"kms_key_name": self.settings.encryption_key}
        explanation = explanations.explanation_spec(manifest)
        if explanation is not None:  # Vertex's feature-attribution monitoring needs it (explanations.py)
            spec["explanation_spec"] = explanation
        return spec

    def _release_aliases(
        self, model: str, versions: list[Any], aliases: Sequence[str], keep: str | None = None
    ) -> None:
        """Take ``aliases`` away from the versions holding them (except ``keep``)."""
        for existing in versions:
            taken = [a for a in aliases if a in existing.version_aliases]
            if taken and existing.version_id != keep:
                with translated(f"moving aliases of {model}"):
                    self.clients.models.merge_version_aliases(
                        name=f"{self._model_name(model)}@{existing.version_id}",
                        version_aliases=[f"-{a}" for a in taken],
                    )

    def get_model_version(self, model: str, version: str = "latest") -> ModelVersion:
        model_name = self._model_name(model)
        if version == "latest":
            versions = self._versions(model)
            if not versions:
                raise NotFoundError(
                    f"model {model!r} not found on Vertex AI ({self.settings.parent})"
                )
            return mapping.model_version(versions[-1], model)
        try:
            ref = normalize_version(version)[1:]
        except ValidationError:
            ref = version
        try:
            with translated(f"getting {model}@{version}"):
                found = self.clients.models.get_model(name=f"{model_name}@{ref}")
        except NotFoundError:
            versions = self._versions(model)
            if not versions:
                raise NotFoundError(
                    f"model {model!r} not found on Vertex AI ({self.settings.parent})"
                ) from None
            known = ", ".join(mapping.version_label(v.version_id) for v in versions)
            raise NotFoundError(
                f"model {model!r} has no version or alias {version!r} (versions: {known})"
            ) from None
        return mapping.model_version(found, model)

    def list_models(self) -> list[str]:
        with translated("listing models"):
            found = self.clients.models.list_models(
                request={
                    "parent": self.settings.parent,
                    "filter": f"labels.{mapping.MANAGED_LABEL}=true",
                }
            )
            return sorted({m.name.rsplit("/", 1)[-1] for m in found})

    def list_versions(self, model: str) -> list[ModelVersion]:
        versions = self._versions(model)
        if not versions:
            raise NotFoundError(f"model {model!r} not found on Vertex AI ({self.settings.parent})")
        return [mapping.model_version(v, model) for v in versions]

    def set_aliases(self, model: str, version: str, aliases: Sequence[str]) -> ModelVersion:
        aliases = mapping.check_aliases(list(aliases))
        target = self.get_model_version(model, version)
        if not aliases:
            return target
        version_id = target.version[1:]
        self._release_aliases(model, self._versions(model), aliases, keep=version_id)
        with translated(f"setting aliases of {model} {target.version}"):
            updated = self.clients.models.merge_version_aliases(
                name=f"{self._model_name(model)}@{version_id}", version_aliases=aliases
            )
        return mapping.model_version(updated, model)

    def _delete_model_version(self, target: ModelVersion, *, deadline: Deadline, progress: ProgressCallback) -> None:
        """Delete one version; Vertex AI refuses a deployed one (FAILED_PRECONDITION -> ConflictError).

        Vertex AI also refuses to delete the version holding the ``default`` alias
        while others exist: the alias first moves to the newest other version.
        """
        model = target.model
        model_name = self._model_name(model)
        version_id = target.version[1:]
        versions = self._versions(model)
        others = [v for v in versions if str(v.version_id) != version_id]
        holds_default = any(
            str(v.version_id) == version_id and mapping.DEFAULT_ALIAS in v.version_aliases for v in versions
        )
        if holds_default and others:
            newest = mapping.version_label(others[-1].version_id)
            progress(f"moving the {mapping.DEFAULT_ALIAS} alias of {model} to {newest}")
            with translated(f"moving the {mapping.DEFAULT_ALIAS} alias of {model}"):
                self.clients.models.merge_version_aliases(
                    name=f"{model_name}@{others[-1].version_id}", version_aliases=[mapping.DEFAULT_ALIAS]
                )
        progress(f"deleting {model}@{target.version}")
        with translated(f"deleting {model}@{target.version}"):
            operation = self.clients.models.delete_model_version(name=f"{model_name}@{version_id}")
        if deadline.waits:
            self._wait(
                operation,
                what=f"the deletion of {model}@{target.version}",
                timeout=deadline,
                progress=progress,
                how_to_check=f"run `cloudeploy models show {model}`",
            )

    # -- endpoints -----------------------------------------------------------

    def _endpoint(self, name: str) -> Any:
        with translated(f"getting endpoint {name}"):
            return self.clients.endpoints.get_endpoint(name=self._endpoint_name(name))

    def _status(self, endpoint: Any) -> EndpointStatus:
        status = mapping.endpoint_status(endpoint, self.settings.predict_base)
        return containers.with_runtimes(status, endpoint, self.clients.models.get_model)

    @_retries_within_timeout
    def _create_endpoint(
        self,
        name: str,
        *,
        model: str,
        existing: EndpointStatus | None,
        deadline: Deadline,
        progress: ProgressCallback,
        options: VertexOptions,
    ) -> EndpointStatus:
        """Create ``endpoints/NAME`` or adopt the existing one (labelling it for ``model``)."""
        mapping.check_name(model, "model")
        try:
            existing = self._endpoint(name)
        except NotFoundError:
            existing = None
        if existing is not None:
            held = dict(existing.labels)
            adopting = held.get(mapping.MODEL_LABEL) != model
            relabelling = any(held.get(k) != v for k, v in (options.labels or {}).items())
            if adopting or relabelling:
                progress(f"adopting endpoint {name}" if adopting else f"labelling endpoint {name}")
                labels = {
                    **dict(existing.labels),
                    **self._labels(options, **{mapping.MODEL_LABEL: model}),
                }
                with translated(f"labelling endpoint {name}"):
                    existing = self.clients.endpoints.update_endpoint(
                        endpoint={"name": existing.name, "labels": labels},
                        update_mask={"paths": ["labels"]},
                    )
            return self._status(existing)
        body: dict[str, Any] = {
            "display_name": name,
            "labels": self._labels(
                options, **{mapping.MODEL_LABEL: model, mapping.CREATED_LABEL: "true"}
            ),
        }
        if self.settings.network:
            body["network"] = self.settings.network
        if self.settings.encryption_key:
            body["encryption_spec"] = {"kms_key_name": self.settings.encryption_key}
        progress(f"creating endpoint {name}")
        try:
            with translated(f"creating endpoint {name}"):
                operation = self.clients.endpoints.create_endpoint(
                    parent=self.settings.parent, endpoint=body, endpoint_id=name
                )
        except ConflictError:  # created concurrently: converge on it
            return self._status(self._endpoint(name))
        crash_point("vertex.deploy.after_create_endpoint_started")
        if not deadline.waits:
            return EndpointStatus(
                name=name, provider=self.name, model=model, state="creating", url="", native_state="creating"
            )
        self._wait(
            operation,
            what=f"the creation of endpoint {name}",
            timeout=deadline,
            progress=progress,
            how_to_check=f"run `cloudeploy endpoints show {name}`",
        )
        crash_point("vertex.deploy.after_create_endpoint")
        return self.get_endpoint(name)

    def get_endpoint(self, name: str) -> EndpointStatus:
        return self._status(self._endpoint(name))

    def list_endpoints(self) -> list[EndpointStatus]:
        with translated("listing endpoints"):
            found = self.clients.endpoints.list_endpoints(
                request={
                    "parent": self.settings.parent,
                    "filter": f"labels.{mapping.MANAGED_LABEL}=true",
                }
            )
            return sorted((self._status(e) for e in found), key=lambda s: s.name)

    @_retries_within_timeout
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
        progress: ProgressCallback,
        options: VertexOptions,
    ) -> EndpointStatus:
        if options.strict:
            with translated(f"reading {version.ref}"):
                registered = self.clients.models.get_model(name=version.provider_id)
            _refuse_prebuilt(registered.container_spec.image_uri, version)
        current = self._endpoint(endpoint)
        label = normalize_version(version.version)
        if label not in mapping.deployed_versions(current):
            self._finish_pending(current.name, timeout=deadline if deadline.waits else None, progress=progress)
            current = self._endpoint(endpoint)
        before = mapping.traffic_of(current)
        deployed = mapping.deployed_versions(current).get(label)
        if deployed is not None:
            return self._update_in_place(
                endpoint,
                current,
                deployed,
                label,
                split if traffic is not None else None,
                scaling,
                machine_type,
                deadline,
                progress,
            )
        after = split
        ids = {v: d.id for v, d in mapping.deployed_versions(current).items()}
        wire_split = {ids[v]: p for v, p in after.items() if v != label and v in ids}
        wire_split["0"] = after[label]
        deployed_model: dict[str, Any] = {
            "model": f"{self._model_name(version.model)}@{label[1:]}",
            "display_name": f"{version.model}-{label}",
            "dedicated_resources": mapping.dedicated_resources(scaling or Scaling(), machine_type),
        }
        service_account = options.service_account or self.settings.service_account
        if service_account:
            deployed_model["service_account"] = service_account
        if before and _serving(after) != _serving(before):
            self._remember(endpoint, before)
            crash_point("vertex.deploy.after_record")
        progress(f"deploying {version.model} {label} to {endpoint} at {after[label]}%")
        with translated(f"deploying {label} to {endpoint}"):
            operation = self.clients.endpoints.deploy_model(
                endpoint=current.name,
                deployed_model=deployed_model,
                traffic_split=wire_split,
                timeout=deadline.remaining() if deadline.waits else None,
            )
        crash_point("vertex.deploy.after_deploy_started")
        if not deadline.waits:
            return self._status(current)
        try:
            self._wait(
                operation,
                what=f"the deployment of {label} to {endpoint}",
                timeout=deadline,
                progress=progress,
                how_to_check=f"run `cloudeploy endpoints show {endpoint}`",
            )
        except (OperationFailed, ValidationError) as error:
            if not before and dict(current.labels).get(mapping.CREATED_LABEL) == "true":
                self._remove_orphan(endpoint, error, progress)
            raise
        crash_point("vertex.deploy.after_deploy")
        return self._status(self._endpoint(endpoint))

    def _update_in_place(
        self,
        endpoint: str,
        current: Any,
        deployed: Any,
        label: str,
        split: TrafficSplit | None,
        scaling: Scaling | None,
        machine_type: str | None,
        deadline: Deadline,
        progress: ProgressCallback,
    ) -> EndpointStatus:
        """Converge an already deployed version on the asked scaling and ``split`` (None: keep)."""
        resources = deployed.dedicated_resources
        if machine_type and machine_type != resources.machine_spec.machine_type:
            raise ValidationError(
                f"{label} runs on {resources.machine_spec.machine_type} on {endpoint}; "
                "Vertex AI cannot change the machine type of a deployed model",
                hint=f"undeploy {label} and deploy it again with --machine-type {machine_type}",
            )
        if scaling is not None and mapping.scaling_of(resources) != scaling:
            wanted = mapping.dedicated_resources(scaling, resources.machine_spec.machine_type)
            wanted.pop("machine_spec")
            wanted.setdefault("autoscaling_metric_specs", [])
            progress(
                f"rescaling {label} on {endpoint} to {scaling.min_replicas}..{scaling.max_replicas} replicas"
            )
            with translated(f"rescaling {label} on {endpoint}"):
                operation = self.clients.endpoints.mutate_deployed_model(
                    endpoint=current.name,
                    deployed_model={"id": deployed.id, "dedicated_resources": wanted},
                    update_mask={"paths": [f"dedicated_resources.{field}" for field in wanted]},
                )
            if deadline.waits:
                self._wait(
                    operation,
                    what=f"rescaling {label} on {endpoint}",
                    timeout=deadline,
                    progress=progress,
                    how_to_check=f"run `cloudeploy endpoints show {endpoint}`",
                )
        before = mapping.traffic_of(current)
        if split is not None and _serving(before) != _serving(split):
            return self._set_traffic(
                endpoint, split, current=self.get_endpoint(endpoint), deadline=deadline, progress=progress
            )
        progress(f"{label} is already deployed on {endpoint}")
        return self.get_endpoint(endpoint)

    def _remove_orphan(
        self, endpoint: str, error: CloudeployError, progress: ProgressCallback
    ) -> None:
        """Delete an endpoint cloudeploy created whose first deploy failed, so none is left behind."""
        progress(f"removing endpoint {endpoint}: its first deployment failed")
        try:
            self.delete_endpoint(endpoint, progress=progress)
        except CloudeployError as cleanup:
            error.hint = (
                f"the empty endpoint {endpoint} could not be removed ({cleanup.message}); delete it"
            )
        else:
            error.hint = (
                f"endpoint {endpoint} (created for this deployment, never served) was removed"
            )

    def _remember(self, endpoint: str, split: TrafficSplit) -> None:
        """Record ``split`` as the one to roll back to (before a deploy changes it)."""
        current = self._endpoint(endpoint)
        encoded = mapping.encode_split(split)
        if dict(current.labels).get(mapping.PREVIOUS_LABEL) == encoded:
            return  # a re-run after a crash: already recorded
        labels = {**dict(current.labels), mapping.PREVIOUS_LABEL: encoded}
        with translated(f"recording the previous split of {endpoint}"):
            self.clients.endpoints.update_endpoint(
                endpoint={"name": current.name, "labels": labels}, update_mask={"paths": ["labels"]}
            )

    @_retries_within_timeout
    def _set_traffic(
        self,
        endpoint: str,
        split: TrafficSplit,
        *,
        current: EndpointStatus,
        deadline: Deadline,
        progress: ProgressCallback,
    ) -> EndpointStatus:
        """Apply ``split`` in one update, which also records the split it replaces."""
        current = self._endpoint(endpoint)
        deployed = mapping.deployed_versions(current)
        before = mapping.traffic_of(current)
        if _serving(before) == _serving(split):
            progress(f"{endpoint} already serves that split")
            return self._status(current)
        wanted = {d.id: split.percents.get(v, 0) for v, d in deployed.items()}
        labels = {**dict(current.labels), mapping.PREVIOUS_LABEL: mapping.encode_split(before)}
        progress(
            f"setting traffic of {endpoint}: {', '.join(f'{v}={p}' for v, p in split.items()) or 'none'}"
        )
        with translated(f"setting the traffic of {endpoint}"):
            updated = self.clients.endpoints.update_endpoint(
                endpoint={"name": current.name, "traffic_split": wanted, "labels": labels},
                update_mask={"paths": ["traffic_split", "labels"]},
            )
        crash_point("vertex.set_traffic.after_update")
        return self._status(updated)

    def previous_traffic(self, endpoint: str) -> TrafficSplit | None:
        return mapping.decode_split(
            dict(self._endpoint(endpoint).labels).get(mapping.PREVIOUS_LABEL)
        )

    @_retries_within_timeout
    def _undeploy(
        self,
        endpoint: str,
        version: str,
        *,
        split: TrafficSplit,
        current: EndpointStatus,
        deadline: Deadline,
        progress: ProgressCallback,
    ) -> EndpointStatus:
        label = version
        native = self._endpoint(endpoint)
        deployed = mapping.deployed_versions(native)
        if label not in deployed:
            return self._status(native)
        if mapping.traffic_of(native).percents.get(label, 0) and split:
            self._set_traffic(endpoint, split, current=current, deadline=deadline, progress=progress)
        progress(f"undeploying {label} from {endpoint}")
        with translated(f"undeploying {label} from {endpoint}"):
            operation = self.clients.endpoints.undeploy_model(
                endpoint=native.name, deployed_model_id=deployed[label].id
            )
        if deadline.waits:
            self._wait(
                operation,
                what=f"the undeployment of {label} from {endpoint}",
                timeout=deadline,
                progress=progress,
                how_to_check=f"run `cloudeploy endpoints show {endpoint}`",
            )
        return self.get_endpoint(endpoint)

    def _predict(self, endpoint: str, instances: list[Any], *, version: str | None) -> Prediction:
        """Over REST, pinned or not, so predictions keep their JSON types (the
        SDK's protobuf ``Value`` would turn a label ``0`` into ``0.0``)."""
        name = self._endpoint_name(endpoint)
        if version is None:
            with translated(f"predicting on {endpoint}"):
                body = self.clients.post(f"{name}:predict", {"instances": instances})
            return Prediction(
                predictions=body["predictions"],
                version=mapping.version_label(body.get("modelVersionId") or "1"),
                model=body.get("modelDisplayName", ""),
                raw={"deployed_model_id": body.get("deployedModelId")},
            )
        label = version
        deployed = mapping.deployed_versions(self._endpoint(endpoint))
        if label not in deployed:
            raise NotFoundError(
                f"{label} is not deployed on endpoint {endpoint} (deployed: {', '.join(deployed) or 'none'})"
            )
        with translated(f"predicting on {endpoint} {label}"):
            body = self.clients.post(
                f"{name}/deployedModels/{deployed[label].id}:predict", {"instances": instances}
            )
        return Prediction(
            predictions=body["predictions"],
            version=mapping.version_label(body.get("modelVersionId") or label[1:]),
            model=body.get("modelDisplayName", ""),
            raw={"deployed_model_id": body.get("deployedModelId")},
        )

    def version_metrics(
        self, endpoint: str, version: str, *, since: float, until: float | None = None
    ) -> VersionMetrics:
        """``version``'s Cloud Monitoring metrics and logged answers (see ``metrics``).

        The version's deployed model on ``endpoint`` is looked up now, so a version
        that is no longer deployed raises NotFoundError.
        """
        label = normalize_version(version)
        resource = self._endpoint(endpoint)
        deployed = mapping.deployed_versions(resource)
        if label not in deployed:
            raise NotFoundError(
                f"{label} is not deployed on endpoint {endpoint} (deployed: {', '.join(deployed) or 'none'})"
            )
        until = time.time() if until is None else until
        deployed_id = str(deployed[label].id)
        answers = None
        logging = resource.predict_request_response_logging_config
        if logging.enabled:
            table = logging_table(logging.bigquery_destination.output_uri, resource, self.settings.project)
            if self._request_log is None:
                self._request_log = RequestLogReader(self.clients.bigquery)
            with translated(f"reading the request-response log {table} of {endpoint}"):
                answers = self._request_log.tally(table, deployed_id, since=since, until=until)
        with translated(f"reading the metrics of {endpoint} {label} from Cloud Monitoring"):
            return metrics.version_metrics(
                self.clients.monitoring,
                project=self.settings.project,
                endpoint_id=endpoint,
                deployed_model_id=deployed_id,
                version=label,
                since=since,
                until=until,
                answers=answers,
            )

    @_retries_within_timeout
    def _delete_endpoint(
        self, name: str, *, current: EndpointStatus | None, deadline: Deadline, progress: ProgressCallback
    ) -> None:
        """Clear the traffic, undeploy every version, delete.

        The undeploys are awaited even when the caller does not wait (Vertex AI
        refuses to delete an endpoint with deployed models), within the
        deadline, or the default bound then; the deletion itself only while
        ``deadline.waits``.
        """
        if current is None:
            return
        try:
            native = self._endpoint(name)
        except NotFoundError:
            return
        undeploys = deadline if deadline.waits else Deadline(timeout=self.default_timeout)
        # A deploy still in progress would add a model after the undeploys below.
        self._finish_pending(native.name, timeout=undeploys, progress=progress)
        native = self._endpoint(name)
        deployed = mapping.deployed_versions(native)
        if deployed:
            progress(f"stopping traffic to {name}")
            with translated(f"clearing the traffic of {name}"):
                self.clients.endpoints.update_endpoint(
                    endpoint={"name": native.name, "traffic_split": {}},
                    update_mask={"paths": ["traffic_split"]},
                )
            for label, model in deployed.items():
                progress(f"undeploying {label} from {name}")
                with translated(f"undeploying {label} from {name}"):
                    operation = self.clients.endpoints.undeploy_model(
                        endpoint=native.name, deployed_model_id=model.id
                    )
                self._wait(
                    operation,
                    what=f"the undeployment of {label} from {name}",
                    timeout=undeploys,
                    progress=progress,
                    how_to_check=f"run `cloudeploy endpoints show {name}`",
                )
        progress(f"deleting endpoint {name}")
        try:
            with translated(f"deleting endpoint {name}"):
                operation = self.clients.endpoints.delete_endpoint(name=native.name)
        except NotFoundError:
            return
        if deadline.waits:
            self._wait(
                operation,
                what=f"the deletion of endpoint {name}",
                timeout=deadline,
                progress=progress,
                how_to_check=f"run `cloudeploy endpoints show {name}`",
            )

    # -- capabilities (see cloudeploy.providers.capabilities) -------------------

    capabilities = {
        "batch_backend": "cloudeploy.providers.vertex.batch:VertexBatch",
        "monitoring_hooks": "cloudeploy.providers.vertex.monitoring:VertexMonitoring",
        "shadow_source": "cloudeploy.providers.vertex.shadow:VertexShadow",
    }

    # -- state store --
    def _new_state_store(self) -> Any:
        """Objects in the staging bucket, generation-match preconditions (:mod:`.state_store`)."""
        return GcsStateStore(self.clients)


def _serving(split: TrafficSplit) -> dict[str, int]:
    """The versions that get traffic, and how much (a 0% entry serves nothing)."""
    return {version: percent for version, percent in split.items() if percent}
