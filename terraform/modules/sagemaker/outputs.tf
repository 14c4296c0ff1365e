# What cloudeploy reads. `cloudeploy config from-terraform` maps these outputs, re-
# exported under the same names by the root module, onto a [profiles.NAME] table;
# its contract test checks that this list and the keys it reads are the same.
# Outputs that would be null are left out of `terraform output -json`, which
# cloudeploy treats as "not set".

output "cloudeploy_provider" {
  description = "Which cloudeploy provider these outputs are for: always \"sagemaker\"."
  value       = "sagemaker"
}

output "region" {
  description = "AWS region of everything here."
  value       = local.region
}

output "bucket" {
  description = "Name of the artifacts and batch-data bucket."
  value       = var.create_bucket ? aws_s3_bucket.artifacts[0].id : local.bucket_name
}

output "prefix" {
  description = "Key prefix inside the bucket that cloudeploy and the execution role are limited to."
  value       = var.prefix
}

output "role_arn" {
  description = "ARN of the SageMaker execution role that models and transform jobs run as."
  value       = local.execution_role_arn
}

output "kms_key_id" {
  description = "ARN of the KMS key for artifacts, endpoint volumes and transform outputs."
  value       = local.kms_key_arn
}

output "serving_image" {
  description = "URI of the cloudeploy serving image in ECR."
  value       = local.serving_image
}

output "subnets" {
  description = "Subnet ids for endpoints and transform jobs (empty: no VPC)."
  value       = var.subnets
}

output "security_group_ids" {
  description = "Security group ids for endpoints and transform jobs in the VPC."
  value       = var.security_group_ids
}

output "alarm_topic_arn" {
  description = "SNS topic that alarms notify, or null when not created."
  value       = local.alarm_topic_arn
}

output "deployer_policy_arn" {
  description = "ARN of the deployer policy to attach to the identity that runs cloudeploy, or null when not created."
  value       = var.create_deployer_policy ? aws_iam_policy.deployer[0].arn : null
}
