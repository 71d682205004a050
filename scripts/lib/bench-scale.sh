# shellcheck shell=bash
# SECS, PRODUCER and the other capitals come from scripts/bench, which sources this file.
# shellcheck disable=SC2153
# The cost as users grow: `scripts/bench --scale`. Sourced by scripts/bench, whose settings
# (SECS, ROWS, REPEAT, CONNECTIONS, ...) and functions (run_wrk, drain_queue, ...) it uses.
#
# One deployment (key prefix and database `scale`) is measured at each level of stored users in
# BENCH_SCALE_LEVELS (default 0,1000000,10000000), seeded from one level to the next through
# MariaDB's sequence engine (ids 1..N, below the producer's time-based ids). At each level: the
# sizes (Redis used_memory, the users table's data and index), cached and uncached
# GET /api/users/ID, the list page with and without `before`, /api/stats, POST without and with
# an email, and the drain of ROWS queued users by one consumer into the seeded table; and the
# CPU per 1,000 users of each process during the POSTs and the drain. Only the
# HTTP API, Redis INFO/EXISTS/SCAN and SQL on the users table are used, so that the figures
# stay comparable whatever the producer does behind them.

SCALE=scale
# /api/stats gets fewer requests at once than the other loads (and a 30 s timeout): while it
# counts the table (COUNT(*)), one request at 10 M stored users takes seconds.
SCALE_STATS_CONNECTIONS=${BENCH_SCALE_STATS_CONNECTIONS:-8}

# Parses BENCH_SCALE_LEVELS into SCALE_LEVELS: ascending whole numbers.
scale_levels() {
    local level prev=-1
    IFS=, read -r -a SCALE_LEVELS <<<"${BENCH_SCALE_LEVELS:-0,1000000,10000000}"
    [ ${#SCALE_LEVELS[@]} -gt 0 ] || die "BENCH_SCALE_LEVELS names no level"
    for level in "${SCALE_LEVELS[@]}"; do
        if ! [[ $level =~ ^[0-9]+$ ]] || [ "$level" -le "$prev" ]; then
            die "BENCH_SCALE_LEVELS must be ascending whole numbers, e.g. 0,100000 (got $level)"
        fi
        prev=$level
    done
}

scale_sql() { sql "USE $SCALE; $1"; }

# "1 M", "100 k", "0": a level as the table shows it.
level_label() {
    local n=$1
    if [ "$n" -ge 1000000 ] && [ $((n % 1000000)) -eq 0 ]; then
        echo "$((n / 1000000)) M"
    elif [ "$n" -ge 1000 ] && [ $((n % 1000)) -eq 0 ]; then
        echo "$((n / 1000)) k"
    else
        echo "$n"
    fi
}

# Stores the users with ids $1+1..$2 through the sequence engine, in statements of
# BENCH_SCALE_CHUNK rows, logging the rate; records scale_<level>_seed {rows, secs, rate}.
# Every column as the consumer fills it: a unique lower-cased email (its key the same), a
# request id, acceptance and creation 3 s apart per id from 2025-01-01 on.
seed_users() {
    local from=$1 to=$2 chunk=${BENCH_SCALE_CHUNK:-250000} lo hi started secs
    step "scale: seeding users $((from + 1)) to $to"
    started=$(date +%s.%N)
    for ((lo = from + 1; lo <= to; lo += chunk)); do
        hi=$((lo + chunk - 1))
        [ "$hi" -le "$to" ] || hi=$to
        # The rows and their count (user_counts, which the consumers keep) in one transaction.
        scale_sql "START TRANSACTION;
            INSERT INTO users (id, name, email, email_key, request_id, accepted_at_ms, created_at)
            SELECT seq, CONCAT('Scale User ', seq), CONCAT('user', seq, '@scale.example'),
                CONCAT('user', seq, '@scale.example'), UUID(), (1735689600 + seq * 3) * 1000 - 40,
                TIMESTAMP'2025-01-01 00:00:00' + INTERVAL seq * 3 SECOND
            FROM seq_${lo}_to_${hi};
            INSERT INTO user_counts (slot, n) VALUES (0, $((hi - lo + 1))) ON DUPLICATE KEY UPDATE n = n + $((hi - lo + 1));
            COMMIT"
        secs=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}')
        log "    $hi of $to users stored, $(awk -v n=$((hi - from)) -v s="$secs" 'BEGIN {printf "%d", n / s}') rows/s over ${secs}s"
    done
    jq -n --argjson rows $((to - from)) --argjson secs "$secs" '{rows: $rows, secs: $secs, rate: ($rows / $secs)}' \
        | record "scale_${to}_seed"
}

# Waits until the producer has loaded every stored email into Redis (its marker), logging the
# filter's size meanwhile; records scale_<level>_emails_load {secs}.
wait_emails_loaded() {
    local level=$1 key="{$SCALE}:emails:filter:loaded" timeout=${BENCH_SCALE_LOAD_TIMEOUT:-3600} started=$SECONDS i=0
    step "scale: waiting for the producer to load the stored emails into Redis ($key)"
    until [ "$(redis-cli -p "$REDIS_PORT" exists "$key")" = 1 ]; do
        [ $((SECONDS - started)) -lt "$timeout" ] || die "the stored emails were not loaded within ${timeout}s"
        i=$((i + 1))
        [ $((i % 20)) -ne 0 ] || log "    $((SECONDS - started))s: filter $(redis-cli -p "$REDIS_PORT" strlen "{$SCALE}:emails:filter") bytes"
        sleep 0.5
    done
    jq -n --argjson secs $((SECONDS - started)) '{secs: $secs}' | record "scale_${level}_emails_load"
}

# Deletes every cached user of the deployment, so that the next reads go to MySQL.
forget_cached_users() {
    redis-cli -p "$REDIS_PORT" --scan --pattern "{$SCALE}:user:*" \
        | xargs -r -n 1000 redis-cli -p "$REDIS_PORT" unlink >/dev/null
}

reset_scale_queue() {
    redis-cli -p "$REDIS_PORT" del "{$SCALE}:queue" "{$SCALE}:pending" >/dev/null
    settle_redis
}

# Before and after each measured POST run: the queue emptied, then the CPU of the producer,
# Redis and MariaDB read (CPU_BEFORE), and what the run used added to CPU_USED. The mark is
# taken after the reset: deleting the last run's queue is not the next run's work.
cpu_run_start() {
    reset_scale_queue
    CPU_BEFORE=$(cpu_kinds "$PRODUCER_PID" "")
}

cpu_run_end() {
    CPU_USED=$(jq -n -c --argjson a "$CPU_BEFORE" --argjson b "$(cpu_kinds "$PRODUCER_PID" "")" \
        --argjson sum "${CPU_USED:-{\}}" '$b | with_entries(.value = .value - $a[.key] + ($sum[.key] // 0))')
}

# Drops the enqueues' outcome records (a ring of hashes that holds the last 30 to 37.5 s of
# enqueue answers, for a producer whose answer was lost: README, "Sizing Redis"), so that Redis's
# memory shows what stays with the stored users. Safe here only because nothing is enqueuing.
forget_outcomes() {
    local i
    for ((i = 0; i < 5; i++)); do
        redis-cli -p "$REDIS_PORT" unlink "{$SCALE}:outcomes:$i" >/dev/null
    done
}

# Redis's used_memory and the users table's size, as JSON.
scale_sizes() {
    local memory
    memory=$(redis-cli -p "$REDIS_PORT" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" {print $2}')
    scale_sql "ANALYZE TABLE users" >/dev/null
    scale_sql "SELECT data_length, index_length, table_rows FROM information_schema.tables
            WHERE table_schema = DATABASE() AND table_name = 'users'" \
        | jq -R -c --argjson memory "$memory" \
            'split("\t") | map(tonumber) | {redis_used_memory: $memory, mysql_data: .[0], mysql_index: .[1], rows_estimate: .[2]}'
}

# The CPU ticks of each kind of process, as JSON (pids: producer, consumers; may be empty).
cpu_kinds() {
    local producer=$1 consumers=$2
    # shellcheck disable=SC2086 # a list of pids
    jq -n -c --argjson producer "$([ -n "$producer" ] && cpu_ticks "$producer" || echo 0)" \
        --argjson redis "$(cpu_ticks "$REDIS_PID")" --argjson mysql "$(cpu_ticks "$MYSQL_PID")" \
        --argjson consumers "$([ -n "$consumers" ] && cpu_ticks $consumers || echo 0)" '$ARGS.named'
}

# Records under $1 the CPU (ms per 1,000 users) each kind used between the marks $2 and $3
# (ticks of 10 ms) for $4 users.
record_cpu() {
    jq -n -c --argjson a "$2" --argjson b "$3" --argjson users "$4" \
        '{users: $users} + ($b | with_entries(.value = ((.value - $a[.key]) * 10 * 1000 / $users)))' \
        | record "$1"
}

# The figures of one level (the deployment's producer runs, its emails loaded).
measure_level() {
    local level=$1 tag=scale_$1 ids mid i kind before after users stored label secs
    label=$(level_label "$level")
    forget_cached_users
    forget_outcomes
    reset_scale_queue
    scale_sizes | record "${tag}_size"
    if [ "$level" -gt 0 ]; then
        ids=$(seq 1 $(((level + 99) / 100)) "$level" | paste -sd,)
        mid=$((level / 2))
    else
        ids=$GET_IDS
        mid=$(tr , '\n' <<<"$GET_IDS" | sort -n | sed -n 50p)
    fi
    step "scale $label: cached GET /api/users/ID over 100 stored users, wrk $CONNECTIONS connections, ${SECS}s"
    BENCH_IDS=$ids run_wrk "" bench/wrk/get.lua "$PRODUCER" 2
    BENCH_IDS=$ids run_wrk "${tag}_get_cached" bench/wrk/get.lua "$PRODUCER" "$SECS"
    if [ "$level" -gt 0 ]; then
        # At most 50,000 reads a second before an id comes round again: short runs at small levels.
        secs=$((level / 50000))
        [ "$secs" -ge 1 ] || secs=1
        [ "$secs" -le "$SECS" ] || secs=$SECS
        step "scale $label: uncached GET /api/users/ID (ids 1..$level, none read before), ${secs}s"
        BEFORE_RUN=forget_cached_users BENCH_ID_COUNT=$level run_wrk "${tag}_get_uncached" bench/wrk/get.lua \
            "$PRODUCER" "$secs"
        [ $((WRK_REQUESTS / REPEAT)) -le "$level" ] \
            || log "WARNING: more reads than stored users at $label: some uncached reads found their user cached"
        forget_cached_users
    fi
    step "scale $label: GET /api/users?limit=50, and with before=$mid, ${SECS}s each"
    run_wrk "" bench/wrk/common.lua "$PRODUCER/api/users?limit=50" 2
    run_wrk "${tag}_list" bench/wrk/common.lua "$PRODUCER/api/users?limit=50" "$SECS"
    run_wrk "${tag}_list_before" bench/wrk/common.lua "$PRODUCER/api/users?limit=50&before=$mid" "$SECS"
    step "scale $label: GET /api/stats, wrk $SCALE_STATS_CONNECTIONS connections, ${SECS}s"
    CONNECTIONS=$SCALE_STATS_CONNECTIONS WRK_TIMEOUT=30s \
        run_wrk "${tag}_stats" bench/wrk/common.lua "$PRODUCER/api/stats" "$SECS"
    for i in 0 1; do
        kind=noemail
        [ "$i" = 0 ] || kind=email
        step "scale $label: POST /api/users $([ "$i" = 1 ] && echo with || echo without) an email, wrk $CONNECTIONS connections, ${SECS}s"
        reset_scale_queue
        BENCH_RUN=sw$i$level$$ BENCH_EMAIL=$i run_wrk "" bench/wrk/post.lua "$PRODUCER/api/users" 2
        CPU_USED=
        BEFORE_RUN=cpu_run_start AFTER_RUN=cpu_run_end BENCH_RUN=sm$i$level$$ BENCH_EMAIL=$i \
            run_wrk "${tag}_post_$kind" bench/wrk/post.lua "$PRODUCER/api/users" "$SECS"
        record_cpu "${tag}_cpu_post_$kind" \
            '{"producer":0,"redis":0,"mysql":0,"consumers":0}' "$CPU_USED" "$WRK_REQUESTS"
    done
    reset_scale_queue
    stored=$(scale_sql "SELECT COUNT(*) FROM users")
    step "scale $label: drain of $ROWS queued users by one consumer into the $stored stored"
    drain_queue "$SCALE" 1 "$TMP/scale-fill.jsonl" "$TMP/scale-drain.json" "$stored"
    # The servers' ticks since the consumer started; the consumer's whole life is the drain.
    before=$(read -r r m _ <<<"$DRAIN_MARK" && jq -n -c --argjson redis "$r" --argjson mysql "$m" \
        '{producer: 0, redis: $redis, mysql: $mysql, consumers: 0}')
    after=$(cpu_kinds "" "${CONSUMER_PIDS[*]}" | jq -c '.producer = 0')
    users=$(jq .users "$TMP/scale-drain.json")
    record "${tag}_drain" <"$TMP/scale-drain.json"
    record_cpu "${tag}_cpu_drain" "$before" "$after" "$users"
    for i in "${CONSUMER_PIDS[@]}"; do stop_pid "$i"; done
    # Back to the level: the drained users (bench fill's emails) leave, as does what they cached.
    # (By hand, so the count the consumers keep is corrected in the same transaction.)
    scale_sql "START TRANSACTION;
        SELECT COUNT(*) INTO @drained FROM users WHERE email_key LIKE 'bench.%' FOR UPDATE;
        DELETE FROM users WHERE email_key LIKE 'bench.%';
        INSERT INTO user_counts (slot, n) VALUES (0, -@drained) ON DUPLICATE KEY UPDATE n = n - @drained;
        COMMIT"
    forget_cached_users
}

# Every level of SCALE_LEVELS (scale_levels), seeded in turn.
measure_scale() {
    local level prev=0
    start_producer "$SCALE"
    step "scale: 100 users stored through the API (read at level 0; kept at every level)"
    prepare_cached_users
    for level in "${SCALE_LEVELS[@]}"; do
        if [ "$level" -gt "$prev" ]; then
            # The producer reads the highest stored id and loads the stored emails at start.
            stop_pid "$PRODUCER_PID"
            seed_users "$prev" "$level"
            redis-cli -p "$REDIS_PORT" del "{$SCALE}:emails:filter" "{$SCALE}:emails:filter:loaded" >/dev/null
            start_producer "$SCALE"
        fi
        wait_emails_loaded "$level"
        measure_level "$level"
        prev=$level
    done
    stop_pid "$PRODUCER_PID"
}

# The scale section of BENCHMARKS.md, between its markers (added at the end if absent).
write_scale() {
    local section commit levels labels
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    [ -z "$(git status --porcelain 2>/dev/null)" ] || commit="$commit with uncommitted changes"
    levels=$(printf '%s\n' "${SCALE_LEVELS[@]}" | jq -s -c .)
    labels=$(for level in "${SCALE_LEVELS[@]}"; do level_label "$level"; done | jq -R . | jq -s -c .)
    section=$(jq -s -r --argjson levels "$levels" --argjson labels "$labels" \
        --arg date "$(date -u '+%Y-%m-%d %H:%M UTC')" --arg commit "$commit" \
        --arg command "$([ -z "${BENCH_SCALE_LEVELS:-}" ] || echo "BENCH_SCALE_LEVELS=$BENCH_SCALE_LEVELS ")scripts/bench --scale" \
        --arg machine "$CPUS CPUs, $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, $(uname -sr)" \
        --arg load "$LOAD_BEFORE" --arg pinning "$PINNING" --arg repeat "$REPEAT" --arg secs "$SECS" \
        --arg rows "$ROWS" --arg connections "$CONNECTIONS" --arg stats_connections "$SCALE_STATS_CONNECTIONS" \
        --arg pool "$MARIADB_BUFFER_POOL" '
        (map({(.name): .}) | add) as $r
        | ($levels | length - 1) as $top
        | def fig(l; f): $r["scale_\(l)_\(f)"];
          def num(x): if x == null then "n/a" else (x | floor | tostring
              | until(test("^[0-9]{1,3}(,|$)"); sub("(?<a>[0-9])(?<b>[0-9]{3})(?<c>,|$)"; "\(.a),\(.b)\(.c)"))) end;
          def ms(x): if x == null then "n/a" else ((x * 100 | round) / 100 | tostring) end;
          def r2(x): ((x * 100 | round) / 100 | tostring);
          def r1(x): ((x * 10 | round) / 10 | tostring);
          # The figure at the first level that has it and at the top level (null unless both
          # exist and differ).
          def ends(f; k): [ $levels[] | fig(.; f)[k] | select(. != null) ] as $v
              | if ($v | length) >= 2 and fig($levels[$top]; f)[k] != null then [$v[0], $v[-1]] else [null, null] end;
          def rate_ratio(f; k): ends(f; k) as [$a, $b] | if $a and $b and $a > 0 then r2($b / $a) else "n/a" end;
          def lat_ratio(f; k): ends(f; k) as [$a, $b] | if $a and $b and $b > 0 then r2($a / $b) else "n/a" end;
          def cells(g): [ $levels[] | g ] | join(" | ");
          def rate_row(title; f; k): "| \(title) | \(cells(fig(.; f)[k] | num(.))) | \(rate_ratio(f; k)) |";
          def lat_row(title; f): "| \(title) p50 / p99, ms | \(cells(fig(.; f) as $x | if $x then "\(ms($x.p50_ms)) / \(ms($x.p99_ms))" else "n/a" end)) | \(lat_ratio(f; "p50_ms")) / \(lat_ratio(f; "p99_ms")) |";
          def http(title; f): rate_row(title + ", req/s"; f; "rps"), lat_row(title; f);
          def mib(x): if x == null then "n/a" else ((x / 1048576 * 10 | round) / 10 | tostring) end;
          ($r.scale_0_size.redis_used_memory) as $base
          | def cpu_row(title; l; f): fig(l; f) as $c
              | if $c == null then empty else
                "| \(title) at \($labels[$levels | index(l)]) stored | \(num($c.users)) | \(r1($c.producer)) | \(r1($c.redis)) | \(r1($c.mysql)) | \(r1($c.consumers)) | \(r1($c.producer + $c.redis + $c.mysql + $c.consumers)) |" end;
        [ "<!-- scale:begin (written by scripts/bench --scale; edits here are lost) -->",
          "## Cost as users grow",
          "",
          "`\($command)`, \($date), commit \($commit); \($machine); load before: \($load); \($pinning).",
          "One deployment measured at each level of stored users (seeded through MariaDB'"'"'s sequence engine, ids 1..N, plus 100 users stored through the API); MariaDB with a \($pool) InnoDB buffer pool (as RDS sizes the AWS prod database: 3/4 of its 4 GiB). Each HTTP figure the best of \($repeat) run(s) of wrk, \($connections) connections (`/api/stats`: \($stats_connections)), \($secs) s; the drain: \($rows) queued users by one consumer into the seeded table. Cached `GET`: 100 stored users read again and again; uncached: ids never read before at that level, for at most one second per 50,000 stored users (none at 0 stored users, whose ratio is then taken from the first level that has it). The ratio column is the top level'"'"'s rate over the first level'"'"'s, and for latencies the first level'"'"'s over the top'"'"'s: 0.8 or more means the figure kept its cost.",
          "",
          "| figure | \($labels | join(" | ")) | \($labels[$top]) / \($labels[0]) |",
          "|---|\([$levels[] | "---"] | join("|"))|---|",
          http("`POST /api/users` without email"; "post_noemail"),
          http("`POST /api/users` with an email"; "post_email"),
          http("cached `GET /api/users/ID`"; "get_cached"),
          http("uncached `GET /api/users/ID`"; "get_uncached"),
          http("`GET /api/users?limit=50`"; "list"),
          http("`GET /api/users?limit=50&before=` (mid-table)"; "list_before"),
          http("`GET /api/stats`"; "stats"),
          rate_row("drain by one consumer, users/s"; "drain"; "rate"),
          "| Redis `used_memory`, MiB | \(cells(mib(fig(.; "size").redis_used_memory))) | |",
          "| Redis bytes per stored user above 0 | \(cells(. as $l | if $l > 0 and $base then (((fig($l; "size").redis_used_memory - $base) / $l * 10 | round) / 10 | tostring) else "" end)) | |",
          "| MySQL `users` data + index, MiB | \(cells("\(mib(fig(.; "size").mysql_data)) + \(mib(fig(.; "size").mysql_index))")) | |",
          "| seeding to this level, rows/s | \(cells(num(fig(.; "seed").rate))) | |",
          "| loading the stored emails into Redis after a restart, s | \(cells(fig(.; "emails_load").secs // "n/a" | tostring)) | |",
          "",
          "CPU per 1,000 users: ms of CPU time (utime + stime, /proc/PID/stat) each process used per 1,000 users accepted (`POST`, the measured runs only) or stored (the drain).",
          "",
          "| load | users | producer | Redis | MariaDB | consumer | total |",
          "|---|---|---|---|---|---|---|",
          ([$levels[0], $levels[$top]] | unique | .[] as $l | cpu_row("`POST` without email"; $l; "cpu_post_noemail")),
          ([$levels[0], $levels[$top]] | unique | .[] as $l | cpu_row("`POST` with an email"; $l; "cpu_post_email")),
          ([$levels[0], $levels[$top]] | unique | .[] as $l | cpu_row("drain by one consumer"; $l; "cpu_drain")),
          "<!-- scale:end -->" ] | join("\n")' "$RESULTS")
    write_section scale "$section"
}
