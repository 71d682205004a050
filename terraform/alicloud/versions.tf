terraform {
  required_version = ">= 1.7.0"

  required_providers {
    alicloud = {
      source  = "aliyun/alicloud"
      version = "~> 1.240"
    }
  }
}

provider "alicloud" {
  region = var.region
}

# Remote state (example): an OSS bucket with Tablestore locking. State holds the database
# passwords: keep the bucket private and encrypted. Uncomment, fill in, `terraform init -migrate-state`.
#
# terraform {
#   backend "oss" {
#     bucket              = "example-terraform-state"
#     prefix              = "registry/prod"
#     key                 = "terraform.tfstate"
#     region              = "cn-hangzhou"
#     encrypt             = true
#     tablestore_endpoint = "https://example-lock.cn-hangzhou.ots.aliyuncs.com"
#     tablestore_table    = "terraform_lock"
#   }
# }
