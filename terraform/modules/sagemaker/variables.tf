# Inputs of the cloudeploy SageMaker module. Every variable has a description, a type
# and a default or a validation; names that cloudeploy reads back are in outputs.tf.
# The AWS account and region are the provider's.

variable "name_prefix" {
  description = "Prefix of the names this module gives (bucket, role, policy, repository, topic, key alias)."
  type        = string
  default     = "cloudeploy"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}$", var.name_prefix))
    error_message = "name_prefix must be 2-31 characters: a lowercase letter, then lowercase letters, digits or hyphens."
  }
}

variable "tags" {
  description = "Tags added to every resource (cloudeploy-managed is not added: Terraform owns these)."
  type        = map(string)
  default     = {}
}

# -- S3 -----------------------------------------------------------------------

variable "create_bucket" {
  description = "Create the artifacts bucket. When false, bucket_name must name an existing bucket."
  type        = bool
  default     = true
}

variable "bucket_name" {
  description = "Name of the artifacts and batch-data bucket. Empty means \"<name_prefix>-<account id>-<region>\"."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 characters: lowercase letters, digits, dots, hyphens)."
  }
}

variable "prefix" {
  description = "Key prefix (folder) inside the bucket where cloudeploy keeps artifacts and batch data; the roles are limited to it."
  type        = string
  default     = "cloudeploy"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.prefix))
    error_message = "prefix must be a non-empty relative path without leading or trailing slash, e.g. \"cloudeploy\"."
  }
}

variable "batch_output_prefix" {
  description = "Folder (inside prefix) under which batch transform outputs land; the lifecycle rule expires them after batch_output_retention_days."
  type        = string
  default     = "batch-outputs/"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+/$", var.batch_output_prefix))
    error_message = "batch_output_prefix must be a relative folder ending with a slash, e.g. \"batch-outputs/\"."
  }
}

variable "batch_output_retention_days" {
  description = "Days after which batch transform outputs expire."
  type        = number
  default     = 30

  validation {
    condition     = var.batch_output_retention_days >= 1
    error_message = "batch_output_retention_days must be at least 1."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted object version is kept before it expires."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "access_log_bucket" {
  description = "Bucket that receives the artifacts bucket's server access logs. Empty means no access logs (CloudTrail data events still can record access)."
  type        = string
  default     = ""
}

# -- KMS ----------------------------------------------------------------------

variable "create_kms_key" {
  description = "Create the KMS key that encrypts the bucket, the repository, the topic, the log groups and (through cloudeploy) endpoint volumes. When false, give kms_key_arn."
  type        = bool
  default     = true
}

variable "kms_key_arn" {
  description = "Existing KMS key ARN (used when create_kms_key is false)."
  type        = string
  default     = ""

  validation {
    condition     = var.kms_key_arn == "" || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)."
  }
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a deleted KMS key is destroyed."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be between 7 and 30."
  }
}

# -- IAM ----------------------------------------------------------------------

variable "create_execution_role" {
  description = "Create the SageMaker execution role that models and transform jobs run as."
  type        = bool
  default     = true
}

variable "execution_role_arn" {
  description = "Existing SageMaker execution role ARN (used when create_execution_role is false)."
  type        = string
  default     = ""

  validation {
    condition     = var.execution_role_arn == "" || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$", var.execution_role_arn))
    error_message = "execution_role_arn must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)."
  }
}

variable "create_deployer_policy" {
  description = "Create the deployer policy (what cloudeploy itself may do) to attach to a CI role or a group."
  type        = bool
  default     = true
}

variable "deployer_role_names" {
  description = "Names of existing IAM roles (e.g. the CI role) to attach the deployer policy to."
  type        = list(string)
  default     = []
}

variable "require_network_isolation" {
  description = "Let the deployer create SageMaker models only with network isolation on (the serving image needs no network)."
  type        = bool
  default     = true
}

variable "require_endpoint_kms" {
  description = "Let the deployer create endpoint configurations only when their volumes are encrypted with this module's key."
  type        = bool
  default     = true
}

# -- ECR ----------------------------------------------------------------------

variable "create_ecr_repository" {
  description = "Create the ECR repository for the cloudeploy serving image. When false, ecr_repository_name must name an existing repository."
  type        = bool
  default     = true
}

variable "ecr_repository_name" {
  description = "ECR repository name. Empty means \"<name_prefix>-serving\"."
  type        = string
  default     = ""

  validation {
    condition     = var.ecr_repository_name == "" || can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", var.ecr_repository_name))
    error_message = "ecr_repository_name must be lowercase letters and digits separated by '.', '_', '-' or '/'."
  }
}

variable "serving_image_tag" {
  description = "Tag of the serving image cloudeploy uses (the cloudeploy version it was built from; tags are immutable)."
  type        = string
  default     = "0.1.0"
}

variable "untagged_image_expiry_days" {
  description = "Days after which untagged images are removed from the repository."
  type        = number
  default     = 14

  validation {
    condition     = var.untagged_image_expiry_days >= 1
    error_message = "untagged_image_expiry_days must be at least 1."
  }
}

# -- Alarms and logs ----------------------------------------------------------

variable "create_alarm_topic" {
  description = "Create the SNS topic that CloudWatch alarms (guarded updates, cloudeploy alerts) notify."
  type        = bool
  default     = true
}

variable "alarm_emails" {
  description = "Addresses subscribed to the alarm topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", email))])
    error_message = "alarm_emails must be email addresses."
  }
}

variable "endpoints" {
  description = "cloudeploy endpoint names whose log groups (/aws/sagemaker/Endpoints/NAME) are created ahead, encrypted and with retention. SageMaker endpoints themselves are cloudeploy's: EndpointName equals the cloudeploy endpoint name."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for name in var.endpoints : can(regex("^[a-z][a-z0-9-]{0,62}$", name))])
    error_message = "endpoints must be cloudeploy endpoint names: a lowercase letter, then up to 62 lowercase letters, digits or hyphens."
  }
}

variable "log_retention_days" {
  description = "Retention of the endpoint log groups, in days."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of the values CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)."
  }
}

# -- Network ------------------------------------------------------------------

variable "subnets" {
  description = "Private subnet ids for endpoints and transform jobs (cloudeploy passes them as VpcConfig). Empty means no VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for subnet in var.subnets : can(regex("^subnet-[0-9a-f]+$", subnet))])
    error_message = "subnets must be subnet ids (subnet-...)."
  }
}

variable "security_group_ids" {
  description = "Security group ids for endpoints and transform jobs in the VPC (required with subnets)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for group in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", group))])
    error_message = "security_group_ids must be security group ids (sg-...)."
  }
}
