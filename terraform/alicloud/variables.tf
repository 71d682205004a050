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

variable "mysql_username" {
  description = "RDS account used by the application."
  type        = string
  default     = "registry"
}

variable "mysql_password" {
  description = "Password of the RDS account (pass with TF_VAR_mysql_password; stored as an OOS secret parameter)."
  type        = string
  sensitive   = true
}

variable "redis_instance_class" {
  description = "KVStore (Redis) class: a master-replica class, replica in the second zone in prod."
  type        = string
  default     = "redis.master.small.default"
}

variable "redis_password" {
  description = "Redis password (pass with TF_VAR_redis_password; part of the REDIS_URL secret parameter)."
  type        = string
  sensitive   = true
}

variable "redis_multi_zone" {
  description = "Put the Redis replica in the second zone."
  type        = bool
  default     = false
}
