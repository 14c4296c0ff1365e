"""``cloudeploy image context PACKAGE_DIR -o DIR``: write the serving image's build context."""

from __future__ import annotations

from pathlib import Path

import click

from cloudeploy.commands._output import emit, output_option
from cloudeploy.serving.image import write_image_context


@click.group()
def image() -> None:
    """Build contexts for cloudeploy's serving image (Vertex AI / SageMaker custom containers)."""


@image.command()
@click.argument("package_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Directory to write the build context to.")
@click.option("--base-image", default=None, help="Base image. [default: python:<manifest's Python>-slim]")
@click.option("--trust", is_flag=True, help="Start the server with --trust (for packages outside the pickle allowlist).")
@click.option("--overwrite", is_flag=True, help="Replace a non-empty output directory.")
@output_option
def context(package_dir: Path, out_dir: Path, base_image: str | None, trust: bool, overwrite: bool, output: str) -> None:
    """Write a Docker build context (Dockerfile, pinned requirements, the package) to DIR.

    Building it needs Docker: `docker build -t IMAGE DIR`.
    """
    written = write_image_context(
        package_dir, out_dir, base_image=base_image, serve_args=["--trust"] if trust else (), overwrite=overwrite
    )
    emit(output, written.to_dict(), _render)


def _render(console, data: dict) -> None:
    console.print(f"Build context written to [bold]{data['path']}[/bold] (base image {data['base_image']})")
    for name, version in data["requirements"].items():
        console.print(f"  {name}=={version}")
    console.print(f"Build it with Docker: docker build -t IMAGE {data['path']}")
