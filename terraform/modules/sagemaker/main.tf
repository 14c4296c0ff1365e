# The slow-changing infrastructure around cloudeploy on SageMaker: a KMS key, an
# S3 bucket, an ECR repository, an SNS topic for alarms and log groups. The IAM
# roles and policies are in iam.tf. Models, endpoint configurations, endpoints and
# their traffic are cloudeploy's: nothing here creates them.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  bucket_name     = var.bucket_name != "" ? var.bucket_name : "${var.name_prefix}-${local.account}-${local.region}"
  bucket_arn      = "arn:${local.partition}:s3:::${local.bucket_name}"
  repository_name = var.ecr_repository_name != "" ? var.ecr_repository_name : "${var.name_prefix}-serving"
  repository_arn  = "arn:${local.partition}:ecr:${local.region}:${local.account}:repository/${local.repository_name}"
  serving_image   = "${local.account}.dkr.ecr.${local.region}.amazonaws.com/${local.repository_name}:${var.serving_image_tag}"
  kms_key_arn     = var.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  alarm_topic_arn = var.create_alarm_topic ? aws_sns_topic.alarms[0].arn : null
  log_group_arn   = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/sagemaker"
  tags            = merge(var.tags, { "managed-by" = "terraform" })
}

# -- KMS ----------------------------------------------------------------------

resource "aws_kms_key" "this" {
  count = var.create_kms_key ? 1 : 0

  description             = "cloudeploy: artifacts bucket, serving image repository, alarm topic, endpoint logs and volumes."
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  tags                    = local.tags

  # Key policies always name Resource "*" (the key itself). Administration stays
  # with the account, which delegates use to IAM policies (iam.tf); the services
  # below encrypt on the account's behalf and only for its own resources.
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministersKeyThroughIAM"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncryptSageMakerLogGroups"
        Effect    = "Allow"
        Principal = { Service = "logs.${local.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "${local.log_group_arn}/*" }
        }
      },
      {
        Sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "this" {
  count = var.create_kms_key ? 1 : 0

  name          = "alias/${var.name_prefix}"
  target_key_id = aws_kms_key.this[0].key_id
}

# -- S3 -----------------------------------------------------------------------

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:Access logs need a second bucket the user chooses (var.access_log_bucket turns them on); CloudTrail data events are the alternative.
  #checkov:skip=CKV_AWS_144:Artifacts and batch data are re-creatable from the model packages; cross-region replication is the user's choice, not a default.
  #checkov:skip=CKV2_AWS_62:Nothing consumes object events; cloudeploy polls SageMaker job status instead.
  count = var.create_bucket ? 1 : 0

  bucket        = local.bucket_name
  force_destroy = false
  tags          = local.tags
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.artifacts[0].id
  rule {
    # ACLs disabled: access is decided by IAM and the bucket policy alone.
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  count = var.create_bucket ? 1 : 0

  bucket                  = aws_s3_bucket.artifacts[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "artifacts" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.artifacts[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.artifacts[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    bucket_key_enabled = true
  }

  lifecycle {
    precondition {
      condition     = local.kms_key_arn != ""
      error_message = "With create_kms_key = false, set kms_key_arn."
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.artifacts[0].id

  # Batch outputs are re-creatable from the inputs; keep them for a while only.
  rule {
    id     = "expire-batch-outputs"
    status = "Enabled"
    filter {
      prefix = "${var.prefix}/${var.batch_output_prefix}"
    }
    expiration {
      days = var.batch_output_retention_days
    }
  }

  rule {
    id     = "expire-old-versions-and-uploads"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

resource "aws_s3_bucket_logging" "artifacts" {
  count = var.create_bucket && var.access_log_bucket != "" ? 1 : 0

  bucket        = aws_s3_bucket.artifacts[0].id
  target_bucket = var.access_log_bucket
  target_prefix = "${local.bucket_name}/"
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  count = var.create_bucket ? 1 : 0

  bucket = aws_s3_bucket.artifacts[0].id
  policy = data.aws_iam_policy_document.bucket.json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

# -- ECR ----------------------------------------------------------------------

resource "aws_ecr_repository" "serving" {
  count = var.create_ecr_repository ? 1 : 0

  name                 = local.repository_name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = false
  tags                 = local.tags

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = local.kms_key_arn
  }
}

resource "aws_ecr_lifecycle_policy" "serving" {
  count = var.create_ecr_repository ? 1 : 0

  repository = aws_ecr_repository.serving[0].name
  policy = jsonencode({
    rules = [{
      rulePriority = 1
      description  = "Remove untagged images (tagged ones are cloudeploy versions and stay)."
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = var.untagged_image_expiry_days
      }
      action = { type = "expire" }
    }]
  })
}

# -- SNS: where alarms go -----------------------------------------------------

resource "aws_sns_topic" "alarms" {
  count = var.create_alarm_topic ? 1 : 0

  name              = "${var.name_prefix}-alarms"
  kms_master_key_id = local.kms_key_arn
  tags              = local.tags
}

data "aws_iam_policy_document" "alarm_topic" {
  statement {
    sid       = "CloudWatchAlarmsOfThisAccountPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = ["arn:${local.partition}:sns:${local.region}:${local.account}:${var.name_prefix}-alarms"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_sns_topic_policy" "alarms" {
  count = var.create_alarm_topic ? 1 : 0

  arn    = aws_sns_topic.alarms[0].arn
  policy = data.aws_iam_policy_document.alarm_topic.json
}

resource "aws_sns_topic_subscription" "alarm_emails" {
  for_each = var.create_alarm_topic ? toset(var.alarm_emails) : toset([])

  topic_arn = aws_sns_topic.alarms[0].arn
  protocol  = "email"
  endpoint  = each.value
}

# -- CloudWatch Logs ----------------------------------------------------------

# SageMaker writes each endpoint's container logs to this group; made here so that
# it is encrypted and expires instead of being created plain and kept forever.
resource "aws_cloudwatch_log_group" "endpoints" {
  for_each = toset(var.endpoints)

  name              = "/aws/sagemaker/Endpoints/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}
