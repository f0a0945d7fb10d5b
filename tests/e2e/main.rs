//! End-to-end tests: a real tonic client over a socket against the real server on PostgreSQL.

// Helpers outside #[test] functions panic on purpose: a broken fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod auth;
mod availability;
mod availability_cache;
mod collector;
mod database_tls;
mod failover;
mod fulfilment;
mod health;
mod holds;
mod hostile_input;
mod order_retries;
mod orders;
mod outage;
mod overloaded_orders;
mod pg_cluster;
mod pool;
mod proxy;
mod read_replicas;
mod readiness;
mod reload;
mod replicas;
mod rollout;
mod settings;
mod shipment_guards;
mod source_items;
mod source_scopes;
mod sources;
mod stock_counts;
mod stockctl;
mod stocks;
mod support;
#[path = "../support_pg/mod.rs"]
mod support_pg;
mod telemetry;
mod telemetry_tls;
mod tls;
mod tokens_file;
