"""The Model Registry, as the official sample uses it.

Sample: vertex-ai-samples ``notebooks/official/model_registry/get_started_with_model_registry.ipynb``:
``Model.upload`` of a first model, then new versions with ``parent_model=...``,
``is_default_version=False`` and ``version_aliases``; ``model.versioning_registry``
(a ``ModelRegistry``) to ``list_versions``, ``get_version_info``, ``get_model``,
``add_version_aliases``, ``remove_version_aliases``, ``update_version`` and
``delete_version``.

``update_version`` is checked against the ``UpdateModelRequest`` reference: the
SDK reads ``models/ID@3`` and PATCHes the ``name`` that read returned, which has no
``@``; a name without ``@`` is a model-level update, and a version-only field
(``version_description``) in it is FAILED_PRECONDITION. No version may change then.
A PATCH of ``models/ID@3`` (the GAPIC ``ModelServiceClient.update_model``, which
the SDK wraps) updates version 3 and only version 3.
"""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from tests.fidelity.vertex_fixtures import PREBUILT_IMAGE


@pytest.fixture(scope="module")
def model(vertex, model_uri):
    from google.cloud import aiplatform

    first = aiplatform.Model.upload(
        display_name="registry-example",
        artifact_uri=model_uri,
        serving_container_image_uri=PREBUILT_IMAGE,
        version_description="first",
    )
    for description, aliases in (("second", ["candidate"]), ("third", ["challenger"])):
        aiplatform.Model.upload(
            display_name="registry-example",
            parent_model=first.resource_name,
            artifact_uri=model_uri,
            serving_container_image_uri=PREBUILT_IMAGE,
            is_default_version=False,
            version_aliases=aliases,
            version_description=description,
        )
    return first


def descriptions(registry) -> dict[str, str]:
    return {v.version_id: registry.get_model(version=v.version_id).version_description
            for v in registry.list_versions()}  # fmt: skip


def test_versions_are_numbered_and_only_the_first_is_default(model):
    registry = model.versioning_registry
    versions = {v.version_id: list(v.version_aliases) for v in registry.list_versions()}
    assert versions == {"1": ["default"], "2": ["candidate"], "3": ["challenger"]}


def test_an_alias_resolves_to_its_version(model):
    registry = model.versioning_registry
    assert registry.get_model(version="candidate").version_id == "2"
    assert registry.get_version_info("3").version_aliases == ["challenger"]


def test_aliases_are_added_and_removed(model):
    registry = model.versioning_registry
    registry.add_version_aliases(new_aliases=["staging"], version="2")
    assert sorted(registry.get_version_info("2").version_aliases) == ["candidate", "staging"]
    registry.remove_version_aliases(target_aliases=["staging"], version="2")
    assert registry.get_version_info("2").version_aliases == ["candidate"]


def test_an_alias_held_by_another_version_is_refused(model):
    with pytest.raises(exceptions.BadRequest, match="candidate"):
        model.versioning_registry.add_version_aliases(new_aliases=["candidate"], version="3")


def test_update_version_through_the_sdk_never_changes_another_version(model):
    registry = model.versioning_registry
    before = descriptions(registry)
    with pytest.raises(exceptions.BadRequest) as raised:
        registry.update_version("3", version_description="retrained on March data")
    assert raised.value.code == 400
    assert "version_description" in raised.value.message
    assert descriptions(registry) == before == {"1": "first", "2": "second", "3": "third"}


def test_a_versioned_name_updates_that_version_only(model):
    from google.cloud.aiplatform import gapic
    from google.protobuf import field_mask_pb2

    registry = model.versioning_registry
    version = registry.get_model(version="3").gca_resource
    request = gapic.Model(name=f"{version.name}@3", version_description="retrained")
    model.api_client.update_model(
        model=request, update_mask=field_mask_pb2.FieldMask(paths=["version_description"])
    )
    assert descriptions(registry) == {"1": "first", "2": "second", "3": "retrained"}


def test_a_model_field_on_a_versioned_name_is_a_precondition_error(model):
    from google.cloud.aiplatform import gapic
    from google.protobuf import field_mask_pb2

    request = gapic.Model(name=f"{model.resource_name}@2", display_name="renamed")
    with pytest.raises(exceptions.BadRequest, match="display_name|displayName"):
        model.api_client.update_model(
            model=request, update_mask=field_mask_pb2.FieldMask(paths=["display_name"])
        )
    assert model.versioning_registry.get_model(version="2").display_name == "registry-example"


def test_delete_version_removes_only_that_version(model):
    registry = model.versioning_registry
    registry.delete_version("3")
    assert [v.version_id for v in registry.list_versions()] == ["1", "2"]
    with pytest.raises(exceptions.BadRequest):
        registry.delete_version("1")  # the default version, while others exist
