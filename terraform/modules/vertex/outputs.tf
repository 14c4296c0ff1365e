# What cloudeploy reads. `cloudeploy config from-terraform` maps these outputs, re-
# exported under the same names by the root module, onto a [profiles.NAME] table;
# its contract test checks that this list and the keys it reads are the same.
# Outputs that would be null are left out of `terraform output -json`, which
# cloudeploy treats as "not set".

output "cloudeploy_provider" {
  description = "Which cloudeploy provider these outputs are for: always \"vertex\"."
  value       = "vertex"
}

output "project" {
  description = "Google Cloud project id."
  value       = var.project
}

output "region" {
  description = "Vertex AI region."
  value       = var.region
}

output "staging_bucket" {
  description = "Where cloudeploy stages artifacts and batch data: gs://BUCKET[/PREFIX]."
  value       = local.staging_bucket
}

output "service_account" {
  description = "Email of the serving service account that models and batch jobs run as."
  value       = local.serving_email
}

output "deployer_service_account" {
  description = "Email of the deployer service account that cloudeploy (CI) should run as."
  value       = local.deployer_email
}

output "serving_image" {
  description = "URI of the cloudeploy serving image in Artifact Registry."
  value       = local.serving_image
}

output "network" {
  description = "VPC peered with Vertex AI for private endpoints, or null for public endpoints."
  value       = var.network != "" ? var.network : null
}

output "encryption_key" {
  description = "Cloud KMS key used as CMEK, or null for Google-managed encryption."
  value       = local.use_cmek ? var.kms_key_name : null
}

output "alert_emails" {
  description = "Addresses that receive model-monitoring emails."
  value       = var.alert_emails
}

output "notification_channels" {
  description = "Cloud Monitoring notification channels (created and given) for alerts."
  value       = local.all_channels
}

output "endpoints" {
  description = "Endpoints created empty for cloudeploy to adopt: cloudeploy endpoint name => Vertex AI resource name."
  value       = { for name, endpoint in google_vertex_ai_endpoint.adopted : name => "projects/${var.project}/locations/${var.region}/endpoints/${endpoint.name}" }
}
