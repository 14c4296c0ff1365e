"""``cloudeploy.lazy``: a heavy package is imported at its first use, never before."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cloudeploy import lazy


def test_stand_in_imports_on_first_attribute_read_only():
    code = (
        "import sys\nfrom cloudeploy import lazy\n"
        "np = lazy.module('numpy')\nassert 'numpy' not in sys.modules, 'imported too early'\n"
        "repr(np)\nassert 'numpy' not in sys.modules, 'repr imported it'\n"
        "assert np.zeros(3).tolist() == [0.0, 0.0, 0.0]\nassert 'numpy' in sys.modules\n"
        "assert np.ndarray is sys.modules['numpy'].ndarray\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


def test_missing_package_names_the_extra_that_installs_it(monkeypatch):
    monkeypatch.setitem(lazy.EXTRAS, "cloudeploy_absent_pkg", "pip install 'cloudeploy[absent]'")
    stand_in = lazy.module("cloudeploy_absent_pkg.sub")
    with pytest.raises(ImportError, match=r"cloudeploy_absent_pkg\.sub is not installed .*cloudeploy\[absent\]"):
        getattr(stand_in, "anything")  # noqa: B009 (the read is the test)


def test_missing_package_without_extra_is_the_plain_import_error():
    with pytest.raises(ModuleNotFoundError, match="cloudeploy_absent_pkg"):
        getattr(lazy.module("cloudeploy_absent_pkg"), "anything")  # noqa: B009


def test_probing_by_tools_does_not_import():
    stand_in = lazy.module("cloudeploy_absent_pkg")
    assert not hasattr(stand_in, "__wrapped__")  # inspect.unwrap probes it: no ImportError


def test_a_dunder_the_module_defines_is_a_use():
    import json

    assert lazy.module("json").__version__ == json.__version__


def test_a_patch_of_the_real_module_is_seen_through_the_stand_in(monkeypatch):
    import json

    stand_in = lazy.module("json")
    assert stand_in.dumps([1]) == "[1]"  # loaded

    monkeypatch.setattr(json, "dumps", lambda value: "patched")

    assert stand_in.dumps([1]) == "patched"


def test_the_module_that_asked_holds_the_real_module_after_first_use():
    code = (
        "import sys\nfrom cloudeploy import lazy\n"
        "js = lazy.module('json')\nassert type(js).__name__ == 'LazyModule'\n"
        "js.dumps\nassert js is sys.modules['json'], js\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
