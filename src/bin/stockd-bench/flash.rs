//! Scenario (c): a flash sale. Every caller orders one unit of the same SKU, over and over.
//!
//! Two phases, each on a fresh hot SKU of this run at the default source (backorders off):
//!
//! 1. rate: the SKU has far more units than the run can sell; the callers order for the whole
//!    duration. Throughput and latency come from here, and the SKU's salable quantity must end
//!    exactly at `units - sold`.
//! 2. sell-out: the SKU has `sellout_units`; every caller orders until it is refused with
//!    `NOT_ENOUGH_QTY`, so demand exceeds supply. Exactly `sellout_units` orders must succeed and
//!    the salable quantity must end at 0: nothing oversold, nothing lost.
//!
//! An answer other than success or a refusal (a timeout, `ABORTED`…) is resolved afterwards with
//! GetOrder, so every caller's every order ends with a definite answer in the accounting.

use std::{
    str::FromStr,
    sync::{Arc, Mutex},
};

use anyhow::Context;
use clap::Args;
use rust_decimal::Decimal;
use stockd::grpc::pb::{
    self, availability_service_client::AvailabilityServiceClient,
    reservation_service_client::ReservationServiceClient,
    source_item_service_client::SourceItemServiceClient,
};
use tonic::Code;

use crate::{
    Ch, Connections, LoadShape, Target,
    answer::Answer,
    checkout::order_request,
    drive::{self, KindStats, Pacer, Progress, Stats},
    report::{Line, joined},
};

/// Shape of the flash sale.
#[derive(Debug, Args)]
pub(crate) struct FlashArgs {
    /// Units of the hot SKU in the rate phase (more than the run can sell).
    #[arg(long, default_value_t = 100_000_000)]
    pub(crate) units: u64,
    /// Units of the hot SKU in the sell-out phase; default 4 per caller. 0 skips the phase.
    #[arg(long)]
    pub(crate) sellout_units: Option<u64>,
    #[command(flatten)]
    pub(crate) shape: LoadShape,
}

const NOT_ENOUGH_QTY: &str = "NOT_ENOUGH_QTY";

/// Orders whose first answer was not definite, to look up at the end.
type Unresolved = Arc<Mutex<Vec<String>>>;

/// Runs both phases, prints one line and fails when anything was oversold or lost.
pub(crate) async fn run(target: &Target, args: &FlashArgs) -> anyhow::Result<()> {
    let shape = &args.shape;
    let connections = Connections::open(target, shape).await?;
    let run = shape.run_id();
    let clients = shape.clients;

    // Phase 1: throughput with more units than can be sold.
    let sku = format!("FLASH-{run}-c{clients}");
    let initial = stock_sku(&connections, &sku, args.units).await?;
    let unresolved: Unresolved = Arc::default();
    let (stats, elapsed) = {
        let (sku, run, unresolved) = (sku.clone(), run.clone(), Arc::clone(&unresolved));
        drive::run_callers(
            shape,
            format!("flash c={clients}"),
            &connections,
            move |i, channel, pacer, progress| {
                let prefix = format!("{run}-f{clients}-{i}");
                let hot = HotCaller::new(channel, sku.clone(), prefix, Arc::clone(&unresolved));
                hot.run(pacer, progress, false)
            },
        )
        .await?
    };
    let total = stats.total()?;
    let (late, indefinite) = resolve(&connections, &unresolved).await?;
    let sold = total.done + late;
    let salable_end = salable(&connections, &sku).await?;
    let expected_end = initial - Decimal::from(sold);
    let rate_ok = salable_end == expected_end && indefinite == 0;

    let mut line = Line::new("flash");
    line.common(shape, connections.len(), elapsed, &total)
        .put("sku", &sku)
        .put("reserved", total.done)
        .rate("reserved_per_s", total.done, elapsed)
        .rate("units_per_s", total.done, elapsed)
        .put("refusals", joined(&total.refused))
        .put("initial_salable", initial)
        .put("salable_end", salable_end)
        .put("expected_salable_end", expected_end)
        .put("resolved_late", late)
        .put("indefinite", indefinite);

    // Phase 2: demand exceeds supply.
    let sellout_units = args.sellout_units.unwrap_or(4 * clients as u64);
    let mut sellout_ok = true;
    if sellout_units > 0 {
        let outcome = sellout(&connections, shape, &run, sellout_units).await?;
        let oversold = outcome.sold.saturating_sub(sellout_units);
        sellout_ok = outcome.sold == sellout_units
            && outcome.salable_end == Decimal::ZERO
            && outcome.indefinite == 0
            && outcome
                .stats
                .refused
                .get(NOT_ENOUGH_QTY)
                .copied()
                .unwrap_or(0)
                >= clients as u64;
        line.put("sellout_units", sellout_units)
            .put("sellout_sold", outcome.sold)
            .put(
                "sellout_refused",
                outcome
                    .stats
                    .refused
                    .get(NOT_ENOUGH_QTY)
                    .copied()
                    .unwrap_or(0),
            )
            .put("sellout_refusals", joined(&outcome.stats.refused))
            .put("sellout_errors", outcome.stats.error_count())
            .put("sellout_indefinite", outcome.indefinite)
            .put("sellout_salable_end", outcome.salable_end)
            .put("sellout_seconds", format!("{:.1}", outcome.seconds))
            .latency("sellout_", &outcome.stats.latency)
            .put("oversold", oversold);
    }
    let verdict = if rate_ok && sellout_ok { "ok" } else { "FAIL" };
    line.put("verdict", verdict);
    line.print();
    anyhow::ensure!(
        verdict == "ok",
        "flash sale accounting does not add up (see the line above)"
    );
    Ok(())
}

/// One caller hammering the hot SKU.
struct HotCaller {
    client: ReservationServiceClient<Ch>,
    sku: String,
    prefix: String,
    unresolved: Unresolved,
}

impl HotCaller {
    fn new(channel: Ch, sku: String, prefix: String, unresolved: Unresolved) -> Self {
        Self {
            client: ReservationServiceClient::new(channel),
            sku,
            prefix,
            unresolved,
        }
    }

    /// Orders one unit per slot; with `until_refused`, stops at the first `NOT_ENOUGH_QTY`.
    async fn run(
        mut self,
        mut pacer: Pacer,
        progress: Arc<Progress>,
        until_refused: bool,
    ) -> anyhow::Result<Stats> {
        let mut stats = Stats::default();
        let mut n = 0u64;
        let skus = [self.sku.clone()];
        while let Some(due) = pacer.next().await {
            n += 1;
            let order_id = format!("{}-{n}", self.prefix);
            let request = order_request(order_id.clone(), &skus);
            let answer = Answer::from_result(&self.client.place_order(request).await);
            stats.record("order", due, &answer, 1, &progress)?;
            match answer {
                Answer::Refused(reason) if until_refused && reason == NOT_ENOUGH_QTY => break,
                Answer::Error(_) => lock(&self.unresolved).push(order_id),
                _ => {}
            }
        }
        Ok(stats)
    }
}

fn lock(unresolved: &Unresolved) -> std::sync::MutexGuard<'_, Vec<String>> {
    unresolved
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

struct Sellout {
    stats: KindStats,
    sold: u64,
    indefinite: u64,
    salable_end: Decimal,
    seconds: f64,
}

async fn sellout(
    connections: &Connections,
    shape: &LoadShape,
    run: &str,
    units: u64,
) -> anyhow::Result<Sellout> {
    let clients = shape.clients;
    let sku = format!("FLASH-{run}-c{clients}-sellout");
    let initial = stock_sku(connections, &sku, units).await?;
    anyhow::ensure!(
        initial == Decimal::from(units),
        "{sku} starts with {initial} salable, not {units}"
    );
    // Callers stop on their own at the first refusal; the duration is only a safety net.
    let mut open_ended = shape.clone();
    open_ended.duration = shape.duration.max(10) * 10;
    open_ended.rate = None;
    let unresolved: Unresolved = Arc::default();
    let (stats, elapsed) = {
        let (sku, run, unresolved) = (sku.clone(), run.to_owned(), Arc::clone(&unresolved));
        drive::run_callers(
            &open_ended,
            format!("flash sell-out c={clients}"),
            connections,
            move |i, channel, pacer, progress| {
                let prefix = format!("{run}-fs{clients}-{i}");
                let hot = HotCaller::new(channel, sku.clone(), prefix, Arc::clone(&unresolved));
                hot.run(pacer, progress, true)
            },
        )
        .await?
    };
    let total = stats.total()?;
    let (late, indefinite) = resolve(connections, &unresolved).await?;
    Ok(Sellout {
        sold: total.done + late,
        stats: total,
        indefinite,
        salable_end: salable(connections, &sku).await?,
        seconds: elapsed.as_secs_f64(),
    })
}

/// Puts `units` of `sku` on the default source and returns its salable quantity in stock 1.
async fn stock_sku(connections: &Connections, sku: &str, units: u64) -> anyhow::Result<Decimal> {
    SourceItemServiceClient::new(connections.any())
        .upsert_source_items(pb::UpsertSourceItemsRequest {
            items: vec![pb::SourceItem {
                source_code: "default".into(),
                sku: sku.to_owned(),
                quantity: units.to_string(),
                status: pb::SourceItemStatus::InStock as i32,
                settings: None,
                expected_quantity: None,
            }],
        })
        .await
        .with_context(|| format!("stocking {sku}"))?;
    salable(connections, sku).await
}

/// The SKU's salable quantity in stock 1, as stockd reports it.
async fn salable(connections: &Connections, sku: &str) -> anyhow::Result<Decimal> {
    let response = AvailabilityServiceClient::new(connections.any())
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(pb::StockScope {
                scope: Some(pb::stock_scope::Scope::StockId(1)),
            }),
            skus: vec![sku.to_owned()],
        })
        .await
        .with_context(|| format!("reading the salable quantity of {sku}"))?
        .into_inner();
    let item = response
        .items
        .first()
        .with_context(|| format!("no salable quantity for {sku}"))?;
    Ok(Decimal::from_str(&item.salable_qty)?.normalize())
}

/// Looks up every order whose answer was not definite: returns (placed after all, still unknown).
async fn resolve(connections: &Connections, unresolved: &Unresolved) -> anyhow::Result<(u64, u64)> {
    let ids = std::mem::take(&mut *lock(unresolved));
    let mut client = ReservationServiceClient::new(connections.any());
    let (mut placed, mut unknown) = (0, 0);
    for order_id in ids {
        match client.get_order(pb::GetOrderRequest { order_id }).await {
            Ok(_) => placed += 1,
            Err(status) if status.code() == Code::NotFound => {}
            Err(_) => unknown += 1,
        }
    }
    Ok((placed, unknown))
}
