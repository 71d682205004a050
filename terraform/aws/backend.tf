# Remote state (example). State holds secrets (the Redis AUTH token, the MySQL app user's first
# password), so keep it in an encrypted, versioned bucket with locking and tight access. Uncomment, fill in,
# then run `terraform init -migrate-state`. One key per environment, e.g. registry/dev.tfstate.
#
# terraform {
#   backend "s3" {
#     bucket       = "example-terraform-state"
#     key          = "registry/prod.tfstate"
#     region       = "eu-central-1"
#     encrypt      = true
#     use_lockfile = true # S3-native locking (Terraform >= 1.10); older: dynamodb_table = "..."
#   }
# }
#
# Or keep the block as `backend "s3" {}` and pass one file per environment:
#   terraform init -backend-config=envs/prod.s3.tfbackend
