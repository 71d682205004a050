# Shared mock values: realistic ARNs and addresses where the configuration indexes or
# interpolates them (anything else is a random value from the mock provider).

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition = "aws"
  }
}

mock_data "aws_ssm_parameter" {
  defaults = {
    value = "ami-0123456789abcdef0"
  }
}

# Every generated secret (the Redis AUTH token, the MySQL app password): the tests look for this
# value wherever a secret must not be.
mock_data "aws_secretsmanager_random_password" {
  defaults = {
    random_password = "MockGeneratedSecret0123456789abcdefMockGeneratedSecret0123456789"
  }
}

mock_resource "aws_db_instance" {
  defaults = {
    address  = "registry.mock.eu-central-1.rds.amazonaws.com"
    endpoint = "registry.mock.eu-central-1.rds.amazonaws.com:3306"
    master_user_secret = [{
      secret_arn    = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:rds!db-mock-AbCdEf"
      kms_key_id    = "mock"
      secret_status = "active"
    }]
  }
}

mock_resource "aws_elasticache_replication_group" {
  defaults = {
    primary_endpoint_address       = "master.registry.mock.euc1.cache.amazonaws.com"
    configuration_endpoint_address = "clustercfg.registry.mock.euc1.cache.amazonaws.com"
  }
}

mock_resource "aws_kms_key" {
  defaults = {
    arn = "arn:aws:kms:eu-central-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  }
}

# The provider validates ARN-typed arguments even under a mock: give the referenced ARNs a real shape.
mock_resource "aws_lb" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:loadbalancer/net/registry/0123456789abcdef"
    arn_suffix = "net/registry/0123456789abcdef"
    dns_name   = "registry-0123456789abcdef.elb.eu-central-1.amazonaws.com"
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-central-1:123456789012:targetgroup/registry-producers/0123456789abcdef"
    arn_suffix = "targetgroup/registry-producers/0123456789abcdef"
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-central-1:123456789012:registry-alarms"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-central-1:123456789012:log-group:/registry/vpc-flow-logs"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/registry-mock"
  }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = {
    arn = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:registry/mock-secret-AbCdEf"
  }
}

mock_resource "aws_ssm_parameter" {
  defaults = {
    arn = "arn:aws:ssm:eu-central-1:123456789012:parameter/registry/mock"
  }
}
