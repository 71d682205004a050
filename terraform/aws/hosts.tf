# The bastion (public subnet, the only SSH entry) and the two HTTP hosts (one per private subnet).

resource "aws_key_pair" "admin" {
  key_name   = "${local.prefix}-admin"
  public_key = var.ssh_public_key
}

resource "aws_instance" "bastion" {
  #checkov:skip=CKV2_AWS_41:By default the bastion makes no AWS API calls and gets no role (it would only give an intruder credentials); with bastion_github_runner it gets one that reads one parameter (runner.tf).
  ami                    = local.ami_id
  instance_type          = var.bastion_instance_type
  subnet_id              = aws_subnet.public[0].id
  vpc_security_group_ids = [aws_security_group.bastion.id]
  key_name               = aws_key_pair.admin.key_name
  monitoring             = true
  ebs_optimized          = true

  # Only with bastion_github_runner (runner.tf): the runner's role and cloud-init. Turning the
  # option on or off replaces the bastion (cloud-init runs on the first boot only).
  iam_instance_profile        = var.bastion_github_runner ? aws_iam_instance_profile.bastion[0].name : null
  user_data                   = local.bastion_user_data
  user_data_replace_on_change = true

  metadata_options {
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    encrypted   = true
    volume_type = "gp3"
    volume_size = var.bastion_github_runner ? 16 : 8
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
  # Gzipped: EC2 takes 16 KiB of user data, and cloud-init unpacks it.
  user_data_base64 = base64gzip(local.http_user_data)

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
    ignore_changes = [ami, user_data, user_data_base64]
  }

  tags = { Name = "${local.prefix}-http-${count.index}", Role = "http" }

  depends_on = [aws_route.private_nat, aws_ssm_parameter.settings, aws_ssm_parameter.host, aws_secretsmanager_secret_version.mysql_app]
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
  # The scripts cloud-init writes to /opt/registry (templates/*.sh, shellchecked).
  host_scripts = { for name in ["lib.sh", "run.sh", "stop.sh", "fetch-secrets.sh", "migrate.sh"] :
  name => file("${path.module}/templates/${name}") }

  # USER of Dockerfile.producer and Dockerfile.consumer: the owner of the secret files (lib.sh).
  container_uid = 65532

  # Identifiers only (parameter path, region, initial images): every setting and secret is read
  # from SSM / Secrets Manager by the scripts when registry.service starts.
  http_user_data = templatefile("${path.module}/templates/http-host.yaml.tftpl", {
    region           = var.region
    parameter_path   = local.parameter_path
    producer_image   = var.producer_image
    consumer_image   = var.consumer_image
    lib_sh           = local.host_scripts["lib.sh"]
    run_sh           = local.host_scripts["run.sh"]
    stop_sh          = local.host_scripts["stop.sh"]
    fetch_secrets_sh = local.host_scripts["fetch-secrets.sh"]
    migrate_sh       = local.host_scripts["migrate.sh"]
    secrets_refresh  = local.secrets_refresh
    # The CloudWatch agent's settings (app_alarms.tf): identifiers only, no secret.
    cloudwatch_agent_json      = local.cloudwatch_agent_config
    cloudwatch_prometheus_yaml = local.cloudwatch_prometheus_config
  })

  parameter_arn_prefix = "arn:${data.aws_partition.current.partition}:ssm:${var.region}:${data.aws_caller_identity.current.account_id}:parameter${local.parameter_path}"

  # How often registry-secrets.timer rewrites the secret files: the longest a rotated secret
  # takes to reach a host (terraform/README.md, "Secrets").
  secrets_refresh = "5min"
}

# Exactly the reads of the host scripts: this deployment's app/ and host/ parameters, its three
# secrets (the RDS-managed admin secret for the migration, the app user's password, the Redis
# AUTH token), and decryption with this deployment's key through those two services.
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
        Resource = flatten([for p in ["app", "host"] : ["${local.parameter_arn_prefix}/${p}", "${local.parameter_arn_prefix}/${p}/*"]])
      },
      {
        Sid    = "ReadSecrets"
        Effect = "Allow"
        Action = ["secretsmanager:GetSecretValue"]
        Resource = [
          aws_db_instance.this.master_user_secret[0].secret_arn,
          aws_secretsmanager_secret.mysql_app.arn,
          aws_secretsmanager_secret.redis_auth.arn,
        ]
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
