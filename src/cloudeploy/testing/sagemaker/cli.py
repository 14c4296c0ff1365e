"""``cloudeploy emulator sagemaker``: serve the SageMaker emulation until interrupted."""

from __future__ import annotations

import json
import signal
import threading

import click

from cloudeploy.commands._output import output_option


@click.command("sagemaker")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port on 127.0.0.1 (0 picks a free one).",
)
@click.option("--region", default="us-east-1", show_default=True, help="The emulated AWS region.")
@click.option(
    "--bucket",
    default=None,
    help="Also create this bucket and an execution role, and print a profile for them.",
)
@output_option
def sagemaker(port: int, region: str, bucket: str | None, output: str) -> None:
    """Run the SageMaker, S3, IAM, CloudWatch and Application Auto Scaling emulation.

    Point boto3 at the printed URL with any dummy credentials. With
    ``--output json`` one JSON line ({"endpoint_url", "region"[, "profile"]}) is
    printed once the emulation is ready. Ctrl-C (or SIGTERM) stops it and every
    model server it started.
    """
    from cloudeploy.testing.sagemaker import start_emulation

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with start_emulation(port=port, region=region) as emulation:
        ready = {"endpoint_url": emulation.endpoint_url, "region": emulation.region}
        if bucket:
            ready["profile"] = {
                "provider": "sagemaker",
                **emulation.profile_settings(bucket=bucket),
            }
        if output == "json":
            click.echo(json.dumps(ready), nl=True)
        else:
            click.echo(
                f"SageMaker emulation on {ready['endpoint_url']} (region {region}); Ctrl-C stops it"
            )
            if bucket:
                click.echo(f"profile settings: {json.dumps(ready['profile'])}")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
