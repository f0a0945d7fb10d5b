# syntax=docker/dockerfile:1
#
# The stockd image: one binary on a distroless base, run as uid 10001.
#
#   docker build -t stockd:0.1.0 .
#   docker run --rm -e DATABASE_URL=postgres://… -p 50051:50051 stockd:0.1.0
#
# The same image serves (`serve`, the default), migrates (`migrate`, the chart's hook Job),
# loads the demo catalogue (`demo-data`) and probes itself (`health-check`).
# No protoc is needed: build.rs compiles proto/ with a pure-Rust protobuf compiler, and SQL is
# checked at run time, so the build needs no database either.

# Keep at or above Cargo.toml's rust-version.
ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
COPY . .
# The cache mounts keep the registry and incremental state between builds on the same machine;
# the binary is copied out because the target cache is not part of the image layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin stockd \
 && install -D -m 0755 target/release/stockd /out/stockd

# glibc and libgcc only (TLS to PostgreSQL is rustls with built-in roots); no shell, no package manager.
# Pin by digest in a release pipeline: cc-debian12@sha256:…
FROM gcr.io/distroless/cc-debian12 AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="stockd" \
      org.opencontainers.image.description="Inventory gRPC service: salable quantity, source-level backorders and reservations over PostgreSQL" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=builder /out/stockd /usr/local/bin/stockd
# Numeric, so Kubernetes' runAsNonRoot can verify it; the chart runs the same uid.
USER 10001:10001
EXPOSE 50051
# For plain `docker run` (asks 127.0.0.1:50051, or STOCKD_HEALTH_ADDR); Kubernetes ignores it
# and uses the chart's native gRPC probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["/usr/local/bin/stockd", "health-check"]
ENTRYPOINT ["/usr/local/bin/stockd"]
CMD ["serve"]
