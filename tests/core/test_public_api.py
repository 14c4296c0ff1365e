"""The public API is what `cloudeploy/__init__.py` exports, and every name resolves."""

from __future__ import annotations

import cloudeploy


def test_every_exported_name_resolves():
    unresolved = [name for name in cloudeploy.__all__ if getattr(cloudeploy, name, None) is None]
    assert unresolved == []


def test_all_lists_exactly_the_lazy_exports():
    assert set(cloudeploy.__all__) - {"errors", "__version__"} == set(cloudeploy._EXPORTS)
