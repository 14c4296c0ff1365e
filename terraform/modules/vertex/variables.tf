# Inputs of the cloudeploy Vertex AI module. Every variable has a description, a type
# and a default or a validation; names that cloudeploy reads back are in outputs.tf.

variable "project" {
  description = "Google Cloud project id that holds everything this module makes."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{4,28}[a-z0-9]$", var.project))
    error_message = "project must be a Google Cloud project id (6-30 characters: lowercase letters, digits, hyphens)."
  }
}

variable "region" {
  description = "Vertex AI region, also the location of the bucket and the Artifact Registry repository (e.g. europe-west4)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]+-[a-z]+[0-9]+$", var.region))
    error_message = "region must be a Google Cloud region such as europe-west4 or us-central1."
  }
}

variable "name_prefix" {
  description = "Prefix of the names this module gives (service accounts, repository, role, channels)."
  type        = string
  default     = "cloudeploy"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}$", var.name_prefix))
    error_message = "name_prefix must be 2-19 characters: a lowercase letter, then lowercase letters, digits or hyphens."
  }
}

variable "labels" {
  description = "Labels added to every resource that takes labels (cloudeploy-managed is not added: Terraform owns these)."
  type        = map(string)
  default     = {}
}

variable "enable_apis" {
  description = "Enable the APIs the resources need (aiplatform, artifactregistry, storage, monitoring, iam). Disabling them on destroy is never done."
  type        = bool
  default     = true
}

# -- Cloud Storage ------------------------------------------------------------

variable "create_bucket" {
  description = "Create the artifacts bucket. When false, bucket_name must name an existing bucket."
  type        = bool
  default     = true
}

variable "bucket_name" {
  description = "Name of the artifacts and batch-data bucket. Empty means \"<project>-<name_prefix>\"."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid Cloud Storage bucket name (3-63 characters: lowercase letters, digits, dots, hyphens, underscores)."
  }
}

variable "bucket_location" {
  description = "Location of the bucket. Empty means the region; a multi-region (EU, US) also works."
  type        = string
  default     = ""
}

variable "staging_prefix" {
  description = "Folder inside the bucket where cloudeploy stages model artifacts and batch data (no leading or trailing slash). Empty means the bucket root."
  type        = string
  default     = "cloudeploy"

  validation {
    condition     = var.staging_prefix == "" || can(regex("^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$", var.staging_prefix))
    error_message = "staging_prefix must be a relative path without leading or trailing slash, e.g. \"cloudeploy\" or \"ml/cloudeploy\"."
  }
}

variable "batch_output_prefix" {
  description = "Object prefix (inside staging_prefix) under which batch prediction outputs land; the lifecycle rule deletes them after batch_output_retention_days."
  type        = string
  default     = "batch-outputs/"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/-]+/$", var.batch_output_prefix))
    error_message = "batch_output_prefix must be a relative folder ending with a slash, e.g. \"batch-outputs/\"."
  }
}

variable "batch_output_retention_days" {
  description = "Days after which batch prediction outputs are deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.batch_output_retention_days >= 1
    error_message = "batch_output_retention_days must be at least 1."
  }
}

variable "noncurrent_version_retention_days" {
  description = "Days an overwritten or deleted object version is kept before it is deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_retention_days >= 1
    error_message = "noncurrent_version_retention_days must be at least 1."
  }
}

variable "access_log_bucket" {
  description = "Bucket that receives the artifacts bucket's usage logs. Empty means no usage logs (Cloud Audit Logs still record access)."
  type        = string
  default     = ""
}

# -- Encryption ---------------------------------------------------------------

variable "kms_key_name" {
  description = "Cloud KMS key (projects/P/locations/L/keyRings/R/cryptoKeys/K) used as CMEK for the bucket, the repository and the endpoints. Empty means Google-managed encryption."
  type        = string
  default     = ""

  validation {
    condition     = var.kms_key_name == "" || can(regex("^projects/[^/]+/locations/[^/]+/keyRings/[^/]+/cryptoKeys/[^/]+$", var.kms_key_name))
    error_message = "kms_key_name must look like projects/P/locations/L/keyRings/R/cryptoKeys/K."
  }
}

variable "grant_kms_to_service_agents" {
  description = "Let the Cloud Storage, Artifact Registry and Vertex AI service agents use kms_key_name (they must, for CMEK to work). Turn off if the key is managed elsewhere."
  type        = bool
  default     = true
}

# -- Identities ---------------------------------------------------------------

variable "create_service_accounts" {
  description = "Create the serving and the deployer service accounts. When false, give their emails in serving_service_account_email and deployer_service_account_email."
  type        = bool
  default     = true
}

variable "serving_service_account_email" {
  description = "Existing serving service account (used when create_service_accounts is false)."
  type        = string
  default     = ""
}

variable "deployer_service_account_email" {
  description = "Existing deployer service account (used when create_service_accounts is false)."
  type        = string
  default     = ""
}

variable "deployer_members" {
  description = "Principals (e.g. \"group:ml-ci@example.com\", \"principalSet://...\") allowed to impersonate the deployer service account."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for member in var.deployer_members : !contains(["allUsers", "allAuthenticatedUsers"], member)])
    error_message = "deployer_members must not be allUsers or allAuthenticatedUsers."
  }
}

# -- Artifact Registry --------------------------------------------------------

variable "create_artifact_registry" {
  description = "Create the Docker repository for the cloudeploy serving image. When false, repository_id must name an existing repository in the region."
  type        = bool
  default     = true
}

variable "repository_id" {
  description = "Artifact Registry repository id. Empty means name_prefix."
  type        = string
  default     = ""

  validation {
    condition     = var.repository_id == "" || can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", var.repository_id))
    error_message = "repository_id must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "serving_image_name" {
  description = "Image name of the cloudeploy serving image inside the repository."
  type        = string
  default     = "cloudeploy-serving"
}

variable "serving_image_tag" {
  description = "Tag of the serving image cloudeploy uses (the cloudeploy version it was built from; tags are immutable)."
  type        = string
  default     = "0.1.0"
}

variable "immutable_tags" {
  description = "Refuse to move an existing tag to another image in the repository."
  type        = bool
  default     = true
}

# -- Monitoring ---------------------------------------------------------------

variable "create_notification_channels" {
  description = "Create one email notification channel per address in alert_emails."
  type        = bool
  default     = true
}

variable "alert_emails" {
  description = "Addresses that receive model-monitoring (skew/drift) emails and, through the created channels, alert-policy notifications."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for email in var.alert_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", email))])
    error_message = "alert_emails must be email addresses."
  }
}

variable "notification_channels" {
  description = "Existing Cloud Monitoring notification channels (projects/P/notificationChannels/ID) to notify besides the created ones."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for channel in var.notification_channels : can(regex("^projects/[^/]+/notificationChannels/[^/]+$", channel))])
    error_message = "notification_channels must look like projects/P/notificationChannels/ID."
  }
}

variable "create_alert_policies" {
  description = "Create alert policies on online prediction errors and p99 latency of every endpoint in the project, notifying the channels."
  type        = bool
  default     = true
}

variable "alert_error_count_threshold" {
  description = "Alert when an endpoint returns more than this many prediction errors in 5 minutes."
  type        = number
  default     = 10

  validation {
    condition     = var.alert_error_count_threshold >= 0
    error_message = "alert_error_count_threshold must not be negative."
  }
}

variable "alert_latency_p99_ms" {
  description = "Alert when an endpoint's p99 prediction latency stays above this many milliseconds for 5 minutes."
  type        = number
  default     = 1000

  validation {
    condition     = var.alert_latency_p99_ms > 0
    error_message = "alert_latency_p99_ms must be positive."
  }
}

# -- Vertex AI ----------------------------------------------------------------

variable "network" {
  description = "VPC (projects/PROJECT_NUMBER/global/networks/NAME) peered with Vertex AI for private endpoints. Empty means public endpoints."
  type        = string
  default     = ""

  validation {
    condition     = var.network == "" || can(regex("^projects/[^/]+/global/networks/[^/]+$", var.network))
    error_message = "network must look like projects/PROJECT_NUMBER/global/networks/NAME."
  }
}

variable "create_endpoints" {
  description = "Create the empty Vertex AI endpoints listed in endpoints."
  type        = bool
  default     = true
}

variable "endpoints" {
  description = "cloudeploy endpoint names to create as empty Vertex AI endpoints; each endpoint's resource id is its name, so cloudeploy adopts it instead of creating another."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for name in var.endpoints : can(regex("^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$", name))])
    error_message = "endpoints must be cloudeploy endpoint names: a lowercase letter, then up to 62 lowercase letters, digits or hyphens, not ending with a hyphen."
  }
}
