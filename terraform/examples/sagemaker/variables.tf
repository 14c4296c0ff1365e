variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-west-1"
}

variable "alarm_emails" {
  description = "Who gets alarm notifications (each confirms the SNS subscription)."
  type        = list(string)
  default     = []
}

variable "endpoints" {
  description = "cloudeploy endpoint names whose log groups are made ahead."
  type        = list(string)
  default     = ["house-price"]
}

variable "deployer_role_names" {
  description = "Existing IAM roles (e.g. the CI role) that get the deployer policy."
  type        = list(string)
  default     = []
}

variable "subnets" {
  description = "Private subnet ids for endpoints, or empty for no VPC."
  type        = list(string)
  default     = []
}

variable "security_group_ids" {
  description = "Security groups for endpoints in the VPC."
  type        = list(string)
  default     = []
}
