# Development on Alibaba Cloud. Passwords: export TF_VAR_mysql_password=... TF_VAR_redis_password=...
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
