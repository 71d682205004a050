#!/bin/bash
# Writes the containers' secrets into /run/registry/secrets (tmpfs), one file each, from OOS
# secret parameters: mysql_password (the application user's) and redis_password. Run by run.sh
# at every start and by registry-secrets.timer every 5 minutes (or: systemctl start
# registry-secrets). The directory is mounted, not the files, so the running containers see a
# replaced file; the binaries re-read it when a login is refused.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
umask 077
# shellcheck source=lib.sh
source /opt/registry/lib.sh

exec 9>"$run_dir/secrets.lock"
flock 9
install -d -m 0500 -o "$container_uid" -g "$container_uid" "$secrets_dir"

secret_value mysql_password | install_secret "$secrets_dir/mysql_password"
secret_value redis_password | install_secret "$secrets_dir/redis_password"
