"""The Model Registry through the official SDK only (no cloudeploy code on the client side)."""

from __future__ import annotations

import pytest
from google.api_core import exceptions

from tests.vertex.conftest import BUCKET, PREBUILT_IMAGE


def test_upload_stages_the_artifact_in_emulated_storage(upload):
    from google.cloud import storage

    model = upload()
    bucket, _, prefix = model.uri[len("gs://") :].partition("/")
    names = [
        blob.name
        for blob in storage.Client(project="test-project").list_blobs(bucket, prefix=prefix)
    ]
    assert bucket == BUCKET
    assert any(name.endswith("/model.joblib") for name in names)


def test_first_version_is_1_with_the_default_alias(upload):
    model = upload()
    assert model.version_id == "1"
    assert model.version_aliases == ["default"]


def test_upload_with_parent_model_adds_version_2(upload):
    first = upload()
    second = upload(seed=1, parent_model=first.resource_name)
    assert second.resource_name == first.resource_name
    assert second.version_id == "2"


def test_new_default_version_takes_the_default_alias(aiplatform, upload):
    first = upload()
    upload(seed=1, parent_model=first.resource_name)
    assert aiplatform.Model(first.resource_name).version_id == "2"
    assert "default" not in aiplatform.Model(f"{first.resource_name}@1").version_aliases


def test_non_default_version_leaves_default_where_it_was(aiplatform, upload):
    first = upload()
    upload(seed=1, parent_model=first.resource_name, is_default_version=False)
    assert aiplatform.Model(first.resource_name).version_id == "1"


def test_version_aliases_resolve_with_at_alias(aiplatform, upload):
    first = upload()
    upload(
        seed=1,
        parent_model=first.resource_name,
        version_aliases=["champion"],
        is_default_version=False,
    )
    assert aiplatform.Model(f"{first.resource_name}@champion").version_id == "2"


def test_get_by_version_id(aiplatform, upload):
    first = upload()
    upload(seed=1, parent_model=first.resource_name)
    assert aiplatform.Model(first.resource_name, version="1").version_id == "1"


def test_caller_chosen_model_id(upload):
    model = upload(model_id="churn-model")
    assert model.resource_name.endswith("/models/churn-model")


def test_list_returns_each_model_once(aiplatform, upload):
    first = upload(display_name="a")
    upload(seed=1, display_name="a", parent_model=first.resource_name)
    upload(display_name="b")
    assert sorted(m.display_name for m in aiplatform.Model.list()) == ["a", "b"]


def test_list_filters_by_label(aiplatform, upload):
    upload(display_name="tagged", labels={"team": "risk"})
    upload(display_name="other")
    assert [m.display_name for m in aiplatform.Model.list(filter="labels.team=risk")] == ["tagged"]


def test_list_versions_returns_all_versions(aiplatform, upload):
    first = upload()
    upload(seed=1, parent_model=first.resource_name)
    upload(seed=2, parent_model=first.resource_name)
    registry = aiplatform.models.ModelRegistry(first.resource_name)
    assert sorted(v.version_id for v in registry.list_versions()) == ["1", "2", "3"]


def test_delete_version_removes_only_that_version(aiplatform, upload):
    first = upload()
    upload(seed=1, parent_model=first.resource_name, is_default_version=False)
    registry = aiplatform.models.ModelRegistry(first.resource_name)
    registry.delete_version("2")
    assert [v.version_id for v in registry.list_versions()] == ["1"]


def test_delete_model_removes_it(aiplatform, upload):
    model = upload()
    model.delete()
    with pytest.raises(exceptions.NotFound):
        aiplatform.Model(model.resource_name)


def test_unknown_model_is_404(aiplatform):
    with pytest.raises(exceptions.NotFound):
        aiplatform.Model("projects/test-project/locations/us-central1/models/nope")


def test_unknown_alias_is_404(aiplatform, upload):
    model = upload()
    with pytest.raises(exceptions.NotFound):
        aiplatform.Model(f"{model.resource_name}@missing")


def test_malformed_alias_is_400(upload):
    with pytest.raises(exceptions.BadRequest, match="alias"):
        upload(version_aliases=["Bad_Alias"])


def test_alias_held_by_another_version_is_400(upload):
    first = upload(version_aliases=["champion"])
    with pytest.raises(exceptions.BadRequest, match="champion"):
        upload(seed=1, parent_model=first.resource_name, version_aliases=["champion"])


def test_default_version_cannot_be_deleted_while_others_exist(aiplatform, upload):
    first = upload()
    upload(seed=1, parent_model=first.resource_name)
    registry = aiplatform.models.ModelRegistry(first.resource_name)
    with pytest.raises(exceptions.BadRequest, match="default"):
        registry.delete_version("2")


def test_prebuilt_image_without_a_model_file_fails_the_upload(aiplatform, upload):
    from google.cloud import storage

    storage.Client(project="test-project").bucket(BUCKET).blob(
        "empty/readme.txt"
    ).upload_from_string("hi")
    with pytest.raises(exceptions.BadRequest, match="model.joblib"):
        aiplatform.Model.upload(
            display_name="broken",
            artifact_uri=f"gs://{BUCKET}/empty",
            serving_container_image_uri=PREBUILT_IMAGE,
        )


def test_artifact_uri_with_nothing_under_it_fails_the_upload(aiplatform):
    with pytest.raises(exceptions.BadRequest, match="no files"):
        aiplatform.Model.upload(
            display_name="broken",
            artifact_uri=f"gs://{BUCKET}/nothing-here",
            serving_container_image_uri=PREBUILT_IMAGE,
        )


def test_parent_model_that_does_not_exist_is_404(upload):
    with pytest.raises(exceptions.NotFound):
        upload(parent_model="projects/test-project/locations/us-central1/models/ghost")


def test_update_changes_labels_of_the_version(aiplatform, upload):
    model = upload()
    model.update(labels={"stage": "prod"})
    assert aiplatform.Model(model.resource_name).labels == {"stage": "prod"}


def _patch(model, name: str, paths: list[str], **fields):
    """``ModelServiceClient.update_model`` (what the SDK's updates call) on ``name``."""
    from google.cloud.aiplatform import gapic
    from google.protobuf import field_mask_pb2

    return model.api_client.update_model(
        model=gapic.Model(name=name, **fields), update_mask=field_mask_pb2.FieldMask(paths=paths)
    )


def test_a_model_level_display_name_is_seen_by_every_version(aiplatform, upload):
    first = upload()
    upload(seed=1, parent_model=first.resource_name, is_default_version=False)
    _patch(first, first.resource_name, ["display_name"], display_name="renamed")
    registry = first.versioning_registry
    assert {registry.get_model(version=v).display_name for v in ("1", "2")} == {"renamed"}


def test_model_at_dash_is_a_model_level_update(aiplatform, upload):
    first = upload()
    with pytest.raises(exceptions.BadRequest, match="version_description"):
        _patch(first, f"{first.resource_name}@-", ["version_description"], version_description="x")


def test_model_labels_merge_under_each_versions_own_labels(aiplatform, upload):
    first = upload(labels={"team": "risk"})
    upload(seed=1, parent_model=first.resource_name, labels={"stage": "canary"})
    _patch(first, first.resource_name, ["labels"], labels={"owner": "ml"})
    registry = first.versioning_registry
    assert registry.get_model(version="1").labels == {"owner": "ml", "team": "risk"}
    assert registry.get_model(version="2").labels == {"owner": "ml", "stage": "canary"}


def test_a_versioned_label_update_leaves_other_versions_alone(aiplatform, upload):
    first = upload()
    upload(seed=1, parent_model=first.resource_name, is_default_version=False)
    _patch(first, f"{first.resource_name}@2", ["labels"], labels={"stage": "canary"})
    registry = first.versioning_registry
    assert (registry.get_model(version="1").labels, registry.get_model(version="2").labels) == (
        {},
        {"stage": "canary"},
    )
