# Internet-facing network load balancer: TCP 80 -> producer port 8080 on both HTTP hosts.
# Client addresses are preserved (the producer's per-IP rate limit sees them; TRUSTED_PROXIES
# stays empty).

resource "aws_lb" "this" {
  #checkov:skip=CKV_AWS_91:NLB access logs only cover TLS listeners; this listener is plain TCP (the contract's port 80). VPC flow logs record the connections.
  #checkov:skip=CKV2_AWS_20:HTTP-to-HTTPS redirects are an ALB feature; an NLB forwards TCP. TLS needs a domain and certificate, outside this design.
  name                             = local.prefix
  load_balancer_type               = "network"
  internal                         = false
  subnets                          = aws_subnet.public[*].id
  security_groups                  = [aws_security_group.lb.id]
  enable_cross_zone_load_balancing = true
  enable_deletion_protection       = var.deletion_protection
}

resource "aws_lb_target_group" "producers" {
  name                 = "${local.prefix}-producers"
  vpc_id               = aws_vpc.this.id
  target_type          = "instance"
  protocol             = "TCP"
  port                 = local.producer_port
  preserve_client_ip   = "true"
  deregistration_delay = 30

  health_check {
    protocol            = "HTTP"
    path                = "/health/ready"
    port                = tostring(local.producer_port)
    matcher             = "200"
    interval            = 10
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_target_group_attachment" "http" {
  count            = length(aws_instance.http)
  target_group_arn = aws_lb_target_group.producers.arn
  target_id        = aws_instance.http[count.index].id
  port             = local.producer_port
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.this.arn
  protocol          = "TCP"
  port              = 80

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.producers.arn
  }
}
