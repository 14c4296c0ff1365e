# Re-exported under the module's names: `terraform output -json` here is what
# `cloudeploy config from-terraform` reads.

output "cloudeploy_provider" {
  description = "Which cloudeploy provider these outputs are for: always \"sagemaker\"."
  value       = module.cloudeploy.cloudeploy_provider
}

output "region" {
  description = "AWS region of everything here."
  value       = module.cloudeploy.region
}

output "bucket" {
  description = "Name of the artifacts and batch-data bucket."
  value       = module.cloudeploy.bucket
}

output "prefix" {
  description = "Key prefix inside the bucket that cloudeploy and the execution role are limited to."
  value       = module.cloudeploy.prefix
}

output "role_arn" {
  description = "ARN of the SageMaker execution role that models and transform jobs run as."
  value       = module.cloudeploy.role_arn
}

output "kms_key_id" {
  description = "ARN of the KMS key for artifacts, endpoint volumes and transform outputs."
  value       = module.cloudeploy.kms_key_id
}

output "serving_image" {
  description = "URI of the cloudeploy serving image in ECR."
  value       = module.cloudeploy.serving_image
}

output "subnets" {
  description = "Subnet ids for endpoints and transform jobs (empty: no VPC)."
  value       = module.cloudeploy.subnets
}

output "security_group_ids" {
  description = "Security group ids for endpoints and transform jobs in the VPC."
  value       = module.cloudeploy.security_group_ids
}

output "alarm_topic_arn" {
  description = "SNS topic that alarms notify, or null when not created."
  value       = module.cloudeploy.alarm_topic_arn
}

output "deployer_policy_arn" {
  description = "ARN of the deployer policy to attach to the identity that runs cloudeploy, or null when not created."
  value       = module.cloudeploy.deployer_policy_arn
}
