locals {
  prefix = "${var.name}-${var.environment}"
  azs    = coalesce(var.availability_zones, ["${var.region}a", "${var.region}b"])

  public_cidrs  = [for i in range(2) : cidrsubnet(var.vpc_cidr, 8, i)]
  private_cidrs = [for i in range(2) : cidrsubnet(var.vpc_cidr, 8, 10 + i)]

  # Every setting of the containers lives under this SSM path; hosts read it at start.
  parameter_path = "/${var.name}/${var.environment}"

  ami_id = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.al2023[0].value

  producer_port = 8080
  mysql_port    = 3306
  redis_port    = 6379

  mysql_family = "mysql${join(".", slice(split(".", var.mysql_version), 0, 2))}"
  redis_family = "redis${split(".", var.redis_engine_version)[0]}"

  # The configuration endpoint in cluster mode (a seed node for REDIS_MODE=cluster), else the
  # primary endpoint, which follows the primary through a failover.
  redis_endpoint = (var.redis_cluster_mode ?
    aws_elasticache_replication_group.this.configuration_endpoint_address :
  aws_elasticache_replication_group.this.primary_endpoint_address)

  # Node ids, as ElastiCache names them: <group>-001.. or, in cluster mode, <group>-0001-001..
  redis_node_ids = (var.redis_cluster_mode ?
    flatten([for s in range(var.redis_shards) : [for n in range(var.redis_replicas + 1) : format("%04d-%03d", s + 1, n + 1)]]) :
  [for n in range(var.redis_replicas + 1) : format("%03d", n + 1)])

  # A 202 waits for one replica wherever there is one (issue 17); 0 without replicas.
  redis_replica_acks = coalesce(var.redis_replica_acks, min(var.redis_replicas, 1))

  tags = merge(var.tags, {
    Project     = var.name
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}
