# Internet-facing NLB in both public vSwitches: TCP 80 -> producer port 8080 on both HTTP hosts,
# HTTP health check on /health/ready.

resource "alicloud_nlb_load_balancer" "this" {
  load_balancer_name = local.prefix
  load_balancer_type = "Network"
  address_type       = "Internet"
  address_ip_version = "Ipv4"
  vpc_id             = alicloud_vpc.this.id
  tags               = local.tags

  dynamic "zone_mappings" {
    for_each = alicloud_vswitch.public
    content {
      vswitch_id = zone_mappings.value.id
      zone_id    = zone_mappings.value.zone_id
    }
  }
}

resource "alicloud_nlb_server_group" "producers" {
  server_group_name        = "${local.prefix}-producers"
  server_group_type        = "Instance"
  vpc_id                   = alicloud_vpc.this.id
  protocol                 = "TCP"
  scheduler                = "Wrr"
  address_ip_version       = "Ipv4"
  connection_drain_enabled = true
  connection_drain_timeout = 30
  # Off: with it on, the hosts would have to admit every client address. The producer then sees
  # the NLB's addresses, so its per-IP rate limit counts per NLB node on this cloud.
  preserve_client_ip_enabled = false
  tags                       = local.tags

  health_check {
    health_check_enabled      = true
    health_check_type         = "HTTP"
    health_check_url          = "/health/ready"
    health_check_connect_port = local.producer_port
    health_check_domain       = "$SERVER_IP"
    health_check_http_code    = ["http_2xx"]
    http_check_method         = "GET"
    health_check_interval     = 10
    healthy_threshold         = 2
    unhealthy_threshold       = 2
  }
}

resource "alicloud_nlb_server_group_server_attachment" "http" {
  count           = 2
  server_group_id = alicloud_nlb_server_group.producers.id
  server_type     = "Ecs"
  server_id       = alicloud_instance.http[count.index].id
  port            = local.producer_port
  weight          = 100
}

resource "alicloud_nlb_listener" "http" {
  load_balancer_id  = alicloud_nlb_load_balancer.this.id
  listener_protocol = "TCP"
  listener_port     = 80
  server_group_id   = alicloud_nlb_server_group.producers.id
}
