"""Every command's --help renders cleanly: no literal printf escapes, one screen per option."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

from cloudeploy.cli import cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if command is None:
            continue
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", list(_commands(cli)), ids=" ".join)
def test_help_has_no_literal_percent_escapes(path):
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "%%" not in result.output
