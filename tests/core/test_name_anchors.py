"""Names are validated as whole strings: a trailing newline is not a valid name.

Python's ``$`` matches before a final newline, so ``re.match(r"^ep$", "ep\\n")``
succeeds; every validator must anchor with ``\\Z`` (or use fullmatch). One test per
validator a user's input reaches.
"""

from __future__ import annotations

import pytest

from cloudeploy.errors import ValidationError

HOSTILE = ["ep\n", "ep\r\n", "ep\n\n", "\nep"]


@pytest.mark.parametrize("name", HOSTILE)
def test_local_names_refuse_a_trailing_newline(name):
    from cloudeploy.providers.local.provider import check_alias, check_name

    assert check_name("endpoint", "ep") == "ep"
    with pytest.raises(ValidationError):
        check_name("endpoint", name)
    with pytest.raises(ValidationError):
        check_alias("stable\n")


@pytest.mark.parametrize("name", HOSTILE)
def test_vertex_names_refuse_a_trailing_newline(name):
    from cloudeploy.providers.vertex.mapping import check_aliases, check_name

    assert check_name("ep", "endpoint") == "ep"
    with pytest.raises(ValidationError):
        check_name(name, "endpoint")
    with pytest.raises(ValidationError):
        check_aliases(["stable\n"])


@pytest.mark.parametrize("name", HOSTILE)
def test_sagemaker_names_refuse_a_trailing_newline(name):
    from cloudeploy.providers.sagemaker.naming import check_name

    assert check_name("ep", "endpoint") == "ep"
    with pytest.raises(ValidationError):
        check_name(name, "endpoint")


def test_package_name_refuses_a_trailing_newline(tmp_path):
    from cloudeploy.packaging.build import _NAME

    assert _NAME.match("house-price")
    assert not _NAME.match("house-price\n")


def test_terraform_outputs_refuse_a_trailing_newline():
    from cloudeploy import terraform

    assert terraform._SLUG.match("ep")
    for pattern in (terraform._SLUG, terraform._EMAIL, terraform._URL, terraform._PROFILE_NAME):
        assert not pattern.match("a@b.io\n" if pattern is terraform._EMAIL else "ep\n")
