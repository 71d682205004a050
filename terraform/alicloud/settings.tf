# Container settings as OOS secret parameters (KMS-encrypted) under /NAME/ENV/, read by the hosts
# through their RAM role when registry.service starts. User data carries identifiers only.

resource "alicloud_kms_key" "this" {
  description            = "${local.prefix}: OOS settings"
  pending_window_in_days = 7
  automatic_rotation     = "Enabled"
  rotation_interval      = "365d"
}

locals {
  settings = {
    REDIS_URL      = "rediss://:${var.redis_password}@${alicloud_kvstore_instance.this.connection_domain}:6379"
    MYSQL_URL      = "mysql://${var.mysql_username}@${alicloud_db_instance.this.connection_string}:3306/users"
    MYSQL_PASSWORD = var.mysql_password
    KEY_PREFIX     = var.key_prefix
    LOG_FORMAT     = "json"
    CONSUMER_COUNT = tostring(var.consumer_count)
  }
  setting_names = toset(["REDIS_URL", "MYSQL_URL", "MYSQL_PASSWORD", "KEY_PREFIX", "LOG_FORMAT", "CONSUMER_COUNT"])
}

resource "alicloud_oos_secret_parameter" "settings" {
  for_each              = local.setting_names
  secret_parameter_name = "/${local.parameter_path}/${each.key}"
  value                 = local.settings[each.key]
  type                  = "Secret"
  key_id                = alicloud_kms_key.this.id
  description           = "${each.key} of the ${local.prefix} hosts"
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
  description = "HTTP hosts of ${local.prefix}: read their settings"
}

resource "alicloud_ram_policy" "http_read_settings" {
  policy_name = "${local.prefix}-read-settings"
  policy_document = jsonencode({
    Version = "1"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["oos:GetSecretParameter", "oos:GetSecretParameters", "oos:GetSecretParametersByPath"]
        Resource = ["acs:oos:${var.region}:${data.alicloud_account.current.id}:secretparameter/${local.parameter_path}/*"]
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
