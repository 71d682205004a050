# Security groups. Every rule is listed in the two maps below, so the tests can check each one
# (e.g. that MySQL and Redis admit nothing but the HTTP hosts' group).

resource "aws_security_group" "bastion" {
  name        = "${local.prefix}-bastion"
  description = "Bastion: SSH from the admin CIDR only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${local.prefix}-bastion" }
}

resource "aws_security_group" "lb" {
  name        = "${local.prefix}-lb"
  description = "Network load balancer: TCP 80 from the internet"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${local.prefix}-lb" }
}

resource "aws_security_group" "http" {
  name        = "${local.prefix}-http"
  description = "HTTP hosts: app port from the load balancer, SSH from the bastion"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${local.prefix}-http" }
}

resource "aws_security_group" "db" {
  name        = "${local.prefix}-mysql"
  description = "RDS MySQL: from the HTTP hosts only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${local.prefix}-mysql" }
}

resource "aws_security_group" "cache" {
  name        = "${local.prefix}-redis"
  description = "ElastiCache Redis: from the HTTP hosts only"
  vpc_id      = aws_vpc.this.id
  tags        = { Name = "${local.prefix}-redis" }
}

locals {
  # sg: the group the rule belongs to; exactly one of cidr / source (another group) per rule.
  ingress_rules = {
    bastion_ssh_from_admin = { sg = "bastion", port = 22, cidr = var.admin_cidr, source = null, what = "SSH from the admin CIDR" }
    lb_http_from_internet  = { sg = "lb", port = 80, cidr = "0.0.0.0/0", source = null, what = "Public HTTP" }
    http_ssh_from_bastion  = { sg = "http", port = 22, cidr = null, source = "bastion", what = "SSH from the bastion only" }
    # The NLB preserves client addresses, so the hosts admit the app port by the load balancer's
    # security group (which covers its nodes in the public subnets and the clients it forwards).
    http_app_from_lb = { sg = "http", port = local.producer_port, cidr = null, source = "lb", what = "Producer from the load balancer (traffic and health checks)" }
    db_from_http     = { sg = "db", port = local.mysql_port, cidr = null, source = "http", what = "MySQL from the HTTP hosts" }
    cache_from_http  = { sg = "cache", port = local.redis_port, cidr = null, source = "http", what = "Redis from the HTTP hosts" }
  }

  egress_rules = {
    bastion_ssh_to_http = { sg = "bastion", port = 22, cidr = null, dest = "http", what = "SSH to the HTTP hosts" }
    bastion_https       = { sg = "bastion", port = 443, cidr = "0.0.0.0/0", dest = null, what = "OS updates" }
    lb_to_http          = { sg = "lb", port = local.producer_port, cidr = null, dest = "http", what = "Forward to the producers" }
    http_https          = { sg = "http", port = 443, cidr = "0.0.0.0/0", dest = null, what = "Image pulls, OS packages, SSM and Secrets Manager APIs (via NAT)" }
    http_to_db          = { sg = "http", port = local.mysql_port, cidr = null, dest = "db", what = "MySQL" }
    http_to_cache       = { sg = "http", port = local.redis_port, cidr = null, dest = "cache", what = "Redis" }
  }

  security_groups = {
    bastion = aws_security_group.bastion.id
    lb      = aws_security_group.lb.id
    http    = aws_security_group.http.id
    db      = aws_security_group.db.id
    cache   = aws_security_group.cache.id
  }
}

resource "aws_vpc_security_group_ingress_rule" "this" {
  for_each = local.ingress_rules

  security_group_id            = local.security_groups[each.value.sg]
  description                  = each.value.what
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  cidr_ipv4                    = each.value.cidr
  referenced_security_group_id = each.value.source == null ? null : local.security_groups[each.value.source]
}

resource "aws_vpc_security_group_egress_rule" "this" {
  for_each = local.egress_rules

  security_group_id            = local.security_groups[each.value.sg]
  description                  = each.value.what
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  cidr_ipv4                    = each.value.cidr
  referenced_security_group_id = each.value.dest == null ? null : local.security_groups[each.value.dest]
}
