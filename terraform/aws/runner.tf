# Optional (bastion_github_runner, off by default): the bastion as a GitHub Actions self-hosted
# runner, so that the CD deploy job runs inside the VPC and reaches the HTTP hosts over SSH
# without admitting GitHub's hosted runners to the bastion. The runner only polls GitHub over
# HTTPS, through the bastion's existing egress: no security group rule is added.
#
# Registration: after apply, store a registration token (Settings > Actions > Runners > New
# self-hosted runner; valid for an hour) in the parameter below; the bastion registers within a
# minute and keeps its own runner credentials afterwards:
#   aws ssm put-parameter --overwrite --type SecureString --name NAME --value TOKEN
# (NAME: terraform output github_runner_token_parameter). The token never enters the state.

locals {
  github_runner                 = var.bastion_github_runner ? 1 : 0
  github_runner_token_parameter = "${local.parameter_path}/bastion/github-runner-token"

  bastion_user_data = var.bastion_github_runner ? templatefile("${path.module}/templates/bastion-runner.yaml.tftpl", {
    runner_env = join("\n", [
      "AWS_REGION=${var.region}",
      "TOKEN_PARAMETER=${local.github_runner_token_parameter}",
      "RUNNER_URL=${var.github_runner_url}",
      "RUNNER_LABELS=${join(",", var.github_runner_labels)}",
      "RUNNER_VERSION=${var.github_runner_version}",
      "RUNNER_SHA256=${var.github_runner_sha256}",
    ])
    register_sh = file("${path.module}/templates/register-runner.sh")
  }) : null
}

resource "aws_ssm_parameter" "github_runner_token" {
  count       = local.github_runner
  name        = local.github_runner_token_parameter
  description = "GitHub Actions registration token of the ${local.prefix} bastion's runner (expires an hour after it is made)"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  # A placeholder: the real token is written after apply and must never be in the state.
  value = "unset"

  lifecycle {
    ignore_changes = [value]
    precondition {
      condition     = var.github_runner_url != "" && var.github_runner_sha256 != ""
      error_message = "bastion_github_runner needs github_runner_url and github_runner_sha256."
    }
  }
}

resource "aws_iam_role" "bastion" {
  count = local.github_runner
  name  = "${local.prefix}-bastion"
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# The registration script's one read: the token parameter, decrypted through SSM.
resource "aws_iam_role_policy" "bastion_runner_token" {
  count = local.github_runner
  name  = "read-runner-token"
  role  = aws_iam_role.bastion[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadRunnerToken"
        Effect   = "Allow"
        Action   = ["ssm:GetParameter"]
        Resource = [aws_ssm_parameter.github_runner_token[0].arn]
      },
      {
        Sid       = "DecryptRunnerToken"
        Effect    = "Allow"
        Action    = ["kms:Decrypt"]
        Resource  = [aws_kms_key.this.arn]
        Condition = { StringEquals = { "kms:ViaService" = "ssm.${var.region}.amazonaws.com" } }
      },
    ]
  })
}

resource "aws_iam_instance_profile" "bastion" {
  count = local.github_runner
  name  = "${local.prefix}-bastion"
  role  = aws_iam_role.bastion[0].name
}
