//! Shipments and returns: what an order line allows, and how far a source may go below zero
//! (DOMAIN §4).

use std::collections::BTreeMap;

use rust_decimal::Decimal;

use super::{
    ids::{Sku, SourceCode},
    order::{EXCEEDS_OPEN, LineRefusal, NOT_ON_ORDER, OrderLine},
    quantity::Quantity,
    settings::EffectiveItemSettings,
};

/// Reason code: the source has no item of the SKU (or the source is unknown).
pub const SOURCE_ITEM_NOT_FOUND: &str = "SOURCE_ITEM_NOT_FOUND";
/// Reason code: the shipment would take a source without backorders below zero.
pub const BACKORDERS_NOT_ALLOWED: &str = "BACKORDERS_NOT_ALLOWED";
/// Reason code: the shipment would take a source past its negative threshold.
pub const BELOW_BACKORDER_LIMIT: &str = "BELOW_BACKORDER_LIMIT";
/// Reason code: a return of more than was shipped (and not yet returned).
pub const EXCEEDS_SHIPPED: &str = "QTY_EXCEEDS_SHIPPED";
/// Reason code: the source is not linked to the order's stock, so the order does not sell from it.
pub const SOURCE_NOT_IN_STOCK: &str = "SOURCE_NOT_IN_STOCK";
/// Reason code: the source is disabled.
pub const SOURCE_DISABLED: &str = "SOURCE_DISABLED";

/// One line of a shipment or a return: a SKU leaving (or coming back to) one source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceLine {
    /// The product.
    pub sku: Sku,
    /// The source that shipped it, or takes it back.
    pub source: SourceCode,
    /// Units.
    pub quantity: Quantity,
}

/// Which of an order's quantities a request draws on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    /// A shipment draws on the open quantity.
    Open,
    /// A return draws on what was shipped and not yet returned.
    Shipped,
}

/// Checks every request line against the order: the SKU is on it and, summed per SKU, the
/// quantity fits what is open (shipments) or shipped and not returned (returns).
pub fn check_against_order(
    order: &[OrderLine],
    request: &[SourceLine],
    draw: Draw,
) -> Result<BTreeMap<Sku, Decimal>, Vec<LineRefusal>> {
    let mut totals: BTreeMap<Sku, Decimal> = BTreeMap::new();
    let mut refusals = Vec::new();
    for (i, line) in request.iter().enumerate() {
        let Some(order_line) = order.iter().find(|l| l.sku == line.sku) else {
            refusals.push(refusal(
                i,
                &line.sku,
                NOT_ON_ORDER,
                "the order has no line of this SKU".into(),
            ));
            continue;
        };
        let total = totals.entry(line.sku.clone()).or_default();
        *total += line.quantity.get();
        let (room, code, what) = match draw {
            Draw::Open => (order_line.open(), EXCEEDS_OPEN, "open"),
            Draw::Shipped => (
                order_line.shipped - order_line.returned,
                EXCEEDS_SHIPPED,
                "shipped and not returned",
            ),
        };
        if *total > room {
            let message = format!("only {} is {what} on this line", room.normalize());
            refusals.push(refusal(i, &line.sku, code, message));
        }
    }
    if refusals.is_empty() {
        Ok(totals)
    } else {
        Err(refusals)
    }
}

/// Whether a source holding `on_hand` may ship `qty`: down to zero always; below zero only with
/// backorders, and not past a negative threshold (a threshold of 0 or more has no limit, as in
/// the salable quantity).
pub fn check_deduction(
    settings: &EffectiveItemSettings,
    on_hand: Decimal,
    qty: Decimal,
) -> Result<(), (&'static str, String)> {
    let after = on_hand - qty;
    if after >= Decimal::ZERO {
        return Ok(());
    }
    if !settings.backorders.allows_backorders() {
        return Err((
            BACKORDERS_NOT_ALLOWED,
            format!(
                "the source holds {} and does not allow backorders",
                on_hand.normalize()
            ),
        ));
    }
    let threshold = settings.out_of_stock_threshold.get();
    if threshold < Decimal::ZERO && after < threshold {
        return Err((
            BELOW_BACKORDER_LIMIT,
            format!(
                "the source holds {} and may not go below {}",
                on_hand.normalize(),
                threshold.normalize()
            ),
        ));
    }
    Ok(())
}

/// A refusal of a request line.
pub fn refusal(line: usize, sku: &Sku, code: &'static str, message: String) -> LineRefusal {
    LineRefusal {
        line,
        sku: sku.to_string(),
        code,
        message,
    }
}

/// What the store knows about the source a line names, seen from the order's stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFacts {
    /// Linked to the order's stock.
    pub linked: bool,
    /// Enabled.
    pub enabled: bool,
}

/// The source item a line names: what it holds and its effective settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldItem {
    /// On hand now (may be negative after backordered shipments).
    pub on_hand: Decimal,
    /// After source item → product → global resolution.
    pub settings: EffectiveItemSettings,
}

/// Everything a line of a shipment or a return is judged on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineFacts<'a> {
    /// The named source; `None` when there is no such source.
    pub source: Option<SourceFacts>,
    /// The product's effective `manage_stock`.
    pub manage_stock: bool,
    /// The source's item of the SKU; `None` when it holds none.
    pub item: Option<&'a HeldItem>,
}

/// Whether a line that may go ahead changes its source's quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Move {
    /// The source's quantity changes by the line's quantity.
    Quantity,
    /// Nothing moves: the product's stock is not managed, or the units are written off.
    Nothing,
}

/// A refused line: its reason code and an explanation for people.
pub type Refused = (&'static str, String);

/// A shipment line (DOMAIN §4): only from an enabled source linked to the order's stock, whatever
/// the item's status (an out-of-stock status stops selling, not shipping); an unmanaged product
/// ships with no deduction; otherwise the item must exist and the deduction fit its limits.
pub fn judge_shipment(line: &SourceLine, facts: LineFacts<'_>) -> Result<Move, Refused> {
    sells_from(line, facts.source)?;
    if !facts.manage_stock {
        return Ok(Move::Nothing);
    }
    let item = held(line, facts.item)?;
    check_deduction(&item.settings, item.on_hand, line.quantity.get())?;
    Ok(Move::Quantity)
}

/// A return line: a write-off needs no source; units back on the shelf go only to an enabled
/// source linked to the order's stock, and to its item, unless the product's stock is not managed
/// (the shipment deducted nothing, so nothing comes back).
pub fn judge_return(
    line: &SourceLine,
    back_to_stock: bool,
    facts: LineFacts<'_>,
) -> Result<Move, Refused> {
    if !back_to_stock {
        return Ok(Move::Nothing);
    }
    sells_from(line, facts.source)?;
    if !facts.manage_stock {
        return Ok(Move::Nothing);
    }
    held(line, facts.item)?;
    Ok(Move::Quantity)
}

/// Judges every line; the indices of the lines that move quantity, or a refusal per failing line.
pub fn judge_lines(
    lines: &[SourceLine],
    mut judge: impl FnMut(usize, &SourceLine) -> Result<Move, Refused>,
) -> Result<Vec<usize>, Vec<LineRefusal>> {
    let mut moving = Vec::new();
    let mut refusals = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        match judge(i, line) {
            Ok(Move::Quantity) => moving.push(i),
            Ok(Move::Nothing) => {}
            Err((code, message)) => refusals.push(refusal(i, &line.sku, code, message)),
        }
    }
    if refusals.is_empty() {
        Ok(moving)
    } else {
        Err(refusals)
    }
}

/// The order's stock sells from the source: it exists, is linked and is enabled.
fn sells_from(line: &SourceLine, source: Option<SourceFacts>) -> Result<(), Refused> {
    let Some(source) = source else {
        return Err((
            SOURCE_ITEM_NOT_FOUND,
            format!("there is no source {}", line.source),
        ));
    };
    if !source.linked {
        return Err((
            SOURCE_NOT_IN_STOCK,
            format!("source {} is not linked to the order's stock", line.source),
        ));
    }
    if !source.enabled {
        return Err((
            SOURCE_DISABLED,
            format!("source {} is disabled", line.source),
        ));
    }
    Ok(())
}

fn held<'a>(line: &SourceLine, item: Option<&'a HeldItem>) -> Result<&'a HeldItem, Refused> {
    item.ok_or_else(|| {
        (
            SOURCE_ITEM_NOT_FOUND,
            format!("source {} has no item of this SKU", line.source),
        )
    })
}

#[cfg(test)]
#[path = "fulfilment_tests.rs"]
mod tests;
