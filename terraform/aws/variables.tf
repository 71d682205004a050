variable "name" {
  description = "Name prefix of every resource, and the first segment of the SSM parameter path."
  type        = string
  default     = "registry"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,20}$", var.name))
    error_message = "name: 2 to 21 characters, lower-case letters, digits and dashes, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (dev, staging, prod, ...): part of resource names and of the SSM parameter path."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.environment))
    error_message = "environment: 2 to 10 lower-case letters or digits, starting with a letter."
  }
}

variable "region" {
  description = "AWS region."
  type        = string
  default     = "eu-central-1"
}

variable "availability_zones" {
  description = "The two availability zones to use; null means the region's zones a and b."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null || length(coalesce(var.availability_zones, [])) == 2
    error_message = "availability_zones: exactly two zones (one HTTP host in each)."
  }
}

variable "vpc_cidr" {
  description = "CIDR of the VPC; subnets are /24s carved from it (public .0-.1, private .10-.11)."
  type        = string
  default     = "10.20.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) <= 16
    error_message = "vpc_cidr: a valid IPv4 CIDR of size /16 or larger."
  }
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per zone (highly available egress) instead of one shared NAT gateway."
  type        = bool
  default     = false
}

variable "admin_cidr" {
  description = "The only CIDR allowed to SSH into the bastion (e.g. your office or CD runner address, 203.0.113.7/32)."
  type        = string

  validation {
    condition     = can(cidrhost(var.admin_cidr, 0)) && var.admin_cidr != "0.0.0.0/0"
    error_message = "admin_cidr: a valid IPv4 CIDR, and not 0.0.0.0/0."
  }
}

variable "ssh_public_key" {
  description = "OpenSSH public key installed for ec2-user on the bastion and on the HTTP hosts."
  type        = string
}

variable "ami_id" {
  description = "AMI of the hosts; null means the latest Amazon Linux 2023 (x86_64) from the public SSM parameter."
  type        = string
  default     = null
}

variable "http_instance_type" {
  description = "Instance type of the two HTTP hosts."
  type        = string
  default     = "t3.small"
}

variable "bastion_instance_type" {
  description = "Instance type of the bastion."
  type        = string
  default     = "t3.micro"
}

variable "producer_image" {
  description = "Initial producer image (written to /opt/registry/images.env; the CD workflow updates it afterwards)."
  type        = string
}

variable "consumer_image" {
  description = "Initial consumer image (written to /opt/registry/images.env; the CD workflow updates it afterwards)."
  type        = string
}

variable "consumer_count" {
  description = "Consumer containers per HTTP host. Stored in SSM; hosts read it when registry.service (re)starts."
  type        = number
  default     = 2

  validation {
    condition     = var.consumer_count >= 0 && var.consumer_count <= 32 && floor(var.consumer_count) == var.consumer_count
    error_message = "consumer_count: a whole number from 0 to 32."
  }
}

variable "key_prefix" {
  description = "KEY_PREFIX of the deployment (Redis keys live under {prefix})."
  type        = string
  default     = "users"
}

variable "cache_ttl_secs" {
  description = "CACHE_TTL_SECS of the producer and consumers."
  type        = number
  default     = 3600
}

variable "rate_limit_per_sec" {
  description = "RATE_LIMIT_PER_SEC of the producer (writes per second per client IP; 0 turns it off)."
  type        = number
  default     = 20
}

variable "rate_limit_burst" {
  description = "RATE_LIMIT_BURST of the producer."
  type        = number
  default     = 40
}

variable "swagger_ui" {
  description = "SWAGGER_UI of the producer: serve Swagger UI on /docs. Off by default (prod); dev may turn it on."
  type        = bool
  default     = false
}

variable "cors_origins" {
  description = "CORS_ORIGINS of the producer; empty means same origin only (the parameter is then not created)."
  type        = string
  default     = ""
}

variable "mysql_version" {
  description = "RDS MySQL engine version (8.x)."
  type        = string
  default     = "8.4"

  validation {
    condition     = startswith(var.mysql_version, "8.")
    error_message = "mysql_version: MySQL 8.x."
  }
}

variable "mysql_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.micro"
}

variable "mysql_allocated_storage" {
  description = "RDS storage in GiB (autoscaling up to 4 times that)."
  type        = number
  default     = 20
}

variable "mysql_username" {
  description = "RDS master (admin) user name. Its password is generated, kept and rotated in Secrets Manager by RDS; only the deploy-time migration (`consumer migrate`) logs in with it."
  type        = string
  default     = "registry"
}

variable "mysql_app_username" {
  description = "MySQL user of the running producer and consumers, created and granted by the migration; its password is a separate Secrets Manager secret."
  type        = string
  default     = "registry_app"

  validation {
    condition     = can(regex("^[a-z][a-z0-9_]{1,31}$", var.mysql_app_username))
    error_message = "mysql_app_username: 2 to 32 characters, lower-case letters, digits and underscores, starting with a letter."
  }
}

variable "rds_ca_bundle_url" {
  description = "URL of the RDS CA bundle the hosts verify MySQL's certificate with; null means the region's bundle, https://truststore.pki.rds.amazonaws.com/REGION/REGION-bundle.pem."
  type        = string
  default     = null

  validation {
    condition     = var.rds_ca_bundle_url == null || startswith(coalesce(var.rds_ca_bundle_url, "-"), "https://")
    error_message = "rds_ca_bundle_url: an https:// URL."
  }
}

variable "rds_ca_bundle_sha256" {
  description = "SHA-256 (64 hex digits) of the RDS CA bundle at rds_ca_bundle_url; the hosts refuse a bundle with another checksum. Compute it from a copy you trust: curl -fsS URL | sha256sum (and check the certificates with openssl first)."
  type        = string

  validation {
    condition     = can(regex("^[0-9a-f]{64}$", var.rds_ca_bundle_sha256))
    error_message = "rds_ca_bundle_sha256: 64 lower-case hex digits (the output of sha256sum)."
  }
}

variable "mysql_multi_az" {
  description = "Multi-AZ RDS (standby in the other zone, automatic failover)."
  type        = bool
  default     = false
}

variable "mysql_backup_retention_days" {
  description = "Days of automated RDS backups."
  type        = number
  default     = 7
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.micro"
}

variable "redis_engine_version" {
  description = "ElastiCache Redis OSS engine version (7.x: the parameter group family is redis7)."
  type        = string
  default     = "7.1"

  validation {
    condition     = startswith(var.redis_engine_version, "7.")
    error_message = "redis_engine_version: Redis OSS 7.x."
  }
}

variable "redis_replicas" {
  description = "Read replicas besides the primary. At least 1 turns on automatic failover and Multi-AZ."
  type        = number
  default     = 0

  validation {
    condition     = var.redis_replicas >= 0 && var.redis_replicas <= 5
    error_message = "redis_replicas: 0 to 5."
  }
}

variable "redis_cluster_mode" {
  description = "ElastiCache in cluster mode (redis_shards shards of 1 + redis_replicas nodes); the hosts then run REDIS_MODE=cluster against the configuration endpoint."
  type        = bool
  default     = false
}

variable "redis_shards" {
  description = "Shards (node groups) in cluster mode. Every key of one deployment shares a hash tag, so one shard holds the queue; more shards serve more deployments or prefixes."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_shards >= 1 && var.redis_shards <= 10 && floor(var.redis_shards) == var.redis_shards
    error_message = "redis_shards: a whole number from 1 to 10."
  }
}

variable "redis_replica_acks" {
  description = "REDIS_REPLICA_ACKS of the producer: a 202 only once this many replicas hold the enqueue (WAIT). null means 1 when there is a replica (redis_replicas >= 1), else 0."
  type        = number
  default     = null

  validation {
    condition     = var.redis_replica_acks == null || (coalesce(var.redis_replica_acks, 0) >= 0 && coalesce(var.redis_replica_acks, 0) <= 5)
    error_message = "redis_replica_acks: 0 to 5 (and at most redis_replicas)."
  }
}

variable "redis_replica_ack_timeout_ms" {
  description = "REDIS_REPLICA_ACK_TIMEOUT_MS of the producer: how long a 202 waits for the replicas before answering 503 not_replicated."
  type        = number
  default     = 500
}

variable "redis_snapshot_retention_days" {
  description = "Days of daily Redis snapshots."
  type        = number
  default     = 1
}

variable "deletion_protection" {
  description = "Protect the database and the load balancer from deletion, and take a final RDS snapshot."
  type        = bool
  default     = true
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic; empty for none."
  type        = string
  default     = ""
}

variable "log_retention_days" {
  description = "Retention of the VPC flow logs and other CloudWatch log groups."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Extra tags on every resource."
  type        = map(string)
  default     = {}
}

variable "alarm_error_rate_percent" {
  description = "App alarm: share of 5xx HTTP answers (percent, over 5-minute periods) above which it fires."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_error_rate_percent > 0 && var.alarm_error_rate_percent < 100
    error_message = "alarm_error_rate_percent: between 0 and 100 (exclusive)."
  }
}

variable "alarm_backlog_messages" {
  description = "App alarm: pending messages above which a still-growing queue fires the backlog alarm."
  type        = number
  default     = 1000
}

variable "bastion_github_runner" {
  description = "Install a GitHub Actions self-hosted runner on the bastion (user `runner`, labels github_runner_labels), so that CD deploys from inside the VPC. Off by default."
  type        = bool
  default     = false
}

variable "github_runner_url" {
  description = "Repository (or organisation) URL the bastion's runner registers with, e.g. https://github.com/my-org/registry. Required with bastion_github_runner."
  type        = string
  default     = ""

  validation {
    condition     = var.github_runner_url == "" || can(regex("^https://github\\.com/[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)?$", var.github_runner_url))
    error_message = "github_runner_url: https://github.com/OWNER or https://github.com/OWNER/REPO."
  }
}

variable "github_runner_labels" {
  description = "Labels of the bastion's runner (besides self-hosted, Linux, X64); cd.yml selects it with runs-on: [self-hosted, bastion]."
  type        = list(string)
  default     = ["bastion"]
}

variable "github_runner_version" {
  description = "Version of actions/runner installed on the bastion (a release of https://github.com/actions/runner)."
  type        = string
  default     = "2.328.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.github_runner_version))
    error_message = "github_runner_version: X.Y.Z."
  }
}

variable "github_runner_sha256" {
  description = "SHA-256 of actions-runner-linux-x64-VERSION.tar.gz (listed in the release notes); the bastion refuses another file. Required with bastion_github_runner."
  type        = string
  default     = ""

  validation {
    condition     = var.github_runner_sha256 == "" || can(regex("^[0-9a-f]{64}$", var.github_runner_sha256))
    error_message = "github_runner_sha256: 64 lower-case hex digits."
  }
}
