"""The Terraform handoff: ``terraform output -json`` in, a cloudeploy profile out.

Terraform manages what changes rarely (buckets, identities, keys, registries,
alert channels); cloudeploy manages what changes with every model. The modules
under ``terraform/modules/`` declare outputs whose names are exactly the keys
read here (:data:`OUTPUTS`; a contract test keeps the two equal), and the
examples re-export them at the root so that ``terraform output -json`` there is
a document this module understands::

    terraform -chdir=terraform/examples/vertex output -json > outputs.json
    cloudeploy config from-terraform outputs.json --profile prod

Rules of the handoff:

- The output ``cloudeploy_provider`` (``"vertex"`` or ``"sagemaker"``) says which
  provider the document is for; a document without it is refused.
- Outputs whose value is null are left out of ``terraform output -json``, so an
  optional output that is absent, null, ``""`` or ``[]`` means "not set".
- Values are checked (a region looks like a region, a role is an IAM role ARN...)
  and every problem is reported at once in one :class:`ConfigError`.
- Endpoints that Terraform made empty (Vertex output ``endpoints``) are adopted,
  not duplicated: their resource id must equal the cloudeploy endpoint name, so
  ``cloudeploy deploy --endpoint NAME`` finds and uses them.
- Emulator keys (``api_endpoint``/``storage_endpoint``/``monitoring_endpoint`` for Vertex,
  ``endpoint_url`` for SageMaker) never come from Terraform; the caller adds them.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudeploy.config import write_profile
from cloudeploy.errors import ConfigError, ValidationError

PROVIDER_OUTPUT = "cloudeploy_provider"

#: File names looked for, in order, when the source is a directory.
OUTPUT_FILENAMES = ("terraform-outputs.json", "outputs.json")

_SLUG = re.compile(r"^[a-z][a-z0-9-]{0,62}\Z")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_IMAGE = re.compile(r"^[a-z0-9.-]+(:[0-9]+)?/\S+\Z")
_URL = re.compile(r"^https?://[^/\s]+(/\S*)?\Z")
#: Emulator keys that name a gRPC target (``host:port``), not a URL.
_HOST_PORT_SETTINGS = frozenset({"monitoring_endpoint"})
_HOST_PORT = re.compile(r"^[A-Za-z0-9.\-]+:\d{1,5}\Z")
_AWS_ARN = r"^arn:aws[a-z-]*:"
_PROFILE_NAME = re.compile(r"^[A-Za-z0-9_-]+\Z")


@dataclass(frozen=True)
class Output:
    """One Terraform output that the handoff reads.

    ``setting`` is the profile key it becomes (None: read for checks and the
    report only); ``kind`` is ``str``, ``list`` (of strings) or ``map`` (string
    to string); ``pattern`` is what every string in it must match, ``means`` says
    that in words for the error message.
    """

    name: str
    kind: str = "str"
    setting: str | None = None
    required: bool = False
    pattern: str | None = None
    means: str = ""


VERTEX_OUTPUTS: tuple[Output, ...] = (
    Output(PROVIDER_OUTPUT, required=True),
    Output(
        "project",
        setting="project",
        required=True,
        pattern=r"^[a-z][a-z0-9-]{4,28}[a-z0-9]\Z",
        means="a Google Cloud project id",
    ),
    Output(
        "region",
        setting="region",
        required=True,
        pattern=r"^[a-z]+-[a-z]+[0-9]+\Z",
        means="a Google Cloud region such as europe-west4",
    ),
    Output(
        "staging_bucket",
        setting="staging_bucket",
        required=True,
        pattern=r"^gs://[a-z0-9][a-z0-9._-]{1,221}[a-z0-9](/\S*)?\Z",
        means="gs://BUCKET[/PREFIX]",
    ),
    Output(
        "service_account",
        setting="service_account",
        required=True,
        pattern=_EMAIL.pattern,
        means="a service account email",
    ),
    Output(
        "serving_image",
        setting="serving_image",
        required=True,
        pattern=_IMAGE.pattern,
        means="an image URI such as REGION-docker.pkg.dev/PROJECT/REPO/IMAGE:TAG",
    ),
    Output(
        "network",
        setting="network",
        pattern=r"^projects/[^/]+/global/networks/[^/]+\Z",
        means="projects/NUMBER/global/networks/NAME",
    ),
    Output(
        "encryption_key",
        setting="encryption_key",
        pattern=r"^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+\Z",
        means="a Cloud KMS key name projects/P/locations/L/keyRings/R/cryptoKeys/K",
    ),
    Output(
        "alert_emails",
        kind="list",
        setting="alert_emails",
        pattern=_EMAIL.pattern,
        means="email addresses",
    ),
    Output(
        "notification_channels",
        kind="list",
        setting="notification_channels",
        pattern=r"^projects/[^/]+/notificationChannels/[^/]+\Z",
        means="channel names projects/P/notificationChannels/ID",
    ),
    Output("deployer_service_account", pattern=_EMAIL.pattern, means="a service account email"),
    Output(
        "endpoints",
        kind="map",
        pattern=r"^projects/[^/]+/locations/[^/]+/endpoints/[^/]+\Z",
        means="endpoint resource names projects/P/locations/L/endpoints/ID",
    ),
)

SAGEMAKER_OUTPUTS: tuple[Output, ...] = (
    Output(PROVIDER_OUTPUT, required=True),
    Output(
        "region",
        setting="region",
        required=True,
        pattern=r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]+\Z",
        means="an AWS region such as eu-west-1",
    ),
    Output(
        "bucket",
        setting="bucket",
        required=True,
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]\Z",
        means="an S3 bucket name",
    ),
    Output(
        "prefix",
        setting="prefix",
        pattern=r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*\Z",
        means="a key prefix without leading or trailing slash",
    ),
    Output(
        "role_arn",
        setting="role_arn",
        required=True,
        pattern=_AWS_ARN + r"iam::[0-9]{12}:role/\S+$",
        means="an IAM role ARN",
    ),
    Output(
        "kms_key_id",
        setting="kms_key_id",
        pattern=_AWS_ARN + r"kms:[a-z0-9-]+:[0-9]{12}:(key|alias)/\S+$",
        means="a KMS key or alias ARN",
    ),
    Output(
        "serving_image",
        setting="serving_image",
        required=True,
        pattern=_IMAGE.pattern,
        means="an image URI such as ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO:TAG",
    ),
    Output(
        "subnets", kind="list", setting="subnets", pattern=r"^subnet-[0-9a-f]+\Z", means="subnet ids"
    ),
    Output(
        "security_group_ids",
        kind="list",
        setting="security_group_ids",
        pattern=r"^sg-[0-9a-f]+\Z",
        means="security group ids",
    ),
    Output(
        "alarm_topic_arn",
        setting="alarm_topic_arn",
        pattern=_AWS_ARN + r"sns:[a-z0-9-]+:[0-9]{12}:\S+$",
        means="an SNS topic ARN",
    ),
    Output(
        "deployer_policy_arn",
        pattern=_AWS_ARN + r"iam::[0-9]{12}:policy/\S+$",
        means="an IAM policy ARN",
    ),
)

#: provider name -> the outputs its Terraform module declares (and nothing else).
OUTPUTS: dict[str, tuple[Output, ...]] = {"vertex": VERTEX_OUTPUTS, "sagemaker": SAGEMAKER_OUTPUTS}

#: provider name -> the emulator-only profile keys a caller may add.
EMULATOR_SETTINGS: dict[str, tuple[str, ...]] = {
    "vertex": ("api_endpoint", "storage_endpoint", "monitoring_endpoint", "bigquery_endpoint"),
    "sagemaker": ("endpoint_url",),
}


def output_names(provider: str) -> set[str]:
    """Names of the outputs the handoff reads for ``provider`` (``vertex`` or ``sagemaker``)."""
    if provider not in OUTPUTS:
        raise ValidationError(
            f"no Terraform module for provider {provider!r} (known: {', '.join(sorted(OUTPUTS))})"
        )
    return {output.name for output in OUTPUTS[provider]}


@dataclass(frozen=True)
class Handoff:
    """What a Terraform output document means to cloudeploy.

    ``settings`` is the profile table (without ``provider``), in the order of the
    module's outputs; ``endpoints`` maps the cloudeploy endpoint names that
    Terraform created to their cloud resource names (cloudeploy adopts them);
    ``deployer`` is the identity cloudeploy should run as, when the module made one.
    """

    provider: str
    settings: dict[str, Any]
    endpoints: dict[str, str] = field(default_factory=dict)
    deployer: str | None = None
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "settings": dict(self.settings),
            "endpoints": dict(self.endpoints),
            "deployer": self.deployer,
            "source": self.source,
        }


# -- reading the document -----------------------------------------------------


def read_outputs(source: str | Path) -> dict[str, Any]:
    """The outputs in ``source`` as ``{name: value}``.

    ``source`` is ``-`` (standard input), a JSON file written by ``terraform
    output -json``, or a directory: one holding a file named as in
    :data:`OUTPUT_FILENAMES`, or a Terraform root module, in which case
    ``terraform output -json`` is run there (that needs a Terraform binary and
    the module's state). Both ``terraform output -json``'s shape
    (``{"name": {"value": ..., "type": ..., "sensitive": ...}}``) and a plain
    ``{"name": value}`` mapping are accepted.
    """
    if str(source) == "-":
        return _parse(sys.stdin.read(), "standard input")
    path = Path(source)
    if path.is_dir():
        for name in OUTPUT_FILENAMES:
            if (path / name).is_file():
                return _parse((path / name).read_text(), str(path / name))
        if any(path.glob("*.tf")):
            return _parse(_run_terraform_output(path), f"terraform output -json in {path}")
        raise ConfigError(
            f"{path} holds no Terraform outputs (looked for {', '.join(OUTPUT_FILENAMES)} and *.tf)",
            hint="run `terraform output -json > outputs.json` in the root module and pass that file",
        )
    if not path.exists():
        raise ConfigError(
            f"{path} does not exist",
            hint="pass the file written by `terraform output -json`, a directory holding one, or - for stdin",
        )
    return _parse(path.read_text(), str(path))


def _run_terraform_output(directory: Path) -> str:
    terraform = shutil.which("terraform")
    if terraform is None:
        raise ConfigError(
            f"{directory} is a Terraform module but no terraform binary is on PATH",
            hint="run `terraform output -json > outputs.json` where Terraform is installed and pass that file",
        )
    result = subprocess.run(
        [terraform, f"-chdir={directory}", "output", "-json"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigError(
            f"`terraform output -json` failed in {directory}: {result.stderr.strip() or result.stdout.strip()}",
            hint="run `terraform init` and `terraform apply` there first",
        )
    return result.stdout


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{where}: not JSON ({error.msg} at line {error.lineno})",
            hint="write it with `terraform output -json`",
        ) from None
    if not isinstance(document, dict):
        raise ConfigError(
            f"{where}: expected a JSON object of outputs, got {type(document).__name__}"
        )
    wrapped = bool(document) and all(
        isinstance(entry, dict) and "value" in entry and "type" in entry
        for entry in document.values()
    )
    return {name: entry["value"] for name, entry in document.items()} if wrapped else dict(document)


# -- turning it into a profile --------------------------------------------------


def handoff_from_outputs(
    outputs: Mapping[str, Any],
    *,
    source: str = "",
    emulator: Mapping[str, str | None] | None = None,
) -> Handoff:
    """Check ``outputs`` and map them onto the profile of their provider.

    ``emulator`` adds the emulator-only keys (:data:`EMULATOR_SETTINGS`); a key
    that belongs to the other provider is a ValidationError. Outputs the module
    does not declare are ignored, so a root module may export more.
    """
    where = f"{source}: " if source else ""
    provider = outputs.get(PROVIDER_OUTPUT)
    if not isinstance(provider, str) or provider not in OUTPUTS:
        found = "missing" if provider is None else repr(provider)
        raise ConfigError(
            f"{where}output {PROVIDER_OUTPUT!r} is {found}; expected one of {', '.join(sorted(OUTPUTS))}",
            hint=f"re-export module.<name>.{PROVIDER_OUTPUT} (and the module's other outputs) from the root module",
        )
    problems: list[str] = []
    values: dict[str, Any] = {}
    for output in OUTPUTS[provider]:
        value = _checked(output, outputs.get(output.name), problems)
        if value is not None:
            values[output.name] = value
    endpoints = dict(values.get("endpoints") or {})
    problems += _consistency_problems(provider, values, endpoints)
    if problems:
        raise ConfigError(
            f"{where}the {provider} outputs are not usable: " + "; ".join(problems),
            hint=f"fix the Terraform module's inputs; the outputs are listed in terraform/modules/{provider}/outputs.tf",
        )
    settings = {
        o.setting: values[o.name] for o in OUTPUTS[provider] if o.setting and o.name in values
    }
    settings.update(_emulator_settings(provider, emulator or {}))
    deployer = values.get("deployer_service_account") or values.get("deployer_policy_arn")
    return Handoff(provider, settings, endpoints, deployer, source)


def _checked(output: Output, value: Any, problems: list[str]) -> Any:
    """The output's value if it is well formed, None if unset; appends to ``problems``."""
    if value is None or value == "" or value == [] or value == {}:
        if output.required:
            problems.append(f"output {output.name!r} is missing")
        return None
    if output.kind == "str":
        strings = [value] if isinstance(value, str) else None
    elif output.kind == "list":
        strings = (
            list(value)
            if isinstance(value, list) and all(isinstance(v, str) for v in value)
            else None
        )
    else:
        ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
        strings = list(value.values()) if ok else None
    if strings is None:
        expected = {"str": "a string", "list": "a list of strings", "map": "a map of strings"}[
            output.kind
        ]
        problems.append(f"output {output.name!r} must be {expected}, got {json.dumps(value)[:80]}")
        return None
    if output.pattern:
        bad = [s for s in strings if not re.match(output.pattern, s)]
        if bad:
            problems.append(
                f"output {output.name!r} must be {output.means}, got {', '.join(map(repr, bad))}"
            )
            return None
    return value


def _consistency_problems(
    provider: str, values: dict[str, Any], endpoints: dict[str, str]
) -> list[str]:
    problems = []
    region = values.get("region")
    if provider == "vertex":
        for name, resource in endpoints.items():
            if not _SLUG.match(name):
                problems.append(
                    f"endpoint {name!r} is not a cloudeploy endpoint name ([a-z][a-z0-9-]{{0,62}})"
                )
            elif not resource.endswith(f"/endpoints/{name}"):
                problems.append(
                    f"endpoint {name!r} has resource id {resource.rsplit('/', 1)[-1]!r}: "
                    "cloudeploy adopts an endpoint only if its id equals its name"
                )
            if region and f"/locations/{region}/" not in resource:
                problems.append(f"endpoint {name!r} ({resource}) is not in region {region}")
    else:
        for key in ("kms_key_id", "alarm_topic_arn"):
            arn = values.get(key)
            if region and arn and arn.split(":")[3] != region:
                problems.append(f"output {key!r} is in region {arn.split(':')[3]}, not {region}")
        if bool(values.get("subnets")) != bool(values.get("security_group_ids")):
            problems.append(
                "outputs 'subnets' and 'security_group_ids' go together (SageMaker's VpcConfig needs both)"
            )
    return problems


def _emulator_settings(provider: str, emulator: Mapping[str, str | None]) -> dict[str, str]:
    given = {key: url for key, url in emulator.items() if url}
    foreign = sorted(set(given) - set(EMULATOR_SETTINGS[provider]))
    if foreign:
        allowed = ", ".join(EMULATOR_SETTINGS[provider])
        raise ValidationError(
            f"{', '.join(foreign)} do not apply to {provider} outputs (for {provider}: {allowed})"
        )
    for key, url in given.items():
        if key in _HOST_PORT_SETTINGS:
            if not _HOST_PORT.match(url):
                raise ValidationError(f"{key} must be host:port such as 127.0.0.1:9090, got {url!r}")
        elif not _URL.match(url):
            raise ValidationError(
                f"{key} must be an http(s) URL such as http://127.0.0.1:8080, got {url!r}"
            )
    return {key: url.rstrip("/") for key, url in given.items()}


# -- writing the profile --------------------------------------------------------


def from_terraform(
    source: str | Path,
    profile: str,
    *,
    config: Path | None = None,
    make_default: bool = False,
    emulator: Mapping[str, str | None] | None = None,
) -> tuple[Handoff, Path]:
    """Read ``source``, check it and write ``[profiles.<profile>]``.

    The profile is written with :func:`cloudeploy.config.write_profile` into
    ``config`` (default: ``cloudeploy.toml`` or ``$CLOUDEPLOY_CONFIG``), replacing
    a profile of that name and keeping the rest of the file. Returns the handoff
    and the path written.
    """
    if not _PROFILE_NAME.match(profile):
        raise ValidationError(f"profile name {profile!r} must be letters, digits, '-' or '_'")
    label = "standard input" if str(source) == "-" else str(source)
    handoff = handoff_from_outputs(read_outputs(source), source=label, emulator=emulator)
    path = write_profile(
        profile, handoff.provider, handoff.settings, path=config, make_default=make_default
    )
    return handoff, path
