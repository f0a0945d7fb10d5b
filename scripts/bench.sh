#!/usr/bin/env bash
# Benchmarks stockd against raw PostgreSQL on the same server, in one invocation.
#
# Starts a durable throwaway PostgreSQL (fsync and synchronous_commit on), a release build of
# stockd on it, and loads the benchmark catalogue through the API (SKUS products, 5 sources,
# 2 stocks, mixed backorder settings). Then, for each scenario in SCENARIOS, it runs the stockd
# scenario over gRPC and, right after it, the matching pgbench baseline of ../shared/bench against
# a separate database (`baseline`, loaded with setup.sql, reset with reset.sql before each run)
# on the same server, with the same client count and duration, and prints `ratio <name> = X.XX`:
#
#   availability  GetSalableQuantities of BATCH SKUs   vs read_batch50    SKUs/s vs tps x 50
#                 (at every AVAILABILITY_CLIENTS count, then at half the best rate for p99)
#   checkout      PlaceOrder of 1-5 random lines       vs uniform_update  lines/s vs tps
#                 (at every CHECKOUT_CLIENTS count, then at half the best rate for p99)
#   flash         one-unit PlaceOrder on one hot SKU,  vs hot_update      reserved/s vs tps
#                 then a sell-out that must not oversell  (hot_sfu and ledger_hot printed too)
#                 (at every FLASH_CLIENTS count)
#   mix           90 % availability, 9 % orders,       vs read_batch50    calls/s vs tps
#                 1 % shipments
#   cached        availability again, against a second stockd on the same database with the
#                 availability cache on (STOCKD_AVAILABILITY_CACHE_MS=AVAILABILITY_CACHE_MS; its
#                 entries end on change notices from the first, which takes the writes), after a
#                 WARMUP-second unmeasured pass (vs read_batch50 at every AVAILABILITY_CLIENTS
#                 count, then at half the best rate for p99); then, at CLIENTS, a skewed load
#                 (HOT_SHARE % of the picks from SKU1..HOT_SKUS) without and with the cache, and
#                 the mix against the cached replica.
#   overload      not run by default: checkout at OVERLOAD_CLIENTS callers that each send a
#                 deadline of OVERLOAD_DEADLINE_MS with every call, more than the database can
#                 answer in time, first retrying at once, then waiting the RetryInfo delay of a
#                 refusal; prints the orders answered per second and how the others ended
#                 (UNAVAILABLE: refused at once because the queue would have made them late;
#                 CANCELLED: the deadline passed). No baseline.
#   storage       not run by default, and best run alone (it writes orders straight into the
#                 database): other storage designs for PlaceOrder emulated in SQL
#                 (scripts/storage/README.md), each at STORAGE_CLIENTS batches in flight,
#                 printing the CPU time per reserved line next to uniform_update's at 64 clients,
#                 and per availability call of 50 SKUs next to read_batch50's
#
# stockd-bench prints one `scenario=… key=value …` line per run on stdout and a progress line on
# stderr every second; pgbench's progress also goes to stderr. Every result and ratio line is
# repeated in a summary at the end.
#
# With LEDGER_ROWS=N (e.g. 1000000) it then makes sure every SKU of stock 1 has a totals row
# (the catalogue's writes create them; older services left them to first orders), runs the
# availability scenario, appends N ledger rows of closed orders straight into the database and
# runs it again, to show its cost does not grow with history (the sweeper is kept idle so the
# rows stay). Both runs start with the tables the availability query
# reads loaded into shared_buffers (pg_prewarm).
#
# With CONSISTENCY_ORDERS=N it adds N open orders (one line each, with their ledger rows and one
# deliberate inconsistency) and times the streaming consistency check over them, printing the
# service's peak memory before and after.
#
#   SKUS=100000 BATCH=50 CLIENTS=16 DURATION=15 scripts/bench.sh
#   SCENARIOS="flash" FLASH_CLIENTS="64" DURATION=10 scripts/bench.sh
#   SCENARIOS="" LEDGER_ROWS=1000000 scripts/bench.sh
#
# Knobs (defaults in brackets): SKUS [100000]  BATCH [50]  CLIENTS [16]  DURATION [15] seconds
#   SCENARIOS ["availability checkout flash mix cached"]  AVAILABILITY_CACHE_MS [600000]
#   WARMUP [10] (seconds of unmeasured calls that fill the cache)
#   HOT_SKUS [1000]  HOT_SHARE [90] (for "cached")  AVAILABILITY_CLIENTS ["4 $CLIENTS 64"]
#   CHECKOUT_CLIENTS ["$CLIENTS 64"]  FLASH_CLIENTS ["64 256 512"]
#   HALF_LOAD [1] (0 skips the half-rate latency runs)  HALF_LOAD_CLIENTS [64] (fewest callers
#   of a half-rate run: the callers of the best rate if more)
#   STOCKD_PG_SHARED_BUFFERS [256MB] (PostgreSQL's buffer cache, for the stockd and baseline
#   databases alike)  POOL [16] (stockd's connection pool)  BENCH_DIR [../shared/bench]  LEDGER_ROWS [0]
#   CONSISTENCY_ORDERS [0]  AUTH [1] (0 serves without authentication)
#   METRICS [0] (1: each replica serves metrics, and each half-rate line adds the service's own
#   latency from its histogram: server_p99_le_ms, server_over_target_pct)
#   WORKERS [0] (STOCKD_WORKER_THREADS of both stockd replicas; 0 leaves one per core)
#   OVERLOAD_CLIENTS ["1000 2000"]  OVERLOAD_DEADLINE_MS [200]
#   STORAGE_CLIENTS [4]  STORAGE_VARIANTS ["current stock_row order_row both_with_ledger both"]
#   STORAGE_READ_VARIANTS ["read_current read_stock_row"]
#   RUN [r<UTC time>] (prefix of the order ids, so runs on one database never collide)
#   PROFILE_DIR [unset] (set: every availability, checkout and flash run and every baseline is
#   profiled with `perf record -a -g`, leaving NAME.folded, NAME.svg (a flame graph) and NAME.txt
#   there; needs perf and inferno)  PROFILE_HZ [499] (samples per second and CPU)
set -euo pipefail
cd "$(dirname "$0")/.."

SKUS=${SKUS:-100000}
BATCH=${BATCH:-50}
CLIENTS=${CLIENTS:-16}
DURATION=${DURATION:-15}
SCENARIOS=${SCENARIOS-"availability checkout flash mix cached"}
AVAILABILITY_CLIENTS=${AVAILABILITY_CLIENTS:-"4 $CLIENTS 64"}
CHECKOUT_CLIENTS=${CHECKOUT_CLIENTS:-"$CLIENTS 64"}
FLASH_CLIENTS=${FLASH_CLIENTS:-"64 256 512"}
HALF_LOAD=${HALF_LOAD:-1}
HALF_LOAD_CLIENTS=${HALF_LOAD_CLIENTS:-64}
AVAILABILITY_CACHE_MS=${AVAILABILITY_CACHE_MS:-600000}
WARMUP=${WARMUP:-10}
HOT_SKUS=${HOT_SKUS:-1000}
HOT_SHARE=${HOT_SHARE:-90}
POOL=${POOL:-16}
BENCH_DIR=${BENCH_DIR:-../shared/bench}
LEDGER_ROWS=${LEDGER_ROWS:-0}
CONSISTENCY_ORDERS=${CONSISTENCY_ORDERS:-0}
AUTH=${AUTH:-1}
WORKERS=${WORKERS:-0}
OVERLOAD_CLIENTS=${OVERLOAD_CLIENTS:-"1000 2000"}
OVERLOAD_DEADLINE_MS=${OVERLOAD_DEADLINE_MS:-200}
STORAGE_CLIENTS=${STORAGE_CLIENTS:-4}
STORAGE_VARIANTS=${STORAGE_VARIANTS:-"current stock_row order_row both_with_ledger both"}
STORAGE_READ_VARIANTS=${STORAGE_READ_VARIANTS:-"read_current read_stock_row"}
RUN=${RUN:-r$(date -u +%Y%m%d%H%M%S)}

started=$(date +%s)
# shellcheck source=scripts/lib/bench-common.sh
. scripts/lib/bench-common.sh
bench_start

# pgbench opens one connection per client: make room for the largest client count.
most=$POOL
for c in $CLIENTS $AVAILABILITY_CLIENTS $CHECKOUT_CLIENTS $FLASH_CLIENTS; do
  if [ "$c" -gt "$most" ]; then most=$c; fi
done
make_room_for $((most + POOL))

bench_auth_setup
workers=()
if [ "$WORKERS" -gt 0 ]; then workers=(STOCKD_WORKER_THREADS="$WORKERS"); fi
trap 'stop_stockd; stockd_pg_stop' EXIT
# The first replica reads PostgreSQL on every call (the availability cache off), so the uncached
# figures measure the database path; the "cached" scenario starts a second replica with it on.
start_stockd addr "${workers[@]}" STOCKD_DB_MAX_CONNECTIONS="$POOL" STOCKD_AVAILABILITY_CACHE_MS=0
bench() { target/release/stockd-bench --addr "http://$addr" "$@"; }

baseline_setup
run_header "pool=$POOL workers=$WORKERS skus=$SKUS batch=$BATCH clients=$CLIENTS duration=${DURATION}s"

# Same footing before every measured run: no dirty pages left from the previous one, fresh
# statistics.
settle_stockd() { settle "$DATABASE_URL"; }

# The service's own share of a half-rate line's latency, when it was read (METRICS=1).
own_latency() {
  local p99
  p99=$(field "$1" server_p99_le_ms)
  [ -z "$p99" ] || echo "; in the service: p99 <= $p99 ms, $(field "$1" server_over_target_pct) % over the target"
}

# Callers of a half-rate (open-loop) run: those of the best rate, at least HALF_LOAD_CLIENTS. A
# caller waits for its previous answer before it sends, so with few callers one slow answer makes
# the caller's next calls leave late and the schedule stops being an open loop.
half_clients() { echo $(($1 > HALF_LOAD_CLIENTS ? $1 : HALF_LOAD_CLIENTS)); }

echo "== catalogue" >&2
bench load --skus "$SKUS"
# A store has orders, and PostgreSQL plans (foreign-key checks included) by table statistics: on
# empty order tables they scan sequentially until autovacuum analyzes them, which no 15-second run
# waits for. A short warm-up of orders and an ANALYZE give every scenario a store's footing.
echo "== warm-up" >&2
bench checkout --skus "$SKUS" --clients 16 --duration 3 --run "$RUN-warmup" --quiet >/dev/null
psql_ "$DATABASE_URL" -c "ANALYZE" >/dev/null

failed=0

# Availability at every AVAILABILITY_CLIENTS count against the stockd at $1, reported as $2 (with
# $3 appended to each result line), then at half the best rate for p99.
availability_runs() {
  local target=$1 name=$2 suffix=$3 best=0 best_clients=$CLIENTS c line rate half units
  for c in $AVAILABILITY_CLIENTS; do
    settle_stockd
    line=$(profiled "$name-$c" target/release/stockd-bench --addr "http://$target" availability \
      --skus "$SKUS" --batch "$BATCH" --clients "$c" --duration "$DURATION" --run "$RUN")
    say "$line$suffix"
    baseline read_batch50 "$c"
    units=$(awk -v t="$tps" 'BEGIN { print t * 50 }')
    ratio "$name@$c" "$(field "$line" skus_per_s)" "$units"
    if [ "$c" = "$CLIENTS" ]; then
      ratio "$name" "$(field "$line" skus_per_s)" "$units"
    fi
    rate=$(field "$line" calls_per_s)
    if awk -v a="$best" -v b="$rate" 'BEGIN { exit !(b > a) }'; then best=$rate best_clients=$c; fi
  done
  if [ "$HALF_LOAD" = 1 ]; then
    # Half the best rate, offered by the callers that reached the best, at least HALF_LOAD_CLIENTS.
    half=$(awk -v b="$best" 'BEGIN { printf "%.1f", b / 2 }')
    settle_stockd
    served=$(server_buckets "$target" GetSalableQuantities)
    line=$(profiled "$name-half" target/release/stockd-bench --addr "http://$target" availability \
      --skus "$SKUS" --batch "$BATCH" --clients "$(half_clients "$best_clients")" \
      --duration "$DURATION" --rate "$half" --run "$RUN")
    line+=$(server_latency "$served" "$(server_buckets "$target" GetSalableQuantities)" 5)
    say "$line$suffix"
    say "half-load $name: clients=$(field "$line" clients) offered=$half/s p99_ms=$(field "$line" p99_ms) (target < 5; the generator's own send_late_p99_ms=$(field "$line" send_late_p99_ms))$(own_latency "$line")"
  fi
}
# Runs pgbench script $1 on database $2 with $3 clients and generic plans, as stockd's sessions
# use; sets $tps and $cpu_us, the machine's busy CPU time per transaction (everything on it is
# PostgreSQL or pgbench while it runs).
cpu_per_transaction() {
  local script=$1 url=$2 c=$3 out b1 i1 b2 i2 n
  shift 3
  read -r b1 i1 < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
  out=$(PGOPTIONS="-c plan_cache_mode=force_generic_plan" "$STOCKD_PG_BIN/pgbench" -n -M prepared \
    -c "$c" -j $((c < 2 ? c : 2)) -T "$DURATION" "$@" -f "$script" "$url")
  read -r b2 i2 < <(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat)
  n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time).*/\1/p' <<<"$out")
  cpu_us=$(awk -v b=$((b2 - b1)) -v n="${n:-0}" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (n > 0) printf "%.1f", b * 1000000 / hz / n; else print 0 }')
}

for scenario in $SCENARIOS; do
  echo "== $scenario" >&2
  case $scenario in
  availability)
    availability_runs "$addr" availability ""
    ;;
  checkout)
    best=0 best_clients=$CLIENTS
    for c in $CHECKOUT_CLIENTS; do
      settle_stockd
      line=$(profiled "checkout-$c" bench checkout --skus "$SKUS" --clients "$c" --duration "$DURATION" \
        --run "$RUN")
      say "$line"
      baseline uniform_update "$c"
      ratio "checkout@$c" "$(field "$line" lines_per_s)" "$tps"
      if [ "$c" = "$CLIENTS" ]; then ratio checkout "$(field "$line" lines_per_s)" "$tps"; fi
      rate=$(field "$line" calls_per_s)
      if awk -v a="$best" -v b="$rate" 'BEGIN { exit !(b > a) }'; then best=$rate best_clients=$c; fi
    done
    if [ "$HALF_LOAD" = 1 ]; then
      half=$(awk -v b="$best" 'BEGIN { printf "%.1f", b / 2 }')
      settle_stockd
      served=$(server_buckets "$addr" PlaceOrder)
      line=$(profiled checkout-half bench checkout --skus "$SKUS" \
        --clients "$(half_clients "$best_clients")" --duration "$DURATION" --rate "$half" --run "$RUN-half")
      line+=$(server_latency "$served" "$(server_buckets "$addr" PlaceOrder)" 25)
      say "$line"
      say "half-load checkout: clients=$(field "$line" clients) offered=$half/s PlaceOrder p99_ms=$(field "$line" p99_ms) (target < 25; the generator's own send_late_p99_ms=$(field "$line" send_late_p99_ms))$(own_latency "$line")"
    fi
    ;;
  flash)
    for c in $FLASH_CLIENTS; do
      settle_stockd
      if ! line=$(profiled "flash-$c" bench flash --clients "$c" --duration "$DURATION" --run "$RUN"); then
        echo "!! flash at $c clients: the accounting does not add up" >&2
        failed=1
      fi
      say "$line"
      baseline hot_update "$c"
      ratio "flash@$c" "$(field "$line" reserved_per_s)" "$tps"
      baseline hot_sfu "$c"
      baseline ledger_hot "$c"
    done
    ;;
  mix)
    settle_stockd
    line=$(bench mix --skus "$SKUS" --batch "$BATCH" --clients "$CLIENTS" \
      --duration "$DURATION" --run "$RUN")
    say "$line"
    baseline read_batch50 "$CLIENTS"
    ratio mix "$(field "$line" calls_per_s)" "$tps"
    ;;
  cached)
    # A second replica on the same database, reusing availability answers.
    start_stockd caddr "${workers[@]}" STOCKD_DB_MAX_CONNECTIONS="$POOL" \
      STOCKD_MIGRATE_ON_START=false STOCKD_AVAILABILITY_CACHE_MS="$AVAILABILITY_CACHE_MS" \
      STOCKD_AVAILABILITY_CACHE_SKUS=$((2 * SKUS))
    # A storefront replica runs warm: fill the cache before measuring.
    target/release/stockd-bench --addr "http://$caddr" availability --skus "$SKUS" \
      --batch "$BATCH" --clients "$CLIENTS" --duration "$WARMUP" --run "$RUN" --quiet >/dev/null
    availability_runs "$caddr" availability_cached " cache_ms=$AVAILABILITY_CACHE_MS"
    # Storefront traffic is skewed: the same callers, HOT_SHARE % of the picks from SKU1..HOT_SKUS,
    # without and with the cache.
    for target_addr in "$addr" "$caddr"; do
      settle_stockd
      line=$(target/release/stockd-bench --addr "http://$target_addr" availability --skus "$SKUS" \
        --batch "$BATCH" --clients "$CLIENTS" --duration "$DURATION" --run "$RUN" \
        --hot-skus "$HOT_SKUS" --hot-share "$HOT_SHARE")
      if [ "$target_addr" = "$caddr" ]; then
        say "$line cache_ms=$AVAILABILITY_CACHE_MS"
        name=availability_hot_cached
      else
        say "$line cache_ms=0"
        name=availability_hot
      fi
      baseline read_batch50 "$CLIENTS"
      ratio "$name@$CLIENTS" "$(field "$line" skus_per_s)" "$(awk -v t="$tps" 'BEGIN { print t * 50 }')"
    done
    # The storefront mix on the cached replica: its orders' notices keep dropping entries.
    settle_stockd
    line=$(target/release/stockd-bench --addr "http://$caddr" mix --skus "$SKUS" \
      --batch "$BATCH" --clients "$CLIENTS" --duration "$DURATION" --run "$RUN-cached")
    say "$line cache_ms=$AVAILABILITY_CACHE_MS"
    baseline read_batch50 "$CLIENTS"
    ratio mix_cached "$(field "$line" calls_per_s)" "$tps"
    stop_last_stockd
    ;;
  overload)
    # More callers with deadlines than the database can serve in time (BENCHMARKS.md,
    # "Overload"): what matters is how many orders are still answered in time.
    for c in $OVERLOAD_CLIENTS; do
      for retries in at-once honour-retry-info; do
        flag=()
        if [ "$retries" = honour-retry-info ]; then flag=(--honour-retry-info); fi
        settle_stockd
        line=$(bench --deadline-ms "$OVERLOAD_DEADLINE_MS" checkout --skus "$SKUS" --clients "$c" \
          --duration "$DURATION" --run "$RUN-over$c-$retries" "${flag[@]}")
        say "$line deadline_ms=$OVERLOAD_DEADLINE_MS"
        others=$(field "$line" error_codes)
        say "overload@$c retries=$retries: orders answered in time $(field "$line" orders_per_s)/s; the others: ${others:--}"
      done
    done
    ;;
  storage)
    # Other storage designs, emulated in SQL (scripts/storage/README.md): the machine's CPU time
    # (PostgreSQL and pgbench) per reserved line and per availability call under each, against
    # the raw baselines'.
    PGOPTIONS="-c client_min_messages=warning" psql_ "$DATABASE_URL" -f scripts/storage/setup.sql >/dev/null
    for variant in $STORAGE_VARIANTS; do
      settle_stockd
      cat scripts/storage/batch.sql "scripts/storage/$variant.sql" >"$STOCKD_PG_DIR/storage.sql"
      cpu_per_transaction "$STOCKD_PG_DIR/storage.sql" "$DATABASE_URL" "$STORAGE_CLIENTS" \
        -D skus="$SKUS"
      say "scenario=storage_$variant clients=$STORAGE_CLIENTS seconds=$DURATION batches_per_s=$(awk -v t="$tps" 'BEGIN { printf "%.1f", t }') lines_per_s=$(awk -v t="$tps" 'BEGIN { printf "%.0f", t * 33 }') cpu_us_per_line=$(awk -v c="$cpu_us" 'BEGIN { printf "%.1f", c / 33 }')"
    done
    for variant in $STORAGE_READ_VARIANTS; do
      settle_stockd
      cat scripts/storage/read_batch.sql "scripts/storage/$variant.sql" >"$STOCKD_PG_DIR/storage.sql"
      cpu_per_transaction "$STOCKD_PG_DIR/storage.sql" "$DATABASE_URL" "$STORAGE_CLIENTS" \
        -D skus="$SKUS"
      say "scenario=storage_$variant clients=$STORAGE_CLIENTS seconds=$DURATION calls_per_s=$(awk -v t="$tps" 'BEGIN { printf "%.1f", t }') cpu_us_per_call=$cpu_us"
    done
    psql_ "$baseline_url" -f "$BENCH_DIR/reset.sql" >/dev/null
    cpu_per_transaction "$BENCH_DIR/read_batch50.sql" "$baseline_url" "$STORAGE_CLIENTS"
    say "scenario=storage_baseline_read_batch50 clients=$STORAGE_CLIENTS seconds=$DURATION tps=$(awk -v t="$tps" 'BEGIN { printf "%.1f", t }') cpu_us_per_call=$cpu_us"
    cpu_per_transaction "$BENCH_DIR/uniform_update.sql" "$baseline_url" 64
    say "scenario=storage_baseline_uniform_update clients=64 seconds=$DURATION tps=$(awk -v t="$tps" 'BEGIN { printf "%.1f", t }') cpu_us_per_line=$cpu_us"
    ;;
  *)
    echo "unknown scenario $scenario (availability, checkout, flash, mix, cached, overload, storage)" >&2
    exit 2
    ;;
  esac
done

if [ "$LEDGER_ROWS" -gt 0 ]; then
  # Before and after differ only by the history: every SKU has its totals row before "before" is
  # measured (the catalogue's writes create them; this also covers a service that did not).
  # Both are measured with the tables the availability query reads loaded into shared_buffers:
  # writing the history goes through the same buffers and would otherwise leave "after" reading
  # the catalogue back from the operating system.
  ensure_totals_rows "$DATABASE_URL" "$SKUS"
  settle_stockd
  prewarm "$DATABASE_URL"
  before=$(bench availability --skus "$SKUS" --batch "$BATCH" --clients "$CLIENTS" \
    --duration "$DURATION" --run "$RUN")
  say "$before ledger_rows=$(psql_ -tA "$DATABASE_URL" -c "SELECT count(*) FROM reservation")"
  rows=$(append_ledger_history "$DATABASE_URL" "$SKUS" "$LEDGER_ROWS")
  settle_stockd
  prewarm "$DATABASE_URL"
  grown=$(bench availability --skus "$SKUS" --batch "$BATCH" --clients "$CLIENTS" \
    --duration "$DURATION" --run "$RUN")
  say "$grown ledger_rows=$rows"
  say "$(awk -v a="$(field "$grown" skus_per_s)" -v b="$(field "$before" skus_per_s)" -v r="$rows" \
    'BEGIN{printf "ratio availability with %d ledger rows / before = %.2f", r, a/b}')"
fi

if [ "$CONSISTENCY_ORDERS" -gt 0 ]; then
  psql_ "$DATABASE_URL" <<SQL
INSERT INTO sales_order (order_id, stock_id, channel_type, channel_code, fingerprint, created_at)
  SELECT 'open-' || g, 1, 'website', 'base', '', now() FROM generate_series(1, $CONSISTENCY_ORDERS) g;
INSERT INTO order_line (order_id, sku, position, ordered, reserved)
  SELECT 'open-' || g, 'SKU' || (1 + g % $SKUS), 0, 1, true
  FROM generate_series(1, $CONSISTENCY_ORDERS) g;
INSERT INTO reservation (stock_id, sku, quantity, event, order_id, object_id, created_at)
  SELECT 1, 'SKU' || (1 + g % $SKUS), -1, 'ORDER_PLACED', 'open-' || g, 'open-' || g, now()
  FROM generate_series(2, $CONSISTENCY_ORDERS) g;
INSERT INTO stock_sku (stock_id, sku, reserved)
  SELECT 1, sku, SUM(quantity) FROM reservation WHERE order_id LIKE 'open-%' GROUP BY sku
  ON CONFLICT (stock_id, sku) DO UPDATE SET reserved = stock_sku.reserved + EXCLUDED.reserved;
ANALYZE;
SQL
  echo "stockd peak RSS before: $(grep VmHWM /proc/${stockd_pids[0]}/status)"
  say "$(bench consistency)"
  echo "stockd peak RSS after:  $(grep VmHWM /proc/${stockd_pids[0]}/status)"
fi

echo
echo "== summary ($(($(date +%s) - started)) s)"
printf '%s\n' "${summary[@]}"
exit "$failed"
