"""The ``cloudeploy`` command line.

The root group knows each subcommand by the dotted path of the module that
defines it and imports that module only when the subcommand runs, so
``cloudeploy --help`` stays fast and imports no cloud SDK, scikit-learn or
server code. Every :class:`~cloudeploy.errors.CloudeployError` becomes one line
on stderr and the error's exit code.
"""

from __future__ import annotations

import importlib
import sys

import click

from cloudeploy.errors import CloudeployError

#: name -> "module:attribute" of the click command; imported on first use.
COMMANDS: dict[str, tuple[str, str]] = {
    "package": ("cloudeploy.commands.package:package", "Build a verified model package from a model file."),
    "serve": ("cloudeploy.commands.serve:serve", "Serve a model package over HTTP (Vertex AI and SageMaker contracts)."),
    "image": ("cloudeploy.commands.image:image", "Write a Docker build context for the serving image."),
    "deploy": ("cloudeploy.commands.deploy:deploy", "Upload a model version and deploy it to an endpoint."),
    "models": ("cloudeploy.commands.models:models", "List, show and delete registered models and versions."),
    "endpoints": ("cloudeploy.commands.endpoints:endpoints", "List, show, stop, start and delete endpoints."),
    "traffic": ("cloudeploy.commands.traffic:traffic", "Set an endpoint's traffic split: VERSION=PCT ..."),
    "promote": ("cloudeploy.commands.promote:promote", "Move traffic to a version, step by step with guardrails."),
    "shadow": ("cloudeploy.commands.shadow:shadow", "Judge a version on copies of live traffic before users see it."),
    "rollback": ("cloudeploy.commands.traffic:rollback", "Return an endpoint to its split before the last change."),
    "undeploy": ("cloudeploy.commands.traffic:undeploy", "Stop serving a version on an endpoint and release its replicas."),
    "predict": ("cloudeploy.commands.predict:predict", "Send instances to an endpoint and print predictions."),
    "status": ("cloudeploy.commands.status:status", "Show every endpoint with its versions, traffic and replicas."),
    "batch": ("cloudeploy.commands.batch:batch", "Run a batch prediction job."),
    "monitor": ("cloudeploy.commands.monitor:monitor", "Configure and run skew and drift monitoring."),
    "config": ("cloudeploy.commands.config:config", "Show profiles; write one from Terraform outputs."),
    "emulator": ("cloudeploy.commands.emulator:emulator", "Run the Vertex AI or SageMaker emulator on 127.0.0.1."),
}


def load_command(target: str) -> click.Command:
    module_name, _, attribute = target.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported when invoked.

    ``lazy`` maps a name to ``("module:attribute", short help)``; the short help
    is shown by ``--help`` without importing the module.
    """

    def __init__(self, *args, lazy: dict[str, tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            return load_command(self.lazy[cmd_name][0])
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, self.lazy[name][1]) for name in sorted(self.lazy)]
        rows += [
            (name, cmd.get_short_help_str(limit=80))
            for name, cmd in sorted(self.commands.items())
            if name not in self.lazy and not cmd.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CloudeployError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(error.exit_code)


@click.group(cls=LazyGroup, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cloudeploy")
def cli() -> None:
    """Deploy scikit-learn models locally, on Vertex AI or on SageMaker.

    With no configuration, everything runs on the local provider: a registry,
    live endpoints with traffic splits and autoscaling, under ./.cloudeploy.
    """


def main() -> None:
    cli(prog_name="cloudeploy")


if __name__ == "__main__":
    main()
