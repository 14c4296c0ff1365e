"""The import graph is the layer diagram of DESIGN.md, and the CLI stays light.

The contracts live in ``.importlinter`` at the repository root (also run by
``make lint``). Each check runs in a child process: import-linter configures
itself globally, and the startup checks need a clean ``sys.modules``.
"""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / ".importlinter"
PACKAGE = ROOT / "src" / "cloudeploy"

# Same list as test_cli_startup.py, plus the heavy packages that only lazy.py may import.
HEAVY = ("sklearn", "numpy", "starlette", "uvicorn", "google.cloud.aiplatform", "google.cloud.storage",
         "google.auth", "google.api_core", "google.protobuf", "boto3", "botocore",
         "pandas", "httpx", "moto", "pyarrow", "onnxruntime", "shap", "xgboost", "lightgbm", "scipy")
_LOADED = f"sorted(m for m in sys.modules if any(m == h or m.startswith(h + '.') for h in {HEAVY!r}))"


def _contracts() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return parser


def _contract_ids() -> list[str]:
    return [s.split(":", 2)[2] for s in _contracts().sections() if s.startswith("importlinter:contract:")]


@pytest.mark.parametrize("contract", _contract_ids())
def test_import_contract_is_kept(contract):
    code = (
        "import sys\nfrom importlinter.cli import lint_imports\n"
        f"sys.exit(lint_imports(config_filename={str(CONFIG)!r}, limit_to_contracts=({contract!r},), "
        "no_cache=True, no_logo=True))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, f"import contract {contract!r} broken:\n{run.stdout}\n{run.stderr}"


def _listed(contract: str, option: str) -> set[str]:
    text = _contracts()[f"importlinter:contract:{contract}"][option]
    return {name.strip() for line in text.splitlines() for name in line.split("|") if name.strip()}


def _children(package: Path, prefix: str) -> set[str]:
    return {
        f"{prefix}.{path.stem if path.is_file() else path.name}"
        for path in package.iterdir()
        if (path.suffix == ".py" and path.stem != "__init__") or (path / "__init__.py").is_file()
    }


def test_every_top_level_module_has_a_layer():
    """A new module or package cannot escape the layer contract by not being listed."""
    assert _children(PACKAGE, "cloudeploy") - _listed("layers", "layers") == set(), \
        "add these to the layers of .importlinter"


def test_every_module_outside_the_cloud_providers_is_kept_from_the_sdks():
    """Only providers/vertex, providers/sagemaker and testing/ may import a cloud SDK."""
    outside = (_children(PACKAGE, "cloudeploy") - {"cloudeploy.testing", "cloudeploy.providers"}) | (
        _children(PACKAGE / "providers", "cloudeploy.providers")
        - {"cloudeploy.providers.vertex", "cloudeploy.providers.sagemaker"}
    )
    assert outside - _listed("sdk", "source_modules") == set(), \
        "add these to the source_modules of the sdk contract in .importlinter"


def test_no_command_help_imports_anything_heavy():
    """``cloudeploy CMD --help`` for every command (and ``--help``) imports no heavy package."""
    code = (
        "import sys\nfrom cloudeploy.cli import COMMANDS, cli\n"
        "for argv in [['--help'], *([name, '--help'] for name in sorted(COMMANDS))]:\n"
        "    try:\n        cli(argv, prog_name='cloudeploy')\n    except SystemExit as stop:\n"
        "        assert stop.code in (0, None), (argv, stop.code)\n"
        f"print('HEAVY=' + ','.join({_LOADED}))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "HEAVY="


def _unexplained_function_imports(path: Path, packages: frozenset[str]) -> list[int]:
    """Lines of ``path`` where a function imports one of ``packages`` (top-level names; a
    relative import counts as ``cloudeploy``) without saying why on its line (``# inside:``)."""
    source = path.read_text()
    lines = source.splitlines()
    found = set()
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom):
                names = ["cloudeploy"] if node.level > 0 else [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            said_why = any("# inside:" in line for line in lines[node.lineno - 1:node.end_lineno])
            if any(name.split(".")[0] in packages for name in names) and not said_why:
                found.add(node.lineno)
    return sorted(found)


def test_internal_imports_sit_at_module_top():
    """A function-level import of a cloudeploy module hides an edge of the import graph.

    Internal imports belong at module top (heavy third-party packages load through
    ``cloudeploy.lazy`` instead); the few that must stay inside a function (a
    platform-only module, the server stack for ``serve --help``) say why on their
    line with ``# inside: <reason>``. testing/ (emulators, pytest plugin) is exempt.
    """
    hidden = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if "testing" not in path.relative_to(PACKAGE).parts
        for line in _unexplained_function_imports(path, frozenset({"cloudeploy"}))
    ]
    assert hidden == [], (
        "move these cloudeploy imports to module top (a heavy third-party package the imported module "
        "needs goes through cloudeploy.lazy), or say on the line why one must stay: "
        "'# inside: <reason>'\n" + "\n".join(hidden)
    )


#: Heavy third-party packages: outside the provider packages they load through cloudeploy.lazy.
LAZY_ONLY = frozenset({
    "numpy", "pandas", "pyarrow", "sklearn", "scipy", "onnx", "onnxruntime", "skl2onnx", "onnxmltools",
    "xgboost", "lightgbm", "shap", "rich", "matplotlib", "skops", "joblib", "uvicorn", "starlette",
    "prometheus_client", "orjson", "httpx", "tomlkit", "hcl2", "psutil", "jinja2", "yaml",
})


def test_heavy_packages_load_through_the_lazy_helper():
    """Outside providers/ and testing/, a function does not import a heavy package itself.

    It names the package at module top, ``np = lazy.module("numpy")`` (imported at the
    first attribute read), or probes an optional one with ``lazy.load("shap")`` inside
    ``try/except ImportError``; a function-level import that must stay (the sandbox
    child's minimal import set, say) says why on its line: ``# inside: <reason>``.
    The provider packages keep their SDK imports as statements (the sdk contract of
    .importlinter reads them).
    """
    hidden = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if not {"testing", "providers"} & set(path.relative_to(PACKAGE).parts)
        for line in _unexplained_function_imports(path, LAZY_ONLY)
    ]
    assert hidden == [], (
        "load these through cloudeploy.lazy (a module-level handle, or lazy.load in a probe), "
        "or say on the line why one must stay: '# inside: <reason>'\n" + "\n".join(hidden)
    )
