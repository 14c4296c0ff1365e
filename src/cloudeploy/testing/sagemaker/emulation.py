"""The SageMaker emulation: moto plus cloudeploy's extensions, over HTTP on 127.0.0.1.

::

    with start_emulation(port=0, region="us-east-1") as emu:
        sm = emu.client("sagemaker")          # boto3, dummy credentials
        settings = emu.profile_settings()     # a `sagemaker` profile for cloudeploy

One emulation serves S3, IAM, CloudWatch, Application Auto Scaling, SageMaker
and the SageMaker runtime. moto's backends are process-global, so one emulation
per process is the norm; :meth:`SageMakerEmulation.reset` empties every backend
and stops the model servers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
from collections.abc import Iterator
from typing import Any

from cloudeploy.errors import ValidationError

DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
ACCOUNT_ID = "123456789012"
ROLE_NAME = "cloudeploy-sagemaker-execution"
SERVING_IMAGE = f"{ACCOUNT_ID}.dkr.ecr.{{region}}.amazonaws.com/cloudeploy-serving:latest"

_TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


class SageMakerEmulation:
    """A running emulation. Use :func:`start_emulation` to get one."""

    def __init__(
        self,
        *,
        port: int = 0,
        region: str = "us-east-1",
        host: str = "127.0.0.1",
        time_scale: float | None = None,
    ) -> None:
        from cloudeploy.testing.sagemaker.clock import check_scale, scale_from_env

        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValidationError(f"the emulation only listens on loopback, not {host!r}")
        self._time_scale = scale_from_env() if time_scale is None else check_scale(time_scale)
        self.region = region
        self.account_id = ACCOUNT_ID
        self._host = host
        self._port = port
        self._server = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulation is not running; call start() first")
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def time_scale(self) -> float:
        """Multiplier of the service's deployment waits (1.0: real seconds); see ``clock``."""
        from cloudeploy.testing.sagemaker.state import STATE

        return STATE.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        from cloudeploy.testing.sagemaker.clock import check_scale
        from cloudeploy.testing.sagemaker.state import STATE

        STATE.time_scale = check_scale(value)

    @property
    def settle_on_describe(self) -> bool:
        """Ignored: endpoint operations now run on the clock (see ``time_scale``).

        Kept so that suites written for poll-driven lifecycles still run; they
        observe Creating/Updating on their first describe either way.
        """
        return False

    @settle_on_describe.setter
    def settle_on_describe(self, value: bool) -> None:
        pass

    @property
    def faults(self):
        """The :class:`~cloudeploy.testing.sagemaker.faults.FaultPlan` in force (``add``, ``clear``)."""
        from cloudeploy.testing.sagemaker.faults import PLAN

        return PLAN

    def calls(self, operation: str | None = None):
        """SageMaker / runtime calls received for ``operation`` (int), or all (dict) when None."""
        from cloudeploy.testing.sagemaker.faults import PLAN

        return PLAN.calls(operation)

    def start(self) -> SageMakerEmulation:
        from cloudeploy.testing.sagemaker import alarm_handlers
        from cloudeploy.testing.sagemaker.install import install
        from cloudeploy.testing.sagemaker.state import STATE

        install()
        alarm_handlers.install()  # CloudWatch alarms evaluated and notifying SNS
        STATE.default_time_scale = STATE.time_scale = self._time_scale
        self._check_port()
        # werkzeug logs every request to stderr; keep test and CLI output readable.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server = _GuardedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        self._server.start()
        return self

    def _check_port(self) -> None:
        # moto's server thread would die on a taken port and leave start() waiting forever.
        if self._port == 0:
            return
        with socket.socket(socket.AF_INET6 if ":" in self._host else socket.AF_INET) as probe:
            try:
                probe.bind((self._host, self._port))
            except OSError as error:
                raise ValidationError(
                    f"cannot listen on {self._host}:{self._port}: {error.strerror}",
                    hint="pick another --port, or 0 for a free one",
                ) from None

    def stop(self) -> None:
        """Stop serving and stop every model server (no orphan processes)."""
        from cloudeploy.testing.sagemaker.faults import PLAN
        from cloudeploy.testing.sagemaker.state import STATE

        PLAN.reset()
        STATE.reset()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def reset(self) -> None:
        """Forget every resource in every backend, stop the model servers, clear faults and counts."""
        from moto.moto_api._internal.models import moto_api_backend

        from cloudeploy.testing.sagemaker import capture
        from cloudeploy.testing.sagemaker.faults import PLAN
        from cloudeploy.testing.sagemaker.state import STATE

        PLAN.reset()
        STATE.reset()
        moto_api_backend.reset()
        capture.forget_open_files()

    def client(self, service_name: str, **kwargs: Any) -> Any:
        """A boto3 client for ``service_name`` pointed at the emulation, with dummy credentials."""
        import boto3
        from botocore.config import Config

        kwargs.setdefault("config", Config(retries={"mode": "standard", "max_attempts": 3}))
        return boto3.client(
            service_name,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            **DUMMY_CREDENTIALS,
            **kwargs,
        )

    def environment(self) -> dict[str, str]:
        """Environment variables that point any AWS SDK at the emulation.

        ``AWS_ENDPOINT_URL`` plus dummy credentials and the region; for code that
        builds its own clients (the SageMaker Python SDK, the AWS CLI). Apply them
        to a test's environment only (e.g. ``monkeypatch.setenv``).
        """
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIALS["aws_secret_access_key"],
            "AWS_SESSION_TOKEN": DUMMY_CREDENTIALS["aws_session_token"],
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    def profile_settings(
        self, bucket: str = "cloudeploy-test", prefix: str = "cloudeploy"
    ) -> dict[str, Any]:
        """Settings of a ``sagemaker`` profile for this emulation.

        Creates the bucket and an execution role (both idempotent).
        """
        from botocore.exceptions import ClientError

        try:
            return self._profile_settings(bucket, prefix)
        except ClientError as error:
            raise ValidationError(
                f"cannot prepare bucket {bucket!r} and the execution role: {error.response['Error']['Message']}"
            ) from None

    def _profile_settings(self, bucket: str, prefix: str) -> dict[str, Any]:
        s3 = self.client("s3")
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        if bucket not in existing:
            if self.region == "us-east-1":
                s3.create_bucket(Bucket=bucket)
            else:
                s3.create_bucket(
                    Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region}
                )
        iam = self.client("iam")
        try:
            role_arn = iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
        except iam.exceptions.NoSuchEntityException:
            role_arn = iam.create_role(
                RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(_TRUST_POLICY)
            )["Role"]["Arn"]
        return {
            "region": self.region,
            "bucket": bucket,
            "prefix": prefix,
            "role_arn": role_arn,
            "serving_image": SERVING_IMAGE.format(region=self.region),
            "endpoint_url": self.endpoint_url,
        }

    def __enter__(self) -> SageMakerEmulation:
        if self._server is None:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


@contextlib.contextmanager
def start_emulation(
    port: int = 0, region: str = "us-east-1", time_scale: float | None = None
) -> Iterator[SageMakerEmulation]:
    """Run an emulation on 127.0.0.1:``port`` (0: a free port) for the ``with`` block.

    ``time_scale`` multiplies the service's deployment waits (default: the
    ``CLOUDEPLOY_SAGEMAKER_TIME_SCALE`` environment variable, else 1.0 = real seconds).
    """
    emulation = SageMakerEmulation(port=port, region=region, time_scale=time_scale).start()
    try:
        yield emulation
    finally:
        emulation.stop()


def _guarded_moto_server_class():
    """moto's threaded server with its WSGI app behind the loopback guard."""
    from moto.server import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        ThreadedMotoServer,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from cloudeploy.serving.guard import WSGILoopbackGuard
    from cloudeploy.testing.sagemaker.faults import HTTP_PATH

    class GuardedMotoServer(ThreadedMotoServer):
        # moto's own _server_entry, with the app wrapped: loopback Host names only, no
        # cross-origin writes, and the fault plan takes JSON only.
        def _server_entry(self) -> None:
            app = WSGILoopbackGuard(DomainDispatcherApplication(create_backend_app), json_paths=(HTTP_PATH,))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return GuardedMotoServer


def _GuardedMotoServer(**kwargs: Any):  # noqa: N802 - reads like the class it makes
    return _guarded_moto_server_class()(**kwargs)
