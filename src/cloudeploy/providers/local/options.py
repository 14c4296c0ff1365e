"""The local provider's options (docs/options.md lists them with the others).

Every field defaults to ``None``: not given, the provider's default applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudeploy.providers.options import (
    BOOL,
    CREATE_ENDPOINT,
    DEPLOY,
    UPLOAD,
    ProviderOptions,
    fraction,
    option,
    text,
    whole_number,
)


@dataclass(frozen=True)
class LocalOptions(ProviderOptions):
    """Options of the local provider, field by field.

    - ``port`` (int 1..65535; default: a free port) — read by **create_endpoint**:
      the port a new endpoint's gateway listens on. An existing endpoint keeps
      its port; asking for another is a ConflictError.
    - ``host`` (str; default ``127.0.0.1``) — read by **create_endpoint**: the
      address a new endpoint's gateway binds.
    - ``capture_sample`` (float 0..1; default 1.0) — read by **create_endpoint**:
      the share of requests whose inputs and predictions the endpoint's replicas
      capture for monitoring (0 turns capture off). Kept with the endpoint, so a
      restarted gateway (``endpoints start``) captures at the same rate; asking an
      existing endpoint for another rate is a ConflictError.
    - ``trust`` (bool; default false) — read by **upload**: register a pickle or
      joblib package whose globals are outside the allowlist (its replicas load it
      unrestricted). ``deploy(trust=True)`` sets it.
    - ``strict`` (bool; default false) — read by **upload** and **deploy**:
      requests that do not match the version's input schema are refused (400)
      before the model sees them. The local provider always serves with the
      cloudeploy model server, which does this, so it is accepted and always met.
    """

    provider = "local"

    port: int | None = option(whole_number(1, 65535), steps=(CREATE_ENDPOINT,), doc="the gateway's port")
    host: str | None = option(text(), steps=(CREATE_ENDPOINT,), doc="the address the gateway binds")
    capture_sample: float | None = option(
        fraction(), steps=(CREATE_ENDPOINT,), doc="share of requests captured for monitoring (0: off)"
    )
    trust: bool | None = option(BOOL, steps=(UPLOAD,), doc="register a pickle outside the allowlist")
    strict: bool | None = option(
        BOOL, steps=(UPLOAD, DEPLOY), doc="refuse requests that do not match the input schema (always met)"
    )
