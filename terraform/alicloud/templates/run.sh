#!/bin/bash
# Started by registry.service: reads the settings from OOS secret parameters (ECS RAM role), then
# (re)starts the producer and CONSUMER_COUNT consumers.
set -euo pipefail
umask 077

# shellcheck source=/dev/null
source /opt/registry/deployment.env # REGION, RAM_ROLE, PARAMETER_PATH
# shellcheck source=/dev/null
source /opt/registry/images.env # PRODUCER_IMAGE, CONSUMER_IMAGE (rewritten by CD)

run_dir=/run/registry
install -d -m 0700 "$run_dir"

aliyun oos GetSecretParametersByPath --mode EcsRamRole --ram-role-name "$RAM_ROLE" --region "$REGION" \
  --Path "$PARAMETER_PATH" --WithDecryption true --MaxResults 50 |
  jq -r '.Parameters[] | "\(.Name | split("/") | last)=\(.Value)"' >"$run_dir/all.env"

grep -q '^REDIS_URL=' "$run_dir/all.env" || { echo "no settings under $PARAMETER_PATH" >&2; exit 1; }
consumer_count=$(sed -n 's/^CONSUMER_COUNT=//p' "$run_dir/all.env")
sed -n 's/^MYSQL_PASSWORD=//p' "$run_dir/all.env" | tr -d '\n' >"$run_dir/mysql_password"
chmod 0444 "$run_dir/mysql_password"
grep -v -e '^CONSUMER_COUNT=' -e '^MYSQL_PASSWORD=' "$run_dir/all.env" >"$run_dir/app.env"
rm -f "$run_dir/all.env"

if [ -f /opt/registry/overrides.env ]; then
  # shellcheck source=/dev/null
  source /opt/registry/overrides.env
  consumer_count=${CONSUMER_COUNT:-$consumer_count}
fi

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

for i in $(seq 1 "${consumer_count:-1}"); do
  docker run "${common[@]}" --name "registry-consumer-$i" --label registry.role=consumer \
    --hostname "$(hostname -s)-consumer-$i" --publish "127.0.0.1:$((9100 + i)):9091" \
    --env METRICS_ADDR=0.0.0.0:9091 \
    "$CONSUMER_IMAGE"
done
