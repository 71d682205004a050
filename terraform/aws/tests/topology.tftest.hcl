# The topology of any environment. Run with each environment's variables:
#   terraform test -filter=tests/topology.tftest.hcl -var-file=envs/dev.tfvars
#   terraform test -filter=tests/topology.tftest.hcl -var-file=envs/prod.tfvars

mock_provider "aws" {
  source = "./tests"
}

variables {
  ssh_public_key       = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMockKeyForTestsOnly test@example"
  rds_ca_bundle_sha256 = "1111111111111111111111111111111111111111111111111111111111111111"
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
    condition     = !strcontains(local.http_user_data, "MockGeneratedSecret") && !strcontains(local.http_user_data, "rediss://") && !strcontains(local.http_user_data, "mysql://")
    error_message = "User data must not contain settings or secrets."
  }
  assert {
    condition = alltrue([for s in ["/opt/registry/images.env", "/opt/registry/run.sh", "registry.service", "ExecStart=/opt/registry/run.sh",
      "PRODUCER_IMAGE=${var.producer_image}", "CONSUMER_IMAGE=${var.consumer_image}", "get-parameters-by-path",
      "secretsmanager get-secret-value", "--restart unless-stopped", "8080:8080", "$secrets_dir:/run/secrets:ro",
    "registry-secrets.timer", "ExecStart=/opt/registry/fetch-secrets.sh", "OnUnitActiveSec=5min"] : strcontains(local.http_user_data, s)])
    error_message = "The cloud-init must lay out /opt/registry (images.env, run.sh), registry.service and the secrets timer as the CD workflow and terraform/README.md expect."
  }
  assert {
    condition = (
      startswith(local.http_user_data, "#cloud-config\n") &&
      alltrue([for name in ["lib.sh", "run.sh", "stop.sh", "fetch-secrets.sh", "migrate.sh"] :
      one([for f in yamldecode(local.http_user_data).write_files : f.content if f.path == "/opt/registry/${name}"]) == local.host_scripts[name]]) &&
      one([for f in yamldecode(local.http_user_data).write_files : f.content if f.path == "/opt/registry/images.env"]) == "PRODUCER_IMAGE=${var.producer_image}\nCONSUMER_IMAGE=${var.consumer_image}\n"
    )
    error_message = "The cloud-init must be valid YAML carrying the host scripts and images.env intact."
  }
  assert {
    condition     = alltrue([for h in aws_instance.http : h.user_data_base64 == base64gzip(local.http_user_data) && h.iam_instance_profile == aws_iam_instance_profile.http.name])
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
    condition = (
      nonsensitive(aws_ssm_parameter.settings["REDIS_URL"].value) == "rediss://${aws_elasticache_replication_group.this.primary_endpoint_address}:6379" &&
      nonsensitive(aws_ssm_parameter.settings["REDIS_PASSWORD_FILE"].value) == "/run/secrets/redis_password" &&
      nonsensitive(aws_ssm_parameter.settings["MYSQL_URL"].value) == "mysql://${var.mysql_app_username}@${aws_db_instance.this.address}:3306/users" &&
      nonsensitive(aws_ssm_parameter.settings["MYSQL_PASSWORD_FILE"].value) == "/run/secrets/mysql_password"
    )
    error_message = "REDIS_URL is TLS to the endpoint without the token, MYSQL_URL names the app user without a password: both passwords come from files."
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
      alltrue([for r in flatten([s.Resource]) :
        can(regex("parameter/${var.name}/${var.environment}/(app|host)(/\\*)?$", r)) || r == aws_kms_key.this.arn ||
      contains([aws_db_instance.this.master_user_secret[0].secret_arn, aws_secretsmanager_secret.mysql_app.arn, aws_secretsmanager_secret.redis_auth.arn], r)])
    ])
    error_message = "The instance role's reads are limited to this deployment's app/ and host/ parameters, its three secrets and its key."
  }
}

# Issue 20: no rendered host setting (what becomes /run/registry/app.env, or what the host scripts
# read) holds a secret. This fails on a password in a URL, a secret value, or a setting named like
# a secret that is not a *_FILE path or a *_ARN identifier.
run "no_host_setting_holds_a_secret" {
  command = apply

  assert {
    condition = alltrue([for p in concat(values(aws_ssm_parameter.settings), values(aws_ssm_parameter.host)) :
      !can(regex("://[^/@\\s]*:[^/@\\s]*@", nonsensitive(p.value))) &&
      !strcontains(nonsensitive(p.value), data.aws_secretsmanager_random_password.redis.random_password) &&
      !strcontains(nonsensitive(p.value), data.aws_secretsmanager_random_password.mysql_app.random_password)
    ])
    error_message = "A host setting holds a secret (a password or token, or a URL with a password): secrets reach the containers as files only."
  }
  assert {
    condition = alltrue([for name in concat(keys(local.settings), keys(local.host_settings)) :
    !can(regex("PASSWORD|PASSWD|TOKEN|SECRET|AUTH", name)) || endswith(name, "_FILE") || endswith(name, "_ARN")])
    error_message = "A setting is named like a secret: pass the secret as a file (NAME_FILE) or pass its identifier (NAME_ARN)."
  }
  assert {
    condition     = alltrue([for name in ["REDIS_PASSWORD_FILE", "MYSQL_PASSWORD_FILE"] : startswith(local.settings[name], "/run/secrets/")])
    error_message = "The password files live in the mounted secrets directory."
  }
  assert {
    condition = (
      strcontains(local.host_scripts["lib.sh"], "container_uid=${local.container_uid}\n") && strcontains(local.host_scripts["lib.sh"], "chmod 0400") &&
      strcontains(file("../../Dockerfile.producer"), "USER ${local.container_uid}:${local.container_uid}") &&
      strcontains(file("../../Dockerfile.consumer"), "USER ${local.container_uid}:${local.container_uid}") &&
      strcontains(local.host_scripts["lib.sh"], "mv -f \"$tmp\" \"$file\"")
    )
    error_message = "Secret files are replaced atomically and readable by the images' uid (65532) alone."
  }
  assert {
    condition = alltrue([for m in regexall("--env ([A-Za-z_]+)=", join("\n", [local.host_scripts["run.sh"], local.host_scripts["migrate.sh"]])) :
    !can(regex("PASSWORD|PASSWD|TOKEN|SECRET", m[0])) || endswith(m[0], "_FILE")])
    error_message = "No secret value goes to docker run --env: only *_FILE paths."
  }
}

# Issue 20: the migration runs with the admin credentials before the apps start; the apps use the
# app user; MySQL speaks TLS only, verified with the pinned RDS CA bundle.
run "the_apps_log_in_as_the_app_user_over_verified_tls" {
  command = apply

  assert {
    condition = (
      can(regex("(?s)fetch-secrets\\.sh.*migrate\\.sh.*stop\\.sh.*docker run", local.host_scripts["run.sh"])) &&
      strcontains(local.host_scripts["migrate.sh"], "\"$CONSUMER_IMAGE\" migrate") &&
      strcontains(local.host_scripts["migrate.sh"], "MYSQL_APP_PASSWORD_FILE=/run/secrets/mysql_password")
    )
    error_message = "run.sh fetches the secrets and runs `consumer migrate` before starting the containers."
  }
  assert {
    condition = (
      nonsensitive(aws_ssm_parameter.host["MYSQL_ADMIN_URL"].value) == "mysql://${var.mysql_username}@${aws_db_instance.this.address}:3306/users" &&
      nonsensitive(aws_ssm_parameter.host["MYSQL_ADMIN_SECRET_ARN"].value) == aws_db_instance.this.master_user_secret[0].secret_arn &&
      nonsensitive(aws_ssm_parameter.host["MYSQL_APP_USER"].value) == var.mysql_app_username &&
      var.mysql_app_username != var.mysql_username &&
      !anytrue([for v in values(local.settings) : strcontains(v, "${var.mysql_username}@")])
    )
    error_message = "The admin (RDS master) reaches the migration only; the containers' settings name the app user."
  }
  assert {
    condition = (
      local.settings["MYSQL_REQUIRE_TLS"] == "true" && local.settings["MYSQL_CA_FILE"] == "/etc/registry/tls/mysql-ca.pem" &&
      strcontains(local.host_scripts["run.sh"], "$tls_dir:/etc/registry/tls:ro") && strcontains(local.host_scripts["run.sh"], "\"$tls_dir/mysql-ca.pem\"") &&
      nonsensitive(aws_ssm_parameter.host["MYSQL_CA_SHA256"].value) == var.rds_ca_bundle_sha256 &&
      nonsensitive(aws_ssm_parameter.host["MYSQL_CA_URL"].value) == "https://truststore.pki.rds.amazonaws.com/${var.region}/${var.region}-bundle.pem" &&
      strcontains(local.host_scripts["lib.sh"], "sha256sum --check")
    )
    error_message = "The containers require TLS to MySQL and verify it with the RDS CA bundle, fetched and pinned by checksum."
  }
  assert {
    condition = (
      aws_db_instance.this.parameter_group_name == aws_db_parameter_group.this.name &&
      aws_db_parameter_group.this.family == "mysql8.4" &&
      anytrue([for p in aws_db_parameter_group.this.parameter : p.name == "require_secure_transport" && p.value == "1"])
    )
    error_message = "RDS must refuse unencrypted connections (require_secure_transport = 1 in its parameter group)."
  }
}

# Issues 17 and 19: eviction touches only the cache; a 202 waits for a replica where there is one.
run "redis_evicts_only_the_cache_and_waits_for_its_replica" {
  command = apply

  assert {
    condition = (
      aws_elasticache_replication_group.this.parameter_group_name == aws_elasticache_parameter_group.this.name &&
      aws_elasticache_parameter_group.this.family == "redis7" &&
      anytrue([for p in aws_elasticache_parameter_group.this.parameter : p.name == "maxmemory-policy" && p.value == "volatile-lru"])
    )
    error_message = "ElastiCache must run with maxmemory-policy volatile-lru (only keys with a TTL, the cache, are evicted)."
  }
  assert {
    condition = (
      nonsensitive(aws_ssm_parameter.settings["REDIS_REPLICA_ACKS"].value) == (var.environment == "prod" ? "1" : "0") &&
      nonsensitive(aws_ssm_parameter.settings["REDIS_REPLICA_ACKS"].value) == (var.redis_replicas >= 1 ? "1" : "0") &&
      nonsensitive(aws_ssm_parameter.settings["REDIS_REPLICA_ACK_TIMEOUT_MS"].value) == "500" &&
      nonsensitive(aws_ssm_parameter.settings["REDIS_MODE"].value) == "standalone"
    )
    error_message = "REDIS_REPLICA_ACKS is 1 in prod (it has a replica) and 0 in dev (none); REDIS_MODE standalone without cluster mode."
  }
}

run "cluster_mode_builds_shards_and_sets_redis_mode_cluster" {
  command = apply

  variables {
    redis_cluster_mode = true
    redis_shards       = 2
  }

  assert {
    condition = (
      aws_elasticache_replication_group.this.cluster_mode == "enabled" &&
      aws_elasticache_replication_group.this.num_node_groups == 2 &&
      aws_elasticache_replication_group.this.replicas_per_node_group == var.redis_replicas &&
      aws_elasticache_replication_group.this.automatic_failover_enabled &&
      anytrue([for p in aws_elasticache_parameter_group.this.parameter : p.name == "cluster-enabled" && p.value == "yes"]) &&
      anytrue([for p in aws_elasticache_parameter_group.this.parameter : p.name == "maxmemory-policy" && p.value == "volatile-lru"])
    )
    error_message = "Cluster mode: a cluster-mode-enabled group of redis_shards shards, with volatile-lru."
  }
  assert {
    condition = (
      nonsensitive(aws_ssm_parameter.settings["REDIS_MODE"].value) == "cluster" &&
      nonsensitive(aws_ssm_parameter.settings["REDIS_URL"].value) == "rediss://${aws_elasticache_replication_group.this.configuration_endpoint_address}:6379" &&
      output.redis_endpoint == aws_elasticache_replication_group.this.configuration_endpoint_address
    )
    error_message = "Cluster mode: the hosts run REDIS_MODE=cluster against the configuration endpoint."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.redis_memory) == 2 * (var.redis_replicas + 1) && alltrue([for a in aws_cloudwatch_metric_alarm.redis_memory : can(regex("-000[12]-00[1-9]$", a.dimensions["CacheClusterId"]))])
    error_message = "Cluster mode: one memory alarm per node, named <group>-<shard>-<node>."
  }
}

run "replica_acks_beyond_the_replicas_are_refused" {
  command = plan

  variables {
    redis_replicas     = 0
    redis_replica_acks = 1
  }

  expect_failures = [aws_elasticache_replication_group.this]
}

# Issue 20: /metrics and the consumers' ports stay on the hosts' loopback; the load balancer
# forwards TCP 80 to 8080 only; no rule admits a metrics port; Swagger UI is off in prod.
run "internal_endpoints_stay_inside" {
  command = apply

  assert {
    condition = (
      aws_lb_listener.http.port == 80 && aws_lb_target_group.producers.port == 8080 &&
      alltrue([for a in aws_lb_target_group_attachment.http : a.port == 8080])
    )
    error_message = "The load balancer listens on 80 and forwards to the producer's API port 8080 only."
  }
  assert {
    condition = alltrue([for r in aws_vpc_security_group_ingress_rule.this :
    r.to_port < 9090 || r.from_port > 9199])
    error_message = "No security group rule may admit the metrics ports (9090-9199)."
  }
  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.this : r.from_port]) == toset([22, 80, 8080, 3306, 6379])
    error_message = "Ingress is SSH, the load balancer's 80, the API's 8080, MySQL and Redis: nothing else."
  }
  assert {
    condition = (
      strcontains(local.host_scripts["run.sh"], "--env METRICS_ADDR=0.0.0.0:9090") &&
      alltrue([for p in regexall("--publish \"?([^ \"]+)", local.host_scripts["run.sh"]) : p[0] == "8080:8080" || startswith(p[0], "127.0.0.1:")]) &&
      contains(regexall("--publish \"?([^ \"]+)", local.host_scripts["run.sh"]), ["127.0.0.1:9100:9090"])
    )
    error_message = "The producer serves /metrics on METRICS_ADDR, published on the host's loopback only; only 8080 is published on every address."
  }
  assert {
    condition     = nonsensitive(aws_ssm_parameter.settings["SWAGGER_UI"].value) == (var.environment == "prod" ? "false" : "true")
    error_message = "Swagger UI (/docs) is off in prod, on in dev."
  }
}

# Issue 20: the bastion as the CD runner is an option, off by default, that opens nothing.
run "the_bastion_runner_is_off_by_default" {
  command = plan

  assert {
    condition = (
      length(aws_ssm_parameter.github_runner_token) == 0 && length(aws_iam_role.bastion) == 0 &&
      length(aws_iam_instance_profile.bastion) == 0 && local.bastion_user_data == null &&
      output.github_runner_token_parameter == null
    )
    error_message = "Without bastion_github_runner the bastion has no role, no user data, no token parameter."
  }
}

run "the_bastion_runner_option_adds_a_runner_and_opens_nothing" {
  command = apply

  variables {
    bastion_github_runner = true
    github_runner_url     = "https://github.com/example/registry"
    github_runner_sha256  = "0000000000000000000000000000000000000000000000000000000000000000"
  }

  assert {
    condition = (
      length(aws_ssm_parameter.github_runner_token) == 1 && aws_ssm_parameter.github_runner_token[0].type == "SecureString" &&
      aws_ssm_parameter.github_runner_token[0].name == "/${var.name}/${var.environment}/bastion/github-runner-token" &&
      aws_instance.bastion.iam_instance_profile == aws_iam_instance_profile.bastion[0].name &&
      output.github_runner_token_parameter == aws_ssm_parameter.github_runner_token[0].name
    )
    error_message = "The option stores the token parameter and gives the bastion a role."
  }
  assert {
    condition = (
      toset(flatten([for s in jsondecode(aws_iam_role_policy.bastion_runner_token[0].policy).Statement : s.Action])) == toset(["ssm:GetParameter", "kms:Decrypt"]) &&
      alltrue([for s in jsondecode(aws_iam_role_policy.bastion_runner_token[0].policy).Statement :
      alltrue([for r in s.Resource : r == aws_ssm_parameter.github_runner_token[0].arn || r == aws_kms_key.this.arn])])
    )
    error_message = "The bastion's role reads the token parameter only."
  }
  assert {
    condition = (
      contains([for u in yamldecode(aws_instance.bastion.user_data).users : try(u.name, u)], "runner") &&
      one([for f in yamldecode(aws_instance.bastion.user_data).write_files : f.content if f.path == "/opt/github-runner/register.sh"]) == file("templates/register-runner.sh") &&
      strcontains(aws_instance.bastion.user_data, "RUNNER_LABELS=bastion") &&
      strcontains(file("templates/register-runner.sh"), "ACTIONS_RUNNER_INPUT_TOKEN=$token runuser -u runner") &&
      strcontains(file("templates/register-runner.sh"), "sha256sum --check")
    )
    error_message = "The runner runs as the user `runner`, pinned by checksum, registered with the token through its environment."
  }
  assert {
    condition = (
      toset(keys(aws_vpc_security_group_ingress_rule.this)) == toset(["bastion_ssh_from_admin", "lb_http_from_internet", "http_ssh_from_bastion", "http_app_from_lb", "db_from_http", "cache_from_http"]) &&
      toset(keys(aws_vpc_security_group_egress_rule.this)) == toset(["bastion_ssh_to_http", "bastion_https", "lb_to_http", "http_https", "http_to_db", "http_to_cache"])
    )
    error_message = "The runner option adds no security group rule: it polls GitHub over the bastion's existing HTTPS egress."
  }
}

run "the_bastion_runner_needs_its_repository_and_checksum" {
  command = plan

  variables {
    bastion_github_runner = true
  }

  expect_failures = [aws_ssm_parameter.github_runner_token]
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
    condition     = length(base64gzip(local.http_user_data)) * 3 / 4 < 16384 && length(local.http_user_data) < 65536
    error_message = "EC2 user data is limited to 16 KiB (gzipped here)."
  }
  assert {
    condition = (
      jsondecode(local.cloudwatch_agent_config).logs.metrics_collected.prometheus.prometheus_config_path == "/opt/registry/cloudwatch-prometheus.yaml" &&
      jsondecode(local.cloudwatch_agent_config).logs.metrics_collected.prometheus.log_group_name == aws_cloudwatch_log_group.app_metrics.name &&
      yamldecode(local.cloudwatch_prometheus_config).scrape_configs[0].job_name == "registry" &&
      alltrue([for d in jsondecode(local.cloudwatch_agent_config).logs.metrics_collected.prometheus.emf_processor.metric_declaration : d.source_labels == ["job"] && can(regex(d.label_matcher, "registry"))]) &&
      yamldecode(local.cloudwatch_prometheus_config).scrape_configs[0].file_sd_configs[0].files == [local.app_metrics_targets] &&
      strcontains(local.host_scripts["run.sh"], ">${local.app_metrics_targets}.new") &&
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
