"""``cloudeploy emulator vertex|sagemaker``: run an emulator on 127.0.0.1."""

from __future__ import annotations

import click

from cloudeploy.cli import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "vertex": ("cloudeploy.testing.vertex.cli:vertex", "Vertex AI v1 REST API and Cloud Storage emulator."),
        "sagemaker": ("cloudeploy.testing.sagemaker.cli:sagemaker", "SageMaker, S3, CloudWatch emulation (moto based)."),
    },
)
def emulator() -> None:
    """Run a cloud emulator that the real SDKs talk to, on 127.0.0.1."""
