"""The Vertex AI provider (``pip install 'cloudeploy[vertex]'``).

- :mod:`.provider`: :class:`VertexProvider`, the contract on Vertex AI.
- :mod:`.sdk`: the one module that builds Google Cloud clients.
- :mod:`.mapping`: names, labels, splits, and Vertex resources as cloudeploy types.
- :mod:`.containers`: the prebuilt-or-cloudeploy serving image choice.
- :mod:`.errors`: Google API errors as cloudeploy errors.
- :mod:`.settings`: the ``vertex`` profile keys.
"""

from __future__ import annotations

from cloudeploy.providers.vertex.provider import VertexProvider

__all__ = ["VertexProvider"]
