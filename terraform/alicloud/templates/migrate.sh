#!/bin/bash
# The deploy-time migration: `consumer migrate` logs in with the privileged account (its password
# in a file that exists only for this run), creates the database, the tables and the application
# user, sets that user's password and grants it only what the apps need. Idempotent; run by
# run.sh before the containers start, and by hand after a new app password: sudo /opt/registry/migrate.sh
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
umask 077
# shellcheck source=lib.sh
source /opt/registry/lib.sh
# shellcheck source=/dev/null
source /opt/registry/images.env # CONSUMER_IMAGE (rewritten by CD)

host_env=$(fetch_parameters "$PARAMETER_PATH/host")
admin_url=$(host_setting MYSQL_ADMIN_URL)
app_user=$(host_setting MYSQL_APP_USER)
app_host=$(host_setting MYSQL_APP_HOST)
# The newest app password first, so that the migration sets what the apps will read.
/opt/registry/fetch-secrets.sh

admin_dir=$(mktemp -d "$run_dir/migrate.XXXXXX")
trap 'rm -rf "$admin_dir"' EXIT
secret_value mysql_admin_password | install_secret "$admin_dir/mysql_password"
chown "$container_uid:$container_uid" "$admin_dir"
chmod 0500 "$admin_dir"

# MYSQL_REQUIRE_TLS and MYSQL_CA_FILE come from app.env; the --env values below override it.
docker run --rm --name registry-migrate --label registry.role=migrate \
  --env-file "$run_dir/app.env" \
  --env MYSQL_URL="$admin_url" \
  --env MYSQL_PASSWORD_FILE=/run/admin/mysql_password \
  --env MYSQL_APP_USER="$app_user" \
  --env MYSQL_APP_HOST="$app_host" \
  --env MYSQL_APP_PASSWORD_FILE=/run/secrets/mysql_password \
  --volume "$admin_dir:/run/admin:ro" \
  --volume "$secrets_dir:/run/secrets:ro" \
  --volume "$tls_dir:/etc/registry/tls:ro" \
  --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges \
  "$CONSUMER_IMAGE" migrate
