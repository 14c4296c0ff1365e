"""AWS managed IAM policies, there when a call names one.

Every AWS account has the AWS managed policies
(``arn:aws:iam::aws:policy/AmazonSageMakerFullAccess``, ...), and the official
samples attach them to the execution role. moto only knows them when it loads
all ~1,600 at backend creation (slow, and repeated on every reset), so by
default ``AttachRolePolicy`` with one answers NoSuchEntity. Here a call that
names an AWS managed policy (attach to a role, user or group; GetPolicy;
GetPolicyVersion) first adds that one policy, from the copy of the policy
documents moto ships, to the account's IAM backend. Unknown names still answer
NoSuchEntity, as the service does.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

_AWS_POLICY = re.compile(r"^arn:aws:iam::aws:policy(?P<path>/(?:[^/]+/)*)(?P<name>[^/]+)$")


@functools.cache
def _documents() -> dict[str, Any]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return json.loads(aws_managed_policies_data)


def ensure_aws_policy(backend: Any, policy_arn: str) -> None:
    """Add the AWS managed policy ``policy_arn`` to ``backend`` if it is one and is missing."""
    from moto.iam.models import AWSManagedPolicy

    match = _AWS_POLICY.match(policy_arn or "")
    if match is None or policy_arn in backend.managed_policies:
        return
    data = _documents().get(match["name"])
    if data is None or data.get("Path", "/") != match["path"]:
        return
    policy = AWSManagedPolicy.from_data(
        match["name"], backend.account_id, backend.region_name, data
    )
    backend.managed_policies[policy.arn] = policy


def _loading(original):
    @functools.wraps(original)
    def method(self, policy_arn: str, *args: Any, **kwargs: Any) -> Any:
        ensure_aws_policy(self, policy_arn)
        return original(self, policy_arn, *args, **kwargs)

    return method


def install() -> None:
    from moto.iam.models import IAMBackend

    for name in (
        "attach_role_policy",
        "attach_user_policy",
        "attach_group_policy",
        "get_policy",
        "get_policy_version",
    ):
        setattr(IAMBackend, name, _loading(getattr(IAMBackend, name)))
