"""``cloudeploy emulator sagemaker``: serve the SageMaker emulation until interrupted."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from cloudeploy.commands._output import output_option


@click.command("sagemaker")
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)  # fmt: skip
@click.option("--region", default="us-east-1", show_default=True, help="The emulated AWS region.")
@click.option(
    "--bucket", default="cloudeploy-dev", show_default=True,
    help="Bucket to create (with an execution role) and put in the profile.",
)  # fmt: skip
@click.option(
    "--write-profile", "profile_name", default=None, metavar="NAME",
    help="Also write the profile as [profiles.NAME] to cloudeploy.toml (or $CLOUDEPLOY_CONFIG).",
)  # fmt: skip
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="The config file --write-profile writes to.",
)  # fmt: skip
@click.option(
    "--fault", "faults", multiple=True, metavar="OP:KIND[:key=value,...]",
    help="Inject a fault (repeatable), e.g. UpdateEndpoint:throttle:count=2, *:latency:seconds=0.5, "
    "CreateEndpoint:fail:reason=NoCapacity, UpdateEndpoint:silent_rollback. Kinds: throttle, "
    "transient (status=500|503), latency (seconds=), fail (reason=), silent_rollback; options "
    "count=, probability=, seed=.",
)  # fmt: skip
@click.option(
    "--time-scale", type=float, default=None, metavar="FACTOR",
    help="Multiply the service's deployment waits (blue/green bakes) by FACTOR, 0 < FACTOR <= 1 "
    "(default: $CLOUDEPLOY_SAGEMAKER_TIME_SCALE, else 1 = real seconds).",
)  # fmt: skip
@output_option
def sagemaker(
    port: int,
    region: str,
    bucket: str,
    profile_name: str | None,
    config_file: Path | None,
    faults: tuple[str, ...],
    time_scale: float | None,
    output: str,
) -> None:
    """Run the SageMaker, S3, IAM, CloudWatch and Application Auto Scaling emulation.

    Point boto3 at the printed URL with any dummy credentials, or use the printed
    profile with ``--profile``. With ``--output json`` one JSON line
    ({"endpoint_url", "region", "profile", "faults"[, "profile_file"]}) is printed once the
    emulation is ready. Ctrl-C (or SIGTERM) stops it and every model server it
    started.
    """
    from cloudeploy.config import write_profile
    from cloudeploy.testing.sagemaker import start_emulation
    from cloudeploy.testing.sagemaker.clock import check_scale
    from cloudeploy.testing.sagemaker.faults import parse_rule

    rules = [parse_rule(text) for text in faults]  # bad input fails before anything starts
    if time_scale is not None:
        check_scale(time_scale, "--time-scale")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with start_emulation(port=port, region=region, time_scale=time_scale) as emulation:
        profile = emulation.profile_settings(bucket=bucket)
        for rule in rules:  # after the setup calls, so they only meet the user's calls
            emulation.faults.add_rule(rule)
        ready = {
            "endpoint_url": emulation.endpoint_url,
            "region": region,
            "profile": {"provider": "sagemaker", **profile},
            "faults": [rule.as_dict() for rule in rules],
        }
        if profile_name:
            ready["profile_file"] = str(
                write_profile(profile_name, "sagemaker", profile, path=config_file)
            )
        if output == "json":
            click.echo(json.dumps(ready))
        else:
            click.echo(f"SageMaker emulation on {emulation.endpoint_url} (region {region})")
            if profile_name:
                click.echo(f"wrote profile {profile_name!r} to {ready['profile_file']}")
            else:
                click.echo("profile (add under [profiles.NAME] in cloudeploy.toml):")
                for key, value in ready["profile"].items():
                    click.echo(f"  {key} = {json.dumps(value)}")
            for rule in rules:
                click.echo(f"fault: {rule.operation} {rule.kind} ({rule.count or 'every'} call(s))")
            click.echo("Ctrl-C stops it")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
