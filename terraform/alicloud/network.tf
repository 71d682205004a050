resource "alicloud_vpc" "this" {
  vpc_name   = local.prefix
  cidr_block = var.vpc_cidr
  tags       = local.tags
}

resource "alicloud_vswitch" "public" {
  count        = 2
  vswitch_name = "${local.prefix}-public-${count.index}"
  vpc_id       = alicloud_vpc.this.id
  zone_id      = var.zones[count.index]
  cidr_block   = var.public_vswitch_cidrs[count.index]
  tags         = merge(local.tags, { Tier = "public" })
}

resource "alicloud_vswitch" "private" {
  count        = 2
  vswitch_name = "${local.prefix}-private-${count.index}"
  vpc_id       = alicloud_vpc.this.id
  zone_id      = var.zones[count.index]
  cidr_block   = var.private_vswitch_cidrs[count.index]
  tags         = merge(local.tags, { Tier = "private" })
}

# Enhanced NAT gateway in a public vSwitch; SNAT gives the private vSwitches outbound access only.
resource "alicloud_nat_gateway" "this" {
  vpc_id           = alicloud_vpc.this.id
  nat_gateway_name = local.prefix
  nat_type         = "Enhanced"
  payment_type     = "PayAsYouGo"
  vswitch_id       = alicloud_vswitch.public[0].id
  tags             = local.tags
}

resource "alicloud_eip_address" "nat" {
  address_name         = "${local.prefix}-nat"
  bandwidth            = "100"
  internet_charge_type = "PayByTraffic"
  payment_type         = "PayAsYouGo"
  tags                 = local.tags
}

resource "alicloud_eip_association" "nat" {
  allocation_id = alicloud_eip_address.nat.id
  instance_id   = alicloud_nat_gateway.this.id
  instance_type = "Nat"
}

resource "alicloud_snat_entry" "private" {
  count             = 2
  snat_table_id     = alicloud_nat_gateway.this.snat_table_ids
  source_vswitch_id = alicloud_vswitch.private[count.index].id
  snat_ip           = alicloud_eip_address.nat.ip_address

  depends_on = [alicloud_eip_association.nat]
}
