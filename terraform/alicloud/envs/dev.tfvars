# Development on Alibaba Cloud.
# Secrets: export TF_VAR_mysql_admin_password=... TF_VAR_mysql_password=... TF_VAR_redis_password=...
# CA certificates (the RDS and Redis TLS CAs from the console, put where the hosts can fetch them):
#   -var mysql_ca_url=https://... -var mysql_ca_sha256=... -var redis_ca_url=https://... -var redis_ca_sha256=...
environment    = "dev"
region         = "cn-hangzhou"
zones          = ["cn-hangzhou-j", "cn-hangzhou-k"]
admin_cidr     = "203.0.113.10/32"
key_pair_name  = "registry-admin"
producer_image = "ghcr.io/example/registry-producer:latest"
consumer_image = "ghcr.io/example/registry-consumer:latest"
consumer_count = 1

mysql_category   = "Basic"
redis_multi_zone = false

# Dev keeps REDIS_REPLICA_ACKS at 0; Swagger UI on /docs in dev only.
redis_replica_acks = 0
redis_cluster_mode = false
swagger_ui         = true

bastion_github_runner = false
