//! A small demo catalogue for the README's run command: the MSI documentation's example and a
//! few products that show per-source backorders, restock dates and "Only X left".

use chrono::NaiveDate;

use crate::{
    domain::{
        BackorderMode, Quantity, Sku, SourceCode, SourceItemStatus, StockId,
        settings_patch::{SettingValues, SettingsPatch},
        source::{Source, SourceDetails},
        stock::SourceLink,
    },
    repo::{Repo, RepoError, source_items::SourceItemWrite},
};

/// Loads the demo catalogue; running it twice leaves the same data.
pub async fn load(repo: &Repo) -> anyhow::Result<()> {
    for (code, name) in [
        ("warehouse-east", "East Warehouse"),
        ("dropship-acme", "ACME Drop-shipping"),
    ] {
        let source = Source {
            code: SourceCode::parse(code)?,
            details: SourceDetails {
                name: name.to_owned(),
                ..SourceDetails::default()
            },
            enabled: true,
        };
        match repo.create_source(&source).await {
            Ok(_) | Err(RepoError::AlreadyExists { .. }) => {}
            Err(error) => return Err(error.into()),
        }
    }
    let links = [("default", 1), ("warehouse-east", 2), ("dropship-acme", 3)]
        .into_iter()
        .map(|(code, priority)| {
            Ok(SourceLink {
                source: SourceCode::parse(code)?,
                priority,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    repo.link_sources(StockId::DEFAULT, &links).await?;
    repo.upsert_source_items(&items()?).await?;
    settings(repo).await
}

fn items() -> anyhow::Result<Vec<SourceItemWrite>> {
    let rows = [
        ("default", "MSI-EXAMPLE", "25"),
        ("default", "TEE-RED-M", "3"),
        ("warehouse-east", "TEE-RED-M", "2"),
        ("default", "MUG-BLUE", "4"),
        ("dropship-acme", "MUG-BLUE", "0"),
    ];
    rows.into_iter()
        .map(|(source, sku, qty)| {
            Ok(SourceItemWrite {
                source: SourceCode::parse(source)?,
                sku: Sku::parse(sku)?,
                quantity: Quantity::parse(qty)?,
                status: SourceItemStatus::InStock,
            })
        })
        .collect()
}

async fn settings(repo: &Repo) -> anyhow::Result<()> {
    let q = |s: &str| Quantity::parse(s);
    // MSI's worked example: 25 on hand, backorders down to -50, so 75 salable.
    let msi = SettingsPatch {
        set: SettingValues {
            backorders: Some(BackorderMode::Allow),
            out_of_stock_threshold: Some(q("-50")?),
            stock_threshold_qty: Some(q("5")?),
            ..SettingValues::default()
        },
        clear: Vec::new(),
    };
    repo.update_product_settings(&Sku::parse("MSI-EXAMPLE")?, &msi)
        .await?;
    // "Only X left" below 10 units.
    let tee = SettingsPatch {
        set: SettingValues {
            stock_threshold_qty: Some(q("10")?),
            ..SettingValues::default()
        },
        clear: Vec::new(),
    };
    repo.update_product_settings(&Sku::parse("TEE-RED-M")?, &tee)
        .await?;
    // The drop-shipper takes up to 20 backorders and expects a delivery.
    let dropship = SettingsPatch {
        set: SettingValues {
            backorders: Some(BackorderMode::AllowNotify),
            out_of_stock_threshold: Some(q("-20")?),
            restock_date: NaiveDate::from_ymd_opt(2026, 12, 15),
            restock_qty: Some(q("40")?),
            ..SettingValues::default()
        },
        clear: Vec::new(),
    };
    repo.update_source_item_settings(
        &SourceCode::parse("dropship-acme")?,
        &Sku::parse("MUG-BLUE")?,
        &dropship,
    )
    .await?;
    Ok(())
}
