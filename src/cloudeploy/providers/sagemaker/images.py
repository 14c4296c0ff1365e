"""Which container serves a version: a prebuilt SageMaker scikit-learn image or ours.

The prebuilt inference images lag scikit-learn (up to 1.4 at the time of
writing). A package saved with a version that has a prebuilt image gets it;
any other gets the profile's ``serving_image`` (``cloudeploy serve``), never a
mismatched prebuilt one.
"""

from __future__ import annotations

from cloudeploy.errors import ConfigError

#: scikit-learn "major.minor" -> image tag of sagemaker-scikit-learn.
PREBUILT_TAGS = {"0.23": "0.23-1", "1.0": "1.0-1", "1.2": "1.2-1", "1.4": "1.4-2"}

#: Region -> AWS account that publishes sagemaker-scikit-learn there.
PREBUILT_ACCOUNTS = {
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-central-1": "492215442770",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-northeast-1": "354813040037",
}


def prebuilt_image(sklearn_version: str | None, region: str) -> str | None:
    """The prebuilt image for ``sklearn_version`` in ``region``, or None."""
    if not sklearn_version:
        return None
    major_minor = ".".join(sklearn_version.split(".")[:2])
    tag = PREBUILT_TAGS.get(major_minor)
    account = PREBUILT_ACCOUNTS.get(region)
    if tag is None or account is None:
        return None
    return f"{account}.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:{tag}-cpu-py3"


def container_image(sklearn_version: str | None, region: str, serving_image: str | None) -> str:
    """The image to serve a package saved with ``sklearn_version``."""
    image = prebuilt_image(sklearn_version, region)
    if image is not None:
        return image
    if serving_image:
        return serving_image
    raise ConfigError(
        f"no prebuilt SageMaker scikit-learn image serves scikit-learn {sklearn_version or '(unknown)'} "
        f"in {region}, and the profile has no serving_image",
        hint="build and push the cloudeploy serving image (`cloudeploy image`) and set serving_image",
    )
