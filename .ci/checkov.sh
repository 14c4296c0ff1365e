#!/usr/bin/env bash
# Static security gate for terraform/: run checkov with an explicit list of check ids
# and fail on any failed check.
#
# checkov pins many packages that clash with the project's own, so it lives in its
# own venv (.venv-checkov at the repository root), made here on first use. It runs
# offline: no API key, no policy download, no version check, no external modules.
#
# Every skip in terraform/ is an inline `#checkov:skip=ID:reason` comment next to
# the resource it concerns.
#
# Usage: .ci/checkov.sh [extra checkov args...]   (e.g. --output json)
# Env:   CHECKOV_PYTHON  interpreter for the venv (default: python3.11, else python3)
set -euo pipefail

CHECKOV_VERSION="3.3.30"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv-checkov"

# Open-source checkov has no severities without an API key, so the gate is this list
# of ids: every check that applies to a resource type in terraform/. Checks on
# resources the modules do not create (SageMaker models and endpoint configurations
# are cloudeploy's) pass vacuously here; they are listed so that a resource added
# later is held to them.

# AWS: S3, KMS, IAM, ECR, SNS, CloudWatch Logs, SageMaker.
AWS_CHECKS=(
  CKV_AWS_1    # no "*:*" admin in policy documents
  CKV_AWS_7    # KMS key rotation
  CKV_AWS_18   # S3 access logging (skipped inline with reason)
  CKV_AWS_19   # S3 encrypted at rest
  CKV_AWS_20   # S3 no public-read ACL
  CKV_AWS_21   # S3 versioning
  CKV_AWS_26   # SNS encrypted
  CKV_AWS_33   # KMS key policy has no wildcard principal
  CKV_AWS_49   # no Action "*" in policy documents
  CKV_AWS_51   # ECR tags immutable
  CKV_AWS_53   # S3 block public ACLs
  CKV_AWS_54   # S3 block public policy
  CKV_AWS_55   # S3 ignore public ACLs
  CKV_AWS_56   # S3 restrict public buckets
  CKV_AWS_57   # S3 no public-write ACL
  CKV_AWS_60   # IAM role assumable only by named principals
  CKV_AWS_61   # IAM role trust not open across services
  CKV_AWS_62   # no "*:*" admin policies
  CKV_AWS_63   # no Action "*" policies
  CKV_AWS_66   # log group retention set
  CKV_AWS_70   # S3 bucket policy allows nothing to any principal
  CKV_AWS_93   # S3 bucket policy does not lock out everyone
  CKV_AWS_98   # SageMaker endpoint configurations encrypted
  CKV_AWS_107  # IAM: no credentials exposure
  CKV_AWS_108  # IAM: no data exfiltration
  CKV_AWS_109  # IAM: no unconstrained permissions management
  CKV_AWS_110  # IAM: no privilege escalation
  CKV_AWS_111  # IAM: no unconstrained write access
  CKV_AWS_136  # ECR encrypted with KMS
  CKV_AWS_144  # S3 cross-region replication (skipped inline with reason)
  CKV_AWS_145  # S3 encrypted with KMS by default
  CKV_AWS_158  # log groups encrypted with KMS
  CKV_AWS_163  # ECR scan on push
  CKV_AWS_169  # SNS topic policy not public
  CKV_AWS_227  # KMS key enabled
  CKV_AWS_274  # no AdministratorAccess
  CKV_AWS_283  # no policy document allows any AWS principal
  CKV_AWS_286  # IAM: no privilege escalation
  CKV_AWS_287  # IAM: no credentials exposure
  CKV_AWS_288  # IAM: no data exfiltration
  CKV_AWS_289  # IAM: no unconstrained permissions management
  CKV_AWS_290  # IAM: no unconstrained write access
  CKV_AWS_300  # S3 lifecycle aborts incomplete multipart uploads
  CKV_AWS_338  # log groups kept at least a year
  CKV_AWS_355  # no "*" resource for restrictable actions (policies)
  CKV_AWS_356  # no "*" resource for restrictable actions (policy documents)
  CKV_AWS_370  # SageMaker models use network isolation
  CKV_AWS_385  # SNS topic policy not cross-account
  CKV2_AWS_6   # S3 has a public access block
  CKV2_AWS_40  # IAM: no full IAM privileges
  CKV2_AWS_61  # S3 has a lifecycle configuration
  CKV2_AWS_62  # S3 event notifications (skipped inline with reason)
  CKV2_AWS_64  # KMS key has a key policy
  CKV2_AWS_65  # S3 ACLs disabled (BucketOwnerEnforced)
)

# GCP: Cloud Storage, IAM, Cloud KMS grants, Artifact Registry, Vertex AI.
GCP_CHECKS=(
  CKV_GCP_28   # bucket IAM not public
  CKV_GCP_29   # bucket uniform bucket-level access
  CKV_GCP_41   # no project-level Service Account User / Token Creator
  CKV_GCP_42   # service accounts have no admin roles
  CKV_GCP_46   # default service account not used at project level
  CKV_GCP_49   # no project-level roles that impersonate or manage service accounts
  CKV_GCP_62   # bucket access logging (skipped inline with reason)
  CKV_GCP_63   # bucket does not log to itself
  CKV_GCP_78   # bucket versioning
  CKV_GCP_84   # Artifact Registry CMEK (skipped inline with reason)
  CKV_GCP_101  # Artifact Registry IAM not public
  CKV_GCP_112  # KMS key IAM not public
  CKV_GCP_114  # bucket public access prevention enforced
  CKV_GCP_117  # no basic roles at project level
  CKV2_GCP_6   # KMS keys not public
  CKV2_GCP_9   # registry buckets not public
  CKV2_GCP_24  # Vertex AI endpoint CMEK
  CKV2_GCP_33  # Vertex AI endpoint private (skipped inline with reason)
)

if [[ ! -x "$VENV/bin/checkov" ]] || ! "$VENV/bin/checkov" --version 2>/dev/null | grep -qx "$CHECKOV_VERSION"; then
  PYTHON="${CHECKOV_PYTHON:-$(command -v python3.11 || command -v python3)}"
  echo "checkov.sh: installing checkov $CHECKOV_VERSION into $VENV" >&2
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "checkov==$CHECKOV_VERSION" >&2
fi

CHECK_LIST="$(IFS=,; echo "${AWS_CHECKS[*]},${GCP_CHECKS[*]}")"

# Offline: no guideline/mapping download from the Prisma API, no PyPI update check,
# no external module download; terraform is the only framework scanned.
export BC_SKIP_MAPPING=TRUE
export CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE

exec "$VENV/bin/checkov" \
  --directory "$ROOT/terraform" \
  --framework terraform \
  --check "$CHECK_LIST" \
  --skip-download \
  --download-external-modules false \
  --quiet \
  --compact \
  "$@"
