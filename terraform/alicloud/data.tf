# Redis (KVStore) and MySQL (RDS) in the private vSwitches. Their whitelists admit the private
# vSwitch CIDRs only: the HTTP hosts' networks.

resource "alicloud_kvstore_instance" "this" {
  db_instance_name = local.prefix
  instance_type    = "Redis"
  engine_version   = "7.0"
  # Standard master-replica, or (redis_cluster_mode) the cluster architecture: shards of a
  # primary and a replica behind Alibaba's proxy, which routes the deployment's one hash slot.
  instance_class    = var.redis_cluster_mode ? var.redis_cluster_instance_class : var.redis_instance_class
  shard_count       = var.redis_cluster_mode ? var.redis_shard_count : null
  payment_type      = "PostPaid"
  zone_id           = var.zones[0]
  secondary_zone_id = var.redis_multi_zone ? var.zones[1] : null
  vswitch_id        = alicloud_vswitch.private[0].id
  security_ips      = var.private_vswitch_cidrs
  password          = var.redis_password
  ssl_enable        = "Enable"
  tde_status        = "Enabled"
  tags              = local.tags

  # volatile-lru: under memory pressure only keys with a TTL (the user cache) are evicted; the
  # queue, pending entries and idempotency records have none, so they are never evicted.
  config = {
    "maxmemory-policy" = "volatile-lru"
  }
}

resource "alicloud_db_instance" "this" {
  #checkov:skip=CKV_ALI_35:log_duration is a PostgreSQL parameter; this is MySQL (slow-query and SQL audit logs are on).
  #checkov:skip=CKV_ALI_36:log_disconnections is a PostgreSQL parameter; this is MySQL (the SQL collector records sessions).
  #checkov:skip=CKV_ALI_37:log_connections is a PostgreSQL parameter; this is MySQL (the SQL collector records sessions).
  instance_name            = local.prefix
  engine                   = "MySQL"
  engine_version           = "8.0"
  instance_type            = var.mysql_instance_type
  instance_storage         = var.mysql_storage_gb
  db_instance_storage_type = "cloud_essd"
  category                 = var.mysql_category
  instance_charge_type     = "Postpaid"

  # HighAvailability: the standby goes to the second zone (both private vSwitches).
  zone_id         = var.zones[0]
  zone_id_slave_a = var.mysql_category == "HighAvailability" ? var.zones[1] : null
  vswitch_id      = var.mysql_category == "HighAvailability" ? join(",", alicloud_vswitch.private[*].id) : alicloud_vswitch.private[0].id

  security_ips               = var.private_vswitch_cidrs
  ssl_action                 = "Open"
  ca_type                    = "aliyun"
  tde_status                 = "Enabled"
  sql_collector_status       = "Enabled"
  sql_collector_config_value = 365
  auto_upgrade_minor_version = "Auto"
  deletion_protection        = var.environment == "prod"
  tags                       = local.tags

  # TLS only: the server refuses unencrypted connections; the hosts verify its certificate with
  # the CA pinned by mysql_ca_sha256 (MYSQL_REQUIRE_TLS, MYSQL_CA_FILE).
  parameters {
    name  = "require_secure_transport"
    value = "ON"
  }
}

resource "alicloud_db_database" "users" {
  instance_id    = alicloud_db_instance.this.id
  data_base_name = "users"
  character_set  = "utf8mb4"
}

# The privileged account of the deploy-time migration (`consumer migrate` on the hosts), which
# creates the tables and the application user (mysql_username) with only the grants it needs.
# The running apps never log in with it.
resource "alicloud_rds_account" "admin" {
  db_instance_id   = alicloud_db_instance.this.id
  account_name     = var.mysql_admin_username
  account_password = var.mysql_admin_password
  account_type     = "Super"
}
