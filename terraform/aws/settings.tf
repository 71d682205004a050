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

# The Redis auth token: generated once, kept in Secrets Manager. ignore_changes pins the first
# value (the generator answers anew on every plan); rotate by tainting this resource.
data "aws_secretsmanager_random_password" "redis" {
  password_length     = 64
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "redis_auth" {
  #checkov:skip=CKV2_AWS_57:Rotating the Redis AUTH token needs a ROTATE then SET on the replication group and a restart of the hosts; done by hand (terraform/README.md).
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

locals {
  # Name => value of every container setting. MYSQL_PASSWORD_FILE and the listen addresses are
  # set by run.sh; the MySQL password itself stays in the RDS-managed secret.
  settings = merge(
    {
      REDIS_URL          = "rediss://:${aws_secretsmanager_secret_version.redis_auth.secret_string}@${aws_elasticache_replication_group.this.primary_endpoint_address}:${local.redis_port}"
      MYSQL_URL          = "mysql://${var.mysql_username}@${aws_db_instance.this.address}:${local.mysql_port}/users"
      KEY_PREFIX         = var.key_prefix
      CACHE_TTL_SECS     = tostring(var.cache_ttl_secs)
      RATE_LIMIT_PER_SEC = tostring(var.rate_limit_per_sec)
      RATE_LIMIT_BURST   = tostring(var.rate_limit_burst)
      LOG_FORMAT         = "json"
    },
    var.cors_origins == "" ? {} : { CORS_ORIGINS = var.cors_origins },
  )

  setting_names = toset(concat(
    ["REDIS_URL", "MYSQL_URL", "KEY_PREFIX", "CACHE_TTL_SECS", "RATE_LIMIT_PER_SEC", "RATE_LIMIT_BURST", "LOG_FORMAT"],
    var.cors_origins == "" ? [] : ["CORS_ORIGINS"],
  ))

  # Read by run.sh itself, not passed to the containers.
  host_settings = {
    CONSUMER_COUNT   = tostring(var.consumer_count)
    MYSQL_SECRET_ARN = aws_db_instance.this.master_user_secret[0].secret_arn
  }
}

resource "aws_ssm_parameter" "settings" {
  # Keyed by the static names: REDIS_URL's value is sensitive and must not decide the keys.
  for_each = local.setting_names

  name        = "${local.parameter_path}/app/${each.key}"
  description = "${each.key} of the ${local.prefix} containers"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  value       = local.settings[each.key]
}

resource "aws_ssm_parameter" "host" {
  for_each = toset(keys(local.host_settings))

  name        = "${local.parameter_path}/host/${each.key}"
  description = "${each.key} of the ${local.prefix} HTTP hosts (read by /opt/registry/run.sh)"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  value       = local.host_settings[each.key]
}
