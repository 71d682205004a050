resource "alicloud_security_group" "bastion" {
  security_group_name = "${local.prefix}-bastion"
  description         = "Bastion: SSH from the admin CIDR only"
  vpc_id              = alicloud_vpc.this.id
  tags                = local.tags
}

resource "alicloud_security_group" "http" {
  security_group_name = "${local.prefix}-http"
  description         = "HTTP hosts: producer port from the NLB, SSH from the bastion"
  vpc_id              = alicloud_vpc.this.id
  tags                = local.tags
}

resource "alicloud_security_group_rule" "bastion_ssh_from_admin" {
  security_group_id = alicloud_security_group.bastion.id
  type              = "ingress"
  ip_protocol       = "tcp"
  nic_type          = "intranet"
  policy            = "accept"
  port_range        = "22/22"
  cidr_ip           = var.admin_cidr
  description       = "SSH from the admin CIDR"
}

resource "alicloud_security_group_rule" "http_ssh_from_bastion" {
  #checkov:skip=CKV_ALI_2:False positive: the source is the bastion's security group, not a CIDR (checkov reads the missing cidr_ip as 0.0.0.0/0).
  security_group_id        = alicloud_security_group.http.id
  type                     = "ingress"
  ip_protocol              = "tcp"
  nic_type                 = "intranet"
  policy                   = "accept"
  port_range               = "22/22"
  source_security_group_id = alicloud_security_group.bastion.id
  description              = "SSH from the bastion only"
}

# Application traffic only from the NLB's vSwitches. The server group does not preserve client
# addresses here (see lb.tf), so the NLB's own addresses are the sources the hosts see.
resource "alicloud_security_group_rule" "http_app_from_nlb" {
  count             = 2
  security_group_id = alicloud_security_group.http.id
  type              = "ingress"
  ip_protocol       = "tcp"
  nic_type          = "intranet"
  policy            = "accept"
  port_range        = "${local.producer_port}/${local.producer_port}"
  cidr_ip           = var.public_vswitch_cidrs[count.index]
  description       = "Producer port from the NLB's vSwitch ${count.index}"
}
