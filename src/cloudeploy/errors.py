"""The one exception tree of cloudeploy.

Every error a user can meet is a :class:`CloudeployError`. Errors raised by a
cloud SDK are translated at the provider boundary (each provider's ``errors.py``)
into this tree, keeping the service's own message and adding a hint of what to do.

::

    CloudeployError
    ├── ConfigError                 bad or missing configuration / profile
    ├── ValidationError             bad input: a split, a scaling, a schema, a flag
    │   ├── SchemaMismatchError     a new version's input schema differs
    │   └── CapabilityError         the provider has no batch backend, monitoring, ...
    ├── NotFoundError               unknown model, version, endpoint, job
    ├── ConflictError               the resource exists or is in a state that forbids it
    ├── PackageError                a model package cannot be built or loaded
    │   ├── IntegrityError          a file's sha256 differs from the manifest
    │   ├── UnsafeModelError        a pickle imports globals outside the allowlist
    │   └── VersionMismatchError    saved with another scikit-learn than installed
    ├── ProviderError               the provider (cloud or local) failed
    │   ├── ProviderUnavailable     the provider's extra is not installed
    │   ├── TransientError          throttled or a 5xx: safe to retry
    │   └── OperationFailed         a long-running operation ended Failed
    ├── OperationTimeout            we stopped waiting; it may still be in progress
    └── RolledBack                  a promotion failed a gate and was rolled back

Each class carries the process exit code the CLI uses, so that scripts can tell
"bad input" from "the cloud failed" from "rolled back".
"""

from __future__ import annotations


class CloudeployError(Exception):
    """Base of every cloudeploy error.

    ``hint`` says what the user can do about it; the CLI prints it after the
    message on the same line.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class ConfigError(CloudeployError):
    exit_code = 2


class ValidationError(CloudeployError):
    exit_code = 2


class SchemaMismatchError(ValidationError):
    pass


class CapabilityError(ValidationError):
    """The provider does not offer a capability (batch, monitoring, native rollout, shadow)."""


class NotFoundError(CloudeployError):
    exit_code = 4


class ConflictError(CloudeployError):
    exit_code = 5


class PackageError(CloudeployError):
    exit_code = 2


class IntegrityError(PackageError):
    pass


class UnsafeModelError(PackageError):
    """A pickle-based file would import globals outside the allowlist.

    ``globals`` lists the offending ``module.name`` strings.
    """

    def __init__(self, message: str, *, globals: list[str], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.globals = list(globals)


class VersionMismatchError(PackageError):
    pass


class ProviderError(CloudeployError):
    exit_code = 6


class ProviderUnavailable(ProviderError):
    exit_code = 2


class TransientError(ProviderError):
    """Throttling or a transient server error; the operation may be retried."""


class OperationFailed(ProviderError):
    pass


class OperationTimeout(CloudeployError):
    """We stopped waiting. The operation may still be in progress."""

    exit_code = 7


class RolledBack(CloudeployError):
    """A promotion broke a gate and traffic went back to the starting split."""

    exit_code = 3
