"""Text output that is piped (CI logs, `| grep`) is not cut at 80 columns."""

from __future__ import annotations

import click
from click.testing import CliRunner
from rich.table import Table

from cloudeploy.commands._output import emit


@click.command()
def wide():
    row = {f"column_{i}": f"value-{i}-{'x' * 12}" for i in range(10)}

    def render(console, data):
        table = Table()
        for key in data:
            table.add_column(key)
        table.add_row(*data.values())
        console.print(table)

    emit("text", row, render)


def test_a_wide_table_is_not_cut_when_piped(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    result = CliRunner().invoke(wide)
    assert result.exit_code == 0
    assert "…" not in result.output
    for i in range(10):
        assert f"value-{i}-{'x' * 12}" in result.output
        assert f"column_{i}" in result.output


def test_columns_still_sets_the_width(monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")
    result = CliRunner().invoke(wide)
    assert max(len(line) for line in result.output.splitlines()) <= 60
