#!/bin/bash
# Writes the containers' secrets into /run/registry/secrets (tmpfs), one file each, from Secrets
# Manager: mysql_password (the app user's, JSON .password) and redis_password (the AUTH token).
# Run by run.sh at every start and by registry-secrets.timer every 5 minutes (or on demand:
# systemctl start registry-secrets). The directory is mounted, not the files, so the running
# containers see a replaced file; the binaries re-read it when a login is refused.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
umask 077
# shellcheck source=lib.sh
source /opt/registry/lib.sh

exec 9>"$run_dir/secrets.lock"
flock 9
install -d -m 0500 -o "$container_uid" -g "$container_uid" "$secrets_dir"

host_env=$(fetch_parameters "$PARAMETER_PATH/host")
mysql_app_secret=$(host_setting MYSQL_APP_SECRET_ARN)
redis_auth_secret=$(host_setting REDIS_AUTH_SECRET_ARN)

secret_string "$mysql_app_secret" | jq -j '.password' | install_secret "$secrets_dir/mysql_password"
secret_string "$redis_auth_secret" | install_secret "$secrets_dir/redis_password"
