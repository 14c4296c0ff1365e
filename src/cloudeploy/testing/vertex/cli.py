"""``cloudeploy emulator vertex``: serve the Vertex AI + Cloud Storage emulator until stopped."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click

from cloudeploy.commands._output import output_option


@click.command("vertex")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Port of the Vertex AI API (0 picks a free one); Cloud Storage gets a free port.",
)
@click.option(
    "--project", default="test-project", show_default=True, help="Project of the printed profile."
)
@click.option(
    "--region", default="us-central1", show_default=True, help="Region of the printed profile."
)
@click.option(
    "--bucket",
    default="cloudeploy-dev",
    show_default=True,
    help="Staging bucket to create and put in the profile.",
)
@click.option(
    "--write-profile",
    "profile_name",
    default=None,
    metavar="NAME",
    help="Also write the profile as [profiles.NAME] to cloudeploy.toml (or $CLOUDEPLOY_CONFIG).",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="The config file --write-profile writes to.",
)
@click.option(
    "--fault", "faults", multiple=True, metavar="METHOD:KIND[:key=value,...]",
    help="Inject a fault (repeatable), e.g. DeployModel:throttle:count=2, *:latency:seconds=0.5, "
    "DeployModel:fail:reason=NoCapacity. Kinds: throttle (429), transient (status=500|502|503|504), "
    "latency (seconds=), fail (reason=), hold (seconds=: the operation stays running); "
    "options count=, skip=, probability=, seed=.",
)  # fmt: skip
@output_option
def vertex(
    host: str, port: int, project: str, region: str, bucket: str,
    profile_name: str | None, config_file: Path | None, faults: tuple[str, ...], output: str,
) -> None:  # fmt: skip
    """Run the Vertex AI v1 REST API and a Cloud Storage emulator.

    Point google-cloud-aiplatform at it with ``aiplatform.init(api_transport="rest",
    api_endpoint=URL, credentials=AnonymousCredentials(), ...)`` and set
    ``STORAGE_EMULATOR_HOST`` for google-cloud-storage. With ``--output json`` one
    JSON line ({"api_endpoint", "storage_endpoint", "monitoring_endpoint" (gRPC
    Cloud Monitoring, host:port), "project", "region", "profile", "faults"})
    is printed once both servers are ready. Faults can also be changed while it
    runs, over HTTP at ``{api_endpoint}/cloudeploy/faults``. Ctrl-C (or SIGTERM)
    stops them and every model server they started.
    """
    from cloudeploy.config import write_profile
    from cloudeploy.testing.vertex import start_emulator
    from cloudeploy.testing.vertex.faults import parse_rule

    rules = [parse_rule(text) for text in faults]  # bad input fails before anything starts

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with start_emulator(host=host, port=port, project=project, region=region) as emulator:
        profile = emulator.profile_settings(bucket=bucket)
        for rule in rules:
            emulator.faults.add_rule(rule)
        ready = {
            "api_endpoint": emulator.api_endpoint,
            "storage_endpoint": emulator.storage_endpoint,
            "monitoring_endpoint": emulator.monitoring_endpoint,
            "project": project,
            "region": region,
            "profile": profile,
            "faults": [rule.as_dict() for rule in rules],
        }
        if profile_name:
            settings = {k: v for k, v in profile.items() if k != "provider"}
            ready["profile_file"] = str(
                write_profile(profile_name, "vertex", settings, path=config_file)
            )
        if output == "json":
            click.echo(json.dumps(ready))
        else:
            click.echo(
                f"Vertex AI emulator on {emulator.api_endpoint} (project {project}, region {region})"
            )
            click.echo(
                f"Cloud Storage emulator on {emulator.storage_endpoint} (STORAGE_EMULATOR_HOST)"
            )
            if profile_name:
                click.echo(f"wrote profile {profile_name!r} to {ready['profile_file']}")
            else:
                click.echo("profile (add under [profiles.NAME] in cloudeploy.toml):")
                for key, value in profile.items():
                    click.echo(f"  {key} = {json.dumps(value)}")
            for rule in rules:
                click.echo(f"fault: {rule.operation} {rule.kind} ({rule.count or 'every'} call(s))")
            click.echo("Ctrl-C stops it")
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
