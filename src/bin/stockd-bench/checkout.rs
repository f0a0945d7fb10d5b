//! Scenario (b): uniform checkout, PlaceOrder of 1–5 lines of one unit over random SKUs.

use std::sync::Arc;

use clap::Args;
use stockd::grpc::pb::{self, reservation_service_client::ReservationServiceClient};

use crate::{
    Ch, Connections, LoadShape, Target,
    answer::{Answer, retry_delay},
    availability::distinct_skus,
    drive::{self, Pacer, Progress, Stats},
    report::{Line, joined},
};

/// Shape of the checkout load.
#[derive(Debug, Args)]
pub(crate) struct CheckoutArgs {
    /// SKUs in the catalogue (SKU1..SKUn).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) skus: u32,
    /// Most lines per order (each order has 1..=this many, uniformly).
    #[arg(long, default_value_t = 5)]
    pub(crate) max_lines: usize,
    /// After an answer with `RetryInfo` (stockd refusing load it cannot serve in time), wait the
    /// delay it names before the next order, as a well-behaved client does; without this flag a
    /// caller sends its next order at once.
    #[arg(long)]
    pub(crate) honour_retry_info: bool,
    #[command(flatten)]
    pub(crate) shape: LoadShape,
}

/// Runs the callers until the duration is over and prints the summary.
pub(crate) async fn run(target: &Target, args: &CheckoutArgs) -> anyhow::Result<()> {
    let connections = Connections::open(target, &args.shape).await?;
    let run = Arc::new(args.shape.run_id());
    let (skus, max_lines, backoff) = (args.skus, args.max_lines.max(1), args.honour_retry_info);
    let label = format!("checkout c={}", args.shape.clients);
    let (stats, elapsed) = drive::run_callers(
        &args.shape,
        label,
        &connections,
        move |i, channel, pacer, progress| {
            let prefix = format!("{run}-co{i}");
            caller(channel, pacer, progress, prefix, skus, max_lines, backoff)
        },
    )
    .await?;
    let total = stats.total()?;
    let mut line = Line::new("checkout");
    line.common(&args.shape, connections.len(), elapsed, &total)
        .put("orders", total.done)
        .rate("orders_per_s", total.done, elapsed)
        .put("lines", total.units)
        .rate("lines_per_s", total.units, elapsed)
        .rate("units_per_s", total.units, elapsed)
        .put("refusals", joined(&total.refused))
        .put("honour_retry_info", args.honour_retry_info);
    line.print();
    Ok(())
}

async fn caller(
    channel: Ch,
    mut pacer: Pacer,
    progress: Arc<Progress>,
    prefix: String,
    skus: u32,
    max_lines: usize,
    backoff: bool,
) -> anyhow::Result<Stats> {
    let mut client = ReservationServiceClient::new(channel);
    let mut stats = Stats::default();
    let mut rng = fastrand::Rng::new();
    let mut n = 0u64;
    while let Some(due) = pacer.next().await {
        n += 1;
        let count = rng.usize(1..=max_lines);
        let chosen = distinct_skus(&mut rng, skus, count);
        let lines = chosen.len() as u64;
        let request = order_request(format!("{prefix}-{n}"), &chosen);
        let result = client.place_order(request).await;
        let answer = Answer::from_result(&result);
        stats.record("order", due, &answer, lines, &progress)?;
        if let Some(delay) = retry_delay(&result).filter(|_| backoff) {
            tokio::time::sleep(delay).await;
        }
    }
    Ok(stats)
}

/// An order of one unit of each SKU on the default website channel.
pub(crate) fn order_request(order_id: String, skus: &[String]) -> pb::PlaceOrderRequest {
    pb::PlaceOrderRequest {
        order_id,
        sales_channel: Some(pb::SalesChannel {
            r#type: "website".into(),
            code: "base".into(),
        }),
        lines: skus
            .iter()
            .map(|sku| pb::QuantityLine {
                sku: sku.clone(),
                quantity: "1".into(),
            })
            .collect(),
        cart_id: String::new(),
    }
}
