//! Holds, orders and cancellations between protobuf and the repository.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use super::{
    MAX_BATCH, availability::message_to_pb, batch_fits, decimal, no_duplicates, positive_quantity,
    sku,
};
use crate::{
    domain::{CancellationId, CartId, OrderId, Quantity, Sku},
    grpc::pb,
    repo::{
        availability::ReservedLine,
        holds::Holder,
        orders::{LedgerRow, OrderView},
    },
    validation::Violations,
};

/// Parses an order id.
pub(crate) fn order_id(v: &mut Violations, field: &str, value: &str) -> Option<OrderId> {
    v.check(field, OrderId::parse(value))
}

/// Parses a cart id.
pub(crate) fn cart_id(v: &mut Violations, field: &str, value: &str) -> Option<CartId> {
    v.check(field, CartId::parse(value))
}

/// Parses a cart id that may be left empty; `Some(None)` when it is.
pub(crate) fn optional_cart_id(
    v: &mut Violations,
    field: &str,
    value: &str,
) -> Option<Option<CartId>> {
    if value.is_empty() {
        return Some(None);
    }
    cart_id(v, field, value).map(Some)
}

/// Parses a cancellation id.
pub(crate) fn cancellation_id(
    v: &mut Violations,
    field: &str,
    value: &str,
) -> Option<CancellationId> {
    v.check(field, CancellationId::parse(value))
}

/// Parses lines of SKU and positive quantity: at most 1,000, each SKU once, none only when
/// `may_be_empty`. Every bad field is recorded; the lines come back only when all are good.
pub(crate) fn quantity_lines<'a>(
    v: &mut Violations,
    field: &str,
    lines: impl ExactSizeIterator<Item = (&'a str, &'a str)> + Clone,
    may_be_empty: bool,
) -> Option<Vec<(Sku, Quantity)>> {
    let fits = if lines.len() > 0 || !may_be_empty {
        batch_fits(v, field, lines.len())
    } else {
        true
    };
    if !fits {
        return None;
    }
    let before = v.len();
    no_duplicates(v, lines.clone().map(|(s, _)| s), |i| {
        format!("{field}[{i}].sku")
    });
    let parsed: Vec<_> = lines
        .enumerate()
        .filter_map(|(i, (raw_sku, raw_qty))| {
            let sku = sku(v, &format!("{field}[{i}].sku"), raw_sku);
            let qty = positive_quantity(v, &format!("{field}[{i}].quantity"), raw_qty);
            Some((sku?, qty?))
        })
        .collect();
    (v.len() == before && parsed.len() <= MAX_BATCH).then_some(parsed)
}

/// The lines of QuantityLine messages as (sku, quantity) text pairs.
pub(crate) fn pb_lines(
    lines: &[pb::QuantityLine],
) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone {
    lines.iter().map(|l| (l.sku.as_str(), l.quantity.as_str()))
}

/// A timestamp for the wire.
pub(crate) fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: i32::try_from(at.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

/// A held or ordered line for the wire.
pub(crate) fn reserved_line_to_pb(line: &ReservedLine) -> pb::ReservedLine {
    pb::ReservedLine {
        sku: line.sku.to_string(),
        quantity: decimal(line.quantity),
        backordered_qty: decimal(line.backordered),
        notices: line.notices.iter().map(message_to_pb).collect(),
    }
}

/// An order for the wire.
pub(crate) fn order_to_pb(order: &OrderView) -> pb::Order {
    let status = if order.closed {
        pb::OrderStatus::Closed
    } else {
        pb::OrderStatus::Open
    };
    pb::Order {
        order_id: order.order_id.to_string(),
        stock_id: order.stock.get(),
        sales_channel: Some(pb::SalesChannel {
            r#type: order.channel.kind().to_owned(),
            code: order.channel.code().to_owned(),
        }),
        status: status as i32,
        lines: order
            .lines
            .iter()
            .map(|l| pb::OrderLine {
                sku: l.sku.to_string(),
                ordered: decimal(l.ordered),
                backordered: decimal(l.backordered),
                shipped: decimal(l.shipped),
                canceled: decimal(l.canceled),
                returned: decimal(l.returned),
                open: decimal(l.open()),
            })
            .collect(),
        created_at: Some(timestamp(order.created_at)),
    }
}

/// A canceled quantity for the wire.
pub(crate) fn cancel_line_to_pb(sku: &Sku, qty: Decimal) -> pb::CancelLine {
    pb::CancelLine {
        sku: sku.to_string(),
        quantity: decimal(qty),
    }
}

/// A ledger row for the wire.
pub(crate) fn reservation_to_pb(row: &LedgerRow) -> pb::Reservation {
    pb::Reservation {
        id: row.id,
        stock_id: row.stock_id,
        sku: row.sku.clone(),
        quantity: decimal(row.quantity),
        event: row.event.clone(),
        object_id: row.object_id.clone(),
        created_at: Some(timestamp(row.created_at)),
    }
}

/// A holder for the wire.
pub(crate) fn holder_to_pb(holder: &Holder) -> pb::Holder {
    let kind = if holder.is_order {
        pb::HolderKind::Order
    } else {
        pb::HolderKind::Cart
    };
    pb::Holder {
        kind: kind as i32,
        id: holder.id.clone(),
        quantity: decimal(holder.quantity),
        expires_at: holder.expires_at.map(timestamp),
    }
}
