# Alarms, all notifying one SNS topic (subscribe alarm_email, or anything else, to it). The
# application's own alarms (error rate, backlog, consumers, dead letters) are in app_alarms.tf.

resource "aws_sns_topic" "alarms" {
  name              = "${local.prefix}-alarms"
  kms_master_key_id = aws_kms_key.this.id
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.alarm_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.alarms.arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

resource "aws_cloudwatch_metric_alarm" "lb_unhealthy_hosts" {
  alarm_name          = "${local.prefix}-lb-unhealthy-hosts"
  alarm_description   = "An HTTP host fails /health/ready behind the load balancer"
  namespace           = "AWS/NetworkELB"
  metric_name         = "UnHealthyHostCount"
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "breaching"
  dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = aws_lb_target_group.producers.arn_suffix
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
}

# Nothing healthy behind the load balancer: the service is down (Prometheus: ScrapeTargetDown on
# the producers, HighErrorRate).
resource "aws_cloudwatch_metric_alarm" "lb_no_healthy_hosts" {
  alarm_name          = "${local.prefix}-lb-no-healthy-hosts"
  alarm_description   = "No HTTP host passes /health/ready: the service is down"
  namespace           = "AWS/NetworkELB"
  metric_name         = "HealthyHostCount"
  statistic           = "Minimum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "LessThanThreshold"
  threshold           = 1
  treat_missing_data  = "breaching"
  dimensions = {
    LoadBalancer = aws_lb.this.arn_suffix
    TargetGroup  = aws_lb_target_group.producers.arn_suffix
  }
  alarm_actions = [aws_sns_topic.alarms.arn]
  ok_actions    = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "rds_cpu" {
  alarm_name          = "${local.prefix}-rds-cpu"
  alarm_description   = "MySQL CPU above 80% for 15 minutes"
  namespace           = "AWS/RDS"
  metric_name         = "CPUUtilization"
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

resource "aws_cloudwatch_metric_alarm" "rds_storage" {
  alarm_name          = "${local.prefix}-rds-free-storage"
  alarm_description   = "MySQL free storage under 10% of the allocated storage"
  namespace           = "AWS/RDS"
  metric_name         = "FreeStorageSpace"
  statistic           = "Minimum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "LessThanThreshold"
  threshold           = var.mysql_allocated_storage * 1073741824 / 10
  dimensions          = { DBInstanceIdentifier = aws_db_instance.this.identifier }
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}

# One alarm per Redis node (local.redis_node_ids). With volatile-lru a full cache may hold memory
# near maxmemory by design: then watch Evictions, and size the node by terraform/README.md.
resource "aws_cloudwatch_metric_alarm" "redis_memory" {
  count               = length(local.redis_node_ids)
  alarm_name          = "${local.prefix}-redis-memory-${local.redis_node_ids[count.index]}"
  alarm_description   = "Redis memory above 80% of maxmemory: the queue, pending entries or idempotency records grow, or the cache fills the node (cached users are evicted first)"
  namespace           = "AWS/ElastiCache"
  metric_name         = "DatabaseMemoryUsagePercentage"
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 2
  comparison_operator = "GreaterThanThreshold"
  threshold           = 80
  dimensions          = { CacheClusterId = "${aws_elasticache_replication_group.this.id}-${local.redis_node_ids[count.index]}" }
  alarm_actions       = [aws_sns_topic.alarms.arn]
  ok_actions          = [aws_sns_topic.alarms.arn]
}
