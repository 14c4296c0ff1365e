"""The answer to an operation the emulation does not implement: an error naming it.

moto raises ``NotImplementedError("The <action> action has not been implemented")``
for an action it lacks; behind ``ThreadedMotoServer`` that becomes an HTML 500
page, which botocore retries as a server error and then reports without the
operation's name. The emulation answers instead, for SageMaker, the SageMaker
runtime and Application Auto Scaling, with the AWS JSON error shape and HTTP
501, error code ``NotImplemented`` and a message naming the operation (botocore
raises ``ClientError`` with that code and does not retry a 501).

Some actions moto *has* answer with placeholders instead of doing the work
(``InvokeEndpointAsync`` returns an output location that is never written);
those are listed in :data:`PLACEHOLDERS` and answered the same way, so that no
call ever succeeds silently without its effect.
"""

from __future__ import annotations

import json

CODE = "NotImplemented"
STATUS = 501

#: Actions moto answers without doing what the service does.
PLACEHOLDERS = frozenset({"InvokeEndpointAsync", "InvokeEndpointWithResponseStream"})


def message(operation: str) -> str:
    return (
        f"{operation} is not implemented by the cloudeploy SageMaker emulation "
        "(see docs/emulators/sagemaker.md for the operations it emulates)"
    )


def answer(operation: str) -> tuple[int, dict[str, str], str]:
    body = json.dumps({"__type": CODE, "message": message(operation)})
    return STATUS, {"Content-Type": "application/x-amz-json-1.1", "x-amzn-ErrorType": CODE}, body


def wrap_call_action(original):
    """A ``call_action`` that answers :func:`answer` for a missing or placeholder action."""

    def call_action(self):
        operation = self._get_action() or ""
        if operation in PLACEHOLDERS:
            return answer(operation)
        try:
            return original(self)
        except NotImplementedError:
            return answer(operation or "this operation")

    return call_action
