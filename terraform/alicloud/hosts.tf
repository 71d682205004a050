# Bastion (public vSwitch, public IP; also usable as the CD runner's jump host) and the two HTTP
# hosts (one per private vSwitch, no public address).

resource "alicloud_instance" "bastion" {
  instance_name              = "${local.prefix}-bastion"
  host_name                  = "${local.prefix}-bastion"
  availability_zone          = var.zones[0]
  vswitch_id                 = alicloud_vswitch.public[0].id
  security_groups            = [alicloud_security_group.bastion.id]
  instance_type              = var.bastion_instance_type
  image_id                   = var.image_id
  key_name                   = var.key_pair_name
  internet_charge_type       = "PayByTraffic"
  internet_max_bandwidth_out = 10
  system_disk_category       = "cloud_essd"
  system_disk_size           = 20
  system_disk_encrypted      = true
  tags                       = merge(local.tags, { Role = "bastion" })

  # Only with bastion_github_runner (runner.tf): the runner's RAM role and cloud-init.
  role_name = var.bastion_github_runner ? alicloud_ram_role.bastion[0].role_name : null
  user_data = var.bastion_github_runner ? base64encode(local.bastion_user_data) : null
}

resource "alicloud_instance" "http" {
  count                      = 2
  instance_name              = "${local.prefix}-http-${count.index}"
  host_name                  = "${local.prefix}-http-${count.index}"
  availability_zone          = var.zones[count.index]
  vswitch_id                 = alicloud_vswitch.private[count.index].id
  security_groups            = [alicloud_security_group.http.id]
  instance_type              = var.http_instance_type
  image_id                   = var.image_id
  key_name                   = var.key_pair_name
  role_name                  = alicloud_ram_role.http.role_name
  internet_max_bandwidth_out = 0
  system_disk_category       = "cloud_essd"
  system_disk_size           = 40
  system_disk_encrypted      = true
  tags                       = merge(local.tags, { Role = "http" })

  user_data = base64encode(templatefile("${path.module}/templates/http-host.yaml.tftpl", {
    region           = var.region
    ram_role         = alicloud_ram_role.http.role_name
    parameter_path   = "/${local.parameter_path}"
    producer_image   = var.producer_image
    consumer_image   = var.consumer_image
    lib_sh           = file("${path.module}/templates/lib.sh")
    run_sh           = file("${path.module}/templates/run.sh")
    stop_sh          = file("${path.module}/templates/stop.sh")
    fetch_secrets_sh = file("${path.module}/templates/fetch-secrets.sh")
    migrate_sh       = file("${path.module}/templates/migrate.sh")
    secrets_refresh  = "5min"
  }))

  lifecycle {
    # CD changes images and OOS holds the settings; replace one host at a time to re-run cloud-init.
    ignore_changes = [user_data, image_id]
  }

  depends_on = [alicloud_snat_entry.private, alicloud_oos_secret_parameter.settings, alicloud_oos_secret_parameter.host,
  alicloud_oos_secret_parameter.secrets, alicloud_rds_account.admin, alicloud_ram_role_policy_attachment.http]
}
