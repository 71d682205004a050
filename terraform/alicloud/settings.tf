# Settings and secrets as OOS secret parameters (KMS-encrypted) under /NAME/ENV/{app,host,secrets}/,
# read by the hosts through their RAM role. User data carries identifiers only.

resource "alicloud_kms_key" "this" {
  description            = "${local.prefix}: OOS settings and secrets"
  pending_window_in_days = 7
  automatic_rotation     = "Enabled"
  rotation_interval      = "365d"
}

locals {
  # Where run.sh mounts the host's files in the containers (as on AWS).
  container_secrets_dir = "/run/secrets"
  container_tls_dir     = "/etc/registry/tls"

  # Container settings: identifiers and switches only. The secrets are files (REDIS_PASSWORD_FILE,
  # MYSQL_PASSWORD_FILE); tests/test_structure.py fails on any secret here. The cluster
  # architecture is reached through Alibaba's proxy, which speaks the standalone protocol (it
  # refuses CLUSTER commands), so REDIS_MODE stays standalone on this cloud.
  settings = {
    REDIS_URL                    = "rediss://${alicloud_kvstore_instance.this.connection_domain}:6379"
    REDIS_MODE                   = "standalone"
    REDIS_PASSWORD_FILE          = "${local.container_secrets_dir}/redis_password"
    REDIS_CA_FILE                = "${local.container_tls_dir}/redis-ca.pem"
    REDIS_REPLICA_ACKS           = tostring(var.redis_replica_acks)
    REDIS_REPLICA_ACK_TIMEOUT_MS = tostring(var.redis_replica_ack_timeout_ms)
    MYSQL_URL                    = "mysql://${var.mysql_username}@${alicloud_db_instance.this.connection_string}:3306/users"
    MYSQL_PASSWORD_FILE          = "${local.container_secrets_dir}/mysql_password"
    MYSQL_REQUIRE_TLS            = "true"
    MYSQL_CA_FILE                = "${local.container_tls_dir}/mysql-ca.pem"
    KEY_PREFIX                   = var.key_prefix
    SWAGGER_UI                   = tostring(var.swagger_ui)
    LOG_FORMAT                   = "json"
  }

  # Read by the host scripts, not passed to the apps: identifiers, never secret values.
  host_settings = {
    CONSUMER_COUNT  = tostring(var.consumer_count)
    MYSQL_ADMIN_URL = "mysql://${var.mysql_admin_username}@${alicloud_db_instance.this.connection_string}:3306/users"
    MYSQL_APP_USER  = var.mysql_username
    MYSQL_APP_HOST  = "${cidrhost(var.vpc_cidr, 0)}/${cidrnetmask(var.vpc_cidr)}"
    MYSQL_CA_URL    = var.mysql_ca_url
    MYSQL_CA_SHA256 = var.mysql_ca_sha256
    REDIS_CA_URL    = var.redis_ca_url
    REDIS_CA_SHA256 = var.redis_ca_sha256
  }

  # The secrets, each an OOS secret parameter the hosts write to a file (fetch-secrets.sh,
  # migrate.sh). Values are inputs (TF_VAR_...): Alibaba RDS has no managed password.
  secrets = {
    mysql_admin_password = var.mysql_admin_password
    mysql_password       = var.mysql_password
    redis_password       = var.redis_password
  }
}

resource "alicloud_oos_secret_parameter" "settings" {
  for_each              = toset(keys(local.settings))
  secret_parameter_name = "/${local.parameter_path}/app/${each.key}"
  value                 = local.settings[each.key]
  type                  = "Secret"
  key_id                = alicloud_kms_key.this.id
  description           = "${each.key} of the ${local.prefix} containers"
  tags                  = local.tags
}

resource "alicloud_oos_secret_parameter" "host" {
  for_each              = toset(keys(local.host_settings))
  secret_parameter_name = "/${local.parameter_path}/host/${each.key}"
  value                 = local.host_settings[each.key]
  type                  = "Secret"
  key_id                = alicloud_kms_key.this.id
  description           = "${each.key} of the ${local.prefix} hosts (read by the scripts in /opt/registry)"
  tags                  = local.tags
}

resource "alicloud_oos_secret_parameter" "secrets" {
  # Keyed by the static names: the values are sensitive and must not decide the keys.
  for_each              = toset(["mysql_admin_password", "mysql_password", "redis_password"])
  secret_parameter_name = "/${local.parameter_path}/secrets/${each.key}"
  value                 = local.secrets[each.key]
  type                  = "Secret"
  key_id                = alicloud_kms_key.this.id
  description           = "${each.key} of ${local.prefix} (written to a file on the hosts, never to a setting)"
  tags                  = local.tags
}

resource "alicloud_ram_role" "http" {
  role_name = "${local.prefix}-http"
  assume_role_policy_document = jsonencode({
    Version = "1"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = ["ecs.aliyuncs.com"] }
    }]
  })
  description = "HTTP hosts of ${local.prefix}: read their settings and secrets"
}

resource "alicloud_ram_policy" "http_read_settings" {
  policy_name = "${local.prefix}-read-settings"
  policy_document = jsonencode({
    Version = "1"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["oos:GetSecretParameter", "oos:GetSecretParameters", "oos:GetSecretParametersByPath"]
        Resource = [for p in ["app", "host", "secrets"] : "acs:oos:${var.region}:${data.alicloud_account.current.id}:secretparameter/${local.parameter_path}/${p}/*"]
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = ["acs:kms:${var.region}:${data.alicloud_account.current.id}:key/${alicloud_kms_key.this.id}"]
      },
    ]
  })
}

resource "alicloud_ram_role_policy_attachment" "http" {
  role_name   = alicloud_ram_role.http.role_name
  policy_name = alicloud_ram_policy.http_read_settings.policy_name
  policy_type = "Custom"
}
