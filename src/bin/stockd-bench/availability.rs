//! Scenario (a): GetSalableQuantities with a batch of random SKUs per call.

use std::time::{Duration, Instant};

use clap::Args;
use stockd::grpc::pb::{self, availability_service_client::AvailabilityServiceClient};
use tonic::transport::Channel;

use crate::report;

/// Shape of the availability load.
#[derive(Debug, Args)]
pub(crate) struct AvailabilityArgs {
    /// SKUs in the catalogue (SKU1..SKUn).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) skus: u32,
    /// SKUs per call.
    #[arg(long, default_value_t = 50)]
    pub(crate) batch: usize,
    /// Concurrent callers.
    #[arg(long, default_value_t = 16)]
    pub(crate) clients: usize,
    /// Seconds to run.
    #[arg(long, default_value_t = 20)]
    pub(crate) duration: u64,
}

/// Runs the clients until the duration is over and prints the summary.
pub(crate) async fn run(channel: Channel, args: &AvailabilityArgs) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(args.duration);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let client = AvailabilityServiceClient::new(channel.clone());
        let (skus, batch) = (args.skus, args.batch);
        tasks.push(tokio::spawn(caller(client, skus, batch, deadline)));
    }
    let mut histogram = report::histogram()?;
    let mut calls = 0;
    for task in tasks {
        let (h, n) = task.await??;
        histogram.add(&h)?;
        calls += n;
    }
    let units = calls * args.batch as u64;
    report::print(
        "availability",
        args.clients,
        started.elapsed(),
        calls,
        units,
        &histogram,
    );
    Ok(())
}

async fn caller(
    mut client: AvailabilityServiceClient<Channel>,
    skus: u32,
    batch: usize,
    deadline: Instant,
) -> anyhow::Result<(hdrhistogram::Histogram<u64>, u64)> {
    let mut histogram = report::histogram()?;
    let mut rng = fastrand::Rng::new();
    let mut calls = 0;
    while Instant::now() < deadline {
        let mut chosen: Vec<String> = Vec::with_capacity(batch);
        while chosen.len() < batch {
            let sku = format!("SKU{}", rng.u32(1..=skus));
            if !chosen.contains(&sku) {
                chosen.push(sku);
            }
        }
        let request = pb::GetSalableQuantitiesRequest {
            scope: Some(pb::StockScope {
                scope: Some(pb::stock_scope::Scope::StockId(1)),
            }),
            skus: chosen,
        };
        let sent = Instant::now();
        client.get_salable_quantities(request).await?;
        histogram.record(sent.elapsed().as_micros().max(1) as u64)?;
        calls += 1;
    }
    Ok((histogram, calls))
}
