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
  description = "ElastiCache Redis primary endpoint (TLS and AUTH required)."
  value       = aws_elasticache_replication_group.this.primary_endpoint_address
}

output "parameter_path" {
  description = "SSM path of the container settings (app/) and host settings (host/)."
  value       = local.parameter_path
}

output "mysql_secret_arn" {
  description = "ARN of the RDS-managed secret holding the MySQL user name and password."
  value       = aws_db_instance.this.master_user_secret[0].secret_arn
}

output "ssh_http_hosts" {
  description = "Commands to open a shell on each HTTP host through the bastion."
  value       = [for ip in aws_instance.http[*].private_ip : "ssh -J ec2-user@${aws_eip.bastion.public_ip} ec2-user@${ip}"]
}
