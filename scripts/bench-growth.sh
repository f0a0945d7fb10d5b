#!/usr/bin/env bash
# Growth: the benchmark's figures at several catalogue sizes, interleaved in one invocation.
#
# This machine's speed drifts by a third within minutes, as much as the effect the growth check
# looks for, so sizes measured one after the other (as separate runs of scripts/bench.sh) cannot
# be compared. Here every size is loaded into its own database on one throwaway PostgreSQL (each
# with its own stockd, and a cached replica), then each scenario runs ROUNDS times; in each round
# every size runs once, back to back in a rotating order, followed by the scenario's pgbench
# baseline. Within a round the sizes meet the same machine, so a size's change against REFERENCE
# is the same on the raw rate and on the ratio to the round's baseline; the summary prints it per
# round and its median.
#
#   availability  GetSalableQuantities of BATCH SKUs at CLIENTS callers, cache off  vs read_batch50
#   cached        the same against the cached replica, warmed first                vs read_batch50
#   checkout      PlaceOrder of 1-5 random lines at CHECKOUT_CLIENTS callers        vs uniform_update
#   flash         one-unit PlaceOrder of one hot SKU at FLASH_CLIENTS, then a sell-out that must not
#                 oversell                                                          vs hot_update
#   mix           the storefront mix on the cached replica at CLIENTS callers       vs read_batch50
#
# The baselines read and write their own table of 100,000 rows whatever the size, so the ratio
# holds the server's work constant. With SCALED_BASELINES=1, each round of availability and
# checkout also runs read_batch50 and uniform_update on a table of each size (the baseline's
# scripts with 100,000 replaced by the size): how much slower PostgreSQL itself gets on the
# larger table, the part of a size's change no service could avoid.
#
# Then, with LEDGER_ROWS > 0, availability on the largest size before and after that many ledger
# rows of history, with REFERENCE measured beside it each time to take out the machine's drift.
#
#   scripts/bench-growth.sh
#   SIZES="100000 1000000" ROUNDS=5 SCENARIOS="availability checkout" scripts/bench-growth.sh
#
# Knobs (defaults in brackets): SIZES ["10000 100000 1000000"]  REFERENCE [100000]  ROUNDS [3]
#   DURATION [15] seconds  SCENARIOS ["availability cached checkout flash mix"]  BATCH [50]
#   CLIENTS [16]  CHECKOUT_CLIENTS [64]  FLASH_CLIENTS [64]  POOL [16]  LEDGER_ROWS [10000000]
#   WARMUP [6] (seconds of cache warm-up per 100,000 SKUs, at least 10, before cached and mix)
#   AVAILABILITY_CACHE_MS [600000]  STOCKD_PG_SHARED_BUFFERS [2GB] (every size's catalogue stays
#   in PostgreSQL's buffer cache, as a deployment of that size would be sized)
#   SCALED_BASELINES [1]  BENCH_DIR [../shared/bench]  AUTH [1]  RUN [g<UTC time>]
set -euo pipefail
cd "$(dirname "$0")/.."

SIZES=${SIZES:-"10000 100000 1000000"}
REFERENCE=${REFERENCE:-100000}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-15}
SCENARIOS=${SCENARIOS-"availability cached checkout flash mix"}
BATCH=${BATCH:-50}
CLIENTS=${CLIENTS:-16}
CHECKOUT_CLIENTS=${CHECKOUT_CLIENTS:-64}
FLASH_CLIENTS=${FLASH_CLIENTS:-64}
POOL=${POOL:-16}
LEDGER_ROWS=${LEDGER_ROWS:-10000000}
WARMUP=${WARMUP:-6}
AVAILABILITY_CACHE_MS=${AVAILABILITY_CACHE_MS:-600000}
SCALED_BASELINES=${SCALED_BASELINES:-1}
BENCH_DIR=${BENCH_DIR:-../shared/bench}
RUN=${RUN:-g$(date -u +%Y%m%d%H%M%S)}
export STOCKD_PG_SHARED_BUFFERS=${STOCKD_PG_SHARED_BUFFERS:-2GB}
read -ra sizes <<<"$SIZES"
if [[ " $SIZES " != *" $REFERENCE "* ]]; then
  echo "REFERENCE ($REFERENCE) must be one of SIZES ($SIZES)" >&2
  exit 2
fi

started=$(date +%s)
# shellcheck source=scripts/lib/bench-common.sh
. scripts/lib/bench-common.sh
bench_start
make_room_for $((${#sizes[@]} * 2 * POOL + CHECKOUT_CLIENTS + FLASH_CLIENTS))
bench_auth_setup
trap 'stop_stockd; stockd_pg_stop' EXIT
baseline_setup
run_header "pool=$POOL sizes=${SIZES// /,} reference=$REFERENCE rounds=$ROUNDS batch=$BATCH" \
  "clients=$CLIENTS checkout_clients=$CHECKOUT_CLIENTS flash_clients=$FLASH_CLIENTS" \
  "duration=${DURATION}s"

declare -A url_of addr_of cached_of
pg_url_base=${DATABASE_URL%/*}
for size in "${sizes[@]}"; do
  if [ "$SCALED_BASELINES" = 1 ]; then
    # The baseline's table and scripts with the size's row count.
    mkdir -p "$STOCKD_PG_DIR/bench_$size"
    for f in setup reset read_batch50 uniform_update; do
      sed -E "s/(generate_series\(1, |random\(1, )100000\)/\1$size)/g" "$BENCH_DIR/$f.sql" \
        >"$STOCKD_PG_DIR/bench_$size/$f.sql"
    done
    psql_ "$pg_url_base/postgres" -c "CREATE DATABASE baseline_$size"
    PGOPTIONS="-c client_min_messages=warning" psql_ "$pg_url_base/baseline_$size" \
      -f "$STOCKD_PG_DIR/bench_$size/setup.sql" >/dev/null
  fi
  echo "== catalogue of $size SKUs" >&2
  url_of[$size]=$pg_url_base/stockd_$size
  psql_ "$pg_url_base/postgres" -c "CREATE DATABASE stockd_$size"
  start_stockd address DATABASE_URL="${url_of[$size]}" STOCKD_DB_MAX_CONNECTIONS="$POOL" \
    STOCKD_AVAILABILITY_CACHE_MS=0
  addr_of[$size]=$address
  loaded=$(date +%s.%N)
  target/release/stockd-bench --addr "http://$address" load --skus "$size"
  say "catalogue skus=$size load_s=$(awk -v a="$loaded" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')"
  # A store's footing, as in scripts/bench.sh: some orders, then statistics.
  target/release/stockd-bench --addr "http://$address" checkout --skus "$size" --clients 16 \
    --duration 3 --run "$RUN-warmup" --quiet >/dev/null
  settle "${url_of[$size]}"
  start_stockd address DATABASE_URL="${url_of[$size]}" STOCKD_DB_MAX_CONNECTIONS="$POOL" \
    STOCKD_MIGRATE_ON_START=false STOCKD_AVAILABILITY_CACHE_MS="$AVAILABILITY_CACHE_MS" \
    STOCKD_AVAILABILITY_CACHE_SKUS=$((2 * size))
  cached_of[$size]=$address
done

# Runs scenario $1 on size $2 and prints its result line.
run_scenario() {
  local scenario=$1 size=$2 url=http://${addr_of[$2]} curl=http://${cached_of[$2]}
  local common=(--duration "$DURATION" --run "$RUN")
  case $scenario in
  availability)
    target/release/stockd-bench --addr "$url" availability --skus "$size" --batch "$BATCH" \
      --clients "$CLIENTS" "${common[@]}"
    ;;
  cached)
    target/release/stockd-bench --addr "$curl" availability --skus "$size" --batch "$BATCH" \
      --clients "$CLIENTS" "${common[@]}"
    ;;
  checkout)
    target/release/stockd-bench --addr "$url" checkout --skus "$size" \
      --clients "$CHECKOUT_CLIENTS" "${common[@]}"
    ;;
  flash)
    target/release/stockd-bench --addr "$url" flash --clients "$FLASH_CLIENTS" "${common[@]}"
    ;;
  mix)
    target/release/stockd-bench --addr "$curl" mix --skus "$size" --batch "$BATCH" \
      --clients "$CLIENTS" "${common[@]}"
    ;;
  esac
}

# What each scenario's figure is, and its baseline with the baseline's units per transaction.
rate_field() {
  case $1 in
  availability | cached) echo skus_per_s ;;
  checkout) echo lines_per_s ;;
  flash) echo reserved_per_s ;;
  mix) echo calls_per_s ;;
  esac
}
baseline_of() {
  case $1 in
  availability | cached) echo "read_batch50 $CLIENTS 50" ;;
  checkout) echo "uniform_update $CHECKOUT_CLIENTS 1" ;;
  flash) echo "hot_update $FLASH_CLIENTS 1" ;;
  mix) echo "read_batch50 $CLIENTS 1" ;;
  esac
}

# The sizes in round $1's order: rotated by one each round, so no size always runs first.
sizes_of_round() {
  local n=${#sizes[@]} i
  for ((i = 0; i < n; i++)); do echo "${sizes[$(((i + $1) % n))]}"; done
}

declare -A rate_of ratio_of scaled_of
failed=0
for scenario in $SCENARIOS; do
  echo "== $scenario" >&2
  case $scenario in
  availability | cached | checkout | flash | mix) ;;
  *)
    echo "unknown scenario $scenario (availability, cached, checkout, flash, mix)" >&2
    exit 2
    ;;
  esac
  if [ "$scenario" = cached ] || [ "$scenario" = mix ]; then
    # A storefront replica runs warm: fill each size's cache before its rounds (the writes of
    # the checkout and flash rounds drop entries, a third of them at 1M SKUs and all at 100k).
    for size in "${sizes[@]}"; do
      warm=$((WARMUP * size / 100000))
      target/release/stockd-bench --addr "http://${cached_of[$size]}" availability \
        --skus "$size" --batch "$BATCH" --clients "$CLIENTS" --duration $((warm > 10 ? warm : 10)) \
        --run "$RUN" --quiet >/dev/null
    done
  fi
  read -r script base_clients units <<<"$(baseline_of "$scenario")"
  for ((round = 1; round <= ROUNDS; round++)); do
    tps_of=()
    mapfile -t order < <(sizes_of_round $((round - 1)))
    for size in "${order[@]}"; do
      settle "${url_of[$size]}"
      if ! line=$(run_scenario "$scenario" "$size"); then
        echo "!! $scenario at $size SKUs failed its checks" >&2
        failed=1
      fi
      say "$line skus=$size round=$round"
      rate_of[$scenario,$size,$round]=$(field "$line" "$(rate_field "$scenario")")
    done
    baseline "$script" "$base_clients"
    if [ "$SCALED_BASELINES" = 1 ] && [[ $scenario = availability || $scenario = checkout ]]; then
      for size in "${order[@]}"; do
        baseline "$script" "$base_clients" "$pg_url_base/baseline_$size" "$STOCKD_PG_DIR/bench_$size"
        scaled_of[$scenario,$size,$round]=$tps
      done
      baseline "$script" "$base_clients"
    fi
    for size in "${sizes[@]}"; do
      ratio_of[$scenario,$size,$round]=$(awk -v a="${rate_of[$scenario,$size,$round]}" \
        -v t="$tps" -v u="$units" 'BEGIN { if (t > 0) printf "%.2f", a / (t * u); else print "n/a" }')
    done
  done
done

# Round by round, the values of array $1 for scenario $2 and size $3, comma-separated; for a size
# other than REFERENCE, then each round's change against REFERENCE and their median.
series() {
  local -n values=$1
  local round list="" changes=""
  for ((round = 1; round <= ROUNDS; round++)); do
    list+=",${values[$2,$3,$round]}"
    changes+=" $(awk -v a="${values[$2,$3,$round]}" -v b="${values[$2,$REFERENCE,$round]}" \
      'BEGIN { if (b > 0) printf "%+.1f", (a / b - 1) * 100; else print 0 }')"
  done
  printf '%s' "${list#,}"
  [ "$3" = "$REFERENCE" ] || awk -v c="${changes# }" -v r="$REFERENCE" 'BEGIN {
    n = split(c, x, " "); for (i = 1; i <= n; i++) v[i] = x[i] + 0
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
    m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
    gsub(/ /, ",", c)
    printf "; against %d per round (%%): %s, median %+.1f %%", r, c, m }'
}

# Every scenario's figures per size, then the baselines scaled to each size.
report() {
  local scenario size script
  for scenario in $SCENARIOS; do
    read -r script _ _ <<<"$(baseline_of "$scenario")"
    for size in "${sizes[@]}"; do
      say "growth $scenario skus=$size ratio: $(series ratio_of "$scenario" "$size" | cut -d';' -f1) $(
        rate_field "$scenario"): $(series rate_of "$scenario" "$size")"
    done
    for size in "${sizes[@]}"; do
      [ -n "${scaled_of[$scenario,$size,1]:-}" ] || continue
      say "growth baseline $script on $size rows, tps: $(series scaled_of "$scenario" "$size")"
    done
  done
}

if [ "$LEDGER_ROWS" -gt 0 ]; then
  # History on the largest catalogue, with REFERENCE measured beside it before and after: the
  # drift of the machine between the two is taken out by REFERENCE's own change.
  largest=$(printf '%s\n' "${sizes[@]}" | sort -n | tail -1)
  echo "== ledger of $LEDGER_ROWS rows on $largest SKUs" >&2
  ensure_totals_rows "${url_of[$largest]}" "$largest"
  declare -A ledger_rate
  for phase in before after; do
    if [ "$phase" = after ]; then
      rows=$(append_ledger_history "${url_of[$largest]}" "$largest" "$LEDGER_ROWS")
    fi
    for size in "$largest" "$REFERENCE"; do
      settle "${url_of[$size]}"
      prewarm "${url_of[$size]}"
      line=$(run_scenario availability "$size")
      say "$line skus=$size ledger=$phase ledger_rows=$(psql_ -tA "${url_of[$size]}" -c "SELECT count(*) FROM reservation")"
      ledger_rate[$phase,$size]=$(field "$line" skus_per_s)
    done
  done
  say "$(awk -v a="${ledger_rate[after,$largest]}" -v b="${ledger_rate[before,$largest]}" \
    -v ra="${ledger_rate[after,$REFERENCE]}" -v rb="${ledger_rate[before,$REFERENCE]}" \
    -v rows="$rows" -v s="$largest" -v r="$REFERENCE" 'BEGIN {
      printf "ratio availability of %d SKUs with %d ledger rows / before = %.2f; %d SKUs without history, same times: %.2f; drift taken out: %.2f",
        s, rows, a / b, r, ra / rb, (a / b) / (ra / rb) }')"
fi

echo
echo "== summary ($(($(date +%s) - started)) s)"
printf '%s\n' "${summary[@]}"
echo
echo "== growth"
report
exit "$failed"
