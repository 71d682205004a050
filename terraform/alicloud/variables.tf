variable "name" {
  description = "Name prefix of every resource, and the first segment of the OOS parameter path."
  type        = string
  default     = "registry"
}

variable "environment" {
  description = "Environment name (dev, prod, ...)."
  type        = string
}

variable "region" {
  description = "Alibaba Cloud region."
  type        = string
  default     = "cn-hangzhou"
}

variable "zones" {
  description = "The two zones of the deployment (one HTTP host in each)."
  type        = list(string)
  default     = ["cn-hangzhou-j", "cn-hangzhou-k"]

  validation {
    condition     = length(var.zones) == 2
    error_message = "zones: exactly two zones."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC."
  type        = string
  default     = "10.40.0.0/16"
}

variable "public_vswitch_cidrs" {
  description = "CIDRs of the two public vSwitches (NAT gateway, NLB, bastion)."
  type        = list(string)
  default     = ["10.40.0.0/24", "10.40.1.0/24"]
}

variable "private_vswitch_cidrs" {
  description = "CIDRs of the two private vSwitches (HTTP hosts, Redis, MySQL). Also the Redis and MySQL whitelists."
  type        = list(string)
  default     = ["10.40.10.0/24", "10.40.11.0/24"]

  validation {
    condition     = length(var.private_vswitch_cidrs) == 2 && !contains(var.private_vswitch_cidrs, "0.0.0.0/0")
    error_message = "private_vswitch_cidrs: two private CIDRs (they are the database whitelists)."
  }
}

variable "admin_cidr" {
  description = "The only CIDR allowed to SSH into the bastion."
  type        = string

  validation {
    condition     = can(cidrhost(var.admin_cidr, 0)) && var.admin_cidr != "0.0.0.0/0"
    error_message = "admin_cidr: a valid IPv4 CIDR, and not 0.0.0.0/0."
  }
}

variable "key_pair_name" {
  description = "Name of an existing ECS key pair installed on the bastion and the HTTP hosts."
  type        = string
}

variable "image_id" {
  description = "ECS image (Alibaba Cloud Linux 3, x86_64)."
  type        = string
  default     = "aliyun_3_x64_20G_alibase_20240819.vhd"
}

variable "http_instance_type" {
  description = "ECS type of the two HTTP hosts."
  type        = string
  default     = "ecs.g7.large"
}

variable "bastion_instance_type" {
  description = "ECS type of the bastion / CD runner host."
  type        = string
  default     = "ecs.t6-c1m1.large"
}

variable "producer_image" {
  description = "Initial producer image (written to /opt/registry/images.env; CD updates it)."
  type        = string
}

variable "consumer_image" {
  description = "Initial consumer image (written to /opt/registry/images.env; CD updates it)."
  type        = string
}

variable "consumer_count" {
  description = "Consumer containers per HTTP host (an OOS parameter read when registry.service starts)."
  type        = number
  default     = 2
}

variable "key_prefix" {
  description = "KEY_PREFIX of the deployment."
  type        = string
  default     = "users"
}

variable "mysql_instance_type" {
  description = "RDS MySQL instance type."
  type        = string
  default     = "mysql.n2.medium.1"
}

variable "mysql_category" {
  description = "RDS edition: Basic (single node) or HighAvailability (primary + standby in the second zone)."
  type        = string
  default     = "Basic"
}

variable "mysql_storage_gb" {
  description = "RDS storage in GB."
  type        = number
  default     = 20
}

variable "mysql_admin_username" {
  description = "RDS privileged (Super) account: used only by the deploy-time migration (`consumer migrate`), which creates the database, the tables and the application user."
  type        = string
  default     = "registry_admin"
}

variable "mysql_admin_password" {
  description = "Password of the privileged account (pass with TF_VAR_mysql_admin_password; stored as an OOS secret parameter the hosts read into a file for the migration only)."
  type        = string
  sensitive   = true
}

variable "mysql_username" {
  description = "MySQL user of the running producer and consumers, created and granted by the migration (not by Terraform)."
  type        = string
  default     = "registry"
}

variable "mysql_password" {
  description = "Password of the application user (pass with TF_VAR_mysql_password; an OOS secret parameter, written to a file on the hosts). A new value reaches MySQL through the migration."
  type        = string
  sensitive   = true
}

variable "mysql_ca_url" {
  description = "URL the hosts fetch the ApsaraDB RDS CA certificate (ApsaraDB-CA-Chain.pem, from the console's SSL page) from, e.g. an OSS object you uploaded it to."
  type        = string

  validation {
    condition     = startswith(var.mysql_ca_url, "https://")
    error_message = "mysql_ca_url: an https:// URL."
  }
}

variable "mysql_ca_sha256" {
  description = "SHA-256 (64 hex digits) of the file at mysql_ca_url; the hosts refuse another file."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.mysql_ca_sha256))
    error_message = "mysql_ca_sha256: 64 lower-case hex digits (the output of sha256sum)."
  }
}

variable "redis_ca_url" {
  description = "URL the hosts fetch the Tair/KVStore TLS CA certificate (downloaded from the instance's TLS page) from."
  type        = string

  validation {
    condition     = startswith(var.redis_ca_url, "https://")
    error_message = "redis_ca_url: an https:// URL."
  }
}

variable "redis_ca_sha256" {
  description = "SHA-256 (64 hex digits) of the file at redis_ca_url; the hosts refuse another file."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.redis_ca_sha256))
    error_message = "redis_ca_sha256: 64 lower-case hex digits (the output of sha256sum)."
  }
}

variable "redis_instance_class" {
  description = "KVStore (Redis) class: a master-replica class, replica in the second zone in prod."
  type        = string
  default     = "redis.master.small.default"
}

variable "redis_password" {
  description = "Redis password (pass with TF_VAR_redis_password; an OOS secret parameter the hosts write to the file REDIS_PASSWORD_FILE names, never part of REDIS_URL)."
  type        = string
  sensitive   = true
}

variable "redis_cluster_mode" {
  description = "Tair/KVStore in the cluster (sharding) architecture: redis_shard_count shards of a primary and a replica, behind Alibaba's proxy."
  type        = bool
  default     = false
}

variable "redis_shard_count" {
  description = "Shards in cluster mode. One deployment's keys share a hash tag, hence one shard; more shards serve more deployments or prefixes."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_shard_count >= 2 && var.redis_shard_count <= 32
    error_message = "redis_shard_count: 2 to 32."
  }
}

variable "redis_cluster_instance_class" {
  description = "Instance class (per shard) in cluster mode (a cloud-native cluster class, e.g. redis.shard.small.2.ce)."
  type        = string
  default     = "redis.shard.small.2.ce"
}

variable "redis_replica_acks" {
  description = "REDIS_REPLICA_ACKS of the producer: a 202 only once this many replicas hold the enqueue (WAIT). 1 in prod; 0 in dev."
  type        = number
  default     = 0

  validation {
    condition     = var.redis_replica_acks >= 0 && var.redis_replica_acks <= 1
    error_message = "redis_replica_acks: 0 or 1 (the master-replica and cluster classes have one replica per primary)."
  }
}

variable "redis_replica_ack_timeout_ms" {
  description = "REDIS_REPLICA_ACK_TIMEOUT_MS of the producer."
  type        = number
  default     = 500
}

variable "swagger_ui" {
  description = "SWAGGER_UI of the producer: Swagger UI on /docs. Off by default (prod); dev may turn it on."
  type        = bool
  default     = false
}

variable "bastion_github_runner" {
  description = "Install a GitHub Actions self-hosted runner on the bastion (user `runner`), registered with a token from an OOS secret parameter. Off by default."
  type        = bool
  default     = false
}

variable "github_runner_url" {
  description = "Repository (or organisation) URL the bastion's runner registers with. Required with bastion_github_runner."
  type        = string
  default     = ""

  validation {
    condition     = var.github_runner_url == "" || can(regex("^https://github\\.com/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$", var.github_runner_url))
    error_message = "github_runner_url: https://github.com/OWNER or https://github.com/OWNER/REPO."
  }
}

variable "github_runner_labels" {
  description = "Labels of the bastion's runner; cd.yml selects it with runs-on: [self-hosted, bastion]."
  type        = list(string)
  default     = ["bastion"]
}

variable "github_runner_version" {
  description = "Version of actions/runner installed on the bastion."
  type        = string
  default     = "2.328.0"
}

variable "github_runner_sha256" {
  description = "SHA-256 of actions-runner-linux-x64-VERSION.tar.gz; the bastion refuses another file. Required with bastion_github_runner."
  type        = string
  default     = ""

  validation {
    condition     = var.github_runner_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.github_runner_sha256))
    error_message = "github_runner_sha256: 64 lower-case hex digits."
  }
}

variable "redis_multi_zone" {
  description = "Put the Redis replica in the second zone."
  type        = bool
  default     = false
}
