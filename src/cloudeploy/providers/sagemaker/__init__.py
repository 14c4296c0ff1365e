"""The Amazon SageMaker provider (``pip install 'cloudeploy[sagemaker]'``).

Modules: ``settings`` (the profile), ``client`` (the only boto3 import),
``errors`` (boto -> cloudeploy), ``naming``, ``images``, ``registry`` (model
package groups), ``records`` (endpoint records in S3), ``scaling``
(Application Auto Scaling), ``mapping`` (SageMaker shapes -> cloudeploy types)
and ``provider``.
"""

from cloudeploy.providers.sagemaker.provider import SageMakerProvider

__all__ = ["SageMakerProvider"]
