"""Static checks of terraform/: it parses, is self-consistent and follows the module conventions."""

from __future__ import annotations

import re

import pytest

from tests.terraform.hcl import (
    EXAMPLES,
    MODULES,
    TERRAFORM,
    blocks,
    checkov_skips,
    locals_defined,
    parse,
    references,
    resources,
    tf_dirs,
    tf_files,
    unquote,
)

DIR_IDS = [str(d.relative_to(TERRAFORM)) for d in tf_dirs()]


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path):
    assert isinstance(parse(path), dict)


def test_both_modules_and_both_examples_exist():
    assert set(tf_dirs()) == {*MODULES.values(), *EXAMPLES.values()}


@pytest.mark.parametrize("directory", tf_dirs(), ids=DIR_IDS)
def test_every_referenced_variable_is_declared(directory):
    assert references(directory, "var") <= set(blocks(directory, "variable"))


@pytest.mark.parametrize("directory", tf_dirs(), ids=DIR_IDS)
def test_every_declared_variable_is_used(directory):
    assert set(blocks(directory, "variable")) <= references(directory, "var")


@pytest.mark.parametrize("directory", tf_dirs(), ids=DIR_IDS)
def test_every_referenced_local_is_defined(directory):
    assert references(directory, "local") <= locals_defined(directory)


@pytest.mark.parametrize("directory", tf_dirs(), ids=DIR_IDS)
def test_every_variable_has_a_description_a_type_and_a_default_or_validation(directory):
    incomplete = [
        name
        for name, body in blocks(directory, "variable").items()
        if not body.get("description")
        or "type" not in body
        or ("default" not in body and "validation" not in body)
    ]
    assert incomplete == []


@pytest.mark.parametrize("directory", tf_dirs(), ids=DIR_IDS)
def test_every_output_has_a_description(directory):
    assert [
        n for n, body in blocks(directory, "output").items() if not body.get("description")
    ] == []


@pytest.mark.parametrize("directory", list(MODULES.values()), ids=list(MODULES))
def test_module_has_the_conventional_files_and_a_readme(directory):
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (directory / name).is_file(), name


@pytest.mark.parametrize("directory", tf_dirs(), ids=DIR_IDS)
def test_terraform_and_provider_versions_are_bounded_above_and_below(directory):
    settings = parse(directory / "versions.tf")["terraform"][0]
    constraints = [settings["required_version"]]
    for providers in settings["required_providers"]:
        constraints += [spec["version"] for spec in providers.values()]
    for constraint in constraints:
        assert re.search(r">=\s*\d", constraint) and re.search(r"<\s*\d", constraint), constraint


def test_vertex_module_pins_google_provider_6_or_7():
    providers = parse(MODULES["vertex"] / "versions.tf")["terraform"][0]["required_providers"][0]
    assert providers["google"]["version"] == ">= 6.0, < 8.0"


def test_sagemaker_module_pins_aws_provider_5_or_6():
    providers = parse(MODULES["sagemaker"] / "versions.tf")["terraform"][0]["required_providers"][0]
    assert providers["aws"]["version"] == ">= 5.0, < 7.0"


@pytest.mark.parametrize("module", list(MODULES), ids=list(MODULES))
def test_create_toggles_are_booleans(module):
    toggles = {
        n: b for n, b in blocks(MODULES[module], "variable").items() if n.startswith("create_")
    }
    assert toggles and all(
        body["type"] == "${bool}" or body["type"] == "bool" for body in toggles.values()
    )


@pytest.mark.parametrize("cloud", list(EXAMPLES), ids=list(EXAMPLES))
def test_example_uses_the_module_by_relative_path(cloud):
    module = blocks(EXAMPLES[cloud], "module")["cloudeploy"]
    assert unquote(module["source"]) == f"../../modules/{cloud}"


@pytest.mark.parametrize("cloud", list(EXAMPLES), ids=list(EXAMPLES))
def test_example_passes_only_inputs_the_module_declares(cloud):
    module = blocks(EXAMPLES[cloud], "module")["cloudeploy"]
    inputs = {k for k in module if k not in ("source", "__comments__")}
    assert inputs <= set(blocks(MODULES[cloud], "variable"))


@pytest.mark.parametrize("cloud", list(EXAMPLES), ids=list(EXAMPLES))
def test_example_reads_only_outputs_the_module_declares(cloud):
    assert references(EXAMPLES[cloud], "module.cloudeploy") <= set(blocks(MODULES[cloud], "output"))


def test_every_checkov_skip_gives_its_reason():
    assert [(p.name, check) for p, check, reason in checkov_skips() if len(reason) < 20] == []


def test_vertex_endpoints_use_the_cloudeploy_name_as_resource_id():
    endpoint = resources(MODULES["vertex"])[("google_vertex_ai_endpoint", "adopted")]
    assert endpoint["name"] == "${each.value}"
    assert "toset(var.endpoints)" in endpoint["for_each"]


def test_vertex_endpoints_carry_the_label_cloudeploy_lists_by():
    endpoint = resources(MODULES["vertex"])[("google_vertex_ai_endpoint", "adopted")]
    assert '"cloudeploy-managed" = "true"' in endpoint["labels"]


def test_vertex_endpoints_leave_the_traffic_split_to_cloudeploy():
    endpoint = resources(MODULES["vertex"])[("google_vertex_ai_endpoint", "adopted")]
    assert endpoint["lifecycle"][0]["ignore_changes"] == ["traffic_split"]


def test_vertex_deployer_may_act_only_as_the_serving_account():
    module = MODULES["vertex"]
    acts_as = [
        (rtype, body)
        for (rtype, _), body in resources(module).items()
        if "serviceAccountUser" in str(body.get("role"))
    ]
    assert [rtype for rtype, _ in acts_as] == ["google_service_account_iam_member"]
    assert "local.serving_email" in acts_as[0][1]["service_account_id"]


def test_vertex_grants_no_project_wide_predefined_vertex_role():
    roles = [
        str(body.get("role"))
        for (rtype, _), body in resources(MODULES["vertex"]).items()
        if rtype == "google_project_iam_member"
    ]
    assert not any(
        "roles/aiplatform" in role or "roles/owner" in role or "roles/editor" in role
        for role in roles
    )


def _statements(document):
    return {s["sid"]: s for s in document["statement"]}


def test_sagemaker_passrole_is_conditioned_on_sagemaker():
    deployer = resources(MODULES["sagemaker"], "data")[("aws_iam_policy_document", "deployer")]
    passing = [s for s in deployer["statement"] if "iam:PassRole" in s["actions"]]
    assert len(passing) == 1
    condition = passing[0]["condition"][0]
    assert (condition["variable"], condition["values"]) == (
        "iam:PassedToService",
        ["sagemaker.amazonaws.com"],
    )
    assert passing[0]["resources"] == ["${local.execution_role_arn}"]


def test_sagemaker_execution_role_reads_alarms_for_guarded_updates():
    execution = resources(MODULES["sagemaker"], "data")[("aws_iam_policy_document", "execution")]
    statement = _statements(execution)["ReadRollbackAlarms"]
    assert statement["actions"] == ["cloudwatch:DescribeAlarms"]


def test_sagemaker_execution_role_objects_are_limited_to_the_prefix():
    execution = resources(MODULES["sagemaker"], "data")[("aws_iam_policy_document", "execution")]
    object_statements = [
        s for s in execution["statement"] if any(a.startswith("s3:") for a in s["actions"])
    ]
    for statement in object_statements:
        if statement["actions"] == ["s3:ListBucket"]:
            assert statement["condition"][0]["variable"] == "s3:prefix"
        else:
            assert statement["resources"] == ["${local.bucket_arn}/${var.prefix}/*"]


def test_sagemaker_deployer_changes_only_resources_tagged_cloudeploy_managed():
    deployer = resources(MODULES["sagemaker"], "data")[("aws_iam_policy_document", "deployer")]
    mutating = [
        s
        for s in deployer["statement"]
        if any(re.match(r"sagemaker:(Create|Delete|Update|Stop|AddTags)", a) for a in s["actions"])
    ]
    for statement in mutating:
        variables = {c["variable"] for c in statement["condition"]}
        assert variables & {
            "aws:RequestTag/cloudeploy-managed",
            "aws:ResourceTag/cloudeploy-managed",
        }, statement["sid"]


@pytest.mark.parametrize("module", list(MODULES), ids=list(MODULES))
def test_module_readme_lists_every_input_and_output(module):
    readme = (MODULES[module] / "README.md").read_text()
    names = set(blocks(MODULES[module], "variable")) | set(blocks(MODULES[module], "output"))
    assert [name for name in sorted(names) if f"| `{name}` |" not in readme] == []
