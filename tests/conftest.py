"""Suite-wide settings.

The SageMaker emulation bakes blue/green steps for ``WaitIntervalInSeconds`` of
wall time, as the service does; this suite runs its clock ten times faster
(``CLOUDEPLOY_SAGEMAKER_TIME_SCALE``, see ``cloudeploy.testing.sagemaker.clock``)
unless the environment already sets it.
"""

import os

os.environ.setdefault("CLOUDEPLOY_SAGEMAKER_TIME_SCALE", "0.1")
