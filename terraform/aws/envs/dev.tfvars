# Development: one NAT gateway, single-AZ MySQL, one Redis node; easy to tear down.
# Usage: terraform apply -var-file=envs/dev.tfvars -var="ssh_public_key=$(cat ~/.ssh/id_ed25519.pub)" \
#          -var="rds_ca_bundle_sha256=<sha256 of the RDS CA bundle>"   (terraform/README.md, "TLS to MySQL")
environment = "dev"
region      = "eu-central-1"
vpc_cidr    = "10.20.0.0/16"

# Replace with your own address (or the CD runner's) before applying.
admin_cidr = "203.0.113.10/32"

producer_image = "ghcr.io/example/registry-producer:latest"
consumer_image = "ghcr.io/example/registry-consumer:latest"
consumer_count = 1

http_instance_type    = "t3.small"
bastion_instance_type = "t3.micro"

nat_gateway_per_az = false

mysql_instance_class        = "db.t4g.micro"
mysql_allocated_storage     = 20
mysql_multi_az              = false
mysql_backup_retention_days = 1

redis_node_type               = "cache.t4g.micro"
redis_replicas                = 0
redis_snapshot_retention_days = 1
# No replica: REDIS_REPLICA_ACKS stays 0. ElastiCache keeps no AOF, so losing the one node loses
# what was queued since the last daily snapshot: dev only.
redis_replica_acks = 0
redis_cluster_mode = false

# Swagger UI on /docs in dev only.
swagger_ui = true

deletion_protection = false
log_retention_days  = 365

# The GitHub Actions runner on the bastion (runner.tf); CD then deploys from inside the VPC.
bastion_github_runner = false
# github_runner_url     = "https://github.com/OWNER/REPO"
# github_runner_sha256  = "<sha256 of actions-runner-linux-x64-VERSION.tar.gz>"
