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
    /// Size of a "popular" set SKU1..SKUk that `--hot-share` percent of the picks come from
    /// (storefront traffic is skewed); 0 picks uniformly from the whole catalogue.
    #[arg(long, default_value_t = 0)]
    pub(crate) hot_skus: u32,
    /// Percent of the SKU picks that come from the popular set.
    #[arg(long, default_value_t = 90, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub(crate) hot_share: u8,
    #[command(flatten)]
    pub(crate) shape: LoadShape,
}

/// Runs the callers until the duration is over and prints the summary.
pub(crate) async fn run(target: &Target, args: &AvailabilityArgs) -> anyhow::Result<()> {
    if args.hot_skus > 0 && (args.hot_skus as usize) < args.batch {
        anyhow::bail!("--hot-skus must be 0 or at least --batch");
    }
    let connections = Connections::open(target, &args.shape).await?;
    let picks = Picks {
        skus: args.skus,
        hot_skus: args.hot_skus.min(args.skus),
        hot_share: args.hot_share,
    };
    let (batch, stock) = (args.batch, args.stock);
    let label = format!("availability c={}", args.shape.clients);
    let (stats, elapsed) = drive::run_callers(
        &args.shape,
        label,
        &connections,
        move |_, channel, pacer, progress| caller(channel, pacer, progress, picks, batch, stock),
    )
    .await?;
    let total = stats.total()?;
    let mut line = Line::new("availability");
    line.common(&args.shape, connections.len(), elapsed, &total)
        .put("batch", batch)
        .put("hot_skus", picks.hot_skus)
        .put(
            "hot_share",
            if picks.hot_skus == 0 {
                0
            } else {
                picks.hot_share
            },
        )
        .rate("skus_per_s", total.units, elapsed)
        .rate("units_per_s", total.units, elapsed);
    line.print();
    Ok(())
}

async fn caller(
    channel: Ch,
    mut pacer: Pacer,
    progress: Arc<Progress>,
    picks: Picks,
    batch: usize,
    stock: i32,
) -> anyhow::Result<Stats> {
    let mut client = AvailabilityServiceClient::new(channel);
    let mut stats = Stats::default();
    let mut rng = fastrand::Rng::new();
    while let Some(due) = pacer.next().await {
        let request = pb::GetSalableQuantitiesRequest {
            scope: Some(stock_scope(stock)),
            skus: picks.distinct(&mut rng, batch),
        };
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
        scope: Some(stock_scope(stock)),
        skus: distinct_skus(rng, skus, batch),
    }
}

fn stock_scope(stock: i32) -> pb::StockScope {
    pb::StockScope {
        scope: Some(pb::stock_scope::Scope::StockId(stock)),
    }
}

/// How a caller picks SKUs: uniformly, or mostly from a popular set.
#[derive(Debug, Clone, Copy)]
struct Picks {
    skus: u32,
    hot_skus: u32,
    hot_share: u8,
}

impl Picks {
    /// `n` distinct SKU names.
    fn distinct(&self, rng: &mut fastrand::Rng, n: usize) -> Vec<String> {
        let n = n.min(self.skus as usize);
        let mut chosen: Vec<u32> = Vec::with_capacity(n);
        while chosen.len() < n {
            let hot = self.hot_skus > 0 && rng.u8(0..100) < self.hot_share;
            let sku = rng.u32(1..=if hot { self.hot_skus } else { self.skus });
            if !chosen.contains(&sku) {
                chosen.push(sku);
            }
        }
        chosen.into_iter().map(|i| format!("SKU{i}")).collect()
    }
}

/// `n` distinct SKU numbers of 1..=skus, as names.
pub(crate) fn distinct_skus(rng: &mut fastrand::Rng, skus: u32, n: usize) -> Vec<String> {
    Picks {
        skus,
        hot_skus: 0,
        hot_share: 0,
    }
    .distinct(rng, n)
}
