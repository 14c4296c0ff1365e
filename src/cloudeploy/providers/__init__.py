"""The provider registry: names to dotted paths, imported on first use.

Built-in providers are listed in :data:`PROVIDERS` with the extra that installs
their SDK; a failed import becomes :class:`ProviderUnavailable` carrying that
hint. Third parties register providers through the entry-point group
``cloudeploy.providers`` (``name = "package.module:ProviderClass"``).
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

from cloudeploy.config import Profile, load_profile
from cloudeploy.errors import ConfigError, ProviderUnavailable
from cloudeploy.providers.base import Provider

ENTRY_POINT_GROUP = "cloudeploy.providers"

#: name -> (dotted "module:Class", install hint)
PROVIDERS: dict[str, tuple[str, str]] = {
    "local": ("cloudeploy.providers.local:LocalProvider", "pip install cloudeploy"),
    "vertex": ("cloudeploy.providers.vertex:VertexProvider", "pip install 'cloudeploy[vertex]'"),
    "sagemaker": (
        "cloudeploy.providers.sagemaker:SageMakerProvider",
        "pip install 'cloudeploy[sagemaker]'",
    ),
}


def known_providers() -> list[str]:
    names = set(PROVIDERS)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def provider_class(name: str) -> type[Provider]:
    """Import and return the provider class registered as ``name``."""
    if name in PROVIDERS:
        target, hint = PROVIDERS[name]
        module_name, _, class_name = target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ProviderUnavailable(
                f"the {name} provider needs packages that are not installed ({error.name or error})",
                hint=hint,
            ) from None
        return getattr(module, class_name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            try:
                return ep.load()
            except ImportError as error:
                raise ProviderUnavailable(
                    f"the {name} provider ({ep.value}) failed to import: {error}"
                ) from None
    raise ConfigError(
        f"unknown provider {name!r} (known: {', '.join(known_providers())})",
        hint="third-party providers register under the entry-point group 'cloudeploy.providers'",
    )


def get_provider(profile: Profile | str | None = None, *, provider: str | None = None) -> Provider:
    """Instantiate the provider for ``profile`` (a Profile, a profile name, or None).

    ``provider`` overrides the profile's provider name.
    """
    if not isinstance(profile, Profile):
        profile = load_profile(profile, provider=provider)
    elif provider and provider != profile.provider:
        profile = Profile(name=profile.name, provider=provider, settings=profile.settings)
    return provider_class(profile.provider)(profile)


def resolve_provider(
    provider: str | Provider | None = None, profile: Profile | str | Provider | None = None
) -> Provider:
    """A provider instance from a name, a profile, or an instance given as either."""
    if isinstance(provider, Provider):
        return provider
    if isinstance(profile, Provider):
        return profile
    return get_provider(profile, provider=provider)
