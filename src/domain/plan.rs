//! The fulfilment plan of a line: which linked sources would serve it, from on-hand first and
//! then backordered (DOMAIN §3). Indicative only: reservations are per stock, not per source.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{
    ids::SourceCode,
    salable::StockSku,
    settings::{BackorderMode, EffectiveProductSettings},
    source_item::LinkedSourceItem,
};

/// One source's share of a line.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanLine {
    /// The serving source.
    pub source: SourceCode,
    /// Its link priority (lower is preferred).
    pub priority: u32,
    /// Units it would ship from what it holds.
    pub from_on_hand: Decimal,
    /// Units it would ship below zero.
    pub backordered: Decimal,
    /// The source's effective backorder mode for this SKU.
    pub backorder_mode: BackorderMode,
    /// When the source expects more.
    pub restock_date: Option<NaiveDate>,
    /// How much the source expects.
    pub restock_qty: Option<Decimal>,
}

/// How far below zero a source may still go; `None` is no limit.
pub(crate) type Room = Option<Decimal>;

/// Splits `qty` over the counted sources by priority: on-hand units first, within what the stock
/// has not already reserved; then the rest on backorderable sources within their limits, after the
/// room that existing reservations already use up. Sources that would serve nothing are left out.
pub fn fulfilment_plan(s: &StockSku<'_>, qty: Decimal) -> Vec<PlanLine> {
    let product = s.effective_product();
    let mut sources: Vec<&LinkedSourceItem> = s.counted().collect();
    sources.sort_by(|a, b| (a.priority, &a.item.source).cmp(&(b.priority, &b.item.source)));
    let mut lines: Vec<PlanLine> = sources.iter().map(|l| blank_line(l, &product)).collect();

    let on_hand = s.on_hand() + s.reserved;
    let mut budget = on_hand.max(Decimal::ZERO).min(qty);
    for (line, linked) in lines.iter_mut().zip(&sources) {
        let take = linked.item.quantity.get().max(Decimal::ZERO).min(budget);
        line.from_on_hand = take;
        budget -= take;
    }
    let served: Decimal = lines.iter().map(|l| l.from_on_hand).sum();
    let mut need = qty - served;
    let mut already_used = (-on_hand).max(Decimal::ZERO);
    let mut pool_room = pool_room(&sources, &product);
    let mut first_backorderable = None;
    for (index, (line, linked)) in lines.iter_mut().zip(&sources).enumerate() {
        if need <= Decimal::ZERO {
            break;
        }
        if !line.backorder_mode.allows_backorders() {
            continue;
        }
        first_backorderable.get_or_insert(index);
        let room = if linked.item.settings.is_source_managed() {
            &mut own_room(linked, &product)
        } else {
            &mut pool_room
        };
        take_room(room, &mut already_used);
        let take = room.map_or(need, |r| r.min(need));
        if let Some(r) = room.as_mut() {
            *r -= take;
        }
        line.backordered = take;
        need -= take;
    }
    if need > Decimal::ZERO
        && let Some(index) = first_backorderable
    {
        lines[index].backordered += need;
    }
    lines
        .into_iter()
        .filter(|l| l.from_on_hand > Decimal::ZERO || l.backordered > Decimal::ZERO)
        .collect()
}

fn blank_line(linked: &LinkedSourceItem, product: &EffectiveProductSettings) -> PlanLine {
    let item = &linked.item;
    let backorder_mode = if item.settings.is_source_managed() {
        item.settings.resolve(product).backorders
    } else {
        product.backorders
    };
    PlanLine {
        source: item.source.clone(),
        priority: linked.priority,
        from_on_hand: Decimal::ZERO,
        backordered: Decimal::ZERO,
        backorder_mode,
        restock_date: item.settings.restock_date,
        restock_qty: item.settings.restock_qty.map(|q| q.get()),
    }
}

/// Below-zero room of a quantity judged with a mode and threshold.
pub(crate) fn room(mode: BackorderMode, threshold: Decimal, qty: Decimal) -> Room {
    if !mode.allows_backorders() {
        return Some(Decimal::ZERO);
    }
    if threshold >= Decimal::ZERO {
        return None;
    }
    Some((qty.min(Decimal::ZERO) - threshold).max(Decimal::ZERO))
}

fn own_room(linked: &LinkedSourceItem, product: &EffectiveProductSettings) -> Room {
    let eff = linked.item.settings.resolve(product);
    room(
        eff.backorders,
        eff.out_of_stock_threshold.get(),
        linked.item.quantity.get(),
    )
}

/// The pooled items share one limit, judged on their total (as MSI judges a stock).
fn pool_room(sources: &[&LinkedSourceItem], product: &EffectiveProductSettings) -> Room {
    let pooled: Decimal = sources
        .iter()
        .filter(|l| !l.item.settings.is_source_managed())
        .map(|l| l.item.quantity.get())
        .sum();
    room(
        product.backorders,
        product.out_of_stock_threshold.get(),
        pooled,
    )
}

/// Existing reservations beyond on-hand have used backorder room already; charge it first.
fn take_room(room: &mut Room, already_used: &mut Decimal) {
    match room {
        None => *already_used = Decimal::ZERO,
        Some(r) => {
            let used = (*r).min(*already_used);
            *r -= used;
            *already_used -= used;
        }
    }
}
