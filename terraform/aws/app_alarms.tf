# Application alarms: the Prometheus alerts of deploy/observability/prometheus/rules/registry.yml,
# as far as CloudWatch can carry them (docs/observability.md lists which exist where).
#
# The CloudWatch agent on each HTTP host (installed by the cloud-init) scrapes the producer's and
# the consumers' /metrics every 30 s and writes the selected series to a log group in the
# embedded metric format, which CloudWatch turns into metrics of the namespace below with a
# `deployment` dimension. Counters arrive as the increase since the previous scrape (so Sum over
# a period is the count in that period); gauges as they are. The agent drops histograms, so the
# latency alerts (p99, end-to-end) live in Prometheus only.

locals {
  app_metrics_namespace = "UserRegistry"
  app_metrics_targets   = "/opt/registry/prometheus-targets.yaml" # written by run.sh

  cloudwatch_prometheus_config = templatefile("${path.module}/templates/cloudwatch-prometheus.yaml.tftpl", {
    targets_file = local.app_metrics_targets
    deployment   = local.prefix
  })

  # Which series become CloudWatch metrics, with which dimensions (labels of the series).
  app_metric_declarations = [
    { dimensions = [["deployment", "status_class"]], metric_selectors = ["^http_requests_total$"] },
    { dimensions = [["deployment", "state"]], metric_selectors = ["^queue_messages$"] },
    { dimensions = [["deployment"]], metric_selectors = ["^consumers_live$"] },
    { dimensions = [["deployment"], ["deployment", "reason"]], metric_selectors = ["^consumer_dead_letters_total$"] },
    { dimensions = [["deployment", "cause"]], metric_selectors = ["^consumer_retries_total$"] },
    { dimensions = [["deployment", "result"]], metric_selectors = ["^cache_lookups_total$"] },
  ]

  cloudwatch_agent_config = jsonencode({
    agent = { run_as_user = "cwagent" }
    logs = {
      metrics_collected = {
        prometheus = {
          log_group_name         = aws_cloudwatch_log_group.app_metrics.name
          prometheus_config_path = "/opt/registry/cloudwatch-prometheus.yaml"
          emf_processor = {
            metric_namespace = local.app_metrics_namespace
            metric_declaration = [for d in local.app_metric_declarations : merge(d, {
              source_labels = ["job"]
              label_matcher = "^registry$"
            })]
          }
        }
      }
    }
  })

  app_dimensions = { deployment = local.prefix }
}

# The agent's embedded-metric-format log events (the metrics are extracted from them).
resource "aws_cloudwatch_log_group" "app_metrics" {
  name              = "/${var.name}/${var.environment}/app-metrics"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
}

# The agent writes to that log group only.
resource "aws_iam_role_policy" "http_publish_metrics" {
  name = "publish-app-metrics"
  role = aws_iam_role.http.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "WriteAppMetricEvents"
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = [aws_cloudwatch_log_group.app_metrics.arn, "${aws_cloudwatch_log_group.app_metrics.arn}:*"]
    }]
  })
}

# HighErrorRate: more than alarm_error_rate_percent of the answers are 5xx, two 5-minute periods.
resource "aws_cloudwatch_metric_alarm" "app_error_rate" {
  alarm_name          = "${local.prefix}-app-error-rate"
  alarm_description   = "More than ${var.alarm_error_rate_percent}% of HTTP answers are 5xx (Prometheus alert HighErrorRate)"
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_error_rate_percent
  evaluation_periods  = 2
  datapoints_to_alarm = 2
  treat_missing_data  = "notBreaching"

  metric_query {
    id = "errors"
    metric {
      namespace   = local.app_metrics_namespace
      metric_name = "http_requests_total"
      dimensions  = merge(local.app_dimensions, { status_class = "5xx" })
      period      = 300
      stat        = "Sum"
    }
  }
  metric_query {
    id = "others"
    metric {
      namespace   = local.app_metrics_namespace
      metric_name = "http_requests_total"
      dimensions  = merge(local.app_dimensions, { status_class = "other" })
      period      = 300
      stat        = "Sum"
    }
  }
  metric_query {
    id          = "share"
    label       = "5xx share of HTTP answers (%)"
    expression  = "IF((FILL(errors, 0) + FILL(others, 0)) > 0, 100 * FILL(errors, 0) / (FILL(errors, 0) + FILL(others, 0)), 0)"
    return_data = true
  }

  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
}

# BacklogGrowing: more than alarm_backlog_messages pending and still rising, 8 of 10 minutes.
resource "aws_cloudwatch_metric_alarm" "app_backlog_growing" {
  alarm_name          = "${local.prefix}-app-backlog-growing"
  alarm_description   = "More than ${var.alarm_backlog_messages} messages pending and the queue still growing: consumers do not keep up (Prometheus alert BacklogGrowing)"
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  evaluation_periods  = 10
  datapoints_to_alarm = 8
  treat_missing_data  = "notBreaching"

  metric_query {
    id = "pending"
    metric {
      namespace   = local.app_metrics_namespace
      metric_name = "queue_messages"
      dimensions  = merge(local.app_dimensions, { state = "pending" })
      period      = 60
      stat        = "Maximum"
    }
  }
  metric_query {
    id          = "growing"
    label       = "pending above ${var.alarm_backlog_messages} and rising"
    expression  = "IF(pending > ${var.alarm_backlog_messages} AND RATE(pending) > 0, 1, 0)"
    return_data = true
  }

  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
}

# NoLiveConsumers: no consumer lease in Redis for 2 minutes. Every target reports the gauge (the
# producer too), so silence means nothing is scraped at all: breaching. Not created when the
# deployment runs no consumers on purpose (consumer_count = 0).
resource "aws_cloudwatch_metric_alarm" "app_no_consumers" {
  count               = var.consumer_count > 0 ? 1 : 0
  alarm_name          = "${local.prefix}-app-no-consumers"
  alarm_description   = "No live consumer for 2 minutes: users are accepted but not stored (Prometheus alert NoLiveConsumers)"
  namespace           = local.app_metrics_namespace
  metric_name         = "consumers_live"
  dimensions          = local.app_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# DeadLettersAppeared: any message dead-lettered in a 5-minute period.
resource "aws_cloudwatch_metric_alarm" "app_dead_letters" {
  alarm_name          = "${local.prefix}-app-dead-letters"
  alarm_description   = "Consumers dead-lettered messages (consumer dead list) (Prometheus alert DeadLettersAppeared)"
  namespace           = local.app_metrics_namespace
  metric_name         = "consumer_dead_letters_total"
  dimensions          = local.app_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# DeadLettersWaiting: the dead-letter list has not been empty for 5 minutes (also catches the
# first dead letter of a consumer, whose counter the agent only sees from its second scrape).
resource "aws_cloudwatch_metric_alarm" "app_dead_letters_waiting" {
  alarm_name          = "${local.prefix}-app-dead-letters-waiting"
  alarm_description   = "The dead-letter list is not empty (consumer dead list / requeue / purge) (Prometheus alert DeadLettersWaiting)"
  namespace           = local.app_metrics_namespace
  metric_name         = "queue_messages"
  dimensions          = merge(local.app_dimensions, { state = "dead" })
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
