"""Shadow traffic on SageMaker: a shadow variant the service copies requests to.

``start`` needs the endpoint's data capture on (the shadow variant's answers are
read back from it to compute agreement) and puts the candidate in a shadow
variant (``providers/sagemaker/shadow.py``); ``read`` takes the shadow
variant's CloudWatch metrics as the candidate's, the serving variant's as the
baseline, and pairs both variants' captured answers on the same input; ``stop``
restores the endpoint's variants as they were.
"""

from __future__ import annotations

from typing import Any

from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.rollout.shadow import MAX_PAIRS, ShadowSource, ShadowUnavailable, ShadowWindow


class SageMakerShadow(ShadowSource):
    def __init__(self, provider: Any) -> None:
        super().__init__(provider)
        self._restore: dict[str, list[dict[str, Any]]] = {}
        self._destination: dict[str, str] = {}

    def check(self, endpoint: str) -> None:
        from cloudeploy.providers.sagemaker import shadow

        destination = shadow.capture_destination(self.provider, endpoint)
        if destination is None:
            raise ShadowUnavailable(
                f"endpoint {endpoint} does not capture its requests, so the shadow variant's answers "
                "cannot be compared",
                hint=f"turn data capture on: cloudeploy monitor configure {endpoint} --provider sagemaker",
            )
        self._destination[endpoint] = destination

    def start(self, endpoint: str, serving: str, candidate: str, share: float, *,
              progress: ProgressCallback = no_progress) -> None:
        from cloudeploy.providers.sagemaker import shadow

        if endpoint not in self._destination:
            self.check(endpoint)
        self._restore[endpoint] = shadow.start_shadow(self.provider, endpoint, serving, candidate, share,
                                                      progress=progress)

    def read(self, endpoint: str, serving: str, candidate: str, *, since: float, until: float) -> ShadowWindow:
        from cloudeploy.providers.sagemaker import shadow

        new = shadow.shadow_metrics(self.provider, endpoint, candidate, since=since, until=until)
        base = self.provider.version_metrics(endpoint, serving, since=since, until=until)
        pairs = shadow.answer_pairs(self.provider, self._destination[endpoint], endpoint, serving, candidate,
                                    since=since, until=until, limit=MAX_PAIRS)
        return ShadowWindow(pairs=pairs, candidate=new, serving=base, mirrored=new.requests)

    def stop(self, endpoint: str, serving: str, candidate: str, *,
             progress: ProgressCallback = no_progress) -> None:
        from cloudeploy.providers.sagemaker import shadow

        variants = self._restore.pop(endpoint, None)
        if variants is not None:
            shadow.stop_shadow(self.provider, endpoint, variants, progress=progress)
