locals {
  prefix = "${var.name}-${var.environment}"
  azs    = coalesce(var.availability_zones, ["${var.region}a", "${var.region}b"])

  public_cidrs  = [for i in range(2) : cidrsubnet(var.vpc_cidr, 8, i)]
  private_cidrs = [for i in range(2) : cidrsubnet(var.vpc_cidr, 8, 10 + i)]

  # Every setting of the containers lives under this SSM path; hosts read it at start.
  parameter_path = "/${var.name}/${var.environment}"

  ami_id = var.ami_id != null ? var.ami_id : data.aws_ssm_parameter.al2023[0].value

  producer_port = 8080
  mysql_port    = 3306
  redis_port    = 6379

  tags = merge(var.tags, {
    Project     = var.name
    Environment = var.environment
    ManagedBy   = "terraform"
  })
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_ssm_parameter" "al2023" {
  count = var.ami_id == null ? 1 : 0
  name  = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64"
}
