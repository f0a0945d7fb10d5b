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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::BackorderMode;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn settings(mode: BackorderMode, threshold: &str) -> EffectiveItemSettings {
        EffectiveItemSettings {
            backorders: mode,
            out_of_stock_threshold: Quantity::parse(threshold).unwrap(),
            notify_stock_qty: Quantity::parse("1").unwrap(),
            restock_date: None,
            restock_qty: None,
        }
    }

    fn order_line(
        sku: &str,
        ordered: i64,
        shipped: i64,
        canceled: i64,
        returned: i64,
    ) -> OrderLine {
        OrderLine {
            sku: Sku::parse(sku).unwrap(),
            ordered: Decimal::from(ordered),
            backordered: Decimal::ZERO,
            shipped: Decimal::from(shipped),
            canceled: Decimal::from(canceled),
            returned: Decimal::from(returned),
            reserved: true,
        }
    }

    fn line(sku: &str, source: &str, qty: &str) -> SourceLine {
        SourceLine {
            sku: Sku::parse(sku).unwrap(),
            source: SourceCode::parse(source).unwrap(),
            quantity: Quantity::parse(qty).unwrap(),
        }
    }

    #[test]
    fn a_source_may_always_ship_down_to_zero() {
        for mode in [
            BackorderMode::No,
            BackorderMode::Allow,
            BackorderMode::AllowNotify,
        ] {
            assert_eq!(
                check_deduction(&settings(mode, "5"), d("3"), d("3")),
                Ok(())
            );
        }
    }

    #[test]
    fn below_zero_needs_backorders_and_stays_within_a_negative_threshold() {
        let no = check_deduction(&settings(BackorderMode::No, "-10"), d("3"), d("4"));
        assert_eq!(no.unwrap_err().0, BACKORDERS_NOT_ALLOWED);
        let within = settings(BackorderMode::Allow, "-10");
        assert_eq!(check_deduction(&within, d("3"), d("13")), Ok(()));
        let past = check_deduction(&within, d("3"), d("14")).unwrap_err();
        assert_eq!(past.0, BELOW_BACKORDER_LIMIT);
        assert!(past.1.contains("-10"));
        let unlimited = settings(BackorderMode::AllowNotify, "0");
        assert_eq!(check_deduction(&unlimited, d("0"), d("1000")), Ok(()));
        let already_negative = settings(BackorderMode::Allow, "-5");
        assert_eq!(check_deduction(&already_negative, d("-4"), d("1")), Ok(()));
        assert!(check_deduction(&already_negative, d("-4"), d("2")).is_err());
    }

    #[test]
    fn shipments_fit_the_open_quantity_summed_over_sources() {
        let order = [order_line("A", 5, 1, 1, 0)];
        let ok = check_against_order(
            &order,
            &[line("A", "x", "2"), line("A", "y", "1")],
            Draw::Open,
        );
        assert_eq!(ok.unwrap()[&Sku::parse("A").unwrap()], d("3"));
        let too_much = check_against_order(
            &order,
            &[line("A", "x", "2"), line("A", "y", "2")],
            Draw::Open,
        )
        .unwrap_err();
        assert_eq!((too_much[0].line, too_much[0].code), (1, EXCEEDS_OPEN));
        let foreign = check_against_order(&order, &[line("B", "x", "1")], Draw::Open).unwrap_err();
        assert_eq!(foreign[0].code, NOT_ON_ORDER);
    }

    #[test]
    fn returns_fit_what_was_shipped_and_not_returned() {
        let order = [order_line("A", 5, 3, 0, 1)];
        assert!(check_against_order(&order, &[line("A", "x", "2")], Draw::Shipped).is_ok());
        let refused =
            check_against_order(&order, &[line("A", "x", "3")], Draw::Shipped).unwrap_err();
        assert_eq!(refused[0].code, EXCEEDS_SHIPPED);
    }
}
