# MySQL (RDS) and Redis (ElastiCache) in the private subnets, reachable from the HTTP hosts only.

resource "aws_db_subnet_group" "this" {
  name       = local.prefix
  subnet_ids = aws_subnet.private[*].id
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is per environment (mysql_multi_az): on in envs/prod.tfvars, asserted by tests/ha.tftest.hcl; dev stays single-AZ to save cost.
  identifier     = local.prefix
  engine         = "mysql"
  engine_version = var.mysql_version
  instance_class = var.mysql_instance_class

  allocated_storage     = var.mysql_allocated_storage
  max_allocated_storage = var.mysql_allocated_storage * 4
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.this.arn

  db_name  = "users"
  username = var.mysql_username
  # The admin: RDS generates, keeps and rotates its password in Secrets Manager (JSON: username,
  # password). Only the deploy-time migration uses it; the apps log in as mysql_app_username.
  manage_master_user_password   = true
  master_user_secret_kms_key_id = aws_kms_key.this.key_id

  parameter_group_name   = aws_db_parameter_group.this.name
  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [aws_security_group.db.id]
  publicly_accessible    = false
  multi_az               = var.mysql_multi_az

  backup_retention_period   = var.mysql_backup_retention_days
  copy_tags_to_snapshot     = true
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = !var.deletion_protection
  final_snapshot_identifier = "${local.prefix}-final"

  auto_minor_version_upgrade          = true
  iam_database_authentication_enabled = true
  enabled_cloudwatch_logs_exports     = ["error", "slowquery"]
  monitoring_interval                 = 60
  monitoring_role_arn                 = aws_iam_role.rds_monitoring.arn
  apply_immediately                   = !var.deletion_protection
}

# TLS only: the server refuses unencrypted connections; the hosts verify its certificate with the
# RDS CA bundle pinned by rds_ca_bundle_sha256 (MYSQL_REQUIRE_TLS, MYSQL_CA_FILE).
resource "aws_db_parameter_group" "this" {
  name_prefix = "${local.prefix}-"
  family      = local.mysql_family
  description = "${local.prefix}: TLS required"

  parameter {
    name         = "require_secure_transport"
    value        = "1"
    apply_method = "immediate"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Enhanced monitoring (OS metrics of the database host, every minute).
resource "aws_iam_role" "rds_monitoring" {
  name = "${local.prefix}-rds-monitoring"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "rds_monitoring" {
  role       = aws_iam_role.rds_monitoring.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_elasticache_subnet_group" "this" {
  name       = local.prefix
  subnet_ids = aws_subnet.private[*].id
}

# volatile-lru: under memory pressure only keys with a TTL (the user cache) are evicted; the queue,
# pending entries and idempotency records have none, so they are never evicted. The name follows
# the mode: switching it builds a new group (cluster-enabled cannot change in place).
resource "aws_elasticache_parameter_group" "this" {
  name        = "${local.prefix}-${local.redis_family}${var.redis_cluster_mode ? "-cluster" : ""}"
  family      = local.redis_family
  description = "${local.prefix}: volatile-lru${var.redis_cluster_mode ? ", cluster mode" : ""}"

  parameter {
    name  = "maxmemory-policy"
    value = "volatile-lru"
  }

  dynamic "parameter" {
    for_each = var.redis_cluster_mode ? ["yes"] : []
    content {
      name  = "cluster-enabled"
      value = parameter.value
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_elasticache_replication_group" "this" {
  #checkov:skip=CKV2_AWS_50:Automatic Multi-AZ failover is per environment (redis_replicas >= 1): on in envs/prod.tfvars, asserted by tests/ha.tftest.hcl; dev runs one node.
  replication_group_id = local.prefix
  description          = "${local.prefix} queue and cache"
  engine               = "redis"
  engine_version       = var.redis_engine_version
  node_type            = var.redis_node_type
  port                 = local.redis_port
  parameter_group_name = aws_elasticache_parameter_group.this.name

  # Primary + replicas; with a replica, the primary fails over to the other zone automatically.
  # Cluster mode: redis_shards shards of that shape (it requires automatic failover).
  cluster_mode               = var.redis_cluster_mode ? "enabled" : null
  num_cache_clusters         = var.redis_cluster_mode ? null : var.redis_replicas + 1
  num_node_groups            = var.redis_cluster_mode ? var.redis_shards : null
  replicas_per_node_group    = var.redis_cluster_mode ? var.redis_replicas : null
  automatic_failover_enabled = var.redis_cluster_mode || var.redis_replicas > 0
  multi_az_enabled           = var.redis_replicas > 0

  subnet_group_name  = aws_elasticache_subnet_group.this.name
  security_group_ids = [aws_security_group.cache.id]

  transit_encryption_enabled = true
  at_rest_encryption_enabled = true
  kms_key_id                 = aws_kms_key.this.arn
  auth_token                 = aws_secretsmanager_secret_version.redis_auth.secret_string

  snapshot_retention_limit   = var.redis_snapshot_retention_days
  auto_minor_version_upgrade = true
  apply_immediately          = !var.deletion_protection

  lifecycle {
    precondition {
      condition     = local.redis_replica_acks <= var.redis_replicas
      error_message = "redis_replica_acks exceeds redis_replicas: WAIT could never be satisfied and every POST would answer 503 not_replicated."
    }
  }
}
