"""Profiles: which provider to use and its settings.

The file is ``cloudeploy.toml`` in the working directory, or the path in
``$CLOUDEPLOY_CONFIG``::

    default_profile = "staging"

    [profiles.staging]
    provider = "vertex"
    project = "my-project"
    region = "europe-west4"
    staging_bucket = "gs://my-bucket"

A profile is chosen by, in order: the ``profile`` argument (``--profile``),
``$CLOUDEPLOY_PROFILE``, the file's ``default_profile``, else the profile named
``default`` if present. With no file and no profile asked for, the local
provider is used with its defaults. Asking for a profile that does not exist is
an error naming the file and the profiles it has.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudeploy import lazy
from cloudeploy.errors import ConfigError

tomlkit = lazy.module("tomlkit")

CONFIG_FILENAME = "cloudeploy.toml"
DEFAULT_PROVIDER = "local"


@dataclass(frozen=True)
class Profile:
    """A provider name and its settings (everything else in the profile table)."""

    name: str
    provider: str = DEFAULT_PROVIDER
    settings: dict[str, Any] = field(default_factory=dict)

    def get(self, key: str, default: Any = None) -> Any:
        return self.settings.get(key, default)


def config_path() -> Path:
    return Path(os.environ.get("CLOUDEPLOY_CONFIG") or CONFIG_FILENAME)


def read_config(path: Path | None = None) -> dict[str, Any]:
    """The parsed config file, or ``{}`` when there is none."""
    path = path or config_path()
    if not path.exists():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None


def load_profile(
    name: str | None = None, *, provider: str | None = None, path: Path | None = None
) -> Profile:
    """Resolve the profile to use; ``provider`` overrides the profile's provider."""
    path = path or config_path()
    document = read_config(path)
    profiles = document.get("profiles", {})
    if not isinstance(profiles, dict):
        raise ConfigError(f"{path}: [profiles] must be a table")
    chosen = name or os.environ.get("CLOUDEPLOY_PROFILE") or document.get("default_profile")
    if chosen is None and "default" in profiles:
        chosen = "default"
    if chosen is None:
        return Profile(name="default", provider=provider or DEFAULT_PROVIDER)
    if chosen not in profiles:
        known = ", ".join(sorted(profiles)) or "none"
        raise ConfigError(
            f"profile {chosen!r} not found in {path} (profiles: {known})",
            hint="add [profiles.NAME] to the file or pick another with --profile",
        )
    table = dict(profiles[chosen])
    provider_name = provider or table.pop("provider", DEFAULT_PROVIDER)
    table.pop("provider", None)
    return Profile(name=chosen, provider=provider_name, settings=table)


def write_profile(
    name: str,
    provider: str,
    settings: dict[str, Any],
    *,
    path: Path | None = None,
    make_default: bool = False,
) -> Path:
    """Add or replace ``[profiles.NAME]`` in the config file, keeping the rest.

    Comments and other profiles in an existing file are preserved.
    """

    path = path or config_path()
    document = tomlkit.parse(path.read_text()) if path.exists() else tomlkit.document()
    if "profiles" not in document:
        document["profiles"] = tomlkit.table(is_super_table=True)
    table = tomlkit.table()
    table["provider"] = provider
    for key, value in settings.items():
        if value is not None:
            table[key] = value
    document["profiles"][name] = table
    if make_default:
        document["default_profile"] = name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(tomlkit.dumps(document))
    return path
