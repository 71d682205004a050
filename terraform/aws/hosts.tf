# The bastion (public subnet, the only SSH entry) and the two HTTP hosts (one per private subnet).

resource "aws_key_pair" "admin" {
  key_name   = "${local.prefix}-admin"
  public_key = var.ssh_public_key
}

resource "aws_instance" "bastion" {
  #checkov:skip=CKV2_AWS_41:The bastion makes no AWS API calls; an instance role would only give an intruder credentials.
  ami                    = local.ami_id
  instance_type          = var.bastion_instance_type
  subnet_id              = aws_subnet.public[0].id
  vpc_security_group_ids = [aws_security_group.bastion.id]
  key_name               = aws_key_pair.admin.key_name
  monitoring             = true
  ebs_optimized          = true

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = 8
  }

  lifecycle {
    ignore_changes = [ami]
  }

  tags = { Name = "${local.prefix}-bastion", Role = "bastion" }
}

resource "aws_eip" "bastion" {
  domain   = "vpc"
  instance = aws_instance.bastion.id
  tags     = { Name = "${local.prefix}-bastion" }

  depends_on = [aws_internet_gateway.this]
}

resource "aws_instance" "http" {
  count                  = 2
  ami                    = local.ami_id
  instance_type          = var.http_instance_type
  subnet_id              = aws_subnet.private[count.index].id
  vpc_security_group_ids = [aws_security_group.http.id]
  key_name               = aws_key_pair.admin.key_name
  iam_instance_profile   = aws_iam_instance_profile.http.name
  monitoring             = true
  ebs_optimized          = true

  # Identifiers only (parameter path, region, initial images): every setting and secret is read
  # from SSM / Secrets Manager by run.sh when registry.service starts.
  user_data = local.http_user_data

  metadata_options {
    http_tokens = "required"
    # 1 hop: the AWS CLI on the host reaches IMDS, containers (one hop further) do not, so they
    # never hold the instance role's credentials.
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted   = true
    kms_key_id  = aws_kms_key.this.arn
    volume_type = "gp3"
    volume_size = 20
  }

  lifecycle {
    # Images change through CD and settings through SSM, not by replacing hosts. To roll out a new
    # cloud-init or AMI, replace one host at a time: terraform apply -replace='aws_instance.http[0]'.
    ignore_changes = [ami, user_data]
  }

  tags = { Name = "${local.prefix}-http-${count.index}", Role = "http" }

  depends_on = [aws_route.private_nat, aws_ssm_parameter.settings, aws_ssm_parameter.host]
}

resource "aws_iam_role" "http" {
  name = "${local.prefix}-http"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_instance_profile" "http" {
  name = "${local.prefix}-http"
  role = aws_iam_role.http.name
}

locals {
  # Identifiers only (parameter path, region, initial images): every setting and secret is read
  # from SSM / Secrets Manager by run.sh when registry.service starts.
  http_user_data = templatefile("${path.module}/templates/http-host.yaml.tftpl", {
    region         = var.region
    parameter_path = local.parameter_path
    producer_image = var.producer_image
    consumer_image = var.consumer_image
    run_sh         = file("${path.module}/templates/run.sh")
    stop_sh        = file("${path.module}/templates/stop.sh")
    # The CloudWatch agent's settings (app_alarms.tf): identifiers only, no secret.
    cloudwatch_agent_json      = local.cloudwatch_agent_config
    cloudwatch_prometheus_yaml = local.cloudwatch_prometheus_config
  })

  parameter_arn_prefix = "arn:${data.aws_partition.current.partition}:ssm:${var.region}:${data.aws_caller_identity.current.account_id}:parameter${local.parameter_path}"
}

# Exactly the reads of run.sh: this deployment's parameters, the RDS-managed MySQL secret, and
# decryption with this deployment's key through those two services.
resource "aws_iam_role_policy" "http_read_settings" {
  name = "read-settings"
  role = aws_iam_role.http.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadParameters"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
        Resource = [local.parameter_arn_prefix, "${local.parameter_arn_prefix}/*"]
      },
      {
        Sid      = "ReadMysqlPassword"
        Effect   = "Allow"
        Action   = ["secretsmanager:GetSecretValue"]
        Resource = [aws_db_instance.this.master_user_secret[0].secret_arn]
      },
      {
        Sid      = "DecryptSettings"
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = [aws_kms_key.this.arn]
        Condition = {
          StringEquals = {
            "kms:ViaService" = ["ssm.${var.region}.amazonaws.com", "secretsmanager.${var.region}.amazonaws.com"]
          }
        }
      },
    ]
  })
}
