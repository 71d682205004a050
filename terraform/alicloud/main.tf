locals {
  prefix         = "${var.name}-${var.environment}"
  parameter_path = "${var.name}/${var.environment}"
  producer_port  = 8080

  tags = {
    Project     = var.name
    Environment = var.environment
    ManagedBy   = "terraform"
  }
}

data "alicloud_account" "current" {}
