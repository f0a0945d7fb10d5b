//! `stockctl export source-items`: every source item, page by page, in the import's format.

use std::io::Write;

use anyhow::Context;
use clap::Args;
use stockd::grpc::pb;

use crate::{
    client::Clients,
    columns::{self, Column},
    write::stored_cell,
};

/// Options of `export source-items`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// Only these sources (repeatable); all sources when absent.
    #[arg(long = "source")]
    sources: Vec<String>,
    /// Only SKUs that start with this; filtered here, stockd lists whole sources.
    #[arg(long)]
    sku_prefix: Option<String>,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<std::path::PathBuf>,
}

/// Streams the export; memory stays at one page whatever the catalogue's size.
pub(crate) async fn run(args: &ExportArgs, clients: &Clients) -> anyhow::Result<u8> {
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::with_capacity(1 << 16, sink));
    writer.write_record(columns::export_header())?;
    let mut sources = args.sources.clone();
    if sources.is_empty() {
        let mut all: Vec<String> = clients.source_codes().await?.into_iter().collect();
        all.sort();
        sources = all;
    }
    for source in &sources {
        export_source(clients, source, args.sku_prefix.as_deref(), &mut writer).await?;
    }
    writer.flush()?;
    Ok(0)
}

async fn export_source<W: Write>(
    clients: &Clients,
    source: &str,
    prefix: Option<&str>,
    writer: &mut csv::Writer<W>,
) -> anyhow::Result<()> {
    let mut client = clients.items();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_source_items(pb::ListSourceItemsRequest {
                filter: Some(pb::list_source_items_request::Filter::SourceCode(
                    source.to_owned(),
                )),
                page_size: 1000,
                page_token,
            })
            .await
            .with_context(|| format!("cannot list the items of source {source:?}"))?
            .into_inner();
        for item in &page.items {
            if prefix.is_none_or(|p| item.sku.starts_with(p)) {
                writer.write_record(record(item))?;
            }
        }
        if page.next_page_token.is_empty() {
            return Ok(());
        }
        page_token = page.next_page_token;
    }
}

/// One source item as a CSV row; an absent setting is an empty cell ("use default").
fn record(item: &pb::SourceItem) -> Vec<String> {
    let settings = item.settings.clone().unwrap_or_default();
    let status = match pb::SourceItemStatus::try_from(item.status) {
        Ok(pb::SourceItemStatus::OutOfStock) => "0",
        _ => "1",
    };
    columns::ALL
        .iter()
        .map(|column| match column {
            Column::SourceCode => item.source_code.clone(),
            Column::Sku => item.sku.clone(),
            Column::Status => status.to_owned(),
            Column::Quantity => item.quantity.clone(),
            setting => stored_cell(&settings, *setting).unwrap_or_default(),
        })
        .collect()
}
