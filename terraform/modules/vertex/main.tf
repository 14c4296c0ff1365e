# The slow-changing infrastructure around cloudeploy on Vertex AI: a bucket, two
# service accounts, a Docker repository, notification channels and alert policies,
# and optionally empty endpoints that cloudeploy adopts. Model versions, deployments
# and traffic are cloudeploy's: nothing here deploys a model.

locals {
  bucket_name   = var.bucket_name != "" ? var.bucket_name : "${var.project}-${var.name_prefix}"
  repository_id = var.repository_id != "" ? var.repository_id : var.name_prefix
  use_cmek      = var.kms_key_name != ""

  staging_path    = var.staging_prefix == "" ? "" : "${var.staging_prefix}/"
  staging_bucket  = var.staging_prefix == "" ? "gs://${local.bucket_name}" : "gs://${local.bucket_name}/${var.staging_prefix}"
  batch_outputs   = "${local.staging_path}${var.batch_output_prefix}"
  serving_image   = "${var.region}-docker.pkg.dev/${var.project}/${local.repository_id}/${var.serving_image_name}:${var.serving_image_tag}"
  project_number  = data.google_project.this.number
  vertex_agent    = "serviceAccount:service-${local.project_number}@gcp-sa-aiplatform.iam.gserviceaccount.com"
  registry_agent  = "serviceAccount:service-${local.project_number}@gcp-sa-artifactregistry.iam.gserviceaccount.com"
  storage_agent   = "serviceAccount:${data.google_storage_project_service_account.this.email_address}"
  common_labels   = merge(var.labels, { "managed-by" = "terraform" })
  serving_email   = var.create_service_accounts ? google_service_account.serving[0].email : var.serving_service_account_email
  deployer_email  = var.create_service_accounts ? google_service_account.deployer[0].email : var.deployer_service_account_email
  serving_member  = "serviceAccount:${local.serving_email}"
  deployer_member = "serviceAccount:${local.deployer_email}"

  created_channels = [for channel in google_monitoring_notification_channel.email : channel.name]
  all_channels     = concat(local.created_channels, var.notification_channels)

  apis = [
    "aiplatform.googleapis.com",
    "artifactregistry.googleapis.com",
    "iam.googleapis.com",
    "monitoring.googleapis.com",
    "storage.googleapis.com",
  ]
}

data "google_project" "this" {
  project_id = var.project
}

data "google_storage_project_service_account" "this" {
  project = var.project
}

resource "google_project_service" "this" {
  for_each = var.enable_apis ? toset(local.apis) : toset([])

  project = var.project
  service = each.value
  # Other workloads in the project may use these APIs too.
  disable_on_destroy = false
}

# -- Cloud Storage ------------------------------------------------------------

resource "google_storage_bucket" "artifacts" {
  #checkov:skip=CKV_GCP_62:Usage logs need a second bucket the user chooses (var.access_log_bucket); Cloud Audit Logs record data access regardless.
  count = var.create_bucket ? 1 : 0

  project                     = var.project
  name                        = local.bucket_name
  location                    = var.bucket_location != "" ? var.bucket_location : upper(var.region)
  storage_class               = "STANDARD"
  uniform_bucket_level_access = true
  public_access_prevention    = "enforced"
  force_destroy               = false
  labels                      = local.common_labels

  versioning {
    enabled = true
  }

  dynamic "encryption" {
    for_each = local.use_cmek ? [var.kms_key_name] : []
    content {
      default_kms_key_name = encryption.value
    }
  }

  dynamic "logging" {
    for_each = var.access_log_bucket != "" ? [var.access_log_bucket] : []
    content {
      log_bucket        = logging.value
      log_object_prefix = local.bucket_name
    }
  }

  # Batch outputs are re-creatable from the inputs; keep them for a while only.
  lifecycle_rule {
    condition {
      age            = var.batch_output_retention_days
      matches_prefix = [local.batch_outputs]
    }
    action {
      type = "Delete"
    }
  }

  lifecycle_rule {
    condition {
      days_since_noncurrent_time = var.noncurrent_version_retention_days
      with_state                 = "ARCHIVED"
    }
    action {
      type = "Delete"
    }
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.storage_agent]
}

# Serving reads model artifacts and writes batch outputs; it never deletes.
resource "google_storage_bucket_iam_member" "serving_read" {
  bucket = var.create_bucket ? google_storage_bucket.artifacts[0].name : local.bucket_name
  role   = "roles/storage.objectViewer"
  member = local.serving_member
}

resource "google_storage_bucket_iam_member" "serving_write" {
  bucket = var.create_bucket ? google_storage_bucket.artifacts[0].name : local.bucket_name
  role   = "roles/storage.objectCreator"
  member = local.serving_member
}

# The deployer stages artifacts and batch inputs and cleans up after itself.
resource "google_storage_bucket_iam_member" "deployer" {
  bucket = var.create_bucket ? google_storage_bucket.artifacts[0].name : local.bucket_name
  role   = "roles/storage.objectUser"
  member = local.deployer_member
}

# -- Encryption: the service agents must be able to use the CMEK --------------

resource "google_kms_crypto_key_iam_member" "storage_agent" {
  count = local.use_cmek && var.grant_kms_to_service_agents ? 1 : 0

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.storage_agent
}

resource "google_kms_crypto_key_iam_member" "registry_agent" {
  count = local.use_cmek && var.grant_kms_to_service_agents ? 1 : 0

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.registry_agent
}

resource "google_kms_crypto_key_iam_member" "vertex_agent" {
  count = local.use_cmek && var.grant_kms_to_service_agents ? 1 : 0

  crypto_key_id = var.kms_key_name
  role          = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
  member        = local.vertex_agent
}

# -- Identities ---------------------------------------------------------------

resource "google_service_account" "serving" {
  count = var.create_service_accounts ? 1 : 0

  project      = var.project
  account_id   = "${var.name_prefix}-serving"
  display_name = "cloudeploy serving"
  description  = "Runs cloudeploy model servers and batch jobs on Vertex AI: reads artifacts, writes outputs, logs and metrics."

  depends_on = [google_project_service.this]
}

resource "google_service_account" "deployer" {
  count = var.create_service_accounts ? 1 : 0

  project      = var.project
  account_id   = "${var.name_prefix}-deployer"
  display_name = "cloudeploy deployer"
  description  = "Used by cloudeploy (CI) to upload models, deploy them, move traffic and run batch and monitoring jobs."

  depends_on = [google_project_service.this]
}

# What a model server needs to report; nothing that reads or changes other resources.
resource "google_project_iam_member" "serving_logs" {
  project = var.project
  role    = "roles/logging.logWriter"
  member  = local.serving_member
}

resource "google_project_iam_member" "serving_metrics" {
  project = var.project
  role    = "roles/monitoring.metricWriter"
  member  = local.serving_member
}

# roles/aiplatform.user would also allow datasets, training, notebooks, feature
# stores...; the deployer gets only the Vertex AI calls cloudeploy makes.
resource "google_project_iam_custom_role" "deployer" {
  project     = var.project
  role_id     = replace("${var.name_prefix}_deployer", "-", "_")
  title       = "cloudeploy deployer"
  description = "Model registry, endpoints, batch prediction and model monitoring on Vertex AI, reading metrics for promotion gates, and bucket metadata."
  permissions = [
    "aiplatform.batchPredictionJobs.cancel",
    "aiplatform.batchPredictionJobs.create",
    "aiplatform.batchPredictionJobs.delete",
    "aiplatform.batchPredictionJobs.get",
    "aiplatform.batchPredictionJobs.list",
    "aiplatform.endpoints.create",
    "aiplatform.endpoints.delete",
    "aiplatform.endpoints.deploy",
    "aiplatform.endpoints.get",
    "aiplatform.endpoints.list",
    "aiplatform.endpoints.predict",
    "aiplatform.endpoints.undeploy",
    "aiplatform.endpoints.update",
    "aiplatform.modelDeploymentMonitoringJobs.create",
    "aiplatform.modelDeploymentMonitoringJobs.delete",
    "aiplatform.modelDeploymentMonitoringJobs.get",
    "aiplatform.modelDeploymentMonitoringJobs.list",
    "aiplatform.modelDeploymentMonitoringJobs.pause",
    "aiplatform.modelDeploymentMonitoringJobs.resume",
    "aiplatform.modelDeploymentMonitoringJobs.update",
    "aiplatform.models.delete",
    "aiplatform.models.get",
    "aiplatform.models.list",
    "aiplatform.models.update",
    "aiplatform.models.upload",
    "aiplatform.operations.get",
    "aiplatform.operations.list",
    "monitoring.notificationChannels.get",
    "monitoring.notificationChannels.list",
    "monitoring.timeSeries.list",
    # The SDKs check that the staging bucket exists before uploading to it.
    "storage.buckets.get",
  ]

  depends_on = [google_project_service.this]
}

resource "google_project_iam_member" "deployer" {
  project = var.project
  role    = google_project_iam_custom_role.deployer.id
  member  = local.deployer_member
}

# The deployer may run models as the serving account, and as no other account:
# the grant is on that one service account, not on the project.
resource "google_service_account_iam_member" "deployer_acts_as_serving" {
  service_account_id = "projects/${var.project}/serviceAccounts/${local.serving_email}"
  role               = "roles/iam.serviceAccountUser"
  member             = local.deployer_member

  lifecycle {
    precondition {
      condition     = local.serving_email != "" && local.deployer_email != ""
      error_message = "With create_service_accounts = false, set serving_service_account_email and deployer_service_account_email."
    }
  }
}

resource "google_service_account_iam_member" "deployer_impersonators" {
  for_each = toset(var.deployer_members)

  service_account_id = "projects/${var.project}/serviceAccounts/${local.deployer_email}"
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = each.value
}

# -- Artifact Registry --------------------------------------------------------

resource "google_artifact_registry_repository" "serving" {
  #checkov:skip=CKV_GCP_84:CMEK is applied when var.kms_key_name is set; a module cannot require every user to run Cloud KMS.
  count = var.create_artifact_registry ? 1 : 0

  project       = var.project
  location      = var.region
  repository_id = local.repository_id
  format        = "DOCKER"
  description   = "cloudeploy serving image (entry point: cloudeploy serve)."
  kms_key_name  = local.use_cmek ? var.kms_key_name : null
  labels        = local.common_labels

  docker_config {
    immutable_tags = var.immutable_tags
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.registry_agent]
}

resource "google_artifact_registry_repository_iam_member" "deployer" {
  project    = var.project
  location   = var.region
  repository = var.create_artifact_registry ? google_artifact_registry_repository.serving[0].name : local.repository_id
  role       = "roles/artifactregistry.writer"
  member     = local.deployer_member
}

# No grant for the serving account: the Vertex AI service agent pulls the image,
# and it may read repositories of its own project.

# -- Monitoring ---------------------------------------------------------------

resource "google_monitoring_notification_channel" "email" {
  for_each = var.create_notification_channels ? toset(var.alert_emails) : toset([])

  project      = var.project
  display_name = "${var.name_prefix}: ${each.value}"
  type         = "email"
  labels = {
    email_address = each.value
  }
  user_labels = local.common_labels

  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "prediction_errors" {
  count = var.create_alert_policies ? 1 : 0

  project               = var.project
  display_name          = "${var.name_prefix}: Vertex AI prediction errors"
  combiner              = "OR"
  notification_channels = local.all_channels
  user_labels           = local.common_labels

  conditions {
    display_name = "More than ${var.alert_error_count_threshold} prediction errors in 5 minutes"
    condition_threshold {
      filter          = "resource.type = \"aiplatform.googleapis.com/Endpoint\" AND metric.type = \"aiplatform.googleapis.com/prediction/online/error_count\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_error_count_threshold
      duration        = "0s"
      aggregations {
        alignment_period     = "300s"
        per_series_aligner   = "ALIGN_SUM"
        cross_series_reducer = "REDUCE_SUM"
        group_by_fields      = ["resource.label.endpoint_id"]
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "An endpoint returns prediction errors. `cloudeploy status` shows its versions and traffic; `cloudeploy rollback ENDPOINT` returns it to the previous split."
  }

  depends_on = [google_project_service.this]
}

resource "google_monitoring_alert_policy" "prediction_latency" {
  count = var.create_alert_policies ? 1 : 0

  project               = var.project
  display_name          = "${var.name_prefix}: Vertex AI p99 latency"
  combiner              = "OR"
  notification_channels = local.all_channels
  user_labels           = local.common_labels

  conditions {
    display_name = "p99 prediction latency above ${var.alert_latency_p99_ms} ms for 5 minutes"
    condition_threshold {
      filter          = "resource.type = \"aiplatform.googleapis.com/Endpoint\" AND metric.type = \"aiplatform.googleapis.com/prediction/online/prediction_latencies\""
      comparison      = "COMPARISON_GT"
      threshold_value = var.alert_latency_p99_ms
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_PERCENTILE_99"
      }
    }
  }

  documentation {
    mime_type = "text/markdown"
    content   = "An endpoint's p99 latency is high. Check its replicas with `cloudeploy status`; raise `--max-replicas` or roll back."
  }

  depends_on = [google_project_service.this]
}

# -- Vertex AI endpoints that cloudeploy adopts -------------------------------

resource "google_vertex_ai_endpoint" "adopted" {
  #checkov:skip=CKV2_GCP_33:Private endpoints are chosen with var.network; public endpoints are a supported use (IAM still guards predict).
  for_each = var.create_endpoints ? toset(var.endpoints) : toset([])

  project      = var.project
  location     = var.region
  name         = each.value
  display_name = each.value
  description  = "Created empty by Terraform; cloudeploy deploys versions to it and owns its traffic split."
  network      = var.network != "" ? var.network : null
  # cloudeploy lists endpoints by this label; it adopts the endpoint by its id.
  labels = merge(local.common_labels, { "cloudeploy-managed" = "true" })

  dynamic "encryption_spec" {
    for_each = local.use_cmek ? [var.kms_key_name] : []
    content {
      kms_key_name = encryption_spec.value
    }
  }

  lifecycle {
    # The traffic split is cloudeploy's (versions come and go with every model).
    ignore_changes = [traffic_split]
  }

  depends_on = [google_project_service.this, google_kms_crypto_key_iam_member.vertex_agent]
}
