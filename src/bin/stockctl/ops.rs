//! Everyday look-ups and repairs: availability, orders, holders and the consistency check.

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use stockd::grpc::pb;

use crate::{client::Clients, output::Output};

/// Which stock a question is about.
#[derive(Debug, Clone, Args)]
pub(crate) struct Scope {
    /// Stock id.
    #[arg(long, default_value_t = 1, conflicts_with = "website")]
    stock: i32,
    /// A website code, answered from the stock assigned to it.
    #[arg(long)]
    website: Option<String>,
}

impl Scope {
    fn to_pb(&self) -> pb::StockScope {
        let scope = match &self.website {
            Some(code) => pb::stock_scope::Scope::SalesChannel(pb::SalesChannel {
                r#type: "website".into(),
                code: code.clone(),
            }),
            None => pb::stock_scope::Scope::StockId(self.stock),
        };
        pb::StockScope { scope: Some(scope) }
    }
}

/// `stockctl order …`.
#[derive(Debug, Subcommand)]
pub(crate) enum OrderCommand {
    /// An order's lines and status.
    Get { order_id: String },
    /// Cancels what is still open on an order; a retry with the same id changes nothing.
    Cancel {
        order_id: String,
        /// The cancellation's id; defaults to one derived from the order id.
        #[arg(long)]
        cancellation_id: Option<String>,
    },
}

/// `stockctl consistency …`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConsistencyCommand {
    /// Reports differences between the ledger, the orders and the copies; changes nothing.
    Check,
    /// Repairs the differences found; asks first unless `--yes`.
    Repair {
        /// Do not ask.
        #[arg(long)]
        yes: bool,
    },
}

/// Salable quantities of SKUs.
pub(crate) async fn availability(
    clients: &Clients,
    out: Output,
    scope: &Scope,
    skus: &[String],
) -> anyhow::Result<u8> {
    let answer = clients
        .availability()
        .get_salable_quantities(pb::GetSalableQuantitiesRequest {
            scope: Some(scope.to_pb()),
            skus: skus.to_vec(),
        })
        .await
        .context("GetSalableQuantities")?
        .into_inner();
    let rows: Vec<Value> = answer
        .items
        .iter()
        .map(|q| {
            json!({"stock_id": answer.stock_id, "sku": q.sku, "salable_qty": q.salable_qty,
                "is_salable": q.is_salable, "unlimited": q.unlimited, "assigned": q.assigned})
        })
        .collect();
    let columns = [
        "stock_id",
        "sku",
        "salable_qty",
        "is_salable",
        "unlimited",
        "assigned",
    ];
    out.list(&columns, &rows);
    Ok(0)
}

/// Reads or cancels an order.
pub(crate) async fn order(
    clients: &Clients,
    out: Output,
    command: &OrderCommand,
) -> anyhow::Result<u8> {
    let mut client = clients.reservations();
    let order = match command {
        OrderCommand::Get { order_id } => client
            .get_order(pb::GetOrderRequest {
                order_id: order_id.clone(),
            })
            .await
            .context("GetOrder")?
            .into_inner(),
        OrderCommand::Cancel {
            order_id,
            cancellation_id,
        } => {
            let answer = client
                .cancel_order(pb::CancelOrderRequest {
                    order_id: order_id.clone(),
                    cancellation_id: cancellation_id
                        .clone()
                        .unwrap_or_else(|| format!("stockctl-cancel-{order_id}")),
                    lines: Vec::new(),
                })
                .await
                .context("CancelOrder")?
                .into_inner();
            answer.order.unwrap_or_default()
        }
    };
    let status = pb::OrderStatus::try_from(order.status).map_or("unknown", |s| s.as_str_name());
    let rows: Vec<Value> = order
        .lines
        .iter()
        .map(|l| {
            json!({"order_id": order.order_id, "stock_id": order.stock_id, "status": status,
                "sku": l.sku, "ordered": l.ordered, "backordered": l.backordered,
                "shipped": l.shipped, "canceled": l.canceled, "returned": l.returned,
                "open": l.open})
        })
        .collect();
    let columns = [
        "order_id",
        "status",
        "sku",
        "ordered",
        "backordered",
        "shipped",
        "canceled",
        "returned",
        "open",
    ];
    out.list(&columns, &rows);
    Ok(0)
}

/// Every cart and order holding a SKU.
pub(crate) async fn holders(
    clients: &Clients,
    out: Output,
    scope: &Scope,
    sku: &str,
) -> anyhow::Result<u8> {
    let mut client = clients.reservations();
    let mut rows = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_sku_holders(pb::ListSkuHoldersRequest {
                scope: Some(scope.to_pb()),
                sku: sku.to_owned(),
                page_size: 1000,
                page_token,
            })
            .await
            .context("ListSkuHolders")?
            .into_inner();
        rows.extend(page.holders.iter().map(|h| {
            let kind = pb::HolderKind::try_from(h.kind).map_or("unknown", |k| k.as_str_name());
            let expires = h.expires_at.map(|t| t.to_string());
            json!({"kind": kind, "id": h.id, "quantity": h.quantity, "expires_at": expires})
        }));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    out.list(&["kind", "id", "quantity", "expires_at"], &rows);
    Ok(0)
}

/// Checks, or after confirmation repairs, the ledger and the copies.
pub(crate) async fn consistency(
    clients: &Clients,
    out: Output,
    command: &ConsistencyCommand,
) -> anyhow::Result<u8> {
    let repair = match command {
        ConsistencyCommand::Check => false,
        ConsistencyCommand::Repair { yes } => {
            if !*yes && !confirm("Repair every difference found?")? {
                eprintln!("stockctl: nothing repaired");
                return Ok(1);
            }
            true
        }
    };
    let mut stream = clients
        .fulfilment()
        .check_consistency(pb::CheckConsistencyRequest { repair })
        .await
        .context("CheckConsistency")?
        .into_inner();
    let mut rows = Vec::new();
    let mut summary = json!({});
    while let Some(report) = stream.message().await.context("CheckConsistency")? {
        use pb::consistency_report::Report;
        match report.report {
            Some(Report::Order(d)) => rows.push(json!({"kind": "order", "stock_id": d.stock_id,
                "sku": d.sku, "detail": format!("order {} expected {} actual {}", d.order_id, d.expected, d.actual),
                "repaired": d.repaired})),
            Some(Report::Total(d)) => rows.push(json!({"kind": "total", "stock_id": d.stock_id,
                "sku": d.sku, "detail": format!("total {} ledger {}", d.total, d.ledger),
                "repaired": d.repaired})),
            Some(Report::SourceItemCopy(d)) => rows.push(json!({"kind": "source_item_copy",
                "stock_id": d.stock_id, "sku": d.sku, "detail": "", "repaired": d.repaired})),
            Some(Report::ProductSettingsCopy(d)) => rows.push(json!({"kind": "product_settings_copy",
                "stock_id": d.stock_id, "sku": d.sku, "detail": "", "repaired": d.repaired})),
            Some(Report::Summary(s)) => {
                summary = json!({"differences": s.differences, "repaired": s.repaired});
            }
            None => {}
        }
    }
    if out.json {
        out.json_line(&json!({"differences": rows, "summary": summary}));
    } else {
        out.list(&["kind", "stock_id", "sku", "detail", "repaired"], &rows);
        out.summary(&summary);
    }
    Ok(0)
}

/// Asks on the terminal; anything but y/yes is no.
fn confirm(question: &str) -> anyhow::Result<bool> {
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}
