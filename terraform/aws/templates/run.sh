#!/bin/bash
# Started by registry.service. Reads the settings from SSM Parameter Store and the MySQL password
# from Secrets Manager (instance role), then (re)starts the producer and CONSUMER_COUNT consumers.
set -euo pipefail
umask 077

# shellcheck source=/dev/null
source /opt/registry/deployment.env # AWS_REGION, PARAMETER_PATH (identifiers, not secrets)
# shellcheck source=/dev/null
source /opt/registry/images.env # PRODUCER_IMAGE, CONSUMER_IMAGE (rewritten by CD)
export AWS_REGION

# Secrets live on tmpfs only. The directory is root-only; the files in it are world-readable so
# that the (non-root) container users can read their read-only bind mounts.
run_dir=/run/registry
install -d -m 0700 "$run_dir"

# "NAME=value" lines of every parameter under a path (SecureStrings decrypted).
fetch_parameters() {
  aws ssm get-parameters-by-path --path "$1" --with-decryption --output json |
    jq -r '.Parameters[] | "\(.Name | split("/") | last)=\(.Value)"'
}

fetch_parameters "$PARAMETER_PATH/app" >"$run_dir/app.env.new"
grep -q '^REDIS_URL=' "$run_dir/app.env.new" || { echo "no settings under $PARAMETER_PATH/app" >&2; exit 1; }
mv "$run_dir/app.env.new" "$run_dir/app.env"
host_env=$(fetch_parameters "$PARAMETER_PATH/host")
consumer_count=$(sed -n 's/^CONSUMER_COUNT=//p' <<<"$host_env")
mysql_secret_arn=$(sed -n 's/^MYSQL_SECRET_ARN=//p' <<<"$host_env")

# Local override for one host (e.g. more consumers on this host only): see terraform/README.md.
if [ -f /opt/registry/overrides.env ]; then
  # shellcheck source=/dev/null
  source /opt/registry/overrides.env
  consumer_count=${CONSUMER_COUNT:-$consumer_count}
fi

aws secretsmanager get-secret-value --secret-id "$mysql_secret_arn" --query SecretString --output text |
  jq -j .password >"$run_dir/mysql_password.new"
chmod 0444 "$run_dir/mysql_password.new"
mv "$run_dir/mysql_password.new" "$run_dir/mysql_password"

/opt/registry/stop.sh

common=(
  --detach --restart unless-stopped
  --env-file "$run_dir/app.env"
  --env MYSQL_PASSWORD_FILE=/run/secrets/mysql_password
  --volume "$run_dir/mysql_password:/run/secrets/mysql_password:ro"
  --log-opt max-size=20m --log-opt max-file=5
)

docker run "${common[@]}" --name registry-producer --label registry.role=producer \
  --hostname "$(hostname -s)" --publish 8080:8080 --env LISTEN_ADDR=0.0.0.0:8080 \
  "$PRODUCER_IMAGE"

# Each consumer's health/metrics port is published on loopback only: 9101, 9102, ...
targets=("127.0.0.1:8080")
for i in $(seq 1 "${consumer_count:-1}"); do
  docker run "${common[@]}" --name "registry-consumer-$i" --label registry.role=consumer \
    --hostname "$(hostname -s)-consumer-$i" --publish "127.0.0.1:$((9100 + i)):9091" \
    --env METRICS_ADDR=0.0.0.0:9091 \
    "$CONSUMER_IMAGE"
  targets+=("127.0.0.1:$((9100 + i))")
done

# What the CloudWatch agent scrapes (file_sd of /opt/registry/cloudwatch-prometheus.yaml): the
# producer and this host's consumers. Not secret; the agent (user cwagent) re-reads it on change.
printf -- '- targets: [%s]\n' "$(printf '"%s",' "${targets[@]}" | sed 's/,$//')" >/opt/registry/prometheus-targets.yaml.new
chmod 0644 /opt/registry/prometheus-targets.yaml.new
mv /opt/registry/prometheus-targets.yaml.new /opt/registry/prometheus-targets.yaml
