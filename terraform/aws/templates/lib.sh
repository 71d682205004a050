# Sourced by run.sh, fetch-secrets.sh and migrate.sh: paths, the settings reader and the writers
# of secret and CA files.
# shellcheck shell=bash
# The variables below are used by the scripts that source this file:
# shellcheck disable=SC2034
# shellcheck source=/dev/null
source /opt/registry/deployment.env # AWS_REGION, PARAMETER_PATH (identifiers, not secrets)
export AWS_REGION

# USER of Dockerfile.producer and Dockerfile.consumer: the only reader of the secret files.
container_uid=65532
run_dir=/run/registry              # tmpfs, root only: app.env, locks
secrets_dir=$run_dir/secrets       # tmpfs, the containers' uid only; mounted at /run/secrets
tls_dir=/opt/registry/tls          # public CA bundles; mounted at /etc/registry/tls
install -d -m 0700 "$run_dir"

# "NAME=value" lines of every parameter under a path (SecureStrings decrypted).
fetch_parameters() {
  aws ssm get-parameters-by-path --path "$1" --with-decryption --output json |
    jq -r '.Parameters[] | "\(.Name | split("/") | last)=\(.Value)"'
}

# host_setting NAME: a value of $host_env (the lines of "$PARAMETER_PATH/host", fetched by the caller).
# shellcheck disable=SC2154
host_setting() {
  local value
  value=$(sed -n "s/^$1=//p" <<<"$host_env")
  [[ -n $value ]] || { echo "no $1 under $PARAMETER_PATH/host" >&2; return 1; }
  printf '%s\n' "$value"
}

# The SecretString of a Secrets Manager secret on stdout (through a pipe: never an argument).
secret_string() {
  aws secretsmanager get-secret-value --secret-id "$1" --output json | jq -j '.SecretString'
}

# install_secret FILE: stdin becomes FILE atomically (a temporary file in the same directory,
# then a rename), owned by the containers' uid, mode 0400. Unchanged content leaves FILE alone.
install_secret() {
  local file=$1 tmp
  tmp=$(mktemp "$(dirname "$file")/.new.XXXXXX")
  cat >"$tmp"
  if [[ ! -s $tmp ]]; then
    rm -f "$tmp"
    echo "refusing an empty secret for $file" >&2
    return 1
  fi
  if [[ -f $file ]] && cmp -s "$tmp" "$file"; then
    rm -f "$tmp"
    return 0
  fi
  chown "$container_uid:$container_uid" "$tmp"
  chmod 0400 "$tmp"
  mv -f "$tmp" "$file"
  echo "updated $file"
}

# fetch_ca_bundle URL SHA256 FILE: downloads a CA bundle and keeps it only if its SHA-256 is the
# pinned one (a bundle swapped on the way, or changed upstream, stops the start instead).
fetch_ca_bundle() {
  local url=$1 sum=$2 file=$3 tmp
  install -d -m 0755 "$(dirname "$file")"
  if [[ -f $file ]] && sha256sum "$file" | grep -q "^$sum "; then
    return 0
  fi
  tmp=$(mktemp "$file.XXXXXX")
  curl -fsS --retry 5 --max-time 60 -o "$tmp" "$url"
  if ! printf '%s  %s\n' "$sum" "$tmp" | sha256sum --check --status; then
    echo "refusing $url: SHA-256 $(sha256sum "$tmp" | cut -d' ' -f1), pinned $sum" >&2
    rm -f "$tmp"
    return 1
  fi
  chmod 0444 "$tmp"
  mv -f "$tmp" "$file"
}
