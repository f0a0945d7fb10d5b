//! stockd-bench: load a catalogue into a running stockd and measure its hot paths over real gRPC.
//!
//! Every scenario prints exactly one `scenario=… key=value …` line on stdout when it ends; the
//! progress display and every other message go to stderr, so stdout can be parsed as it is.
//! `scripts/bench.sh` starts PostgreSQL and stockd, runs this, and runs the raw-PostgreSQL
//! baselines in the same invocation so figures can be reported as ratios.

mod answer;
mod availability;
mod catalogue;
mod checkout;
mod consistency;
mod drive;
mod flash;
mod mix;
mod report;

use std::{process::ExitCode, time::Duration};

use clap::{Args, Parser, Subcommand};
use tonic::{
    metadata::AsciiMetadataValue,
    service::{Interceptor, interceptor::InterceptedService},
    transport::{Channel, Endpoint},
};

/// Benchmarks a running stockd.
#[derive(Debug, Parser)]
struct Cli {
    /// gRPC address of stockd.
    #[arg(long, default_value = "http://127.0.0.1:50051", global = true)]
    addr: String,
    /// Bearer token sent with every call (a token with the storefront, checkout, fulfilment and
    /// admin roles); absent for a stockd that runs without authentication.
    #[arg(
        long,
        env = "STOCKD_BENCH_TOKEN",
        hide_env_values = true,
        global = true
    )]
    token: Option<String>,
    /// Deadline sent with every call, in milliseconds (`grpc-timeout`), as a storefront that gives
    /// up after a while sends one; stockd stops working on a call once it has passed. Absent: none.
    #[arg(long, global = true)]
    deadline_ms: Option<u64>,
    /// What to run.
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Load the benchmark catalogue through the admin APIs (idempotent).
    Load(catalogue::LoadArgs),
    /// (a) GetSalableQuantities with BATCH random SKUs per call.
    Availability(availability::AvailabilityArgs),
    /// (b) PlaceOrder of 1-5 lines over random SKUs.
    Checkout(checkout::CheckoutArgs),
    /// (c) Concurrent one-unit PlaceOrder on one hot SKU, then a sell-out that must not oversell.
    Flash(flash::FlashArgs),
    /// (d) Storefront mix: 90 % availability, 9 % orders, 1 % shipments of the mix's own orders.
    Mix(mix::MixArgs),
    /// Time a dry-run consistency check of the whole ledger.
    Consistency,
}

/// Options every load scenario shares.
#[derive(Debug, Clone, Args)]
pub(crate) struct LoadShape {
    /// Concurrent callers, each with one call in flight.
    #[arg(long, default_value_t = 16)]
    pub(crate) clients: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 20)]
    pub(crate) duration: u64,
    /// Total calls per second to offer, spread evenly over the callers (open loop: latency is
    /// measured from each call's scheduled time; at most 1,000,000). Absent, 0 or infinite: every
    /// caller sends as fast as it can.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// HTTP/2 connections to spread the callers over; 0 picks one per 100 callers (a server
    /// accepts a limited number of concurrent streams per connection).
    #[arg(long, default_value_t = 0)]
    pub(crate) connections: usize,
    /// A name for this run, the start of its order ids and hot SKU names; defaults to the
    /// current time. A random tag is always appended.
    #[arg(long)]
    pub(crate) run: Option<String>,
    /// No progress display on stderr.
    #[arg(long)]
    pub(crate) quiet: bool,
}

impl LoadShape {
    /// The order-id prefix of this invocation: the run name (or the current time) and a random
    /// tag, so that two invocations never reuse an order id even with the same `--run`.
    pub(crate) fn run_id(&self) -> String {
        let base = self.run.clone().unwrap_or_else(|| {
            let millis = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            format!("b{millis:x}")
        });
        format!("{base}-{:08x}", fastrand::u32(..))
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Named so that a profile of the whole machine tells the load generator from the service.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("bench-worker")
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
    let target = Target {
        addr: cli.addr,
        headers: CallHeaders::new(cli.token.as_deref(), cli.deadline_ms)?,
    };
    match cli.command {
        Command::Load(args) => catalogue::load(target.connect().await?, &args).await,
        Command::Availability(args) => availability::run(&target, &args).await,
        Command::Checkout(args) => checkout::run(&target, &args).await,
        Command::Flash(args) => flash::run(&target, &args).await,
        Command::Mix(args) => mix::run(&target, &args).await,
        Command::Consistency => consistency::run(target.connect().await?).await,
    }
}

/// A connection to stockd that sends the bearer token and the deadline, if any, with every call.
pub(crate) type Ch = InterceptedService<Channel, CallHeaders>;

/// Adds `authorization: Bearer <token>` and `grpc-timeout` to every call.
#[derive(Debug, Clone)]
pub(crate) struct CallHeaders {
    authorization: Option<AsciiMetadataValue>,
    deadline: Option<Duration>,
}

impl CallHeaders {
    fn new(token: Option<&str>, deadline_ms: Option<u64>) -> anyhow::Result<Self> {
        Ok(Self {
            authorization: match token.filter(|t| !t.is_empty()) {
                Some(token) => Some(format!("Bearer {token}").parse()?),
                None => None,
            },
            deadline: deadline_ms.map(Duration::from_millis),
        })
    }
}

impl Interceptor for CallHeaders {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.authorization {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        if let Some(deadline) = self.deadline {
            request.set_timeout(deadline);
        }
        Ok(request)
    }
}

/// Where stockd is, and what every call to it carries.
pub(crate) struct Target {
    addr: String,
    headers: CallHeaders,
}

impl Target {
    /// One HTTP/2 connection; tonic multiplexes every concurrent call over it.
    pub(crate) async fn connect(&self) -> anyhow::Result<Ch> {
        let channel = Endpoint::from_shared(self.addr.clone())?
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .connect()
            .await?;
        Ok(InterceptedService::new(channel, self.headers.clone()))
    }
}

/// Several connections, so that hundreds of callers are not capped by one connection's stream
/// limit; caller `i` uses connection `i % n`.
pub(crate) struct Connections(Vec<Ch>);

impl Connections {
    pub(crate) async fn open(target: &Target, shape: &LoadShape) -> anyhow::Result<Self> {
        let n = if shape.connections == 0 {
            shape.clients.div_ceil(100).max(1)
        } else {
            shape.connections
        };
        let mut channels = Vec::with_capacity(n);
        for _ in 0..n {
            channels.push(target.connect().await?);
        }
        Ok(Self(channels))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    pub(crate) fn for_caller(&self, caller: usize) -> Ch {
        self.0[caller % self.0.len()].clone()
    }

    pub(crate) fn any(&self) -> Ch {
        self.0[0].clone()
    }
}
