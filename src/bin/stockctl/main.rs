//! stockctl: the operator's command line for a running stockd, over the same gRPC API.
//!
//! Answers go to stdout (tables, or JSON with `--json`); progress and errors go to stderr.
//! Exit codes: 0 done, 1 failed (stockd or the connection), 2 bad input, nothing written.

mod client;
mod columns;
mod export;
mod import;
mod ops;
mod output;
mod progress;
mod row;
mod settings;
mod write;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{client::Connection, output::Output};

/// Operates a running stockd: CSV import and export of source items and everyday look-ups.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    connection: Connection,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Read a CSV file into stockd.
    #[command(subcommand)]
    Import(ImportWhat),
    /// Write stockd's data as CSV.
    #[command(subcommand)]
    Export(ExportWhat),
    /// Salable quantities of SKUs in a stock.
    Availability {
        #[command(flatten)]
        scope: ops::Scope,
        #[arg(required = true)]
        skus: Vec<String>,
    },
    /// Read or cancel an order.
    #[command(subcommand)]
    Order(ops::OrderCommand),
    /// The carts and orders holding a SKU.
    Holders {
        #[command(flatten)]
        scope: ops::Scope,
        sku: String,
    },
    /// Check or repair the reservation ledger and the stored copies.
    #[command(subcommand)]
    Consistency(ops::ConsistencyCommand),
    /// Read or change settings on the three levels.
    #[command(subcommand)]
    Settings(settings::SettingsCommand),
}

#[derive(Debug, Subcommand)]
enum ImportWhat {
    /// Source items: quantity, status and source-level settings per (source, SKU).
    SourceItems(import::ImportArgs),
}

#[derive(Debug, Subcommand)]
enum ExportWhat {
    /// Source items, in the format `import source-items` reads.
    SourceItems(export::ExportArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("stockctl: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("stockctl: {}", describe(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: &Cli) -> anyhow::Result<u8> {
    let out = Output { json: cli.json };
    let clients = cli.connection.connect().await?;
    match &cli.command {
        Command::Import(ImportWhat::SourceItems(args)) => import::run(args, &clients, out).await,
        Command::Export(ExportWhat::SourceItems(args)) => export::run(args, &clients).await,
        Command::Availability { scope, skus } => {
            ops::availability(&clients, out, scope, skus).await
        }
        Command::Order(command) => ops::order(&clients, out, command).await,
        Command::Holders { scope, sku } => ops::holders(&clients, out, scope, sku).await,
        Command::Consistency(command) => ops::consistency(&clients, out, command).await,
        Command::Settings(command) => settings::run(&clients, out, command).await,
    }
}

/// An error and its causes on one line; a gRPC status with its code and bad fields.
fn describe(error: &anyhow::Error) -> String {
    use tonic_types::StatusExt;
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        match cause.downcast_ref::<tonic::Status>() {
            Some(status) => {
                text.push_str(&format!(": {:?}: {}", status.code(), status.message()));
                if let Some(bad) = status.get_details_bad_request() {
                    for v in bad.field_violations {
                        text.push_str(&format!(" [{}: {}]", v.field, v.description));
                    }
                }
            }
            None => text.push_str(&format!(": {cause}")),
        }
    }
    text
}
