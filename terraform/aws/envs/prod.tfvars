# Production: highly available. A NAT gateway per zone, Multi-AZ MySQL, Redis primary + 2 replicas
# with automatic failover across zones, deletion protection and a final snapshot.
# Usage: terraform apply -var-file=envs/prod.tfvars -var="ssh_public_key=$(cat ~/.ssh/id_ed25519.pub)" \
#          -var="rds_ca_bundle_sha256=<sha256 of the RDS CA bundle>"   (terraform/README.md, "TLS to MySQL")
environment = "prod"
region      = "eu-central-1"
vpc_cidr    = "10.30.0.0/16"

# Replace with your own address (or the CD runner's) before applying.
admin_cidr  = "203.0.113.10/32"
alarm_email = "ops@example.com"

producer_image = "ghcr.io/example/registry-producer:latest"
consumer_image = "ghcr.io/example/registry-consumer:latest"
consumer_count = 2

http_instance_type    = "t3.medium"
bastion_instance_type = "t3.micro"

nat_gateway_per_az = true

mysql_instance_class        = "db.t4g.medium"
mysql_allocated_storage     = 50
mysql_multi_az              = true
mysql_backup_retention_days = 14

redis_node_type = "cache.t4g.small"
# Two: after a failover one replica is left to confirm enqueues, so 202s keep flowing while
# ElastiCache replaces the lost node (with one, every POST would answer 503 not_replicated until then).
redis_replicas                = 2
redis_snapshot_retention_days = 7
# A 202 only once a replica holds the enqueue: a failover loses no accepted user.
redis_replica_acks = 1
# true: ElastiCache in cluster mode (redis_shards shards x (1 + redis_replicas) nodes), REDIS_MODE=cluster.
redis_cluster_mode = false
redis_shards       = 2

swagger_ui = false

deletion_protection = true
log_retention_days  = 365

# The GitHub Actions runner on the bastion (runner.tf); CD then deploys from inside the VPC.
bastion_github_runner = false
# github_runner_url     = "https://github.com/OWNER/REPO"
# github_runner_sha256  = "<sha256 of actions-runner-linux-x64-VERSION.tar.gz>"
