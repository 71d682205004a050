"""Structural checks of terraform/alicloud (no provider can be installed here, so nothing plans it).

Parses the HCL with python-hcl2 and asserts the topology of MISSION.md: two ECS HTTP hosts in the
private vSwitches, an NLB server group holding both, a bastion with a public IP, Redis and MySQL
whitelists equal to the private vSwitch CIDRs (never 0.0.0.0/0), SNAT for the private vSwitches,
and every output. Run with plain python (unittest) or pytest.
"""

import ipaddress
import pathlib
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
        for needle in ("GetSecretParametersByPath", "--restart unless-stopped", "8080:8080",
                       "/run/secrets/mysql_password:ro"):
            self.assertIn(needle, run_sh)

    def test_the_cloud_init_renders_to_yaml_carrying_the_scripts_intact(self):
        template = (MODULE / "templates" / "http-host.yaml.tftpl").read_text(encoding="utf-8")
        scripts = {name: (MODULE / "templates" / f"{name.replace('_sh', '')}.sh").read_text(encoding="utf-8")
                   for name in ("run_sh", "stop_sh")}
        rendered = template
        for name in ("region", "ram_role", "parameter_path", "producer_image", "consumer_image"):
            rendered = rendered.replace("${%s}" % name, f"<{name}>")
        for name, text in scripts.items():
            # templatefile's indent(6, x): every line but the first gets six spaces.
            rendered = rendered.replace("${indent(6, %s)}" % name, "<%s>" % name)
        self.assertNotIn("${", rendered, "a template variable the test does not know")
        for name, text in scripts.items():
            rendered = rendered.replace("<%s>" % name, text.replace("\n", "\n" + " " * 6))
        doc = yaml.safe_load(rendered)
        files = {f["path"]: f["content"] for f in doc["write_files"]}
        self.assertEqual(files["/opt/registry/run.sh"].rstrip(), scripts["run_sh"].rstrip())
        self.assertEqual(files["/opt/registry/stop.sh"].rstrip(), scripts["stop_sh"].rstrip())
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


if __name__ == "__main__":
    unittest.main(verbosity=2)
