# Production is highly available. Run with the prod variables:
#   terraform test -filter=tests/ha.tftest.hcl -var-file=envs/prod.tfvars

mock_provider "aws" {
  source = "./tests"
}

variables {
  ssh_public_key       = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockKeyForTestsOnly test@example"
  rds_ca_bundle_sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
}

run "prod_survives_the_loss_of_a_zone" {
  command = apply

  assert {
    condition     = var.environment == "prod"
    error_message = "Run this file with -var-file=envs/prod.tfvars."
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 2 && alltrue([for i in range(2) : aws_route.private_nat[i].nat_gateway_id == aws_nat_gateway.this[i].id && aws_nat_gateway.this[i].subnet_id == aws_subnet.public[i].id])
    error_message = "Prod needs a NAT gateway per zone, each private subnet using its own zone's."
  }
  assert {
    condition     = aws_db_instance.this.multi_az
    error_message = "Prod MySQL must be Multi-AZ."
  }
  assert {
    condition = (aws_elasticache_replication_group.this.num_cache_clusters >= 2 &&
      aws_elasticache_replication_group.this.automatic_failover_enabled &&
    aws_elasticache_replication_group.this.multi_az_enabled)
    error_message = "Prod Redis needs a replica with automatic Multi-AZ failover."
  }
  assert {
    condition     = aws_elasticache_replication_group.this.num_cache_clusters >= 2 + tonumber(nonsensitive(aws_ssm_parameter.settings["REDIS_REPLICA_ACKS"].value))
    error_message = "Prod Redis needs a replica more than REDIS_REPLICA_ACKS: after a failover the remaining replicas must still confirm enqueues, or every POST answers 503 not_replicated until the lost node is replaced."
  }
  assert {
    condition     = nonsensitive(aws_ssm_parameter.settings["REDIS_REPLICA_ACKS"].value) == "1"
    error_message = "Prod answers 202 only once the replica holds the enqueue (REDIS_REPLICA_ACKS=1): a failover loses no accepted user."
  }
  assert {
    condition     = nonsensitive(aws_ssm_parameter.settings["SWAGGER_UI"].value) == "false"
    error_message = "Prod serves no Swagger UI."
  }
  assert {
    condition     = aws_lb.this.enable_cross_zone_load_balancing && length(aws_lb_target_group_attachment.http) == 2
    error_message = "Both hosts serve traffic from both zones of the load balancer."
  }
  assert {
    condition     = aws_db_instance.this.deletion_protection && !aws_db_instance.this.skip_final_snapshot && aws_db_instance.this.backup_retention_period >= 7 && aws_lb.this.enable_deletion_protection
    error_message = "Prod data is protected: deletion protection, a final snapshot, a week of backups at least."
  }
  assert {
    condition     = aws_elasticache_replication_group.this.snapshot_retention_limit >= 1
    error_message = "Prod Redis keeps daily snapshots."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.redis_memory) == var.redis_replicas + 1 && length(aws_sns_topic_subscription.email) == 1
    error_message = "Prod alarms cover every Redis node and notify someone."
  }
}
