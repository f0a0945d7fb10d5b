//! Loads a benchmark catalogue through the public API, 1,000 source items per call.

use clap::Args;
use stockd::grpc::pb::{self, source_item_service_client::SourceItemServiceClient};
use tonic::transport::Channel;

/// How big a catalogue to load.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Number of SKUs, named SKU1..SKUn.
    #[arg(long, default_value_t = 100_000)]
    pub(crate) skus: u32,
}

/// Upserts SKU1..SKUn at the default source with a large quantity.
pub(crate) async fn load(channel: Channel, args: &LoadArgs) -> anyhow::Result<()> {
    let mut client = SourceItemServiceClient::new(channel);
    let mut start = 1;
    while start <= args.skus {
        let end = (start + 999).min(args.skus);
        let items = (start..=end)
            .map(|i| pb::SourceItem {
                source_code: "default".into(),
                sku: format!("SKU{i}"),
                quantity: "1000000".into(),
                status: pb::SourceItemStatus::InStock as i32,
                settings: None,
            })
            .collect();
        client
            .upsert_source_items(pb::UpsertSourceItemsRequest { items })
            .await?;
        start = end + 1;
    }
    eprintln!("loaded {} SKUs", args.skus);
    Ok(())
}
