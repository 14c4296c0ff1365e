# Re-exported under the module's names: `terraform output -json` here is what
# `cloudeploy config from-terraform` reads.

output "cloudeploy_provider" {
  description = "Which cloudeploy provider these outputs are for: always \"vertex\"."
  value       = module.cloudeploy.cloudeploy_provider
}

output "project" {
  description = "Google Cloud project id."
  value       = module.cloudeploy.project
}

output "region" {
  description = "Vertex AI region."
  value       = module.cloudeploy.region
}

output "staging_bucket" {
  description = "Where cloudeploy stages artifacts and batch data: gs://BUCKET[/PREFIX]."
  value       = module.cloudeploy.staging_bucket
}

output "service_account" {
  description = "Email of the serving service account that models and batch jobs run as."
  value       = module.cloudeploy.service_account
}

output "deployer_service_account" {
  description = "Email of the deployer service account that cloudeploy (CI) should run as."
  value       = module.cloudeploy.deployer_service_account
}

output "serving_image" {
  description = "URI of the cloudeploy serving image in Artifact Registry."
  value       = module.cloudeploy.serving_image
}

output "network" {
  description = "VPC peered with Vertex AI for private endpoints, or null for public endpoints."
  value       = module.cloudeploy.network
}

output "encryption_key" {
  description = "Cloud KMS key used as CMEK, or null for Google-managed encryption."
  value       = module.cloudeploy.encryption_key
}

output "alert_emails" {
  description = "Addresses that receive model-monitoring emails."
  value       = module.cloudeploy.alert_emails
}

output "notification_channels" {
  description = "Cloud Monitoring notification channels (created and given) for alerts."
  value       = module.cloudeploy.notification_channels
}

output "endpoints" {
  description = "Endpoints created empty for cloudeploy to adopt: cloudeploy endpoint name => Vertex AI resource name."
  value       = module.cloudeploy.endpoints
}
