//! The stockd binary: parse configuration, start logging, run the chosen subcommand.

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use stockd::{
    auth::tokens::TokenTable,
    config::{Cli, Command},
    demo, health_check, repo, startup, telemetry,
};

/// Every call allocates many small, short-lived buffers (protobuf, rows, decimals); mimalloc
/// serves them with less CPU than glibc's allocator (docs/decisions/0005-allocator.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for bad configuration (sysexits EX_USAGE), so orchestrators can tell it apart.
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EX_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let tokens = match preflight(&cli.command) {
        Ok(tokens) => tokens,
        Err(message) => {
            eprintln!("stockd: {message}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Command::Serve(config) = &cli.command
        && let Some(threads) = config.worker_threads
    {
        runtime.worker_threads(usize::from(threads));
    }
    // Named so that `top -H` and profiles tell the service's threads from others on the host.
    let runtime = match runtime.enable_all().thread_name("stockd-worker").build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("stockd: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // Traces are exported by `serve` only; the exporter's channel lives on the runtime.
    let otlp = match &cli.command {
        Command::Serve(config) => config.telemetry.otlp(),
        _ => None,
    };
    let telemetry = {
        let _runtime = runtime.enter();
        telemetry::init(cli.log_format, otlp.as_ref())
    };
    let telemetry = match telemetry {
        Ok(guard) => guard,
        Err(error) => {
            eprintln!("stockd: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli.command, tokens)) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error.cause_chain = ?error, "stockd failed");
            ExitCode::FAILURE
        }
    };
    telemetry.shutdown();
    code
}

/// Checks, before anything starts, what `serve` is configured with: the settings, and the tokens
/// file, which is read here so that a bad one exits 64 like any other bad configuration.
fn preflight(command: &Command) -> Result<Option<TokenTable>, String> {
    let Command::Serve(config) = command else {
        return Ok(None);
    };
    config.validate()?;
    config
        .auth
        .auth_tokens_file
        .as_deref()
        .map(TokenTable::load)
        .transpose()
}

async fn run(command: Command, tokens: Option<TokenTable>) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve(config) => startup::serve(*config, tokens).await?,
        Command::Migrate(config) => {
            let pool = repo::connect(&config).context("reading DATABASE_URL")?;
            startup::migrate(&pool).await?;
            tracing::info!("migrations applied");
        }
        Command::DemoData(config) => {
            let pool = repo::connect(&config).context("reading DATABASE_URL")?;
            demo::load(&repo::Repo::new(pool)).await?;
            tracing::info!("demo catalogue loaded");
        }
        Command::HashToken => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .context("reading the token from standard input")?;
            println!(
                "{}",
                stockd::auth::tokens::hash_token(token.trim_end_matches(['\n', '\r']))
            );
        }
        Command::HealthCheck(config) => {
            return Ok(if health_check::is_serving(&config).await? {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            });
        }
    }
    Ok(ExitCode::SUCCESS)
}
