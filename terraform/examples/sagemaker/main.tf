# A platform team's root module: the cloudeploy SageMaker infrastructure for one
# account and region, then
# `terraform output -json | cloudeploy config from-terraform - --profile prod`.

provider "aws" {
  region = var.region
}

module "cloudeploy" {
  source = "../../modules/sagemaker"

  prefix              = "cloudeploy"
  alarm_emails        = var.alarm_emails
  endpoints           = var.endpoints
  deployer_role_names = var.deployer_role_names
  subnets             = var.subnets
  security_group_ids  = var.security_group_ids

  tags = {
    team = "ml-platform"
  }
}
