# shellcheck shell=bash
# Throwaway Redis and MariaDB servers for the run and test commands.
#
# Source this file, then call `ensure_packages`, `start_redis DIR` and
# `start_mariadb DIR`. Each start exports the server's URL and pid
# (REDIS_URL/REDIS_PID, MYSQL_URL/MYSQL_PID); `stop_servers` stops only the
# processes started here, by pid.

SERVERS_STARTED_PIDS=()

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mERROR:\033[0m %s\n' "$*" >&2; exit 1; }

# Installs redis-server and mariadb-server with apt-get when they are missing.
ensure_packages() {
    local missing=()
    command -v redis-server >/dev/null || missing+=(redis-server)
    command -v mariadbd >/dev/null || command -v mysqld >/dev/null || missing+=(mariadb-server)
    [ ${#missing[@]} -eq 0 ] && return 0
    apt_install "${missing[@]}"
}

# Installs Debian packages, with sudo when not root; fails loudly when not allowed.
apt_install() {
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root or sudo to apt-get install $*"
        sudo=(sudo)
    fi
    log "installing $* with apt-get"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# Prints a TCP port that nothing listens on.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Waits until a TCP port accepts connections, or fails after $2 seconds.
wait_port() {
    local port=$1 secs=${2:-30} i
    for ((i = 0; i < secs * 10; i++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Starts redis-server with AOF persistence, data in DIR, on PORT (default: a free one), with
# any further arguments for redis-server (e.g. --maxmemory 256mb). Beyond a maxmemory, only
# keys with a TTL (cached users) are evicted, as in compose.yml and Terraform.
start_redis() {
    local dir port=${2:-$(free_port)}
    dir=$(realpath -m "$1")
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
        --save '' --daemonize no --logfile "$dir/redis.log" \
        --maxmemory-policy volatile-lru "${@:3}" &
    REDIS_PID=$!
    SERVERS_STARTED_PIDS+=("$REDIS_PID")
    wait_port "$port" 10 || die "redis-server did not start; see $dir/redis.log"
    export REDIS_URL="redis://127.0.0.1:$port" REDIS_PID
    log "redis-server pid $REDIS_PID on $REDIS_URL (data in $dir)"
}

# Starts MariaDB (root without password on 127.0.0.1), data in DIR, on PORT; its InnoDB buffer
# pool MARIADB_BUFFER_POOL (default 256M).
start_mariadb() {
    local dir port=${2:-$(free_port)} bin user=()
    dir=$(realpath -m "$1")
    bin=$(command -v mariadbd || command -v mysqld || echo /usr/sbin/mariadbd)
    [ "$(id -u)" -eq 0 ] && user=(--user=root)
    mkdir -p "$dir"
    if [ ! -d "$dir/data/mysql" ]; then
        log "initialising a MariaDB data folder in $dir/data"
        mariadb-install-db --no-defaults --datadir="$dir/data" "${user[@]}" \
            --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 \
            || die "mariadb-install-db failed; see $dir/install.log"
    fi
    "$bin" --no-defaults --datadir="$dir/data" "${user[@]}" --port="$port" \
        --bind-address=127.0.0.1 --socket="$dir/mysqld.sock" --pid-file="$dir/mysqld.pid" \
        --skip-name-resolve=0 --innodb-buffer-pool-size="${MARIADB_BUFFER_POOL:-256M}" --innodb-log-file-size=256M \
        --innodb-flush-log-at-trx-commit=1 --max-connections=500 \
        --log-error="$dir/mysqld.err" &
    MYSQL_PID=$!
    SERVERS_STARTED_PIDS+=("$MYSQL_PID")
    wait_port "$port" 60 || die "MariaDB did not start; see $dir/mysqld.err"
    export MYSQL_URL="mysql://root@127.0.0.1:$port/users" MYSQL_PID
    log "mariadbd pid $MYSQL_PID on 127.0.0.1:$port (data in $dir/data)"
}

# Stops every server started by this shell, by pid, and waits for them.
stop_servers() {
    local pid
    for pid in "${SERVERS_STARTED_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${SERVERS_STARTED_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    SERVERS_STARTED_PIDS=()
}
