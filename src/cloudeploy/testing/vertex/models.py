"""The Model Registry of one project and region: models, versions, aliases.

Rules the real service enforces and this store does too:

- versions are numbered ``1, 2, ...`` per model; the first gets the ``default``
  alias, and exactly one version holds it (giving it to another version moves it);
- aliases match ``[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]``, are unique within a model
  and are not numbers (they would shadow version ids);
- a model or version that is deployed cannot be deleted, nor the default
  version while others exist.

A name resolves as ``models/ID`` (the default version), ``models/ID@3`` or
``models/ID@alias``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from cloudeploy.testing.vertex._wire import (
    EMPTY,
    ApiError,
    IdSource,
    invalid,
    matches_filter,
    not_found,
    now,
    precondition,
    typed,
)
from cloudeploy.testing.vertex.operations import Operation, OperationStore

ALIAS_RE = re.compile(r"^[a-z][a-zA-Z0-9-]{0,126}[a-z0-9]$")
DEFAULT_ALIAS = "default"
_MODEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DEDICATED_RESOURCES = 1


@dataclass
class Version:
    """One version of a model: what ``GET models/ID@N`` returns."""

    model_id: str
    version_id: str
    spec: dict[str, Any]
    aliases: list[str] = field(default_factory=list)
    create_time: str = field(default_factory=now)
    update_time: str = ""
    #: (endpoint resource name, deployed model id) pairs, kept by the endpoint store.
    deployments: list[tuple[str, str]] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        """The version's own labels (given at upload or by a versioned update)."""
        return self.spec.setdefault("labels", {})

    @property
    def artifact_uri(self) -> str:
        return self.spec.get("artifactUri", "")

    @property
    def image_uri(self) -> str:
        return self.spec.get("containerSpec", {}).get("imageUri", "")

    @property
    def display_name(self) -> str:
        return self.spec.get("displayName", "")


@dataclass
class Model:
    model_id: str
    name: str
    versions: dict[str, Version] = field(default_factory=dict)
    next_version: int = 1
    create_time: str = field(default_factory=now)
    #: Labels set by a model-level update; merged under each version's own labels on read.
    labels: dict[str, str] = field(default_factory=dict)

    def default_version(self) -> Version:
        return next(v for v in self.versions.values() if DEFAULT_ALIAS in v.aliases)


def _check_aliases(aliases: list[str]) -> None:
    for alias in aliases:
        if not isinstance(alias, str) or not ALIAS_RE.match(alias) or alias.isdigit():
            raise invalid(
                f"Invalid version alias {alias!r}: aliases must match "
                f"[a-z][a-zA-Z0-9-]{{0,126}}[a-z0-9] and must not be a version number."
            )
    duplicates = {a for a in aliases if aliases.count(a) > 1}
    if duplicates:
        raise invalid(f"Duplicate version aliases: {', '.join(sorted(duplicates))}.")


class ModelStore:
    """Models of one project and region (``parent`` is ``projects/P/locations/L``)."""

    def __init__(self, parent: str, ids: IdSource, operations: OperationStore) -> None:
        self.parent = parent
        self._ids = ids
        self._operations = operations
        self._models: dict[str, Model] = {}
        #: Checks artifacts before a version is registered; set by the backend.
        self.check_artifacts = lambda artifact_uri, image_uri: None

    # -- lookup ---------------------------------------------------------------

    def _split(self, name: str) -> tuple[str, str | None]:
        """``.../models/ID@ref`` -> (ID, ref or None)."""
        tail = name.rsplit("/models/", 1)[-1]
        model_id, _, ref = tail.partition("@")
        return model_id, (ref or None)

    def model(self, name: str) -> Model:
        model_id, _ = self._split(name)
        model = self._models.get(model_id)
        if model is None:
            raise not_found(f"Model {self.parent}/models/{model_id} not found.")
        return model

    def version(self, name: str) -> Version:
        """Resolve ``models/ID``, ``models/ID@N`` or ``models/ID@alias``."""
        model = self.model(name)
        _, ref = self._split(name)
        if ref is None:
            return model.default_version()
        if ref in model.versions:
            return model.versions[ref]
        for version in model.versions.values():
            if ref in version.aliases:
                return version
        raise not_found(f"Model {model.name}@{ref} not found: no version or alias {ref!r}.")

    # -- upload ---------------------------------------------------------------

    def upload(self, body: dict[str, Any]) -> Operation:
        """``models:upload``: a new model, or a new version under ``parentModel``."""
        spec = dict(body.get("model") or {})
        if not spec.get("displayName"):
            raise invalid("model.display_name is required.")
        image_uri = spec.get("containerSpec", {}).get("imageUri", "")
        if not image_uri:
            raise invalid("model.container_spec.image_uri is required.")
        aliases = list(spec.pop("versionAliases", []) or [])
        _check_aliases(aliases)
        parent_model = body.get("parentModel")
        if parent_model:
            model = self.model(parent_model)
            taken = {
                a: v.version_id
                for v in model.versions.values()
                for a in v.aliases
                if a != DEFAULT_ALIAS
            }
            clash = sorted(a for a in aliases if a in taken)
            if clash:
                raise invalid(
                    f"Version alias {clash[0]!r} is already used by version {taken[clash[0]]} of {model.name}."
                )
            target = model.name
        else:
            model_id = body.get("modelId") or self._ids.next()
            if not _MODEL_ID_RE.match(model_id):
                raise invalid(f"Invalid model id {model_id!r}: use [a-z0-9][a-z0-9-]{{0,62}}.")
            if model_id in self._models:
                raise ApiError(
                    "ALREADY_EXISTS", f"Model {self.parent}/models/{model_id} already exists."
                )
            target = f"{self.parent}/models/{model_id}"

        def advance() -> dict[str, Any]:
            self.check_artifacts(spec.get("artifactUri", ""), image_uri)
            version = self._register(target, spec, aliases, is_new=not parent_model)
            return typed(
                "UploadModelResponse", {"model": target, "modelVersionId": version.version_id}
            )

        return self._operations.start(target, "UploadModelOperationMetadata", advance)

    def _register(
        self, name: str, spec: dict[str, Any], aliases: list[str], *, is_new: bool
    ) -> Version:
        model_id = name.rsplit("/", 1)[-1]
        if is_new:
            if model_id in self._models:
                raise ApiError("ALREADY_EXISTS", f"Model {name} already exists.")
            self._models[model_id] = Model(model_id=model_id, name=name)
        model = self.model(name)
        version = Version(model_id=model_id, version_id=str(model.next_version), spec=spec)
        model.next_version += 1
        if not model.versions and DEFAULT_ALIAS not in aliases:
            aliases = [*aliases, DEFAULT_ALIAS]
        if DEFAULT_ALIAS in aliases:
            for other in model.versions.values():
                if DEFAULT_ALIAS in other.aliases:
                    other.aliases.remove(DEFAULT_ALIAS)
        version.aliases = aliases
        version.update_time = version.create_time
        model.versions[version.version_id] = version
        return version

    # -- reads ----------------------------------------------------------------

    def to_json(self, version: Version) -> dict[str, Any]:
        model = self._models[version.model_id]
        body = {
            **version.spec,
            "labels": {**model.labels, **(version.spec.get("labels") or {})},
            "name": model.name,
            "versionId": version.version_id,
            "versionAliases": list(version.aliases),
            "versionCreateTime": version.create_time,
            "versionUpdateTime": version.update_time or version.create_time,
            "createTime": model.create_time,
            "updateTime": version.update_time or version.create_time,
            "supportedDeploymentResourcesTypes": [DEDICATED_RESOURCES],
            "etag": f"{version.model_id}-{version.version_id}-{len(version.aliases)}",
        }
        if version.deployments:
            body["deployedModels"] = [
                {"endpoint": endpoint, "deployedModelId": dm_id}
                for endpoint, dm_id in version.deployments
            ]
        return body

    def list(self, filter_expression: str | None = None) -> list[dict[str, Any]]:
        """The default version of every model, filtered."""
        found = [self.to_json(m.default_version()) for m in self._models.values()]
        return [m for m in found if matches_filter(m, filter_expression)]

    def list_versions(
        self, name: str, filter_expression: str | None = None
    ) -> list[dict[str, Any]]:
        model = self.model(name)
        found = [self.to_json(v) for v in model.versions.values()]
        return [m for m in found if matches_filter(m, filter_expression)]

    # -- aliases --------------------------------------------------------------

    def merge_aliases(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """``:mergeVersionAliases``: ``alias`` adds, ``-alias`` removes."""
        version = self.version(name)
        model = self._models[version.model_id]
        changes = list(body.get("versionAliases") or [])
        if not changes:
            raise invalid("version_aliases must not be empty.")
        adds = [c for c in changes if not c.startswith("-")]
        removes = [c[1:] for c in changes if c.startswith("-")]
        _check_aliases(adds + removes)
        if DEFAULT_ALIAS in removes:
            raise invalid(
                "The default alias cannot be removed; give it to another version instead."
            )
        for alias in adds:
            holder = next((v for v in model.versions.values() if alias in v.aliases), None)
            if holder is not None and holder is not version and alias != DEFAULT_ALIAS:
                raise invalid(
                    f"Version alias {alias!r} is already used by version {holder.version_id} of {model.name}."
                )
        for alias in adds:
            if alias == DEFAULT_ALIAS:
                for other in model.versions.values():
                    if DEFAULT_ALIAS in other.aliases:
                        other.aliases.remove(DEFAULT_ALIAS)
            if alias not in version.aliases:
                version.aliases.append(alias)
        version.aliases = [a for a in version.aliases if a not in removes]
        version.update_time = now()
        return self.to_json(version)

    def update(self, name: str, body: dict[str, Any], update_mask: str | None) -> dict[str, Any]:
        """``PATCH models/ID[@ref]``, by the ``UpdateModelRequest`` reference's rules.

        The name decides the scope: ``models/ID@3`` (or ``@alias``) updates that
        version, ``models/ID`` or ``models/ID@-`` updates the model. Model fields
        are ``display_name`` and ``description``; the version field is
        ``version_description``; ``labels`` go to whichever the name scopes. A field
        of the other scope is FAILED_PRECONDITION, and nothing changes: one request
        never updates both, and never a version it does not name.
        """
        model_id, ref = self._split(name)
        model_scope = ref in (None, "-")
        model = self.model(name)
        version = model.default_version() if model_scope else self.version(name)
        camel = {"display_name": "displayName", "version_description": "versionDescription"}
        fields = [
            camel.get(f.strip(), f.strip()) for f in (update_mask or "").split(",") if f.strip()
        ]
        if not fields:
            raise invalid("update_mask is required.")
        for key in fields:
            if key not in ("displayName", "description", "versionDescription", "labels"):
                raise invalid(f"update_mask field {key!r} cannot be updated.")
            if key == "displayName" and not body.get(key):
                raise invalid("model.display_name must not be empty.")
            if model_scope and key == "versionDescription":
                raise precondition(
                    f"Cannot update version_description with the model name {model.name}: it is a "
                    f"model version field; name the version (models/{model_id}@VERSION_ID) to update it."
                )
            if not model_scope and key in ("displayName", "description"):
                raise precondition(
                    f"Cannot update {key} with the model version name {model.name}@{ref}: it is a "
                    f"model field; use the model name (models/{model_id}) to update it."
                )
        stamp = now()
        for key in fields:
            if key == "labels":
                target = model.labels if model_scope else version.labels
                target.clear()
                target.update(body.get("labels") or {})
            elif model_scope:  # model fields are shared by every version
                for each in model.versions.values():
                    each.spec[key] = body.get(key)
            else:
                version.spec[key] = body.get(key)
        if model_scope:
            for each in model.versions.values():
                each.update_time = stamp
        else:
            version.update_time = stamp
        return self.to_json(version)

    # -- deletes --------------------------------------------------------------

    def delete(self, name: str) -> Operation:
        """Delete a model and all its versions; refused while any is deployed."""
        model = self.model(name)
        deployed = sorted(
            {endpoint for v in model.versions.values() for endpoint, _ in v.deployments}
        )
        if deployed:
            raise precondition(
                f"Model {model.name} is deployed or being deployed at the following Endpoint(s): "
                f"{', '.join(deployed)}. Undeploy it first."
            )

        def advance() -> dict[str, Any]:
            self._models.pop(model.model_id, None)
            return EMPTY

        return self._operations.start(model.name, "DeleteOperationMetadata", advance)

    def delete_version(self, name: str) -> Operation:
        """Delete one version; not a deployed one, nor the default while others exist."""
        version = self.version(name)
        model = self._models[version.model_id]
        if version.deployments:
            endpoints = ", ".join(sorted({e for e, _ in version.deployments}))
            raise precondition(
                f"Model version {model.name}@{version.version_id} is deployed at the following Endpoint(s): "
                f"{endpoints}. Undeploy it first."
            )
        if DEFAULT_ALIAS in version.aliases and len(model.versions) > 1:
            raise precondition(
                f"Version {version.version_id} of {model.name} holds the default alias and cannot be deleted; "
                "give the default alias to another version first."
            )

        def advance() -> dict[str, Any]:
            model.versions.pop(version.version_id, None)
            if not model.versions:
                self._models.pop(model.model_id, None)
            return EMPTY

        return self._operations.start(model.name, "DeleteOperationMetadata", advance)

    def clear(self) -> None:
        self._models.clear()
