"""Exit codes are distinct per meaning, and the README's table lists each one."""

from __future__ import annotations

import re
from pathlib import Path

from cloudeploy import errors
from cloudeploy.commands.monitor import EXIT_BREACHED, EXIT_NOT_JUDGED

README = Path(__file__).resolve().parents[2] / "README.md"


def _error_codes() -> dict[int, set[str]]:
    codes: dict[int, set[str]] = {}
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.CloudeployError):
            codes.setdefault(value.exit_code, set()).add(value.__name__)
    return codes


def test_a_breached_threshold_has_a_code_no_error_uses():
    assert EXIT_BREACHED not in _error_codes()
    assert EXIT_BREACHED not in (0, 3)  # success, rolled back
    assert EXIT_NOT_JUDGED not in _error_codes() and EXIT_NOT_JUDGED not in (0, 3, EXIT_BREACHED)


def test_the_readme_lists_every_exit_code():
    table = dict(re.findall(r"^\| (\d+) \| (.+) \|$", README.read_text(), flags=re.MULTILINE))
    for code in [*_error_codes(), 0, EXIT_BREACHED, EXIT_NOT_JUDGED]:
        assert str(code) in table, f"exit code {code} is not in the README's table"
    assert "breached" in table[str(EXIT_BREACHED)]
