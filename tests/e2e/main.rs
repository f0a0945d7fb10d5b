//! End-to-end tests: a real tonic client over a socket against the real server on PostgreSQL.

// Helpers outside #[test] functions panic on purpose: a broken fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod auth;
mod availability;
mod availability_cache;
mod fulfilment;
mod health;
mod holds;
mod order_retries;
mod orders;
mod outage;
mod overloaded_orders;
mod pool;
mod proxy;
mod readiness;
mod reload;
mod replicas;
mod rollout;
mod settings;
mod source_items;
mod sources;
mod stocks;
mod support;
mod telemetry;
mod tls;
