"""``promote --dry-run``: the rollout as it would run, computed from the endpoint as it is now."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cloudeploy.errors import NotFoundError
from cloudeploy.rollout.executor import step_split
from cloudeploy.rollout.native import compile_native
from cloudeploy.rollout.plan import RolloutPlan, format_duration
from cloudeploy.rollout.state import store_for
from cloudeploy.types import TrafficSplit

if TYPE_CHECKING:
    from cloudeploy.providers.base import Provider


def describe_rollout(
    provider: Provider, endpoint: str, to: str | None, plan: RolloutPlan | None, *, native: bool = False
) -> dict[str, Any]:
    """What ``promote`` would do, changing nothing.

    ``to=None`` describes the stopped rollout ``--resume`` would continue.
    With no ``plan`` the promotion is one immediate step to 100%. ``native``
    adds the SageMaker ``UpdateEndpoint`` request the plan compiles into.
    """
    status = provider.get_endpoint(endpoint)
    resume_from = 0
    if to is None:
        state = store_for(provider, endpoint).load()
        if state is None or state.finished:
            raise NotFoundError(f"no stopped rollout on {endpoint} to resume")
        plan, version = RolloutPlan.from_dict(state.plan), state.to_version
        current, resume_from = TrafficSplit(state.from_split), max(state.step_index, 0)
    else:
        version = provider.get_model_version(status.model, to).version
        current = status.traffic
    steps = []
    for index, percent in enumerate(plan.steps if plan else (100,)):
        if index < resume_from or (percent < 100 and percent <= current.get(version, 0)):
            continue
        judged = plan is not None and (percent < 100 or plan.final_bake)
        steps.append({
            "percent": percent,
            "split": step_split(current, version, percent).to_dict(),
            "bake": format_duration(plan.bake_s) if judged else "",
        })
    data: dict[str, Any] = {
        "endpoint": endpoint,
        "version": version,
        "from_split": current.to_dict(),
        "plan": plan.to_dict() if plan else None,
        "steps": steps,
        "checks": plan.describe()[2:] if plan else ["immediate: no gates"],
        "resume": to is None,
    }
    if native and plan is not None:
        data["native"] = compile_native(provider, plan, endpoint=endpoint, version=version)
    return data
