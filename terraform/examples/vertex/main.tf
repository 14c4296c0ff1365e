# A platform team's root module: the cloudeploy Vertex AI infrastructure for one
# project, then `terraform output -json | cloudeploy config from-terraform - --profile prod`.

provider "google" {
  project = var.project
  region  = var.region
}

module "cloudeploy" {
  source = "../../modules/vertex"

  project        = var.project
  region         = var.region
  kms_key_name   = var.kms_key_name
  alert_emails   = var.alert_emails
  endpoints      = var.endpoints
  staging_prefix = "cloudeploy"

  deployer_members = var.deployer_members

  labels = {
    team = "ml-platform"
  }
}
