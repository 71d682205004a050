# Container settings: SSM parameters (SecureString, this deployment's KMS key) under
# local.parameter_path, read by the hosts at start. Only identifiers reach user data.

resource "aws_kms_key" "this" {
  description         = "${local.prefix}: SSM settings, secrets, RDS, ElastiCache, logs, alarms"
  enable_key_rotation = true
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogs"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:*" }
        }
      },
      {
        Sid       = "AlarmNotifications"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
      },
    ]
  })
}

resource "aws_kms_alias" "this" {
  name          = "alias/${local.prefix}"
  target_key_id = aws_kms_key.this.key_id
}

# Generated secrets: created once, kept in Secrets Manager, read by the hosts into files (never
# into a setting). ignore_changes pins the first value (the generator answers anew on every plan).
data "aws_secretsmanager_random_password" "redis" {
  password_length     = 64
  exclude_punctuation = true
}

data "aws_secretsmanager_random_password" "mysql_app" {
  password_length     = 40
  exclude_punctuation = true
}

# The Redis AUTH token. Rotate by tainting the version (terraform/README.md, "Secrets").
resource "aws_secretsmanager_secret" "redis_auth" {
  #checkov:skip=CKV2_AWS_57:Rotating the Redis AUTH token needs a ROTATE then SET on the replication group; done with terraform -replace (terraform/README.md), the hosts pick the new file up within 5 minutes.
  name                    = "${local.prefix}/redis-auth-token"
  description             = "AUTH token of the ${local.prefix} Redis replication group"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "redis_auth" {
  secret_id     = aws_secretsmanager_secret.redis_auth.id
  secret_string = data.aws_secretsmanager_random_password.redis.random_password

  lifecycle {
    ignore_changes = [secret_string]
  }
}

# The application user's MySQL password (the user itself is made by the migration). The JSON
# has the shape Secrets Manager's MySQL rotation functions expect; the hosts read .password.
resource "aws_secretsmanager_secret" "mysql_app" {
  #checkov:skip=CKV2_AWS_57:Rotated by writing a new value and running the migration (ALTER USER), not by a Lambda: terraform/README.md, "Secrets".
  name                    = "${local.prefix}/mysql-app-user"
  description             = "MySQL user ${var.mysql_app_username} of the ${local.prefix} producer and consumers"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = 7
}

resource "aws_secretsmanager_secret_version" "mysql_app" {
  secret_id = aws_secretsmanager_secret.mysql_app.id
  secret_string = jsonencode({
    engine   = "mysql"
    host     = aws_db_instance.this.address
    port     = local.mysql_port
    dbname   = "users"
    username = var.mysql_app_username
    password = data.aws_secretsmanager_random_password.mysql_app.random_password
  })

  lifecycle {
    ignore_changes = [secret_string]
  }
}

locals {
  # Where run.sh mounts the host's files in the containers: the secrets directory (a directory, so
  # that a secret replaced by rename is seen) and the CA bundle.
  container_secrets_dir = "/run/secrets"
  container_mysql_ca    = "/etc/registry/tls/mysql-ca.pem"

  # Name => value of every container setting: identifiers and switches only. The secrets are
  # files (REDIS_PASSWORD_FILE, MYSQL_PASSWORD_FILE); tests/topology.tftest.hcl fails on any
  # password, token or URL with a password here.
  settings = merge(
    {
      REDIS_URL                    = "rediss://${local.redis_endpoint}:${local.redis_port}"
      REDIS_MODE                   = var.redis_cluster_mode ? "cluster" : "standalone"
      REDIS_PASSWORD_FILE          = "${local.container_secrets_dir}/redis_password"
      REDIS_REPLICA_ACKS           = tostring(local.redis_replica_acks)
      REDIS_REPLICA_ACK_TIMEOUT_MS = tostring(var.redis_replica_ack_timeout_ms)
      MYSQL_URL                    = "mysql://${var.mysql_app_username}@${aws_db_instance.this.address}:${local.mysql_port}/users"
      MYSQL_PASSWORD_FILE          = "${local.container_secrets_dir}/mysql_password"
      MYSQL_REQUIRE_TLS            = "true"
      MYSQL_CA_FILE                = local.container_mysql_ca
      KEY_PREFIX                   = var.key_prefix
      CACHE_TTL_SECS               = tostring(var.cache_ttl_secs)
      RATE_LIMIT_PER_SEC           = tostring(var.rate_limit_per_sec)
      RATE_LIMIT_BURST             = tostring(var.rate_limit_burst)
      SWAGGER_UI                   = tostring(var.swagger_ui)
      LOG_FORMAT                   = "json"
    },
    var.cors_origins == "" ? {} : { CORS_ORIGINS = var.cors_origins },
  )

  # Read by the host scripts (run.sh, fetch-secrets.sh, migrate.sh), not passed to the apps:
  # identifiers of the secrets, never their values.
  host_settings = {
    CONSUMER_COUNT         = tostring(var.consumer_count)
    MYSQL_ADMIN_URL        = "mysql://${var.mysql_username}@${aws_db_instance.this.address}:${local.mysql_port}/users"
    MYSQL_ADMIN_SECRET_ARN = aws_db_instance.this.master_user_secret[0].secret_arn
    MYSQL_APP_USER         = var.mysql_app_username
    MYSQL_APP_HOST         = "${cidrhost(var.vpc_cidr, 0)}/${cidrnetmask(var.vpc_cidr)}"
    MYSQL_APP_SECRET_ARN   = aws_secretsmanager_secret.mysql_app.arn
    MYSQL_CA_URL           = coalesce(var.rds_ca_bundle_url, "https://truststore.pki.rds.amazonaws.com/${var.region}/${var.region}-bundle.pem")
    MYSQL_CA_SHA256        = var.rds_ca_bundle_sha256
    REDIS_AUTH_SECRET_ARN  = aws_secretsmanager_secret.redis_auth.arn
  }
}

resource "aws_ssm_parameter" "settings" {
  # Keyed by the names, which are known at plan time (some values are not).
  for_each = toset(keys(local.settings))

  name        = "${local.parameter_path}/app/${each.key}"
  description = "${each.key} of the ${local.prefix} containers"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  value       = local.settings[each.key]
}

resource "aws_ssm_parameter" "host" {
  for_each = toset(keys(local.host_settings))

  name        = "${local.parameter_path}/host/${each.key}"
  description = "${each.key} of the ${local.prefix} HTTP hosts (read by the scripts in /opt/registry)"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  value       = local.host_settings[each.key]
}
