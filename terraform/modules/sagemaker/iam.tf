# Two identities with the least privilege each needs:
# - the execution role that SageMaker models and transform jobs run as: the bucket
#   prefix, the repository, its log groups and cloudwatch:DescribeAlarms (SageMaker
#   reads the rollback alarms of a guarded update with it);
# - the deployer policy for cloudeploy itself (a CI role): SageMaker resources
#   tagged cloudeploy-managed=true, passing the execution role to SageMaker only,
#   staging under the prefix, pushing the serving image, autoscaling and alarms.

locals {
  sagemaker_arn = "arn:${local.partition}:sagemaker:${local.region}:${local.account}"
  sagemaker_resources = [
    "${local.sagemaker_arn}:model/*",
    "${local.sagemaker_arn}:endpoint-config/*",
    "${local.sagemaker_arn}:endpoint/*",
    "${local.sagemaker_arn}:transform-job/*",
    "${local.sagemaker_arn}:model-package-group/*",
    "${local.sagemaker_arn}:model-package/*",
  ]
  alarm_arn          = "arn:${local.partition}:cloudwatch:${local.region}:${local.account}:alarm:*"
  execution_role     = "${var.name_prefix}-sagemaker-execution"
  execution_role_arn = var.create_execution_role ? aws_iam_role.execution[0].arn : var.execution_role_arn
  deployer_policy    = "${var.name_prefix}-deployer"
  use_vpc            = length(var.subnets) > 0
}

# -- Execution role -----------------------------------------------------------

data "aws_iam_policy_document" "sagemaker_trust" {
  statement {
    sid     = "SageMakerAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "execution" {
  count = var.create_execution_role ? 1 : 0

  name                 = local.execution_role
  description          = "cloudeploy: what SageMaker models and transform jobs run as."
  assume_role_policy   = data.aws_iam_policy_document.sagemaker_trust.json
  max_session_duration = 3600
  tags                 = local.tags
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "ListOwnPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.prefix, "${var.prefix}/*"]
    }
  }

  statement {
    sid       = "ReadArtifactsWriteOutputs"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"]
    resources = ["${local.bucket_arn}/${var.prefix}/*"]
  }

  statement {
    sid       = "UseTheKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [local.kms_key_arn]
  }

  statement {
    sid       = "PullServingImage"
    effect    = "Allow"
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = [local.repository_arn]
  }

  statement {
    # GetAuthorizationToken has no resource to scope to.
    sid       = "RegistryLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid    = "WriteOwnLogs"
    effect = "Allow"
    actions = [
      "logs:CreateLogGroup",
      "logs:CreateLogStream",
      "logs:DescribeLogStreams",
      "logs:PutLogEvents",
    ]
    resources = [
      "${local.log_group_arn}/Endpoints/*",
      "${local.log_group_arn}/TransformJobs",
      "${local.log_group_arn}/TransformJobs:*",
    ]
  }

  statement {
    sid       = "ReadRollbackAlarms"
    effect    = "Allow"
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = [local.alarm_arn]
  }
}

resource "aws_iam_role_policy" "execution" {
  count = var.create_execution_role ? 1 : 0

  name   = "${var.name_prefix}-execution"
  role   = aws_iam_role.execution[0].id
  policy = data.aws_iam_policy_document.execution.json
}

# Only with subnets: SageMaker attaches the containers' network interfaces to them.
data "aws_iam_policy_document" "execution_vpc" {
  statement {
    sid    = "AttachToOwnSubnets"
    effect = "Allow"
    actions = [
      "ec2:CreateNetworkInterface",
      "ec2:CreateNetworkInterfacePermission",
      "ec2:DeleteNetworkInterface",
      "ec2:DeleteNetworkInterfacePermission",
    ]
    resources = concat(
      ["arn:${local.partition}:ec2:${local.region}:${local.account}:network-interface/*"],
      [for subnet in var.subnets : "arn:${local.partition}:ec2:${local.region}:${local.account}:subnet/${subnet}"],
      [for group in var.security_group_ids : "arn:${local.partition}:ec2:${local.region}:${local.account}:security-group/${group}"],
    )
  }

  statement {
    # EC2 Describe* calls have no resource to scope to.
    sid    = "DescribeNetwork"
    effect = "Allow"
    actions = [
      "ec2:DescribeDhcpOptions",
      "ec2:DescribeNetworkInterfaces",
      "ec2:DescribeSecurityGroups",
      "ec2:DescribeSubnets",
      "ec2:DescribeVpcs",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "execution_vpc" {
  count = var.create_execution_role && local.use_vpc ? 1 : 0

  name   = "${var.name_prefix}-execution-vpc"
  role   = aws_iam_role.execution[0].id
  policy = data.aws_iam_policy_document.execution_vpc.json

  lifecycle {
    precondition {
      condition     = length(var.security_group_ids) > 0
      error_message = "subnets need security_group_ids."
    }
  }
}

# -- Deployer policy ----------------------------------------------------------

data "aws_iam_policy_document" "deployer" {
  statement {
    sid    = "CreateOnlyTaggedResources"
    effect = "Allow"
    actions = [
      "sagemaker:AddTags",
      "sagemaker:CreateEndpoint",
      "sagemaker:CreateModelPackage",
      "sagemaker:CreateModelPackageGroup",
      "sagemaker:CreateTransformJob",
    ]
    resources = local.sagemaker_resources

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/cloudeploy-managed"
      values   = ["true"]
    }
  }

  statement {
    sid       = "CreateModelsTaggedAndIsolated"
    effect    = "Allow"
    actions   = ["sagemaker:CreateModel"]
    resources = ["${local.sagemaker_arn}:model/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/cloudeploy-managed"
      values   = ["true"]
    }

    dynamic "condition" {
      for_each = var.require_network_isolation ? [true] : []
      content {
        test     = "Bool"
        variable = "sagemaker:NetworkIsolation"
        values   = ["true"]
      }
    }
  }

  statement {
    sid       = "CreateEndpointConfigsTaggedAndEncrypted"
    effect    = "Allow"
    actions   = ["sagemaker:CreateEndpointConfig"]
    resources = ["${local.sagemaker_arn}:endpoint-config/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestTag/cloudeploy-managed"
      values   = ["true"]
    }

    dynamic "condition" {
      for_each = var.require_endpoint_kms ? [local.kms_key_arn] : []
      content {
        test     = "StringEquals"
        variable = "sagemaker:VolumeKmsKey"
        values   = [condition.value]
      }
    }
  }

  statement {
    sid    = "ChangeOnlyTaggedResources"
    effect = "Allow"
    actions = [
      "sagemaker:DeleteEndpoint",
      "sagemaker:DeleteEndpointConfig",
      "sagemaker:DeleteModel",
      "sagemaker:DeleteModelPackage",
      "sagemaker:DeleteModelPackageGroup",
      "sagemaker:StopTransformJob",
      "sagemaker:UpdateEndpoint",
      "sagemaker:UpdateEndpointWeightsAndCapacities",
      "sagemaker:UpdateModelPackage",
    ]
    resources = local.sagemaker_resources

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/cloudeploy-managed"
      values   = ["true"]
    }
  }

  statement {
    sid    = "ReadAndInvoke"
    effect = "Allow"
    actions = [
      "sagemaker:DescribeEndpoint",
      "sagemaker:DescribeEndpointConfig",
      "sagemaker:DescribeModel",
      "sagemaker:DescribeModelPackage",
      "sagemaker:DescribeModelPackageGroup",
      "sagemaker:DescribeTransformJob",
      "sagemaker:InvokeEndpoint",
      "sagemaker:ListModelPackages",
      "sagemaker:ListTags",
    ]
    resources = local.sagemaker_resources
  }

  statement {
    # List calls have no resource to scope to.
    sid    = "List"
    effect = "Allow"
    actions = [
      "sagemaker:ListEndpointConfigs",
      "sagemaker:ListEndpoints",
      "sagemaker:ListModelPackageGroups",
      "sagemaker:ListModels",
      "sagemaker:ListTransformJobs",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "PassExecutionRoleToSageMakerOnly"
    effect    = "Allow"
    actions   = ["iam:PassRole"]
    resources = [local.execution_role_arn]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }

  statement {
    sid       = "ListOwnPrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = [var.prefix, "${var.prefix}/*"]
    }
  }

  statement {
    sid       = "StageUnderOwnPrefix"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.bucket_arn}/${var.prefix}/*"]
  }

  statement {
    sid       = "UseTheKey"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [local.kms_key_arn]
  }

  statement {
    # SageMaker encrypts endpoint volumes through a grant made with the caller's rights.
    sid       = "GrantTheKeyToSageMaker"
    effect    = "Allow"
    actions   = ["kms:CreateGrant"]
    resources = [local.kms_key_arn]

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  statement {
    sid    = "PushServingImage"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImages",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [local.repository_arn]
  }

  statement {
    # GetAuthorizationToken has no resource to scope to.
    sid       = "RegistryLogin"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid    = "Autoscaling"
    effect = "Allow"
    actions = [
      "application-autoscaling:DeleteScalingPolicy",
      "application-autoscaling:DeregisterScalableTarget",
      "application-autoscaling:PutScalingPolicy",
      "application-autoscaling:RegisterScalableTarget",
    ]
    resources = ["arn:${local.partition}:application-autoscaling:${local.region}:${local.account}:scalable-target/*"]
  }

  statement {
    # Describe calls have no resource to scope to.
    sid    = "DescribeAutoscaling"
    effect = "Allow"
    actions = [
      "application-autoscaling:DescribeScalableTargets",
      "application-autoscaling:DescribeScalingActivities",
      "application-autoscaling:DescribeScalingPolicies",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "GuardAlarms"
    effect    = "Allow"
    actions   = ["cloudwatch:DeleteAlarms", "cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"]
    resources = [local.alarm_arn]
  }

  statement {
    # Metric reads have no resource to scope to.
    sid       = "ReadMetrics"
    effect    = "Allow"
    actions   = ["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics", "cloudwatch:ListMetrics"]
    resources = ["*"]
  }

  statement {
    sid       = "ReadEndpointLogs"
    effect    = "Allow"
    actions   = ["logs:FilterLogEvents", "logs:GetLogEvents", "logs:DescribeLogStreams"]
    resources = ["${local.log_group_arn}/*"]
  }

  dynamic "statement" {
    for_each = var.create_alarm_topic ? [true] : []
    content {
      sid       = "PublishAlerts"
      effect    = "Allow"
      actions   = ["sns:Publish"]
      resources = ["arn:${local.partition}:sns:${local.region}:${local.account}:${var.name_prefix}-alarms"]
    }
  }
}

resource "aws_iam_policy" "deployer" {
  count = var.create_deployer_policy ? 1 : 0

  name        = local.deployer_policy
  description = "cloudeploy deployer: SageMaker resources tagged cloudeploy-managed=true, the execution role passed to SageMaker only, its bucket prefix, key, repository, autoscaling and alarms."
  policy      = data.aws_iam_policy_document.deployer.json
  tags        = local.tags
}

resource "aws_iam_role_policy_attachment" "deployer" {
  for_each = var.create_deployer_policy ? toset(var.deployer_role_names) : toset([])

  role       = each.value
  policy_arn = aws_iam_policy.deployer[0].arn
}
