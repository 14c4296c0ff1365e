"""Progressive delivery: move traffic to a new version step by step, behind gates.

- :class:`~cloudeploy.rollout.plan.RolloutPlan`: steps, bake time, minimum
  requests and gates; from Python, CLI flags or a TOML/YAML file.
- :func:`~cloudeploy.rollout.executor.run_promotion`: the client-side executor,
  provider-agnostic, resumable after a crash; returns a
  :class:`~cloudeploy.rollout.result.PromotionResult` with the decision log.
- :func:`~cloudeploy.rollout.executor.rollback_stopped`: undo a stopped rollout.
- :mod:`~cloudeploy.rollout.gates`: built-in gates and the registry for more.
- :mod:`~cloudeploy.rollout.native`: the plan run by the provider's own service
  (``provider.native_rollout()``; SageMaker: its blue/green deployment with
  CloudWatch alarms, ``providers/sagemaker/native_rollout.py``).
"""

from cloudeploy.rollout.executor import rollback_stopped, run_promotion
from cloudeploy.rollout.gates import Gate, GateResult, register_gate
from cloudeploy.rollout.plan import RolloutPlan, parse_duration
from cloudeploy.rollout.result import Decision, PromotionResult

__all__ = [
    "Decision",
    "Gate",
    "GateResult",
    "PromotionResult",
    "RolloutPlan",
    "parse_duration",
    "register_gate",
    "rollback_stopped",
    "run_promotion",
]
