"""The user's own code in a package (``--code PATH``, like MLflow's ``code_paths``).

A model that uses the user's own transformers pickles references to them
(``my_transformers.Clipper``), so whatever loads the model must be able to
import that module. ``--code`` copies a module (``my_transformers.py``) or a
package directory (with ``__init__.py``) into the package's ``code/`` directory:

- every copied file is listed in the manifest with its sha256, so the digest
  covers the code and ``verify_package`` refuses a changed, missing or extra file;
- loading puts ``<package>/code`` first on ``sys.path`` and allows the code's
  top-level modules (``my_transformers.*``) in the allowlist and the object-graph
  audit: the package's author vouches for that code, and it runs wherever the
  package is loaded (review it like any dependency);
- a module name that would shadow the standard library or a library cloudeploy
  loads models with (``numpy``, ``sklearn`` ...) is refused.

Classes defined in ``__main__`` (a notebook or a script) cannot be imported by
anyone else: :func:`main_module_error` turns such a reference into one line that
says to move them into a module and pass ``--code``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from cloudeploy.errors import PackageError, ValidationError
from cloudeploy.packaging.manifest import sha256_file

CODE_DIR = "code"

#: Top-level names a package's code may not take: they would replace the
#: libraries that load and run every model.
PROTECTED_MODULES = frozenset(
    {
        "cloudeploy",
        "sklearn",
        "numpy",
        "scipy",
        "joblib",
        "pandas",
        "pyarrow",
        "onnx",
        "onnxruntime",
        "skl2onnx",
        "onnxmltools",
        "skops",
        "xgboost",
        "lightgbm",
        "threadpoolctl",
        "starlette",
        "uvicorn",
        "click",
    }
)
_SKIPPED = ("__pycache__", ".pyc", ".pyo")


def copy_code(paths: Sequence[str | os.PathLike[str]], package_root: Path) -> dict[str, str]:
    """Copy each module file or package directory into ``package_root/code``.

    Returns ``{relative file name: sha256}`` for the manifest. Raises
    ValidationError for a path that is not a ``.py`` file or a directory with
    ``__init__.py``, a module name that is not an identifier, one that shadows
    a protected or standard-library module, or the same name given twice.
    """
    if not paths:
        return {}
    target = package_root / CODE_DIR
    target.mkdir()
    seen: set[str] = set()
    for raw in paths:
        source = Path(raw)
        name = _module_name(source)
        if name in seen:
            raise ValidationError(f"--code {source}: a module named {name!r} is already included")
        seen.add(name)
        if source.is_dir():
            shutil.copytree(
                source, target / source.name, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]")
            )
        else:
            shutil.copyfile(source, target / source.name)
    files = {}
    for path in sorted(target.rglob("*")):
        if path.is_symlink():
            raise ValidationError(f"--code: {path.relative_to(target)} is a symbolic link")
        if path.is_file():
            files[path.relative_to(package_root).as_posix()] = sha256_file(path)
    return files


def _module_name(source: Path) -> str:
    if not source.exists():
        raise ValidationError(f"--code {source}: no such file or directory")
    if source.is_dir():
        if not (source / "__init__.py").is_file():
            raise ValidationError(
                f"--code {source}: a directory must be a Python package (with __init__.py)"
            )
        name = source.name
    elif source.suffix == ".py":
        name = source.stem
    else:
        raise ValidationError(f"--code {source}: expected a .py module or a package directory")
    if not name.isidentifier():
        raise ValidationError(f"--code {source}: {name!r} is not a valid module name")
    if name in PROTECTED_MODULES or name in sys.stdlib_module_names or name == "__main__":
        raise ValidationError(
            f"--code {source}: the module name {name!r} would shadow a library module",
            hint="rename your module (e.g. my_transformers.py)",
        )
    return name


def code_modules(files: Iterable[str]) -> list[str]:
    """The top-level module names among a manifest's ``code/...`` files."""
    names = set()
    for name in files:
        parts = name.split("/")
        if len(parts) >= 2 and parts[0] == CODE_DIR:
            top = parts[1]
            if len(parts) == 2 and top.endswith(".py"):
                names.add(top[:-3])
            elif len(parts) > 2:
                names.add(top)
    return sorted(n for n in names if n.isidentifier())


def allowlist_entries(modules: Iterable[str]) -> list[str]:
    """Allowlist prefixes for the package's own modules (``my_transformers.*``)."""
    return [f"{module}.*" for module in modules]


def make_importable(package_root: Path, files: Iterable[str]) -> list[str]:
    """Put ``package_root/code`` first on ``sys.path`` when the package has code; return its modules.

    A module of the same name that this process has already imported (the
    user's own copy, in the process that built the package) is used as is: a
    server or batch worker is a fresh process and imports the package's copy.
    """
    modules = code_modules(files)
    if modules:
        code_dir = str((package_root / CODE_DIR).resolve())
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
    return modules


def main_module_error(offending: Iterable[str], what: str) -> PackageError | None:
    """One clear error when ``offending`` names ``__main__`` objects, else None."""
    names = sorted({name for name in offending if name.startswith("__main__.")})
    if not names:
        return None
    short = ", ".join(name.split(".", 1)[1] for name in names)
    return PackageError(
        f"{what} uses {short} defined in __main__ (a notebook or script), "
        "which no other process can import",
        hint="move it into a module (e.g. my_transformers.py), import it from there, "
        "refit or re-create the model, and pass --code my_transformers.py "
        "(code_paths=['my_transformers.py'])",
    )
