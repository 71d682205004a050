# The topology of any environment. Run with each environment's variables:
#   terraform test -filter=tests/topology.tftest.hcl -var-file=envs/dev.tfvars
#   terraform test -filter=tests/topology.tftest.hcl -var-file=envs/prod.tfvars

mock_provider "aws" {
  source = "./tests"
}

variables {
  ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockKeyForTestsOnly test@example"
}

run "two_http_hosts_sit_in_different_private_subnets_and_zones" {
  command = apply

  assert {
    condition     = length(aws_instance.http) == 2
    error_message = "Expected exactly two HTTP hosts."
  }
  assert {
    condition     = aws_instance.http[0].subnet_id != aws_instance.http[1].subnet_id
    error_message = "The two HTTP hosts must be in different subnets."
  }
  assert {
    condition     = alltrue([for h in aws_instance.http : contains(aws_subnet.private[*].id, h.subnet_id)])
    error_message = "HTTP hosts must be in the private subnets."
  }
  assert {
    condition     = aws_subnet.private[0].availability_zone != aws_subnet.private[1].availability_zone && aws_subnet.public[0].availability_zone != aws_subnet.public[1].availability_zone
    error_message = "Public and private subnets must each span two availability zones."
  }
  assert {
    condition     = alltrue([for h in aws_instance.http : h.metadata_options[0].http_tokens == "required"])
    error_message = "HTTP hosts must require IMDSv2."
  }
}

run "private_subnets_reach_the_internet_through_nat_only" {
  command = apply

  assert {
    condition     = alltrue([for n in aws_nat_gateway.this : contains(aws_subnet.public[*].id, n.subnet_id)])
    error_message = "NAT gateways must sit in public subnets."
  }
  assert {
    condition = alltrue([for i in range(2) :
      aws_route_table_association.private[i].subnet_id == aws_subnet.private[i].id &&
      aws_route_table_association.private[i].route_table_id == aws_route.private_nat[i].route_table_id &&
      aws_route.private_nat[i].destination_cidr_block == "0.0.0.0/0" &&
      contains(aws_nat_gateway.this[*].id, aws_route.private_nat[i].nat_gateway_id) &&
      aws_route.private_nat[i].gateway_id == null
    ])
    error_message = "Each private subnet needs a default route through a NAT gateway (not the internet gateway)."
  }
  assert {
    condition     = aws_route.public_internet.gateway_id == aws_internet_gateway.this.id && toset(aws_route_table_association.public[*].subnet_id) == toset(aws_subnet.public[*].id)
    error_message = "Public subnets must route to the internet gateway."
  }
}

run "both_hosts_are_behind_the_nlb_with_the_ready_health_check" {
  command = apply

  assert {
    condition     = aws_lb.this.load_balancer_type == "network" && aws_lb.this.internal == false
    error_message = "Expected an internet-facing network load balancer."
  }
  assert {
    condition     = toset(aws_lb.this.subnets) == toset(aws_subnet.public[*].id)
    error_message = "The load balancer must sit in both public subnets."
  }
  assert {
    condition     = aws_lb_listener.http.port == 80 && aws_lb_listener.http.protocol == "TCP" && aws_lb_listener.http.default_action[0].target_group_arn == aws_lb_target_group.producers.arn
    error_message = "The listener must forward TCP 80 to the producers' target group."
  }
  assert {
    condition     = aws_lb_target_group.producers.port == 8080 && aws_lb_target_group.producers.protocol == "TCP"
    error_message = "The target group must forward to TCP 8080."
  }
  assert {
    condition = (aws_lb_target_group.producers.health_check[0].protocol == "HTTP" &&
      aws_lb_target_group.producers.health_check[0].path == "/health/ready" &&
    aws_lb_target_group.producers.health_check[0].port == "8080")
    error_message = "The health check must be HTTP GET /health/ready on port 8080."
  }
  assert {
    condition     = length(aws_lb_target_group_attachment.http) == 2 && toset(aws_lb_target_group_attachment.http[*].target_id) == toset(aws_instance.http[*].id)
    error_message = "Both HTTP hosts (and nothing else) must be registered in the target group."
  }
  assert {
    condition     = alltrue([for a in aws_lb_target_group_attachment.http : a.target_group_arn == aws_lb_target_group.producers.arn && a.port == 8080])
    error_message = "Attachments must target the producers' group on port 8080."
  }
}

run "mysql_and_redis_admit_only_the_http_hosts" {
  command = apply

  assert {
    condition     = toset(aws_db_instance.this.vpc_security_group_ids) == toset([aws_security_group.db.id]) && aws_db_instance.this.publicly_accessible == false
    error_message = "MySQL must be private and use only its own security group."
  }
  assert {
    condition     = toset(aws_elasticache_replication_group.this.security_group_ids) == toset([aws_security_group.cache.id])
    error_message = "Redis must use only its own security group."
  }
  assert {
    condition     = toset(aws_db_subnet_group.this.subnet_ids) == toset(aws_subnet.private[*].id) && toset(aws_elasticache_subnet_group.this.subnet_ids) == toset(aws_subnet.private[*].id)
    error_message = "MySQL and Redis must live in the private subnets."
  }
  # Every ingress rule of the db and cache groups: no CIDR or prefix list, source = HTTP hosts' group.
  # This fails as soon as a rule opens MySQL or Redis to 0.0.0.0/0 (or to anything else).
  assert {
    condition = alltrue([for r in aws_vpc_security_group_ingress_rule.this :
      r.cidr_ipv4 == null && r.cidr_ipv6 == null && r.prefix_list_id == null && r.referenced_security_group_id == aws_security_group.http.id
    if contains([aws_security_group.db.id, aws_security_group.cache.id], r.security_group_id)])
    error_message = "MySQL and Redis must admit traffic only from the HTTP hosts' security group."
  }
  assert {
    condition = (
      length([for r in aws_vpc_security_group_ingress_rule.this : r if r.security_group_id == aws_security_group.db.id && r.from_port == 3306 && r.to_port == 3306]) == 1 &&
      length([for r in aws_vpc_security_group_ingress_rule.this : r if r.security_group_id == aws_security_group.cache.id && r.from_port == 6379 && r.to_port == 6379]) == 1
    )
    error_message = "MySQL (3306) and Redis (6379) must each have exactly one ingress rule."
  }
  assert {
    condition     = length(aws_security_group.db.ingress) == 0 && length(aws_security_group.cache.ingress) == 0
    error_message = "No inline ingress blocks on the db and cache groups (they would escape the checks above)."
  }
  assert {
    condition     = !anytrue([for r in aws_vpc_security_group_ingress_rule.this : r.cidr_ipv4 == "0.0.0.0/0" && r.security_group_id != aws_security_group.lb.id])
    error_message = "Only the load balancer's group may admit 0.0.0.0/0."
  }
  assert {
    condition = (aws_db_instance.this.storage_encrypted && aws_db_instance.this.manage_master_user_password &&
    aws_db_instance.this.engine == "mysql" && startswith(aws_db_instance.this.engine_version, "8."))
    error_message = "MySQL 8 with encrypted storage and an AWS-managed password."
  }
  assert {
    condition = (aws_elasticache_replication_group.this.transit_encryption_enabled &&
      aws_elasticache_replication_group.this.at_rest_encryption_enabled &&
    length(aws_elasticache_replication_group.this.auth_token) >= 16)
    error_message = "Redis must use TLS, encryption at rest and an auth token."
  }
}

run "ssh_enters_only_through_the_bastion" {
  command = apply

  assert {
    condition     = contains(aws_subnet.public[*].id, aws_instance.bastion.subnet_id) && aws_eip.bastion.instance == aws_instance.bastion.id
    error_message = "The bastion must sit in a public subnet with an Elastic IP."
  }
  assert {
    condition = alltrue([for r in aws_vpc_security_group_ingress_rule.this :
      (r.security_group_id == aws_security_group.bastion.id && r.cidr_ipv4 == var.admin_cidr && r.referenced_security_group_id == null) ||
      (r.security_group_id == aws_security_group.http.id && r.referenced_security_group_id == aws_security_group.bastion.id && r.cidr_ipv4 == null)
    if r.from_port <= 22 && r.to_port >= 22])
    error_message = "SSH: the bastion from admin_cidr only, the HTTP hosts from the bastion only, nothing else."
  }
  assert {
    condition     = length([for r in aws_vpc_security_group_ingress_rule.this : r if r.from_port <= 22 && r.to_port >= 22]) == 2
    error_message = "Exactly two SSH rules (admin -> bastion, bastion -> HTTP hosts)."
  }
  assert {
    condition = alltrue([for r in aws_vpc_security_group_ingress_rule.this :
      r.referenced_security_group_id == aws_security_group.lb.id && r.from_port == 8080 && r.to_port == 8080
    if r.security_group_id == aws_security_group.http.id && !(r.from_port <= 22 && r.to_port >= 22)])
    error_message = "Apart from SSH, the HTTP hosts admit only the producer port from the load balancer."
  }
  assert {
    condition     = toset(aws_instance.bastion.vpc_security_group_ids) == toset([aws_security_group.bastion.id]) && alltrue([for h in aws_instance.http : toset(h.vpc_security_group_ids) == toset([aws_security_group.http.id])])
    error_message = "Bastion and HTTP hosts must each use only their own security group."
  }
}

run "hosts_read_settings_from_ssm_and_secrets_manager_never_from_user_data" {
  command = apply

  assert {
    condition     = !strcontains(local.http_user_data, "MockRedisAuthToken") && !strcontains(local.http_user_data, "rediss://") && !strcontains(local.http_user_data, "mysql://")
    error_message = "User data must not contain settings or secrets."
  }
  assert {
    condition = alltrue([for s in ["/opt/registry/images.env", "/opt/registry/run.sh", "registry.service", "ExecStart=/opt/registry/run.sh",
      "PRODUCER_IMAGE=${var.producer_image}", "CONSUMER_IMAGE=${var.consumer_image}", "get-parameters-by-path",
    "secretsmanager get-secret-value", "--restart unless-stopped", "8080:8080", "/run/secrets/mysql_password:ro"] : strcontains(local.http_user_data, s)])
    error_message = "The cloud-init must lay out /opt/registry (images.env, run.sh) and registry.service as the CD workflow expects."
  }
  assert {
    condition = (
      startswith(local.http_user_data, "#cloud-config\n") &&
      one([for f in yamldecode(local.http_user_data).write_files : f.content if f.path == "/opt/registry/run.sh"]) == file("templates/run.sh") &&
      one([for f in yamldecode(local.http_user_data).write_files : f.content if f.path == "/opt/registry/stop.sh"]) == file("templates/stop.sh") &&
      one([for f in yamldecode(local.http_user_data).write_files : f.content if f.path == "/opt/registry/images.env"]) == "PRODUCER_IMAGE=${var.producer_image}\nCONSUMER_IMAGE=${var.consumer_image}\n"
    )
    error_message = "The cloud-init must be valid YAML carrying run.sh, stop.sh and images.env intact."
  }
  assert {
    condition     = alltrue([for h in aws_instance.http : h.user_data == local.http_user_data && h.iam_instance_profile == aws_iam_instance_profile.http.name])
    error_message = "Both HTTP hosts run the cloud-init with the settings-reader instance profile."
  }
  assert {
    condition     = nonsensitive(aws_ssm_parameter.host["CONSUMER_COUNT"].value) == tostring(var.consumer_count)
    error_message = "consumer_count must reach the hosts through SSM."
  }
  assert {
    condition     = alltrue([for p in aws_ssm_parameter.settings : p.type == "SecureString" && startswith(p.name, "/${var.name}/${var.environment}/app/")])
    error_message = "Container settings are SecureStrings under the deployment's path."
  }
  assert {
    condition     = startswith(nonsensitive(aws_ssm_parameter.settings["REDIS_URL"].value), "rediss://:MockRedisAuthToken") && nonsensitive(aws_ssm_parameter.settings["MYSQL_URL"].value) == "mysql://${var.mysql_username}@${aws_db_instance.this.address}:3306/users"
    error_message = "REDIS_URL uses TLS and the auth token; MYSQL_URL carries no password."
  }
  assert {
    condition = (
      toset(flatten([for s in jsondecode(aws_iam_role_policy.http_read_settings.policy).Statement : s.Action])) ==
      toset(["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "secretsmanager:GetSecretValue", "kms:Decrypt"])
    )
    error_message = "The instance role may only read parameters, get the secret value and decrypt."
  }
  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.http_read_settings.policy).Statement :
      s.Effect == "Allow" && !contains(flatten([s.Resource]), "*") &&
      alltrue([for r in flatten([s.Resource]) : strcontains(r, "parameter/${var.name}/${var.environment}") || r == aws_db_instance.this.master_user_secret[0].secret_arn || r == aws_kms_key.this.arn])
    ])
    error_message = "The instance role's reads are limited to this deployment's parameter path, MySQL secret and key."
  }
}

run "alarms_watch_the_lb_rds_and_redis" {
  command = apply

  assert {
    condition     = aws_cloudwatch_metric_alarm.lb_unhealthy_hosts.metric_name == "UnHealthyHostCount" && aws_cloudwatch_metric_alarm.lb_unhealthy_hosts.dimensions["TargetGroup"] == aws_lb_target_group.producers.arn_suffix
    error_message = "Alarm on the target group's unhealthy hosts."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.rds_cpu.metric_name == "CPUUtilization" && aws_cloudwatch_metric_alarm.rds_storage.metric_name == "FreeStorageSpace"
    error_message = "Alarms on RDS CPU and free storage."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.redis_memory) == aws_elasticache_replication_group.this.num_cache_clusters && alltrue([for a in aws_cloudwatch_metric_alarm.redis_memory : a.metric_name == "DatabaseMemoryUsagePercentage"])
    error_message = "One Redis memory alarm per node."
  }
}

run "app_alarms_mirror_the_prometheus_alerts" {
  command = apply

  assert {
    condition     = aws_cloudwatch_metric_alarm.lb_no_healthy_hosts.metric_name == "HealthyHostCount" && aws_cloudwatch_metric_alarm.lb_no_healthy_hosts.comparison_operator == "LessThanThreshold" && aws_cloudwatch_metric_alarm.lb_no_healthy_hosts.threshold == 1 && aws_cloudwatch_metric_alarm.lb_no_healthy_hosts.dimensions["TargetGroup"] == aws_lb_target_group.producers.arn_suffix
    error_message = "Alarm when no host behind the load balancer is healthy."
  }
  assert {
    condition = (
      contains(yamldecode(local.http_user_data).packages, "amazon-cloudwatch-agent") &&
      jsondecode(one([for f in yamldecode(local.http_user_data).write_files : f.content if f.path == "/opt/registry/cloudwatch-agent.json"])) == jsondecode(local.cloudwatch_agent_config) &&
      yamldecode(one([for f in yamldecode(local.http_user_data).write_files : f.content if f.path == "/opt/registry/cloudwatch-prometheus.yaml"])) == yamldecode(local.cloudwatch_prometheus_config) &&
      contains([for c in yamldecode(local.http_user_data).runcmd : join(" ", c)], "/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/opt/registry/cloudwatch-agent.json")
    )
    error_message = "The cloud-init must install the CloudWatch agent, write its two configuration files intact and start it with them."
  }
  assert {
    condition     = length(local.http_user_data) < 16384
    error_message = "EC2 user data is limited to 16 KiB."
  }
  assert {
    condition = (
      jsondecode(local.cloudwatch_agent_config).logs.metrics_collected.prometheus.prometheus_config_path == "/opt/registry/cloudwatch-prometheus.yaml" &&
      jsondecode(local.cloudwatch_agent_config).logs.metrics_collected.prometheus.log_group_name == aws_cloudwatch_log_group.app_metrics.name &&
      yamldecode(local.cloudwatch_prometheus_config).scrape_configs[0].job_name == "registry" &&
      alltrue([for d in jsondecode(local.cloudwatch_agent_config).logs.metrics_collected.prometheus.emf_processor.metric_declaration : d.source_labels == ["job"] && can(regex(d.label_matcher, "registry"))]) &&
      yamldecode(local.cloudwatch_prometheus_config).scrape_configs[0].file_sd_configs[0].files == [local.app_metrics_targets] &&
      strcontains(file("templates/run.sh"), ">${local.app_metrics_targets}.new") &&
      yamldecode(local.cloudwatch_prometheus_config).scrape_configs[0].relabel_configs == [{ target_label = "deployment", replacement = local.prefix }]
    )
    error_message = "The agent scrapes the targets run.sh lists, labels them with the deployment, and publishes into this deployment's log group."
  }
  assert {
    condition = (
      contains(yamldecode(local.cloudwatch_prometheus_config).scrape_configs[0].metric_relabel_configs, { source_labels = ["status"], regex = "5..", target_label = "status_class", replacement = "5xx" }) &&
      contains(yamldecode(local.cloudwatch_prometheus_config).scrape_configs[0].metric_relabel_configs, { source_labels = ["status"], regex = "[1-4]..", target_label = "status_class", replacement = "other" })
    )
    error_message = "The scrape configuration must derive status_class (5xx or other), the dimension of the error rate alarm."
  }
  # Every metric an app alarm watches is one the binaries export (MISSION.md), published by a
  # metric declaration of the agent with exactly the alarm's dimensions, in the alarm's namespace.
  assert {
    condition = alltrue([for m in concat(
      [for a in concat(aws_cloudwatch_metric_alarm.app_no_consumers, [aws_cloudwatch_metric_alarm.app_dead_letters, aws_cloudwatch_metric_alarm.app_dead_letters_waiting]) :
      { name = a.metric_name, namespace = a.namespace, dimensions = a.dimensions }],
      [for q in concat(tolist(aws_cloudwatch_metric_alarm.app_error_rate.metric_query), tolist(aws_cloudwatch_metric_alarm.app_backlog_growing.metric_query)) :
      { name = q.metric[0].metric_name, namespace = q.metric[0].namespace, dimensions = q.metric[0].dimensions } if length(q.metric) > 0],
      ) :
      contains(["http_requests_total", "queue_messages", "consumers_live", "consumer_dead_letters_total", "consumer_retries_total", "cache_lookups_total"], m.name) &&
      m.namespace == jsondecode(local.cloudwatch_agent_config).logs.metrics_collected.prometheus.emf_processor.metric_namespace &&
      m.dimensions["deployment"] == local.prefix &&
      anytrue([for d in jsondecode(local.cloudwatch_agent_config).logs.metrics_collected.prometheus.emf_processor.metric_declaration :
      anytrue([for s in d.metric_selectors : can(regex(s, m.name))]) && anytrue([for ds in d.dimensions : toset(ds) == toset(keys(m.dimensions))])])
    ])
    error_message = "An app alarm watches a metric the CloudWatch agent does not publish with those dimensions."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.app_error_rate.threshold == var.alarm_error_rate_percent &&
      strcontains(one([for q in aws_cloudwatch_metric_alarm.app_error_rate.metric_query : q.expression if q.return_data == true]), "100 * FILL(errors, 0)") &&
      strcontains(one([for q in aws_cloudwatch_metric_alarm.app_backlog_growing.metric_query : q.expression if q.return_data == true]), "pending > ${var.alarm_backlog_messages} AND RATE(pending) > 0") &&
      length(aws_cloudwatch_metric_alarm.app_no_consumers) == 1 && aws_cloudwatch_metric_alarm.app_no_consumers[0].treat_missing_data == "breaching" &&
      aws_cloudwatch_metric_alarm.app_dead_letters_waiting.dimensions["state"] == "dead"
    )
    error_message = "App alarm thresholds: 5xx share, pending and rising, no consumer (missing data breaches), dead letters waiting."
  }
  assert {
    condition = alltrue([for a in concat(aws_cloudwatch_metric_alarm.app_no_consumers, [aws_cloudwatch_metric_alarm.app_error_rate, aws_cloudwatch_metric_alarm.app_backlog_growing,
      aws_cloudwatch_metric_alarm.app_dead_letters, aws_cloudwatch_metric_alarm.app_dead_letters_waiting, aws_cloudwatch_metric_alarm.lb_no_healthy_hosts]) :
    a.alarm_actions == toset([aws_sns_topic.alarms.arn]) && a.ok_actions == toset([aws_sns_topic.alarms.arn])])
    error_message = "Every new alarm notifies the alarm topic, when raised and when cleared."
  }
  assert {
    condition = alltrue([for s in jsondecode(aws_iam_role_policy.http_publish_metrics.policy).Statement :
      s.Effect == "Allow" && toset(s.Action) == toset(["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]) &&
    alltrue([for r in s.Resource : startswith(r, aws_cloudwatch_log_group.app_metrics.arn)])])
    error_message = "The agent may only write log events into the app metrics log group."
  }
}

run "no_consumer_alarm_without_consumers" {
  command = plan

  variables {
    consumer_count = 0
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.app_no_consumers) == 0
    error_message = "A deployment without consumers on purpose must not alarm about them."
  }
}

run "every_output_is_present" {
  command = apply

  assert {
    condition     = output.lb_dns_name == aws_lb.this.dns_name && output.lb_dns_name != ""
    error_message = "lb_dns_name output missing."
  }
  assert {
    condition     = output.bastion_public_ip == aws_eip.bastion.public_ip && output.bastion_public_ip != ""
    error_message = "bastion_public_ip output missing."
  }
  assert {
    condition     = length(output.http_private_ips) == 2 && alltrue([for ip in output.http_private_ips : ip != ""])
    error_message = "http_private_ips output must list both hosts."
  }
  assert {
    condition     = output.mysql_endpoint == aws_db_instance.this.endpoint && output.mysql_endpoint != ""
    error_message = "mysql_endpoint output missing."
  }
  assert {
    condition     = output.redis_endpoint == aws_elasticache_replication_group.this.primary_endpoint_address && output.redis_endpoint != ""
    error_message = "redis_endpoint output missing."
  }
}

run "scaling_consumers_changes_only_the_ssm_parameter" {
  command = plan

  variables {
    consumer_count = 7
  }

  assert {
    condition     = nonsensitive(aws_ssm_parameter.host["CONSUMER_COUNT"].value) == "7"
    error_message = "consumer_count must reach the hosts through SSM."
  }
}

run "ssh_from_anywhere_is_refused" {
  command = plan

  variables {
    admin_cidr = "0.0.0.0/0"
  }

  expect_failures = [var.admin_cidr]
}

run "exactly_two_zones_are_required" {
  command = plan

  variables {
    availability_zones = ["eu-central-1a", "eu-central-1b", "eu-central-1c"]
  }

  expect_failures = [var.availability_zones]
}
