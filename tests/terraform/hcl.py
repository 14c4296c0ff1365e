"""Reading terraform/ with python-hcl2 for the static checks (no Terraform binary here)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM = ROOT / "terraform"
MODULES = {name: TERRAFORM / "modules" / name for name in ("vertex", "sagemaker")}
EXAMPLES = {name: TERRAFORM / "examples" / name for name in ("vertex", "sagemaker")}
DATA = Path(__file__).resolve().parent / "data"


def tf_files() -> list[Path]:
    return sorted(TERRAFORM.rglob("*.tf"))


def tf_dirs() -> list[Path]:
    return sorted({path.parent for path in tf_files()})


@cache
def parse(path: Path) -> dict[str, Any]:
    """The file as python-hcl2 reads it, with string literals and block labels unquoted."""
    with path.open() as handle:
        return _unquoted(hcl2.load(handle))


def unquote(name: str) -> str:
    return name[1:-1] if len(name) >= 2 and name[0] == name[-1] == '"' else name


def _unquoted(node: Any) -> Any:
    if isinstance(node, str):
        return unquote(node)
    if isinstance(node, dict):
        return {unquote(k): _unquoted(v) for k, v in node.items() if k != "__is_block__"}
    if isinstance(node, list):
        return [_unquoted(item) for item in node]
    return node


def blocks(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    """Top-level ``kind`` blocks (variable, output, module) of a module: name -> body."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get(kind, []):
            for name, body in block.items():
                found[unquote(name)] = body
    return found


def resources(directory: Path, kind: str = "resource") -> dict[tuple[str, str], dict[str, Any]]:
    """``(type, name) -> body`` of every resource (or data source) of a module."""
    found = {}
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get(kind, []):
            for rtype, named in block.items():
                for name, body in named.items():
                    found[(unquote(rtype), unquote(name))] = body
    return found


def locals_defined(directory: Path) -> set[str]:
    names: set[str] = set()
    for path in sorted(directory.glob("*.tf")):
        for block in parse(path).get("locals", []):
            names.update(key for key in block if not key.startswith("__"))
    return names


def expressions(node: Any) -> Iterator[str]:
    """Every string value under ``node`` (expressions and literals), comments left out."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            if key != "__comments__":
                yield from expressions(value)
    elif isinstance(node, list):
        for item in node:
            yield from expressions(item)


def references(directory: Path, prefix: str) -> set[str]:
    """Names used as ``<prefix>.NAME`` (``var``, ``local``, ``module.cloudeploy``) in a module."""
    pattern = re.compile(rf"(?<![\w.]){re.escape(prefix)}\.([A-Za-z_][A-Za-z0-9_-]*)")
    used: set[str] = set()
    for path in sorted(directory.glob("*.tf")):
        for text in expressions(parse(path)):
            used.update(pattern.findall(text))
    return used


def checkov_skips() -> list[tuple[Path, str, str]]:
    """``(file, check id, reason)`` of every inline ``#checkov:skip=ID:reason``."""
    skips = []
    for path in tf_files():
        for match in re.finditer(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?", path.read_text()):
            skips.append((path, match.group(1), (match.group(2) or "").strip()))
    return skips
