"""SageMaker emulation for tests: moto plus what moto lacks, on 127.0.0.1.

What it adds to moto (S3, IAM, CloudWatch, Application Auto Scaling, SageMaker):

- endpoint lifecycles Creating/Updating -> InService or Failed on the clock;
  UpdateEndpoint with blue/green ``DeploymentConfig``, each step baking
  ``WaitIntervalInSeconds`` x the time scale (``CLOUDEPLOY_SAGEMAKER_TIME_SCALE``,
  see ``clock``) with alarm rollback;
- CreateModel from a model package, the scikit-learn container's answer format,
  target tracking alarms, AWS managed IAM policies;
- an answer naming the operation (501 ``NotImplemented``) for anything not emulated;
- InvokeEndpoint answered by the real model (``cloudeploy serve`` processes),
  with CloudWatch metrics per invocation and data capture to S3;
- transform jobs that write real output (with ``DataProcessing``: input and output
  filters, join with the input), monitoring schedules,
  StopTransformJob, DeleteModelPackage and DeleteModelPackageGroup;
- CloudWatch alarms evaluated in any namespace (on PutMetricData and on reads),
  notifying their SNS topics on state changes, with DescribeAlarmHistory;
- describe responses without moto's empty placeholders;
- fault injection per operation and per-operation call counts
  (``emu.faults.add("UpdateEndpoint", "throttle", count=2)``, ``emu.calls(...)``;
  see ``faults.py``).

Use :func:`start_emulation`, the ``sagemaker_emulator`` pytest fixture, or
``cloudeploy emulator sagemaker``. docs/emulators/sagemaker.md lists every rule
enforced and its source.
"""

from cloudeploy.testing.sagemaker.emulation import SageMakerEmulation, start_emulation

__all__ = ["SageMakerEmulation", "start_emulation"]
