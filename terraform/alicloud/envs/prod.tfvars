# Production on Alibaba Cloud: RDS High-Availability edition (standby in the second zone), Redis
# master-replica with the replica in the second zone.
# Secrets: export TF_VAR_mysql_admin_password=... TF_VAR_mysql_password=... TF_VAR_redis_password=...
# CA certificates (the RDS and Redis TLS CAs from the console, put where the hosts can fetch them):
#   -var mysql_ca_url=https://... -var mysql_ca_sha256=... -var redis_ca_url=https://... -var redis_ca_sha256=...
environment    = "prod"
region         = "cn-hangzhou"
zones          = ["cn-hangzhou-j", "cn-hangzhou-k"]
vpc_cidr       = "10.50.0.0/16"
admin_cidr     = "203.0.113.10/32"
key_pair_name  = "registry-admin"
producer_image = "ghcr.io/example/registry-producer:latest"
consumer_image = "ghcr.io/example/registry-consumer:latest"
consumer_count = 2

public_vswitch_cidrs  = ["10.50.0.0/24", "10.50.1.0/24"]
private_vswitch_cidrs = ["10.50.10.0/24", "10.50.11.0/24"]

http_instance_type  = "ecs.g7.xlarge"
mysql_instance_type = "mysql.n2.large.2c"
mysql_category      = "HighAvailability"
mysql_storage_gb    = 50
redis_multi_zone    = true

# A 202 only once the replica holds the enqueue. true: the cluster (sharding) architecture.
redis_replica_acks = 1
redis_cluster_mode = false
redis_shard_count  = 2
swagger_ui         = false

bastion_github_runner = false
