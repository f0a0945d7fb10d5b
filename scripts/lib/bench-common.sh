# shellcheck shell=bash
# Sourced by scripts/bench.sh and scripts/bench-growth.sh: what both benchmarks do the same way,
# so that their figures are taken by one method.
#
#   bench_start           builds stockd and stockd-bench, notes the measured commit, starts the
#                         throwaway PostgreSQL (scripts/lib/throwaway-postgres.sh)
#   bench_auth_setup      sets `auth` (environment for stockd) and `auth_mode`; with AUTH=1 one
#                         bearer token holding every role the benchmark uses, as deployed
#   start_stockd VAR ENV… starts `stockd serve` with ENV on a free port; sets VAR to its address
#                         and appends its pid to `stockd_pids`
#   baseline_setup        creates and loads the `baseline` database; sets `baseline_url`
#   baseline SCRIPT N [URL DIR]  runs a pgbench script of BENCH_DIR (or DIR) at N clients on the
#                         baseline database (or URL), sets `tps` (cached per script, count and
#                         database until `tps_of` is emptied)
#   server_buckets ADDR M the service's own latency histogram of method M (OK calls), when the
#                         stockd at ADDR serves metrics (METRICS=1); `server_latency` reads two
#   settle URL            VACUUM (ANALYZE) and CHECKPOINT: the same footing before every run
#   profiled NAME CMD…    runs CMD; with PROFILE_DIR set, profiles the whole machine meanwhile
#   say / field / ratio   result lines, kept for the summary

# shellcheck source=scripts/lib/throwaway-postgres.sh
. scripts/lib/throwaway-postgres.sh

# Builds the service and the load generator, notes the commit, starts the throwaway PostgreSQL.
bench_start() {
  ensure_profiler
  cargo build --release --quiet --bin stockd --bin stockd-bench
  measured_commit
  stockd_pg_start stockd
}

psql_() { "$STOCKD_PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 "$@"; }

bench_auth_setup() {
  auth=(STOCKD_AUTH_DISABLED=true) auth_mode=off
  if [ "${AUTH:-1}" = 1 ] && target/release/stockd --help 2>/dev/null | grep -q hash-token; then
    STOCKD_BENCH_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    export STOCKD_BENCH_TOKEN
    # stockd refuses a tokens file that others may read.
    (umask 077 && echo "$(echo "$STOCKD_BENCH_TOKEN" | target/release/stockd hash-token)" \
      "storefront,checkout,fulfilment,admin name=bench" >"$STOCKD_PG_DIR/bench-tokens")
    auth=(STOCKD_AUTH_TOKENS_FILE="$STOCKD_PG_DIR/bench-tokens") auth_mode=tokens
  fi
}

stockd_pids=()
declare -A metrics_of
start_stockd() {
  local var=$1 listen metrics=()
  shift
  listen="127.0.0.1:$(STOCKD_PG_PORT=$((50151 + 100 * ${#stockd_pids[@]})) stockd_pg_free_port)"
  if [ "${METRICS:-0}" = 1 ]; then
    metrics_of[$listen]="127.0.0.1:$(STOCKD_PG_PORT=$((59151 + 100 * ${#stockd_pids[@]})) stockd_pg_free_port)"
    metrics=(STOCKD_METRICS_ADDR="${metrics_of[$listen]}")
  fi
  env "${auth[@]}" "${metrics[@]}" STOCKD_GRPC_ADDR="$listen" STOCKD_SWEEP_INTERVAL=86400 \
    RUST_LOG=warn "$@" target/release/stockd serve &
  stockd_pids+=($!)
  printf -v "$var" '%s' "$listen"
  await_health "$listen"
}

stop_stockd() {
  local pid
  for pid in "${stockd_pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  stockd_pids=()
}

await_health() {
  for _ in $(seq 1 100); do
    target/release/stockd health-check --addr "http://$1" >/dev/null 2>&1 && break
    sleep 0.1
  done
}

baseline_setup() {
  local pg_url_base=${DATABASE_URL%/*}
  baseline_url=$pg_url_base/baseline
  psql_ "$pg_url_base/postgres" -c "CREATE DATABASE baseline"
  PGOPTIONS="-c client_min_messages=warning" psql_ "$baseline_url" -f "$BENCH_DIR/setup.sql" >/dev/null
}

summary=()
say() { echo "$1"; summary+=("$1"); }
field() { sed -n "s/.* $2=\\([^ ]*\\).*/\\1/p" <<<"$1"; }
ratio() { # name numerator denominator
  say "$(awk -v n="$1" -v a="$2" -v b="$3" \
    'BEGIN { if (b > 0) printf "ratio %s = %.2f", n, a / b; else printf "ratio %s = n/a", n }')"
}

settle() { psql_ "$1" -c "VACUUM (ANALYZE)" -c "CHECKPOINT" >/dev/null; }

# Runs a command. With PROFILE_DIR set, samples every CPU's call stacks while it runs (`perf
# record -a -g` at PROFILE_HZ per second) and leaves in PROFILE_DIR the stacks folded one per line
# under their thread's name (NAME.folded), a flame graph of them (NAME.svg) and a summary
# (NAME.txt, also printed): the share of samples per thread name (`swapper` is idle time) and the
# functions most often on top of a stack. Frame pointers are not kept by the release build or by
# PostgreSQL's packages, so stacks are shallow; the functions on top are exact.
profiled() {
  local name=$1 perf_pid status=0
  shift
  if [ -z "${PROFILE_DIR:-}" ]; then
    "$@"
    return
  fi
  mkdir -p "$PROFILE_DIR"
  perf record -a -g -F "${PROFILE_HZ:-499}" -o "$PROFILE_DIR/$name.perf" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 0.5 # perf needs a moment before it samples
  "$@" || status=$?
  kill -INT "$perf_pid"
  wait "$perf_pid" || true
  perf script -i "$PROFILE_DIR/$name.perf" 2>/dev/null | inferno-collapse-perf >"$PROFILE_DIR/$name.folded"
  # Frames under a pixel wide (1/1200 of the samples) are left out: invisible, and most of the file.
  inferno-flamegraph --title "$name" --minwidth 1 <"$PROFILE_DIR/$name.folded" >"$PROFILE_DIR/$name.svg"
  rm -f "$PROFILE_DIR/$name.perf"
  profile_summary "$PROFILE_DIR/$name.folded" | tee "$PROFILE_DIR/$name.txt" >&2
  return "$status"
}

# Shares of a folded profile's samples: per thread name, then the 15 functions most often on top.
profile_summary() {
  awk '{
    n = $NF; $NF = ""; total += n
    split($0, frames, ";"); thread = frames[1]; leaf = frames[length(frames)]
    sub(/ +$/, "", leaf); by_thread[thread] += n; by_leaf[thread "  " leaf] += n
  } END {
    for (t in by_thread) printf "thread %6.2f %%  %s\n", 100 * by_thread[t] / total, t | "sort -k2,2nr"
    close("sort -k2,2nr")
    for (l in by_leaf) printf "top    %6.2f %%  %s\n", 100 * by_leaf[l] / total, l | "sort -k2,2nr | head -15"
  }' "$1"
}

ensure_profiler() {
  [ -z "${PROFILE_DIR:-}" ] && return
  command -v perf >/dev/null || { echo "PROFILE_DIR needs perf (apt-get install linux-perf)" >&2; exit 1; }
  command -v inferno-flamegraph >/dev/null ||
    { echo "PROFILE_DIR needs inferno (cargo install inferno)" >&2; exit 1; }
}

declare -A tps_of
baseline() {
  local script=$1 c=$2 url=${3:-$baseline_url} dir=${4:-$BENCH_DIR} j out lat key
  key=$script@$c@$url
  if [ -n "${tps_of[$key]:-}" ]; then tps=${tps_of[$key]}; return; fi
  j=$((c < 2 ? c : 2))
  psql_ "$url" -f "$dir/reset.sql" >/dev/null
  echo "  pgbench $script c=$c:" >&2
  out=$(profiled "baseline-$script-$c" "$STOCKD_PG_BIN/pgbench" -n -M prepared -c "$c" -j "$j" \
    -T "$DURATION" -P 1 -f "$dir/$script.sql" "$url") || { echo "pgbench $script failed" >&2; out=; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' <<<"$out")
  lat=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' <<<"$out")
  tps=${tps:-0}
  tps_of[$key]=$tps
  local extra=""
  [ "$script" = read_batch50 ] && extra=" skus_per_s=$(awk -v t="$tps" 'BEGIN { printf "%.1f", t * 50 }')"
  say "scenario=baseline_$script clients=$c seconds=$DURATION tps=$tps lat_avg_ms=$lat$extra${3:+ database=${url##*/}}"
}

# pgbench opens one connection per client: make room for $1 clients beside the stockd pools.
make_room_for() {
  if [ $(($1 + 20)) -gt 300 ]; then
    psql_ "$DATABASE_URL" -c "ALTER SYSTEM SET max_connections = $(($1 + 50))"
    stockd_pg_as_owner "$STOCKD_PG_BIN/pg_ctl" -D "$STOCKD_PG_DIR/data" \
      -l "$STOCKD_PG_DIR/server.log" -w restart >/dev/null
  fi
}

setting() { psql_ "$DATABASE_URL" -Atc "SHOW $1"; }

# The first line of a run: when, which code, which machine and server settings.
run_header() {
  echo "# $(date -u +%FT%TZ) run=$RUN commit=$commit nproc=$(nproc)" \
    "mem_gib=$(awk '/MemTotal/ {printf "%.0f", $2 / 1048576}' /proc/meminfo)" \
    "pg=$(psql_ "$DATABASE_URL" -Atc 'SHOW server_version')" \
    "synchronous_commit=$(setting synchronous_commit) fsync=$(setting fsync)" \
    "shared_buffers=$(setting shared_buffers) max_connections=$(setting max_connections)" \
    "auth=$auth_mode $*"
}

# Which code is measured: the commit, and whether the service's sources differ from it.
measured_commit() {
  commit=$(git rev-parse --short HEAD 2>/dev/null || echo none)
  if ! GIT_OPTIONAL_LOCKS=0 git diff --quiet HEAD -- src migrations ':!src/bin/stockd-bench' \
    2>/dev/null; then
    commit="$commit+changes"
  fi
}

# Stops the stockd started last (a replica only one scenario needs).
stop_last_stockd() {
  local pid=${stockd_pids[-1]}
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset 'stockd_pids[-1]'
}

# Loads the tables the availability query reads into shared_buffers on database $1, so that a
# measurement after a bulk write does not read the catalogue back from the operating system.
prewarm() {
  PGOPTIONS="-c client_min_messages=warning" psql_ "$1" \
    -c "CREATE EXTENSION IF NOT EXISTS pg_prewarm" -c "SELECT \
    sum(pg_prewarm(c.oid)) FROM pg_class c WHERE c.relname IN ('source_item', \
    'source_item_pkey', 'source_item_sku_idx', 'product_settings', 'product_settings_pkey', \
    'stock_sku', 'stock_sku_pkey', 'cart_hold', 'cart_hold_sku_idx')" \
    >/dev/null
}

# Gives every SKU of stock 1 on database $1 ($2 SKUs) its totals row, as a store that has sold
# them has (the catalogue's writes create them; this also covers a service that did not).
ensure_totals_rows() {
  psql_ "$1" <<SQL
INSERT INTO stock_sku (stock_id, sku)
  SELECT 1, 'SKU' || g FROM generate_series(1, $2) g ON CONFLICT DO NOTHING;
ANALYZE;
SQL
}

# Appends $3 ledger rows of closed orders (placed, then cancelled) over $2 SKUs to database $1,
# straight in SQL, and prints the ledger's row count.
append_ledger_history() {
  local half=$(($3 / 2))
  psql_ "$1" <<SQL
INSERT INTO sales_order (order_id, stock_id, channel_type, channel_code, fingerprint, status,
                         created_at, closed_at)
  SELECT 'history-' || g, 1, 'website', 'base', '', 'CLOSED', now(), now()
  FROM generate_series(1, $half) g;
INSERT INTO reservation (stock_id, sku, quantity, event, order_id, object_id, created_at)
  SELECT 1, 'SKU' || (1 + g % $2), q, e, 'history-' || g, 'history-' || g, now()
  FROM generate_series(1, $half) g,
       (VALUES (-1, 'ORDER_PLACED'), (1, 'ORDER_CANCELED')) AS v(q, e);
ANALYZE;
SQL
  psql_ -tA "$1" -c "SELECT count(*) FROM reservation"
}

# Cumulative OK calls of method $2 per latency bucket ("le count" lines), from the metrics of the
# stockd serving gRPC at $1; nothing when it serves none.
server_buckets() {
  local metrics=${metrics_of[$1]:-}
  [ -n "$metrics" ] || return 0
  curl -fsS "http://$metrics/metrics" | awk -v m="method=\"$2\"" '
    index($0, "stockd_grpc_request_duration_seconds_bucket{") == 1 && index($0, m) &&
    index($0, "code=\"OK\"") { match($0, /le="[^"]*"/); print substr($0, RSTART + 4, RLENGTH - 5), $NF }'
}

# The service's own latency between two readings of server_buckets ($1 before, $2 after) against
# a target of $3 ms (a bucket bound), as " server_calls=N server_p99_le_ms=B
# server_over_target_pct=P" (B: the bucket holding the 99th percentile); nothing without readings.
server_latency() {
  [ -n "$2" ] || return 0
  awk -v target="$3" 'NR == FNR { before[$1] = $2; next } { le[++n] = $1; count[n] = $2 - before[$1] }
    END {
      total = count[n]; if (total <= 0) exit
      for (i = 1; i <= n; i++) {
        if (p99 == "" && count[i] >= 0.99 * total) p99 = le[i] == "+Inf" ? "inf" : le[i] * 1000
        if (le[i] != "+Inf" && le[i] * 1000 == target) within = count[i]
      }
      printf " server_calls=%d server_p99_le_ms=%s server_over_target_pct=%.2f", total, p99, (total - within) * 100 / total
    }' <(printf '%s\n' "$1") <(printf '%s\n' "$2")
}
