//! stockd answers one question for an online store: how many of a product can still be sold,
//! from which sources, and what happens when they run out.
//!
//! The layers, innermost first (dependencies point inwards):
//!
//! - [`domain`]: the rules of Magento MSI with source-level backorders: ids, quantities,
//!   settings and their resolution, salable quantity, quantity checks and messages. Pure: no
//!   I/O, no async, time is a parameter.
//! - [`repo`]: PostgreSQL. Each operation loads what it needs, lets the domain decide and saves
//!   in one transaction.
//! - [`grpc`]: the tonic services. Handlers convert, call the repository and convert back;
//!   `grpc::status` is the only place errors become gRPC statuses.
//! - [`startup`], [`config`], [`telemetry`], [`shutdown`], [`reload`], [`tls`]: wiring,
//!   configuration from flags and environment, logs, graceful shutdown, and files that reload
//!   without a restart.

pub mod auth;
pub mod clock;
pub mod config;
pub mod demo;
pub mod domain;
pub mod grpc;
pub mod health_check;
pub mod observability;
pub mod readiness;
pub mod reload;
pub mod repo;
pub mod shutdown;
pub mod startup;
pub mod sweeper;
pub mod telemetry;
pub mod tls;
pub mod validation;
