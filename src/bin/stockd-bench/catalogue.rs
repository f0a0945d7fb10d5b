//! Loads the benchmark catalogue through the public admin APIs.
//!
//! The catalogue of the performance issue: `skus` products, 5 sources, 2 stocks, mixed backorder
//! settings.
//!
//! - Sources: `default` (exists in every database), `north`, `south`, `store-berlin`, `dropship`.
//! - Stock 1 (`website/base`): default, north, dropship. Stock 2 "Bench Europe" (`website/eu`):
//!   south, store-berlin, dropship.
//! - Every SKU `SKU<i>` has 1,000,000 units at `default`, so orders of the benchmark never run out,
//!   and a few units (0–199) at one other source (`i % 4`), out of stock for every 50th SKU.
//! - Product settings: every 10th SKU allows backorders (no limit); every 25th allows them with a
//!   notice down to −20. Source-item settings on the second source: every 40th SKU is judged
//!   alone without backorders and a threshold of 2; every 40th (offset 20) allows backorders to −5.
//!
//! Every step is an upsert or checks first, so loading twice changes nothing; a catalogue that is
//! already complete is skipped unless `--force` is given.

use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use stockd::grpc::pb::{
    self, settings_service_client::SettingsServiceClient,
    source_item_service_client::SourceItemServiceClient,
    source_service_client::SourceServiceClient, stock_service_client::StockServiceClient,
};
use tonic::Code;

use crate::{Ch, drive::Progress};

/// How big a catalogue to load.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Number of SKUs, named SKU1..SKUn.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) skus: u32,
    /// Requests in flight while loading.
    #[arg(long, default_value_t = 8)]
    pub(crate) parallel: usize,
    /// Load even when the catalogue looks complete.
    #[arg(long)]
    pub(crate) force: bool,
    /// No progress display on stderr.
    #[arg(long)]
    pub(crate) quiet: bool,
}

/// Source items per UpsertSourceItems call (the API's maximum).
const BATCH: u32 = 1000;
/// The sources besides `default`, with a city and coordinates each.
const SOURCES: [(&str, &str, &str, f64, f64); 4] = [
    ("north", "North warehouse", "Hamburg", 53.55, 9.99),
    ("south", "South warehouse", "Munich", 48.14, 11.58),
    ("store-berlin", "Berlin store", "Berlin", 52.52, 13.40),
    ("dropship", "Drop-shipper", "Rotterdam", 51.92, 4.48),
];
const EUROPE: &str = "Bench Europe";

/// The other source SKU `i` sits on.
fn second_source(i: u32) -> &'static str {
    SOURCES[(i % 4) as usize].0
}

/// Loads (or completes) the catalogue.
pub(crate) async fn load(channel: Ch, args: &LoadArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    if !args.force && complete(&channel, args.skus).await? {
        eprintln!(
            "catalogue of {} SKUs already loaded (--force reloads it)",
            args.skus
        );
        return Ok(());
    }
    sources_and_stocks(&channel).await?;
    let (progress, display) = Progress::start("load".into(), args.quiet);
    source_items(&channel, args, &progress).await?;
    settings(&channel, args, &progress).await?;
    drop(display);
    eprintln!(
        "loaded {} SKUs ({} source items, 5 sources, 2 stocks) in {:.1}s",
        args.skus,
        2 * u64::from(args.skus),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// True when the last thing a load writes is there.
async fn complete(channel: &Ch, skus: u32) -> anyhow::Result<bool> {
    let Some(last) = (1..=skus).rev().find(|i| i % 25 == 7) else {
        return Ok(false);
    };
    let item = SourceItemServiceClient::new(channel.clone())
        .get_source_item(pb::GetSourceItemRequest {
            source_code: second_source(skus).into(),
            sku: format!("SKU{skus}"),
        })
        .await;
    if item.is_err() {
        return Ok(false);
    }
    let product = SettingsServiceClient::new(channel.clone())
        .get_product_settings(pb::GetProductSettingsRequest {
            sku: format!("SKU{last}"),
        })
        .await?
        .into_inner();
    Ok(product.stored.and_then(|s| s.backorders) == Some(pb::BackorderMode::AllowNotify as i32))
}

async fn sources_and_stocks(channel: &Ch) -> anyhow::Result<()> {
    let mut sources = SourceServiceClient::new(channel.clone());
    for (code, name, city, latitude, longitude) in SOURCES {
        let source = pb::Source {
            code: code.into(),
            name: name.into(),
            enabled: Some(true),
            description: "benchmark catalogue".into(),
            address: Some(pb::Address {
                country: if code == "dropship" { "NL" } else { "DE" }.into(),
                city: city.into(),
                ..Default::default()
            }),
            location: Some(pb::GeoPoint {
                latitude,
                longitude,
            }),
            contact: None,
        };
        match sources
            .create_source(pb::CreateSourceRequest {
                source: Some(source),
            })
            .await
        {
            Ok(_) => {}
            Err(status) if status.code() == Code::AlreadyExists => {}
            Err(status) => return Err(status).context(format!("creating source {code}")),
        }
    }
    let mut stocks = StockServiceClient::new(channel.clone());
    let europe = match find_stock(&mut stocks, EUROPE).await? {
        Some(id) => id,
        None => {
            stocks
                .create_stock(pb::CreateStockRequest {
                    name: EUROPE.into(),
                })
                .await?
                .into_inner()
                .stock_id
        }
    };
    let links = |codes: [&str; 3]| {
        codes
            .iter()
            .zip(1..)
            .map(|(code, priority)| pb::SourceLink {
                source_code: (*code).into(),
                priority,
            })
            .collect::<Vec<_>>()
    };
    stocks
        .link_sources(pb::LinkSourcesRequest {
            stock_id: 1,
            links: links(["default", "north", "dropship"]),
        })
        .await?;
    stocks
        .link_sources(pb::LinkSourcesRequest {
            stock_id: europe,
            links: links(["south", "store-berlin", "dropship"]),
        })
        .await?;
    stocks
        .assign_sales_channels(pb::AssignSalesChannelsRequest {
            stock_id: europe,
            sales_channels: vec![pb::SalesChannel {
                r#type: "website".into(),
                code: "eu".into(),
            }],
        })
        .await?;
    Ok(())
}

async fn find_stock(
    stocks: &mut StockServiceClient<Ch>,
    name: &str,
) -> anyhow::Result<Option<i32>> {
    let mut page_token = String::new();
    loop {
        let page = stocks
            .list_stocks(pb::ListStocksRequest {
                page_size: 1000,
                page_token,
            })
            .await?
            .into_inner();
        if let Some(stock) = page.stocks.iter().find(|s| s.name == name) {
            return Ok(Some(stock.stock_id));
        }
        if page.next_page_token.is_empty() {
            return Ok(None);
        }
        page_token = page.next_page_token;
    }
}

/// Runs `job(k)` for k in 0..jobs with `parallel` in flight, counting each in `progress`.
async fn in_parallel<F, Fut>(
    parallel: usize,
    jobs: usize,
    progress: &Arc<Progress>,
    job: F,
) -> anyhow::Result<()>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let job = Arc::new(job);
    let parallel = parallel.max(1);
    let mut workers = Vec::with_capacity(parallel);
    for worker in 0..parallel {
        let (job, progress) = (Arc::clone(&job), Arc::clone(progress));
        workers.push(tokio::spawn(async move {
            for k in (worker..jobs).step_by(parallel) {
                job(k).await?;
                progress.add(1);
            }
            anyhow::Ok(())
        }));
    }
    for worker in workers {
        worker.await??;
    }
    Ok(())
}

async fn source_items(
    channel: &Ch,
    args: &LoadArgs,
    progress: &Arc<Progress>,
) -> anyhow::Result<()> {
    let skus = args.skus;
    let batches = skus.div_ceil(BATCH) as usize;
    let client = SourceItemServiceClient::new(channel.clone());
    // Even jobs: the default source; odd jobs: the second sources, for the same SKU range.
    in_parallel(args.parallel, 2 * batches, progress, move |k| {
        let mut client = client.clone();
        async move {
            let first = (k / 2) as u32 * BATCH + 1;
            let last = (first + BATCH - 1).min(skus);
            let items = (first..=last)
                .map(|i| {
                    if k % 2 == 0 {
                        item("default", i, 1_000_000, true)
                    } else {
                        item(second_source(i), i, (i * 7919) % 200, i % 50 != 0)
                    }
                })
                .collect();
            client
                .upsert_source_items(pb::UpsertSourceItemsRequest { items })
                .await
                .with_context(|| format!("upserting SKU{first}..SKU{last}"))?;
            Ok(())
        }
    })
    .await
}

fn item(source: &str, i: u32, quantity: u32, in_stock: bool) -> pb::SourceItem {
    let status = if in_stock {
        pb::SourceItemStatus::InStock
    } else {
        pb::SourceItemStatus::OutOfStock
    };
    pb::SourceItem {
        source_code: source.into(),
        sku: format!("SKU{i}"),
        quantity: quantity.to_string(),
        status: status as i32,
        settings: None,
        expected_quantity: None,
    }
}

/// One settings write of the catalogue.
#[derive(Debug, Clone, Copy)]
enum Setting {
    /// Product: backorders allowed, no limit.
    ProductAllow(u32),
    /// Product: backorders with a notice down to −20.
    ProductNotify(u32),
    /// Second source: judged alone, no backorders, threshold 2.
    ItemNo(u32),
    /// Second source: backorders down to −5.
    ItemAllow(u32),
}

async fn settings(channel: &Ch, args: &LoadArgs, progress: &Arc<Progress>) -> anyhow::Result<()> {
    let mut writes = Vec::new();
    for i in 1..=args.skus {
        if i % 10 == 3 {
            writes.push(Setting::ProductAllow(i));
        } else if i % 25 == 7 {
            writes.push(Setting::ProductNotify(i));
        }
        match i % 40 {
            5 => writes.push(Setting::ItemNo(i)),
            25 => writes.push(Setting::ItemAllow(i)),
            _ => {}
        }
    }
    // The completeness check looks for the last product with a notice: it is written last.
    let marker = writes
        .iter()
        .rposition(|w| matches!(w, Setting::ProductNotify(_)))
        .map(|k| writes.remove(k));
    let writes = Arc::new(writes);
    let client = SettingsServiceClient::new(channel.clone());
    let jobs = writes.len();
    let all = Arc::clone(&writes);
    let shared = client.clone();
    in_parallel(args.parallel * 2, jobs, progress, move |k| {
        let (mut client, write) = (shared.clone(), all[k]);
        async move { apply(&mut client, write).await }
    })
    .await?;
    if let Some(marker) = marker {
        apply(&mut client.clone(), marker).await?;
    }
    Ok(())
}

async fn apply(client: &mut SettingsServiceClient<Ch>, write: Setting) -> anyhow::Result<()> {
    let values = |mode: pb::BackorderMode, threshold: Option<&str>| pb::SettingValues {
        backorders: Some(mode as i32),
        out_of_stock_threshold: threshold.map(str::to_owned),
        ..Default::default()
    };
    match write {
        Setting::ProductAllow(i) | Setting::ProductNotify(i) => {
            let set = if matches!(write, Setting::ProductAllow(_)) {
                values(pb::BackorderMode::Allow, None)
            } else {
                values(pb::BackorderMode::AllowNotify, Some("-20"))
            };
            client
                .update_product_settings(pb::UpdateProductSettingsRequest {
                    sku: format!("SKU{i}"),
                    set: Some(set),
                    clear: Vec::new(),
                })
                .await
                .with_context(|| format!("product settings of SKU{i}"))?;
        }
        Setting::ItemNo(i) | Setting::ItemAllow(i) => {
            let set = if matches!(write, Setting::ItemNo(_)) {
                values(pb::BackorderMode::No, Some("2"))
            } else {
                values(pb::BackorderMode::Allow, Some("-5"))
            };
            client
                .update_source_item_settings(pb::UpdateSourceItemSettingsRequest {
                    source_code: second_source(i).into(),
                    sku: format!("SKU{i}"),
                    set: Some(set),
                    clear: Vec::new(),
                })
                .await
                .with_context(|| format!("settings of SKU{i} at {}", second_source(i)))?;
        }
    }
    Ok(())
}
