//! stockd-bench: load a catalogue into a running stockd and measure its hot paths over real gRPC.
//!
//! `scripts/bench.sh` starts PostgreSQL and stockd, runs this, and runs the raw-PostgreSQL
//! baseline in the same invocation so figures can be reported as ratios.

mod availability;
mod catalogue;
mod consistency;
mod report;

use std::{process::ExitCode, time::Duration};

use clap::{Parser, Subcommand};
use tonic::transport::{Channel, Endpoint};

/// Benchmarks a running stockd.
#[derive(Debug, Parser)]
struct Cli {
    /// gRPC address of stockd.
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    addr: String,
    /// What to run.
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load SKUS source items spread over the default source (idempotent).
    Load(catalogue::LoadArgs),
    /// GetSalableQuantities with BATCH random SKUs per call from CLIENTS concurrent callers.
    Availability(availability::AvailabilityArgs),
    /// Time a dry-run consistency check of the whole ledger.
    Consistency,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("stockd-bench: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("stockd-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let channel = connect(&cli.addr).await?;
    match cli.command {
        Command::Load(args) => catalogue::load(channel, &args).await,
        Command::Availability(args) => availability::run(channel, &args).await,
        Command::Consistency => consistency::run(channel).await,
    }
}

/// One HTTP/2 connection; tonic multiplexes every concurrent call over it.
async fn connect(addr: &str) -> anyhow::Result<Channel> {
    Ok(Endpoint::from_shared(addr.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?)
}
