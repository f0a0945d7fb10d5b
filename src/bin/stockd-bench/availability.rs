//! Scenario (a): GetSalableQuantities with a batch of random SKUs per call.

use std::sync::Arc;

use clap::Args;
use stockd::grpc::pb::{self, availability_service_client::AvailabilityServiceClient};

use crate::{
    Ch, Connections, LoadShape, Target,
    answer::Answer,
    drive::{self, Pacer, Progress, Stats},
    report::Line,
};

/// Shape of the availability load.
#[derive(Debug, Args)]
pub(crate) struct AvailabilityArgs {
    /// SKUs in the catalogue (SKU1..SKUn).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) skus: u32,
    /// SKUs per call.
    #[arg(long, default_value_t = 50)]
    pub(crate) batch: usize,
    /// The stock asked about.
    #[arg(long, default_value_t = 1)]
    pub(crate) stock: i32,
    #[command(flatten)]
    pub(crate) shape: LoadShape,
}

/// Runs the callers until the duration is over and prints the summary.
pub(crate) async fn run(target: &Target, args: &AvailabilityArgs) -> anyhow::Result<()> {
    let connections = Connections::open(target, &args.shape).await?;
    let (skus, batch, stock) = (args.skus, args.batch, args.stock);
    let label = format!("availability c={}", args.shape.clients);
    let (stats, elapsed) = drive::run_callers(
        &args.shape,
        label,
        &connections,
        move |_, channel, pacer, progress| caller(channel, pacer, progress, skus, batch, stock),
    )
    .await?;
    let total = stats.total()?;
    let mut line = Line::new("availability");
    line.common(&args.shape, connections.len(), elapsed, &total)
        .put("batch", batch)
        .rate("skus_per_s", total.units, elapsed)
        .rate("units_per_s", total.units, elapsed);
    line.print();
    Ok(())
}

async fn caller(
    channel: Ch,
    mut pacer: Pacer,
    progress: Arc<Progress>,
    skus: u32,
    batch: usize,
    stock: i32,
) -> anyhow::Result<Stats> {
    let mut client = AvailabilityServiceClient::new(channel);
    let mut stats = Stats::default();
    let mut rng = fastrand::Rng::new();
    while let Some(due) = pacer.next().await {
        let request = request(&mut rng, skus, batch, stock);
        let result = client.get_salable_quantities(request).await;
        let answer = Answer::from_result(&result);
        stats.record("availability", due, &answer, batch as u64, &progress)?;
    }
    Ok(stats)
}

/// `batch` distinct random SKUs of SKU1..SKUn in one stock.
pub(crate) fn request(
    rng: &mut fastrand::Rng,
    skus: u32,
    batch: usize,
    stock: i32,
) -> pb::GetSalableQuantitiesRequest {
    pb::GetSalableQuantitiesRequest {
        scope: Some(pb::StockScope {
            scope: Some(pb::stock_scope::Scope::StockId(stock)),
        }),
        skus: distinct_skus(rng, skus, batch),
    }
}

/// `n` distinct SKU numbers of 1..=skus, as names.
pub(crate) fn distinct_skus(rng: &mut fastrand::Rng, skus: u32, n: usize) -> Vec<String> {
    let n = n.min(skus as usize);
    let mut chosen: Vec<u32> = Vec::with_capacity(n);
    while chosen.len() < n {
        let sku = rng.u32(1..=skus);
        if !chosen.contains(&sku) {
            chosen.push(sku);
        }
    }
    chosen.into_iter().map(|i| format!("SKU{i}")).collect()
}
