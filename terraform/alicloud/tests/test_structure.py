"""Structural checks of terraform/alicloud (no provider can be installed here, so nothing plans it).

Parses the HCL with python-hcl2 and asserts the topology of MISSION.md: two ECS HTTP hosts in the
private vSwitches, an NLB server group holding both, a bastion with a public IP, Redis and MySQL
whitelists equal to the private vSwitch CIDRs (never 0.0.0.0/0), SNAT for the private vSwitches,
and every output; and issue 20's guarantees: no secret in a rendered host setting (dev and prod),
the migration with the privileged account, TLS to MySQL, internal endpoints kept inside, the
optional bastion runner. Run with plain python (unittest) or pytest.
"""

import ipaddress
import pathlib
import re
import unittest

import hcl2
import yaml

MODULE = pathlib.Path(__file__).resolve().parent.parent
OUTPUTS = {"lb_dns_name", "bastion_public_ip", "http_private_ips", "mysql_endpoint", "redis_endpoint"}


def load(path):
    with open(path, encoding="utf-8") as f:
        return hcl2.load(f)


def merged(module):
    """resources[type][name], data, variables, outputs, locals of every .tf file of a module."""
    out = {"resource": {}, "variable": {}, "output": {}, "locals": {}, "terraform": []}
    for tf in sorted(module.glob("*.tf")):
        doc = load(tf)
        for block in doc.get("resource", []):
            for rtype, named in block.items():
                out["resource"].setdefault(rtype, {}).update(named)
        for kind in ("variable", "output"):
            for block in doc.get(kind, []):
                out[kind].update(block)
        for block in doc.get("locals", []):
            out["locals"].update(block)
        out["terraform"].extend(doc.get("terraform", []))
    return out


CFG = merged(MODULE)
RES = CFG["resource"]
TFVARS = {p.stem: load(p) for p in sorted((MODULE / "envs").glob("*.tfvars"))}


def ref(expr):
    """The HCL expression as python-hcl2 renders it."""
    return "${" + expr + "}"


def rules(port):
    return {n: r for n, r in RES["alicloud_security_group_rule"].items() if r["port_range"] == f"{port}/{port}"}


class TopologyTest(unittest.TestCase):
    def test_only_the_alicloud_provider_is_required(self):
        providers = {}
        for block in CFG["terraform"]:
            for req in block.get("required_providers", []):
                providers.update(req)
        self.assertEqual(set(providers), {"alicloud"})

    def test_two_public_and_two_private_vswitches_span_two_zones(self):
        for tier in ("public", "private"):
            vsw = RES["alicloud_vswitch"][tier]
            self.assertEqual(vsw["count"], 2, tier)
            self.assertEqual(vsw["zone_id"], ref("var.zones[count.index]"), tier)
            self.assertEqual(vsw["cidr_block"], ref(f"var.{tier}_vswitch_cidrs[count.index]"), tier)

    def test_two_ecs_http_hosts_sit_one_in_each_private_vswitch_without_public_ip(self):
        http = RES["alicloud_instance"]["http"]
        self.assertEqual(http["count"], 2)
        self.assertEqual(http["vswitch_id"], ref("alicloud_vswitch.private[count.index].id"))
        self.assertEqual(http["availability_zone"], ref("var.zones[count.index]"))
        self.assertEqual(http["internet_max_bandwidth_out"], 0)
        self.assertEqual(http["security_groups"], [ref("alicloud_security_group.http.id")])

    def test_http_hosts_read_settings_from_oos_never_from_user_data(self):
        user_data = RES["alicloud_instance"]["http"]["user_data"]
        self.assertNotIn("password", user_data.lower())
        self.assertNotIn("settings", user_data)
        template = (MODULE / "templates" / "http-host.yaml.tftpl").read_text(encoding="utf-8")
        for needle in ("/opt/registry/images.env", "/opt/registry/run.sh", "registry.service",
                       "ExecStart=/opt/registry/run.sh", "PRODUCER_IMAGE=", "CONSUMER_IMAGE="):
            self.assertIn(needle, template)
        run_sh = (MODULE / "templates" / "run.sh").read_text(encoding="utf-8")
        lib_sh = (MODULE / "templates" / "lib.sh").read_text(encoding="utf-8")
        self.assertIn("GetSecretParametersByPath", lib_sh)
        for needle in ("--restart unless-stopped", "8080:8080", "$secrets_dir:/run/secrets:ro"):
            self.assertIn(needle, run_sh)

    def test_the_cloud_init_renders_to_yaml_carrying_the_scripts_intact(self):
        template = (MODULE / "templates" / "http-host.yaml.tftpl").read_text(encoding="utf-8")
        scripts = {name: (MODULE / "templates" / f"{name.removesuffix('_sh').replace('_', '-')}.sh").read_text(encoding="utf-8")
                   for name in ("lib_sh", "run_sh", "stop_sh", "fetch_secrets_sh", "migrate_sh")}
        rendered = template
        for name in ("region", "ram_role", "parameter_path", "producer_image", "consumer_image", "secrets_refresh"):
            rendered = rendered.replace("${%s}" % name, f"<{name}>")
        for name, text in scripts.items():
            # templatefile's indent(6, x): every line but the first gets six spaces.
            rendered = rendered.replace("${indent(6, %s)}" % name, "<%s>" % name)
        self.assertNotIn("${", rendered, "a template variable the test does not know")
        for name, text in scripts.items():
            rendered = rendered.replace("<%s>" % name, text.replace("\n", "\n" + " " * 6))
        doc = yaml.safe_load(rendered)
        files = {f["path"]: f["content"] for f in doc["write_files"]}
        for name, text in scripts.items():
            path = f"/opt/registry/{name.removesuffix('_sh').replace('_', '-')}.sh"
            self.assertEqual(files[path].rstrip(), text.rstrip(), path)
        self.assertIn("OnUnitActiveSec=<secrets_refresh>", files["/etc/systemd/system/registry-secrets.timer"])
        self.assertIn("ExecStart=/opt/registry/fetch-secrets.sh", files["/etc/systemd/system/registry-secrets.service"])
        self.assertEqual(files["/opt/registry/images.env"], "PRODUCER_IMAGE=<producer_image>\nCONSUMER_IMAGE=<consumer_image>\n")
        self.assertIn("ExecStart=/opt/registry/run.sh", files["/etc/systemd/system/registry.service"])

    def test_the_nlb_server_group_holds_both_hosts_with_the_ready_health_check(self):
        nlb = RES["alicloud_nlb_load_balancer"]["this"]
        self.assertEqual(nlb["address_type"], "Internet")
        mappings = nlb["dynamic"][0]["zone_mappings"]
        self.assertEqual(mappings["for_each"], ref("alicloud_vswitch.public"))

        group = RES["alicloud_nlb_server_group"]["producers"]
        self.assertEqual(group["protocol"], "TCP")
        check = group["health_check"][0]
        self.assertEqual(check["health_check_type"], "HTTP")
        self.assertEqual(check["health_check_url"], "/health/ready")
        self.assertEqual(check["health_check_connect_port"], ref("local.producer_port"))
        self.assertEqual(CFG["locals"]["producer_port"], 8080)

        attach = RES["alicloud_nlb_server_group_server_attachment"]["http"]
        self.assertEqual(attach["count"], 2)
        self.assertEqual(attach["server_id"], ref("alicloud_instance.http[count.index].id"))
        self.assertEqual(attach["server_group_id"], ref("alicloud_nlb_server_group.producers.id"))
        self.assertEqual(attach["server_type"], "Ecs")
        self.assertEqual(attach["port"], ref("local.producer_port"))

        listener = RES["alicloud_nlb_listener"]["http"]
        self.assertEqual((listener["listener_protocol"], listener["listener_port"]), ("TCP", 80))
        self.assertEqual(listener["server_group_id"], ref("alicloud_nlb_server_group.producers.id"))
        self.assertEqual(listener["load_balancer_id"], ref("alicloud_nlb_load_balancer.this.id"))

    def test_the_bastion_has_a_public_ip_in_a_public_vswitch(self):
        bastion = RES["alicloud_instance"]["bastion"]
        self.assertEqual(bastion["vswitch_id"], ref("alicloud_vswitch.public[0].id"))
        self.assertGreater(bastion["internet_max_bandwidth_out"], 0)
        self.assertEqual(bastion["security_groups"], [ref("alicloud_security_group.bastion.id")])

    def test_ssh_enters_only_through_the_bastion(self):
        ssh = rules(22)
        self.assertEqual(set(ssh), {"bastion_ssh_from_admin", "http_ssh_from_bastion"})
        self.assertEqual(ssh["bastion_ssh_from_admin"]["cidr_ip"], ref("var.admin_cidr"))
        self.assertEqual(ssh["bastion_ssh_from_admin"]["security_group_id"], ref("alicloud_security_group.bastion.id"))
        self.assertEqual(ssh["http_ssh_from_bastion"]["source_security_group_id"], ref("alicloud_security_group.bastion.id"))
        self.assertNotIn("cidr_ip", ssh["http_ssh_from_bastion"])
        for name, rule in RES["alicloud_security_group_rule"].items():
            self.assertNotEqual(rule.get("cidr_ip"), "0.0.0.0/0", name)

    def test_redis_and_mysql_whitelists_are_exactly_the_private_vswitch_cidrs(self):
        for rtype in ("alicloud_kvstore_instance", "alicloud_db_instance"):
            (db,) = RES[rtype].values()
            self.assertEqual(db["security_ips"], ref("var.private_vswitch_cidrs"), rtype)
            self.assertTrue(db["vswitch_id"].count("alicloud_vswitch.private"), rtype)
        # Every value the whitelist can take (default, each environment) is private, never 0.0.0.0/0.
        values = {"default": CFG["variable"]["private_vswitch_cidrs"]["default"]}
        values.update({env: v["private_vswitch_cidrs"] for env, v in TFVARS.items() if "private_vswitch_cidrs" in v})
        for source, cidrs in values.items():
            self.assertEqual(len(cidrs), 2, source)
            for cidr in cidrs:
                net = ipaddress.ip_network(cidr)
                self.assertTrue(net.is_private and net.prefixlen >= 16, f"{source}: {cidr}")
        for rtype, named in RES.items():
            for name, body in named.items():
                self.assertNotIn("0.0.0.0", str(body.get("security_ips", "")), f"{rtype}.{name}")

    def test_private_vswitches_reach_the_internet_through_snat(self):
        nat = RES["alicloud_nat_gateway"]["this"]
        self.assertEqual(nat["vswitch_id"], ref("alicloud_vswitch.public[0].id"))
        snat = RES["alicloud_snat_entry"]["private"]
        self.assertEqual(snat["count"], 2)
        self.assertEqual(snat["source_vswitch_id"], ref("alicloud_vswitch.private[count.index].id"))
        self.assertEqual(snat["snat_table_id"], ref("alicloud_nat_gateway.this.snat_table_ids"))
        self.assertEqual(RES["alicloud_eip_association"]["nat"]["instance_id"], ref("alicloud_nat_gateway.this.id"))

    def test_prod_is_highly_available(self):
        prod = TFVARS["prod"]
        self.assertEqual(prod["mysql_category"], "HighAvailability")
        self.assertTrue(prod["redis_multi_zone"])
        db = RES["alicloud_db_instance"]["this"]
        self.assertIn("var.zones[1]", db["zone_id_slave_a"])

    def test_every_output_is_present_in_both_clouds(self):
        self.assertTrue(OUTPUTS <= set(CFG["output"]), OUTPUTS - set(CFG["output"]))
        aws_outputs = set(merged(MODULE.parent / "aws")["output"])
        self.assertTrue(OUTPUTS <= aws_outputs, OUTPUTS - aws_outputs)
        for name in OUTPUTS:
            self.assertTrue(CFG["output"][name].get("value"), name)


# --- issue 20: rendered settings hold no secret ------------------------------------------------

SECRET_NAME = re.compile(r"PASSWORD|PASSWD|TOKEN|SECRET|AUTH")
URL_WITH_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]*@")


def variable_value(name, env):
    """A variable's value in an environment: its tfvars entry, else its default; a sensitive one
    renders as a marker the checks look for."""
    var = CFG["variable"][name]
    if var.get("sensitive"):
        return f"<SECRET:{name}>"
    if name in TFVARS.get(env, {}):
        return TFVARS[env][name]
    return var.get("default", f"<input:{name}>")


def render(value, env, locals_=None):
    """A setting's value with its ${...} parts resolved as far as static data allows: variables
    (with the env file's values), locals, tostring(); other expressions become <expr>, but any
    sensitive variable or local.secrets they touch still renders as a secret marker."""
    locals_ = CFG["locals"] if locals_ is None else locals_

    def one(match):
        expr = match.group(1).strip()
        inner = re.fullmatch(r"tostring\((.*)\)", expr)
        expr = inner.group(1).strip() if inner else expr
        if m := re.fullmatch(r"var\.(\w+)", expr):
            value = variable_value(m.group(1), env)
            return str(value).lower() if isinstance(value, bool) else str(value)
        if m := re.fullmatch(r"local\.(\w+)", expr):
            return render(locals_[m.group(1)], env, locals_)
        markers = [variable_value(v, env) for v in re.findall(r"var\.(\w+)", expr)]
        markers = [m for m in markers if str(m).startswith("<SECRET:")]
        if "local.secrets" in expr:
            markers.append("<SECRET:local.secrets>")
        return "".join(markers) or "<expr>"

    return re.sub(r"\$\{(.*?)\}", one, str(value))


def secret_problems(settings, env, locals_=None):
    problems = []
    for name, value in settings.items():
        rendered = render(value, env, locals_)
        if "<SECRET:" in rendered:
            problems.append(f"{env}: {name} renders a secret: {rendered}")
        if URL_WITH_PASSWORD.search(rendered):
            problems.append(f"{env}: {name} is a URL with a password: {rendered}")
        if SECRET_NAME.search(name) and not name.endswith(("_FILE", "_ARN")):
            problems.append(f"{env}: {name} is named like a secret; pass a file (NAME_FILE)")
    return problems


class NoSecretInSettingsTest(unittest.TestCase):
    def test_no_rendered_host_setting_holds_a_secret_in_any_environment(self):
        self.assertEqual(set(TFVARS), {"dev", "prod"})
        for env in TFVARS:
            for local in ("settings", "host_settings"):
                self.assertEqual(secret_problems(CFG["locals"][local], env), [], f"{env} {local}")

    def test_the_check_fails_on_a_password_in_redis_url(self):
        # The REDIS_URL of this module before issue 20: the password inside the URL.
        broken = dict(CFG["locals"]["settings"])
        broken["REDIS_URL"] = "rediss://:${var.redis_password}@${alicloud_kvstore_instance.this.connection_domain}:6379"
        self.assertTrue(secret_problems(broken, "prod"))
        broken = dict(CFG["locals"]["settings"], MYSQL_PASSWORD="${local.secrets[\"mysql_password\"]}")
        self.assertTrue(secret_problems(broken, "dev"))
        broken = dict(CFG["locals"]["settings"], MYSQL_URL="mysql://registry:hunter2@db:3306/users")
        self.assertTrue(secret_problems(broken, "dev"))

    def test_the_parameters_of_settings_and_secrets_are_kept_apart(self):
        params = RES["alicloud_oos_secret_parameter"]
        self.assertEqual(params["settings"]["value"], ref("local.settings[each.key]"))
        self.assertEqual(params["host"]["value"], ref("local.host_settings[each.key]"))
        self.assertIn("/app/", params["settings"]["secret_parameter_name"])
        self.assertIn("/host/", params["host"]["secret_parameter_name"])
        self.assertIn("/secrets/", params["secrets"]["secret_parameter_name"])
        self.assertEqual(set(CFG["locals"]["secrets"]), {"mysql_admin_password", "mysql_password", "redis_password"})
        for name, value in CFG["locals"]["secrets"].items():
            self.assertTrue(CFG["variable"][re.fullmatch(r"\$\{var\.(\w+)\}", value).group(1)]["sensitive"], name)

    def test_secret_files_are_replaced_atomically_for_the_images_uid_alone(self):
        lib = (MODULE / "templates" / "lib.sh").read_text(encoding="utf-8")
        for needle in ("container_uid=65532\n", "chmod 0400", 'mv -f "$tmp" "$file"'):
            self.assertIn(needle, lib)
        for dockerfile in ("Dockerfile.producer", "Dockerfile.consumer"):
            self.assertIn("USER 65532:65532", (MODULE.parent.parent / dockerfile).read_text(encoding="utf-8"))
        for script in ("run.sh", "migrate.sh"):
            text = (MODULE / "templates" / script).read_text(encoding="utf-8")
            for name in re.findall(r"--env ([A-Za-z_]+)=", text):
                self.assertFalse(SECRET_NAME.search(name) and not name.endswith("_FILE"), f"{script}: --env {name}")
        fetch = (MODULE / "templates" / "fetch-secrets.sh").read_text(encoding="utf-8")
        self.assertIn('install_secret "$secrets_dir/mysql_password"', fetch)
        self.assertIn('install_secret "$secrets_dir/redis_password"', fetch)

    def test_the_hosts_read_only_their_app_host_and_secret_parameters(self):
        policy = RES["alicloud_ram_policy"]["http_read_settings"]["policy_document"]
        self.assertRegex(policy, r'for p in \["?app"?, "?host"?, "?secrets"?\] : "[^"]*secretparameter/\$\{local\.parameter_path\}/\$\{p\}/\*"')
        self.assertNotIn("secretparameter/${local.parameter_path}/*", policy)


# --- issue 20: least privilege and TLS to MySQL -----------------------------------------------

class LeastPrivilegeAndTlsTest(unittest.TestCase):
    def test_terraform_makes_only_the_privileged_account_and_the_migration_the_app_user(self):
        self.assertEqual(set(RES["alicloud_rds_account"]), {"admin"})
        admin = RES["alicloud_rds_account"]["admin"]
        self.assertEqual(admin["account_type"], "Super")
        self.assertEqual(admin["account_name"], ref("var.mysql_admin_username"))
        self.assertNotIn("alicloud_db_account_privilege", RES)
        settings, host = CFG["locals"]["settings"], CFG["locals"]["host_settings"]
        self.assertEqual(settings["MYSQL_URL"], "mysql://${var.mysql_username}@${alicloud_db_instance.this.connection_string}:3306/users")
        self.assertIn("var.mysql_admin_username", host["MYSQL_ADMIN_URL"])
        self.assertFalse(any("mysql_admin" in v for v in settings.values()))
        migrate = (MODULE / "templates" / "migrate.sh").read_text(encoding="utf-8")
        self.assertIn('"$CONSUMER_IMAGE" migrate', migrate)
        self.assertIn("MYSQL_APP_PASSWORD_FILE=/run/secrets/mysql_password", migrate)
        self.assertIn("secret_value mysql_admin_password", migrate)
        run_sh = (MODULE / "templates" / "run.sh").read_text(encoding="utf-8")
        self.assertRegex(run_sh, r"(?s)fetch-secrets\.sh.*migrate\.sh.*stop\.sh.*docker run")

    def test_mysql_requires_tls_verified_with_the_pinned_ca(self):
        db = RES["alicloud_db_instance"]["this"]
        self.assertEqual(db["ssl_action"], "Open")
        self.assertIn({"name": "require_secure_transport", "value": "ON"}, db["parameters"])
        settings, host = CFG["locals"]["settings"], CFG["locals"]["host_settings"]
        self.assertEqual(settings["MYSQL_REQUIRE_TLS"], "true")
        self.assertEqual(render(settings["MYSQL_CA_FILE"], "prod"), "/etc/registry/tls/mysql-ca.pem")
        self.assertEqual(render(settings["REDIS_CA_FILE"], "prod"), "/etc/registry/tls/redis-ca.pem")
        self.assertEqual(host["MYSQL_CA_SHA256"], ref("var.mysql_ca_sha256"))
        for name in ("mysql_ca_sha256", "redis_ca_sha256"):
            self.assertNotIn("default", CFG["variable"][name], f"{name} must be given, not defaulted")
            self.assertIn("[0-9a-f]{64}", str(CFG["variable"][name]["validation"]))
        lib = (MODULE / "templates" / "lib.sh").read_text(encoding="utf-8")
        self.assertIn("sha256sum --check", lib)


# --- issues 17 and 19: replica acks, cluster option, eviction ---------------------------------

class RedisTest(unittest.TestCase):
    def test_a_202_waits_for_the_replica_in_prod_only(self):
        settings = CFG["locals"]["settings"]
        self.assertEqual(render(settings["REDIS_REPLICA_ACKS"], "prod"), "1")
        self.assertEqual(render(settings["REDIS_REPLICA_ACKS"], "dev"), "0")
        self.assertEqual(render(settings["REDIS_REPLICA_ACK_TIMEOUT_MS"], "prod"), "500")

    def test_the_cluster_option_builds_shards_reached_through_the_proxy(self):
        kv = RES["alicloud_kvstore_instance"]["this"]
        self.assertEqual(kv["instance_class"], ref("var.redis_cluster_mode ? var.redis_cluster_instance_class : var.redis_instance_class"))
        self.assertEqual(kv["shard_count"], ref("var.redis_cluster_mode ? var.redis_shard_count : null"))
        self.assertIs(CFG["variable"]["redis_cluster_mode"]["default"], False)
        # Alibaba's proxy speaks the standalone protocol for the cluster (no CLUSTER commands).
        self.assertEqual(CFG["locals"]["settings"]["REDIS_MODE"], "standalone")
        self.assertEqual(CFG["locals"]["settings"]["REDIS_URL"], "rediss://${alicloud_kvstore_instance.this.connection_domain}:6379")

    def test_only_the_cache_can_be_evicted(self):
        self.assertEqual(RES["alicloud_kvstore_instance"]["this"]["config"], {"maxmemory-policy": "volatile-lru"})


# --- issue 20: internal endpoints stay inside; the bastion runner opens nothing ----------------

class InternalEndpointsTest(unittest.TestCase):
    def test_the_load_balancer_forwards_80_to_the_api_port_only(self):
        self.assertEqual(set(RES["alicloud_nlb_listener"]), {"http"})
        self.assertEqual(RES["alicloud_nlb_listener"]["http"]["listener_port"], 80)
        self.assertEqual(RES["alicloud_nlb_server_group_server_attachment"]["http"]["port"], ref("local.producer_port"))

    def test_no_rule_admits_a_metrics_port(self):
        for name, rule in RES["alicloud_security_group_rule"].items():
            low, high = (int(p) if p.isdigit() else 8080 for p in rule["port_range"].replace("${local.producer_port}", "8080").split("/"))
            self.assertTrue(high < 9090 or low > 9199, f"{name} admits {rule['port_range']}")

    def test_metrics_are_published_on_loopback_only_and_swagger_is_off_in_prod(self):
        run_sh = (MODULE / "templates" / "run.sh").read_text(encoding="utf-8")
        published = re.findall(r'--publish "?([^ "]+)', run_sh)
        self.assertIn("127.0.0.1:9100:9090", published)
        for port in published:
            self.assertTrue(port == "8080:8080" or port.startswith("127.0.0.1:"), port)
        self.assertIn("--env METRICS_ADDR=0.0.0.0:9090", run_sh)
        self.assertEqual(render(CFG["locals"]["settings"]["SWAGGER_UI"], "prod"), "false")
        self.assertEqual(render(CFG["locals"]["settings"]["SWAGGER_UI"], "dev"), "true")


class BastionRunnerTest(unittest.TestCase):
    RUNNER = {("alicloud_oos_secret_parameter", "github_runner_token"), ("alicloud_ram_role", "bastion"),
              ("alicloud_ram_policy", "bastion_runner_token"), ("alicloud_ram_role_policy_attachment", "bastion")}

    def test_the_option_is_off_by_default_and_its_resources_exist_only_when_on(self):
        self.assertIs(CFG["variable"]["bastion_github_runner"]["default"], False)
        for env, values in TFVARS.items():
            self.assertIs(values.get("bastion_github_runner", False), False, env)
        for rtype, name in self.RUNNER:
            self.assertEqual(RES[rtype][name]["count"], ref("local.github_runner"), f"{rtype}.{name}")
        self.assertEqual(CFG["locals"]["github_runner"], ref("var.bastion_github_runner ? 1 : 0"))
        bastion = RES["alicloud_instance"]["bastion"]
        self.assertEqual(bastion["role_name"], ref("var.bastion_github_runner ? alicloud_ram_role.bastion[0].role_name : null"))
        self.assertEqual(bastion["user_data"], ref("var.bastion_github_runner ? base64encode(local.bastion_user_data) : null"))

    def test_the_runner_reads_its_token_only_and_runs_unprivileged(self):
        token = RES["alicloud_oos_secret_parameter"]["github_runner_token"]
        self.assertEqual(token["value"], "unset")
        self.assertIn("value", str(token["lifecycle"]))
        policy = RES["alicloud_ram_policy"]["bastion_runner_token"]["policy_document"]
        self.assertIn("local.github_runner_token_parameter", policy)
        self.assertNotIn("/*", policy)
        register = (MODULE / "templates" / "register-runner.sh").read_text(encoding="utf-8")
        self.assertIn("ACTIONS_RUNNER_INPUT_TOKEN=$token runuser -u runner", register)
        self.assertIn("sha256sum --check", register)
        cloud_init = (MODULE / "templates" / "bastion-runner.yaml.tftpl").read_text(encoding="utf-8")
        self.assertIn("name: runner", cloud_init)
        self.assertNotIn("sudo", cloud_init)

    def test_the_runner_opens_nothing(self):
        self.assertEqual(set(RES["alicloud_security_group_rule"]), {"bastion_ssh_from_admin", "http_ssh_from_bastion", "http_app_from_nlb"})
        for rtype, named in RES.items():
            for name in named:
                if "runner" in name or (rtype, name) in self.RUNNER:
                    self.assertNotIn("security_group", rtype, f"{rtype}.{name}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
