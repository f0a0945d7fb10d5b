//! Scenario (d): a storefront mix. Per call: 90 % GetSalableQuantities of 50 SKUs, 9 % PlaceOrder
//! of 1–5 lines, 1 % ConfirmShipment of an order this caller placed earlier (its oldest unshipped
//! one, every line from the default source). A caller with nothing to ship places an order instead.

use std::{collections::VecDeque, sync::Arc};

use clap::Args;
use stockd::grpc::pb::{
    self, availability_service_client::AvailabilityServiceClient,
    fulfilment_service_client::FulfilmentServiceClient,
    reservation_service_client::ReservationServiceClient,
};

use crate::{
    Ch, Connections, LoadShape, Target,
    answer::Answer,
    availability::{self, distinct_skus},
    checkout::order_request,
    drive::{self, Pacer, Progress, Stats},
    report::{Line, joined},
};

/// Shape of the storefront mix.
#[derive(Debug, Args)]
pub(crate) struct MixArgs {
    /// SKUs in the catalogue (SKU1..SKUn).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) skus: u32,
    /// SKUs per availability call.
    #[arg(long, default_value_t = 50)]
    pub(crate) batch: usize,
    /// Per mille of calls that are availability.
    #[arg(long, default_value_t = 900)]
    pub(crate) availability_permille: u32,
    /// Per mille of calls that are orders (the rest are shipments).
    #[arg(long, default_value_t = 90)]
    pub(crate) order_permille: u32,
    #[command(flatten)]
    pub(crate) shape: LoadShape,
}

#[derive(Clone, Copy)]
struct Mix {
    skus: u32,
    batch: usize,
    availability: u32,
    orders: u32,
}

/// Runs the callers until the duration is over and prints the summary.
pub(crate) async fn run(target: &Target, args: &MixArgs) -> anyhow::Result<()> {
    let connections = Connections::open(target, &args.shape).await?;
    let run = Arc::new(args.shape.run_id());
    let mix = Mix {
        skus: args.skus,
        batch: args.batch,
        availability: args.availability_permille,
        orders: args.order_permille,
    };
    let label = format!("mix c={}", args.shape.clients);
    let (stats, elapsed) = drive::run_callers(
        &args.shape,
        label,
        &connections,
        move |i, channel, pacer, progress| {
            let prefix = format!("{run}-mx{i}");
            caller(channel, pacer, progress, prefix, mix)
        },
    )
    .await?;
    let total = stats.total()?;
    let mut line = Line::new("mix");
    line.common(&args.shape, connections.len(), elapsed, &total);
    for kind in ["availability", "order", "shipment"] {
        let Some(k) = stats.kind(kind) else {
            line.put(&format!("{kind}_calls"), 0);
            continue;
        };
        line.put(&format!("{kind}_calls"), k.calls())
            .rate(&format!("{kind}_per_s"), k.calls(), elapsed)
            .put(
                &format!("{kind}_p99_ms"),
                format!("{:.2}", k.latency.value_at_quantile(0.99) as f64 / 1000.0),
            )
            .put(&format!("{kind}_errors"), k.error_count());
        if !k.refused.is_empty() {
            line.put(&format!("{kind}_refusals"), joined(&k.refused));
        }
    }
    let skus = stats.kind("availability").map_or(0, |k| k.units);
    let lines = stats.kind("order").map_or(0, |k| k.units);
    line.rate("skus_per_s", skus, elapsed)
        .rate("lines_per_s", lines, elapsed)
        .rate("units_per_s", total.calls(), elapsed);
    line.print();
    Ok(())
}

async fn caller(
    channel: Ch,
    mut pacer: Pacer,
    progress: Arc<Progress>,
    prefix: String,
    mix: Mix,
) -> anyhow::Result<Stats> {
    let mut availability = AvailabilityServiceClient::new(channel.clone());
    let mut orders = ReservationServiceClient::new(channel.clone());
    let mut fulfilment = FulfilmentServiceClient::new(channel);
    let mut stats = Stats::default();
    let mut rng = fastrand::Rng::new();
    let mut placed: VecDeque<(String, Vec<String>)> = VecDeque::new();
    let mut n = 0u64;
    while let Some(due) = pacer.next().await {
        let draw = rng.u32(0..1000);
        if draw < mix.availability {
            let request = availability::request(&mut rng, mix.skus, mix.batch, 1);
            let answer = Answer::from_result(&availability.get_salable_quantities(request).await);
            stats.record("availability", due, &answer, mix.batch as u64, &progress)?;
        } else if draw < mix.availability + mix.orders || placed.is_empty() {
            n += 1;
            let order_id = format!("{prefix}-{n}");
            let count = rng.usize(1..=5);
            let skus = distinct_skus(&mut rng, mix.skus, count);
            let request = order_request(order_id.clone(), &skus);
            let answer = Answer::from_result(&orders.place_order(request).await);
            stats.record("order", due, &answer, skus.len() as u64, &progress)?;
            if answer == Answer::Done {
                placed.push_back((order_id, skus));
            }
        } else if let Some((order_id, skus)) = placed.pop_front() {
            let request = pb::ConfirmShipmentRequest {
                shipment_id: format!("{order_id}-ship"),
                order_id,
                lines: skus
                    .iter()
                    .map(|sku| pb::SourceQuantityLine {
                        sku: sku.clone(),
                        source_code: "default".into(),
                        quantity: "1".into(),
                    })
                    .collect(),
            };
            let answer = Answer::from_result(&fulfilment.confirm_shipment(request).await);
            stats.record("shipment", due, &answer, skus.len() as u64, &progress)?;
        }
    }
    Ok(stats)
}
