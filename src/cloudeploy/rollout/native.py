"""``promote --native``: a rollout plan run by the provider's own service.

The provider's :class:`~cloudeploy.providers.capabilities.NativeRollout`
(``provider.native_rollout()``; SageMaker's blue/green update in
``providers/sagemaker/native_rollout.py``) compiles the plan and runs it; this
module resolves the version and turns what the service did into a
:class:`~cloudeploy.rollout.result.PromotionResult` with its decision log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudeploy.errors import CapabilityError, ValidationError
from cloudeploy.providers.base import ProgressCallback, no_progress
from cloudeploy.rollout.plan import RolloutPlan
from cloudeploy.rollout.result import Decision, PromotionResult

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider
    from cloudeploy.providers.capabilities import NativeRollout


def native_rollout(provider: Provider) -> NativeRollout:
    """The provider's native rollout; ValidationError naming the provider when it has none."""
    hint = "drop --native to run the plan client-side"
    try:
        if hasattr(provider, "native_rollout"):  # a stand-in for a provider may lack the method
            return provider.native_rollout()
    except CapabilityError as error:
        hint = error.hint or hint
    raise ValidationError(f"--native needs the sagemaker provider (or another that runs rollouts itself), "
                          f"not {provider.name}", hint=hint)


def compile_native(provider: Provider, plan: RolloutPlan, *, endpoint: str, version: str) -> dict[str, Any]:
    """What ``plan`` becomes in the provider's own service (for ``--dry-run``)."""
    return dict(native_rollout(provider).compile(plan, endpoint=endpoint, version=version))


def run_native_promotion(
    provider: Provider,
    endpoint: str,
    to: str | None,
    plan: RolloutPlan | None,
    *,
    progress: ProgressCallback = no_progress,
    timeout: float | None = None,
    poll_s: float | None = None,
) -> PromotionResult:
    """Run ``plan`` through the provider's own rollout, moving ``endpoint`` to version ``to``.

    Blocks until the service is done (``timeout``: OperationTimeout, it may still
    be in progress) and returns ``promoted``, or ``rolled_back`` with the
    service's reason.
    """
    runner = native_rollout(provider)
    if not to:
        raise ValidationError("say which version to promote (--to VERSION)")
    plan = plan or RolloutPlan()
    version = provider.get_model_version(provider.get_endpoint(endpoint).model, to).version
    done = runner.run(endpoint, version, plan, progress=progress, timeout=timeout, poll_s=poll_s)
    decisions = tuple(Decision(step.action, index, step.percent, step.split, step.reason)
                      for index, step in enumerate(done.steps))
    return PromotionResult(endpoint=endpoint, version=done.version, outcome=done.outcome,
                           from_split=done.from_split, traffic=done.traffic, decisions=decisions,
                           plan={**plan.to_dict(), "native": done.compiled}, reason=done.reason)
