//! Repository tests on a real PostgreSQL: each test gets a fresh, migrated database.

// Helpers outside #[test] functions panic on purpose: a broken fixture should fail the test loudly.
#![allow(clippy::unwrap_used)]

mod catalogue;
mod reservations;
mod settings;
mod stock_counts;
