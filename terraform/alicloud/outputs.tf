output "lb_dns_name" {
  description = "DNS name of the NLB."
  value       = alicloud_nlb_load_balancer.this.dns_name
}

output "bastion_public_ip" {
  description = "Public IP of the bastion."
  value       = alicloud_instance.bastion.public_ip
}

output "http_private_ips" {
  description = "Private IPs of the two HTTP hosts."
  value       = alicloud_instance.http[*].private_ip
}

output "mysql_endpoint" {
  description = "RDS MySQL endpoint (host:port)."
  value       = "${alicloud_db_instance.this.connection_string}:${alicloud_db_instance.this.port}"
}

output "redis_endpoint" {
  description = "KVStore Redis endpoint."
  value       = alicloud_kvstore_instance.this.connection_domain
}

output "github_runner_token_parameter" {
  description = "OOS secret parameter to put the bastion runner's registration token in (bastion_github_runner), else null."
  value       = var.bastion_github_runner ? local.github_runner_token_parameter : null
}
