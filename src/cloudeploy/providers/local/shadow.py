"""Shadow traffic on the local provider: the endpoint's gateway mirrors requests.

``start`` tells the gateway (``POST /_cloudeploy/shadow``) to copy ``share`` of
the requests it answers to the candidate's replicas (the candidate is deployed
at 0% with replicas); ``read`` fetches the run's records in a window and turns
them into the candidate's and serving version's metrics on the mirrored
requests plus the row pairs; ``stop`` ends mirroring. See
``gateway/mirror.py`` for how copies stay off the answer path.
"""

from __future__ import annotations

from typing import Any

import httpx

from cloudeploy.errors import ConflictError, ProviderError
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.providers.capabilities import ShadowSource, ShadowWindow
from cloudeploy.providers.shadow_metrics import metrics_from_answers


class LocalShadow(ShadowSource):
    def _call(self, endpoint: str, method: str, **kwargs: Any) -> dict[str, Any]:
        url = f"{self.provider.get_endpoint(endpoint).url.rstrip('/')}/_cloudeploy/shadow"
        try:
            answer = httpx.request(method, url, timeout=10.0, **kwargs)
        except httpx.TransportError as error:
            raise ProviderError(f"endpoint {endpoint} did not answer ({type(error).__name__})",
                                hint=f"cloudeploy endpoints start {endpoint}") from None
        data = answer.json() if answer.content else {}
        if answer.status_code == 409:
            raise ConflictError(data.get("error", {}).get("message", answer.text))
        if answer.status_code >= 400:
            raise ProviderError(f"endpoint {endpoint} refused the shadow call ({answer.status_code}): "
                                f"{data.get('error', {}).get('message', answer.text)}")
        return data

    def start(self, endpoint: str, serving: str, candidate: str, share: float, *,
              progress: ProgressCallback = no_progress) -> None:
        self._call(endpoint, "POST", json={"version": candidate, "share": share})

    def read(self, endpoint: str, serving: str, candidate: str, *, since: float, until: float) -> ShadowWindow:
        data = self._call(endpoint, "GET", params={"since": since, "until": until})
        return ShadowWindow(
            pairs=[tuple(p) for p in data["pairs"]],
            candidate=metrics_from_answers(candidate, data["candidate"], since=since, until=until),
            serving=metrics_from_answers(serving, data["serving"], since=since, until=until),
            mirrored=data["mirrored"],
            dropped=data["dropped"],
        )

    def stop(self, endpoint: str, serving: str, candidate: str, *,
             progress: ProgressCallback = no_progress) -> None:
        self._call(endpoint, "DELETE")
