variable "project" {
  description = "Google Cloud project id."
  type        = string

  validation {
    condition     = length(var.project) > 0
    error_message = "project must be set."
  }
}

variable "region" {
  description = "Vertex AI region."
  type        = string
  default     = "europe-west4"
}

variable "kms_key_name" {
  description = "Cloud KMS key for CMEK, or empty for Google-managed encryption."
  type        = string
  default     = ""
}

variable "alert_emails" {
  description = "Who gets model-monitoring emails and alert notifications."
  type        = list(string)
  default     = []
}

variable "endpoints" {
  description = "cloudeploy endpoint names to create empty for cloudeploy to adopt."
  type        = list(string)
  default     = ["house-price"]
}

variable "deployer_members" {
  description = "Principals (CI) allowed to impersonate the deployer service account."
  type        = list(string)
  default     = []
}
