#!/bin/bash
# Started by registry.service. Reads the settings from SSM Parameter Store, fetches the RDS CA
# bundle (pinned by checksum) and the secrets (fetch-secrets.sh), runs the migration with the
# admin credentials (migrate.sh), then (re)starts the producer and CONSUMER_COUNT consumers,
# which log in as the application user.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
umask 077
# shellcheck source=lib.sh
source /opt/registry/lib.sh
# shellcheck source=/dev/null
source /opt/registry/images.env # PRODUCER_IMAGE, CONSUMER_IMAGE (rewritten by CD)

# app.env (tmpfs, root only) holds settings, no secret: docker inspect may show it.
fetch_parameters "$PARAMETER_PATH/app" >"$run_dir/app.env.new"
grep -q '^REDIS_URL=' "$run_dir/app.env.new" || { echo "no settings under $PARAMETER_PATH/app" >&2; exit 1; }
mv "$run_dir/app.env.new" "$run_dir/app.env"
host_env=$(fetch_parameters "$PARAMETER_PATH/host")
consumer_count=$(host_setting CONSUMER_COUNT)

# Local override for one host (e.g. more consumers on this host only): see terraform/README.md.
if [ -f /opt/registry/overrides.env ]; then
  # shellcheck source=/dev/null
  source /opt/registry/overrides.env
  consumer_count=${CONSUMER_COUNT:-$consumer_count}
fi

ca_url=$(host_setting MYSQL_CA_URL)
ca_sha256=$(host_setting MYSQL_CA_SHA256)
fetch_ca_bundle "$ca_url" "$ca_sha256" "$tls_dir/mysql-ca.pem"
/opt/registry/fetch-secrets.sh
/opt/registry/migrate.sh
/opt/registry/stop.sh

common=(
  --detach --restart unless-stopped
  --env-file "$run_dir/app.env"
  --volume "$secrets_dir:/run/secrets:ro"
  --volume "$tls_dir:/etc/registry/tls:ro"
  --log-opt max-size=20m --log-opt max-file=5
)

# The API on 8080 (the load balancer's port); /metrics only on 9090, published on loopback as
# 9100 for the CloudWatch agent.
docker run "${common[@]}" --name registry-producer --label registry.role=producer \
  --hostname "$(hostname -s)" --publish 8080:8080 --publish 127.0.0.1:9100:9090 \
  --env LISTEN_ADDR=0.0.0.0:8080 --env METRICS_ADDR=0.0.0.0:9090 \
  "$PRODUCER_IMAGE"

# Each consumer's health/metrics port is published on loopback only: 9101, 9102, ...
targets=("127.0.0.1:9100")
for i in $(seq 1 "${consumer_count:-1}"); do
  docker run "${common[@]}" --name "registry-consumer-$i" --label registry.role=consumer \
    --hostname "$(hostname -s)-consumer-$i" --publish "127.0.0.1:$((9100 + i)):9091" \
    --env METRICS_ADDR=0.0.0.0:9091 \
    "$CONSUMER_IMAGE"
  targets+=("127.0.0.1:$((9100 + i))")
done

# What the CloudWatch agent scrapes (file_sd of /opt/registry/cloudwatch-prometheus.yaml): the
# producer's metrics address and this host's consumers. Not secret; the agent re-reads it.
printf -- '- targets: [%s]\n' "$(printf '"%s",' "${targets[@]}" | sed 's/,$//')" >/opt/registry/prometheus-targets.yaml.new
chmod 0644 /opt/registry/prometheus-targets.yaml.new
mv /opt/registry/prometheus-targets.yaml.new /opt/registry/prometheus-targets.yaml
