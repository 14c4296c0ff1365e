"""Profiles and the provider registry."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

from cloudeploy import providers
from cloudeploy.config import Profile, load_profile, write_profile
from cloudeploy.errors import ConfigError, ProviderUnavailable
from cloudeploy.providers import get_provider, provider_class
from cloudeploy.providers.local import LocalProvider


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("CLOUDEPLOY_CONFIG", str(tmp_path / "cloudeploy.toml"))
    monkeypatch.setenv("CLOUDEPLOY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CLOUDEPLOY_PROFILE", raising=False)
    return tmp_path / "cloudeploy.toml"


def test_no_config_file_means_the_local_provider():
    profile = load_profile()
    assert profile.provider == "local"
    assert isinstance(get_provider(), LocalProvider)


def test_profile_is_chosen_by_argument_then_env_then_default(isolated_config, monkeypatch):
    write_profile("a", "local", {"home": "/tmp/a"}, path=isolated_config)
    write_profile("b", "local", {"home": "/tmp/b"}, path=isolated_config, make_default=True)
    assert load_profile().name == "b"
    monkeypatch.setenv("CLOUDEPLOY_PROFILE", "a")
    assert load_profile().name == "a"
    assert load_profile("b").settings == {"home": "/tmp/b"}


def test_unknown_profile_names_the_file_and_the_known_ones(isolated_config):
    write_profile("dev", "local", {}, path=isolated_config)
    with pytest.raises(ConfigError, match=r"profile 'prod' not found .* \(profiles: dev\)"):
        load_profile("prod")


def test_write_profile_keeps_comments_and_other_profiles(isolated_config):
    isolated_config.write_text('# team settings\n[profiles.dev]\nprovider = "local"\n')
    write_profile("staging", "vertex", {"project": "p", "region": "r"}, path=isolated_config)
    text = isolated_config.read_text()
    assert "# team settings" in text
    assert load_profile("dev").provider == "local"
    assert load_profile("staging").settings == {"project": "p", "region": "r"}


def test_invalid_toml_is_a_config_error(isolated_config):
    isolated_config.write_text("[profiles\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_profile()


def test_unknown_provider_lists_known_ones():
    with pytest.raises(ConfigError, match="unknown provider 'nope'.*local"):
        provider_class("nope")


def test_missing_sdk_becomes_install_hint(monkeypatch):
    monkeypatch.setitem(providers.PROVIDERS, "ghost", ("cloudeploy_no_such_module:Ghost", "pip install 'cloudeploy[ghost]'"))
    with pytest.raises(ProviderUnavailable, match=r"cloudeploy\[ghost\]"):
        provider_class("ghost")


def test_third_party_provider_from_entry_point(monkeypatch):
    point = EntryPoint(name="thirdparty", value="cloudeploy.providers.local:LocalProvider",
                       group=providers.ENTRY_POINT_GROUP)
    monkeypatch.setattr(providers, "entry_points", lambda group: [point] if group == providers.ENTRY_POINT_GROUP else [])
    assert "thirdparty" in providers.known_providers()
    assert provider_class("thirdparty") is LocalProvider


def test_provider_override_replaces_profile_provider():
    provider = get_provider(Profile(name="x", provider="local"), provider="local")
    assert provider.name == "local"
