# Optional (bastion_github_runner, off by default): the bastion as a GitHub Actions self-hosted
# runner, as on AWS (terraform/aws/runner.tf). The runner polls GitHub over HTTPS through the
# bastion's public address: no security group rule is added.
#
# Registration: after apply, put a registration token (valid for an hour) into the OOS secret
# parameter /NAME/ENV/bastion/github-runner-token; the bastion registers within a minute.

locals {
  github_runner                 = var.bastion_github_runner ? 1 : 0
  github_runner_token_parameter = "/${local.parameter_path}/bastion/github-runner-token"

  bastion_user_data = var.bastion_github_runner ? templatefile("${path.module}/templates/bastion-runner.yaml.tftpl", {
    runner_env = join("\n", [
      "REGION=${var.region}",
      "RAM_ROLE=${local.prefix}-bastion",
      "TOKEN_PARAMETER=${local.github_runner_token_parameter}",
      "RUNNER_URL=${var.github_runner_url}",
      "RUNNER_LABELS=${join(",", var.github_runner_labels)}",
      "RUNNER_VERSION=${var.github_runner_version}",
      "RUNNER_SHA256=${var.github_runner_sha256}",
    ])
    register_sh = file("${path.module}/templates/register-runner.sh")
  }) : null
}

resource "alicloud_oos_secret_parameter" "github_runner_token" {
  count                 = local.github_runner
  secret_parameter_name = local.github_runner_token_parameter
  # A placeholder: the real token is written after apply and must never be in the state.
  value       = "unset"
  type        = "Secret"
  key_id      = alicloud_kms_key.this.id
  description = "GitHub Actions registration token of the ${local.prefix} bastion's runner"
  tags        = local.tags

  lifecycle {
    ignore_changes = [value]
    precondition {
      condition     = var.github_runner_url != "" && var.github_runner_sha256 != ""
      error_message = "bastion_github_runner needs github_runner_url and github_runner_sha256."
    }
  }
}

resource "alicloud_ram_role" "bastion" {
  count     = local.github_runner
  role_name = "${local.prefix}-bastion"
  assume_role_policy_document = jsonencode({
    Version = "1"
    Statement = [{
      Effect    = "Allow"
      Action    = "sts:AssumeRole"
      Principal = { Service = ["ecs.aliyuncs.com"] }
    }]
  })
  description = "Bastion of ${local.prefix}: read the runner registration token"
}

# The registration script's one read: the token parameter, decrypted.
resource "alicloud_ram_policy" "bastion_runner_token" {
  count       = local.github_runner
  policy_name = "${local.prefix}-read-runner-token"
  policy_document = jsonencode({
    Version = "1"
    Statement = [
      {
        Effect   = "Allow"
        Action   = ["oos:GetSecretParameter"]
        Resource = ["acs:oos:${var.region}:${data.alicloud_account.current.id}:secretparameter${local.github_runner_token_parameter}"]
      },
      {
        Effect   = "Allow"
        Action   = ["kms:Decrypt"]
        Resource = ["acs:kms:${var.region}:${data.alicloud_account.current.id}:key/${alicloud_kms_key.this.id}"]
      },
    ]
  })
}

resource "alicloud_ram_role_policy_attachment" "bastion" {
  count       = local.github_runner
  role_name   = alicloud_ram_role.bastion[0].role_name
  policy_name = alicloud_ram_policy.bastion_runner_token[0].policy_name
  policy_type = "Custom"
}
