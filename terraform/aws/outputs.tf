output "lb_dns_name" {
  description = "DNS name of the network load balancer (http://NAME/)."
  value       = aws_lb.this.dns_name
}

output "bastion_public_ip" {
  description = "Public (Elastic) IP of the bastion, the only SSH entry."
  value       = aws_eip.bastion.public_ip
}

output "http_private_ips" {
  description = "Private IPs of the two HTTP hosts (reach them with ssh -J ec2-user@BASTION ec2-user@IP)."
  value       = aws_instance.http[*].private_ip
}

output "mysql_endpoint" {
  description = "RDS MySQL endpoint (host:port)."
  value       = aws_db_instance.this.endpoint
}

output "redis_endpoint" {
  description = "ElastiCache Redis endpoint (TLS and AUTH required): the primary endpoint, or the configuration endpoint in cluster mode."
  value       = local.redis_endpoint
}

output "parameter_path" {
  description = "SSM path of the container settings (app/) and host settings (host/)."
  value       = local.parameter_path
}

output "mysql_secret_arn" {
  description = "ARN of the RDS-managed secret of the MySQL admin (master) user, used by the migration only."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "mysql_app_secret_arn" {
  description = "ARN of the secret holding the application user's MySQL password (JSON .password); write a new value to rotate it."
  value       = aws_secretsmanager_secret.mysql_app.arn
}

output "github_runner_token_parameter" {
  description = "SSM parameter to put the bastion runner's registration token in (bastion_github_runner), else null."
  value       = var.bastion_github_runner ? local.github_runner_token_parameter : null
}

output "ssh_http_hosts" {
  description = "Commands to open a shell on each HTTP host through the bastion."
  value       = [for ip in aws_instance.http[*].private_ip : "ssh -J ec2-user@${aws_eip.bastion.public_ip} ec2-user@${ip}"]
}
