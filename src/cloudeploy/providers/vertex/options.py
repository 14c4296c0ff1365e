"""The Vertex AI provider's options (docs/options.md lists them with the others).

Every field defaults to ``None``: not given, the profile's setting applies.
"""

from __future__ import annotations

from dataclasses import dataclass

from cloudeploy.providers.options import (
    BATCH,
    BOOL,
    CREATE_ENDPOINT,
    DEPLOY,
    UPLOAD,
    Kind,
    ProviderOptions,
    option,
    string_map,
    text,
)

#: Vertex AI label keys: lowercase letter first, then lowercase letters, digits, ``_`` and ``-``, at most 63.
LABEL_KEY = text(r"[a-z][a-z0-9_-]{0,62}", "a label key (lowercase letter, then [a-z0-9_-], at most 63)")
#: Vertex AI label values: [a-z0-9_-], at most 63 (may be empty).
LABEL_VALUE = text(r"[a-z0-9_-]{0,63}", "a label value ([a-z0-9_-], at most 63)")
_RESERVED_PREFIX = "cloudeploy-"


def _labels() -> Kind:
    kind = string_map(LABEL_KEY, LABEL_VALUE, "labels (a mapping of label keys to values)")
    check = kind.check

    def no_reserved(value: object) -> dict[str, str]:
        labels = check(value)
        reserved = sorted(k for k in labels if k.startswith(_RESERVED_PREFIX))
        if reserved:
            raise ValueError(f"must not set cloudeploy's own labels ({', '.join(reserved)})")
        return labels

    return Kind(kind.describe, no_reserved, lambda raw: no_reserved(kind.from_text(raw)))


@dataclass(frozen=True)
class VertexOptions(ProviderOptions):
    """Options of the Vertex AI provider, field by field.

    - ``serving_image`` (str; default: the profile's ``serving_image``) — read by
      **upload**: the cloudeploy serving image for this version when no prebuilt
      scikit-learn image fits (a prebuilt one still wins unless ``strict``).
    - ``labels`` (mapping str -> str, Vertex label rules; default none) — read by
      **upload** (the model version's labels) and **create_endpoint** (the
      endpoint's labels; added to an existing endpoint too). Keys starting with
      ``cloudeploy-`` are cloudeploy's own and refused.
    - ``service_account`` (str; default: the profile's) — read by **deploy**: the
      service account the deployed model runs as.
    - ``strict`` (bool; default false) — read by **upload** and **deploy**:
      requests that do not match the input schema are refused (400) before the
      model sees them. Upload then registers the version with the cloudeploy
      serving image even when a prebuilt image exists (a ConfigError when no
      serving image is configured); deploy refuses a version registered with a
      prebuilt image, which cannot check requests.
    - ``model_name`` (str; default: the package's name) — read by **batch**: the
      registered model name a batch job on a package path uses.
    """

    provider = "vertex"

    serving_image: str | None = option(text(), steps=(UPLOAD,), doc="the cloudeploy serving image for this version")
    labels: dict[str, str] | None = option(
        _labels(), steps=(UPLOAD, CREATE_ENDPOINT), doc="labels on the model version and the endpoint"
    )
    service_account: str | None = option(text(), steps=(DEPLOY,), doc="the service account the model runs as")
    strict: bool | None = option(
        BOOL, steps=(UPLOAD, DEPLOY), doc="refuse requests that do not match the input schema"
    )
    model_name: str | None = option(text(), steps=(BATCH,), doc="registered model name for a package path")
