//! Tests of the shipment and return rules (DOMAIN §4).

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

fn order_line(sku: &str, ordered: i64, shipped: i64, canceled: i64, returned: i64) -> OrderLine {
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
    let refused = check_against_order(&order, &[line("A", "x", "3")], Draw::Shipped).unwrap_err();
    assert_eq!(refused[0].code, EXCEEDS_SHIPPED);
}

const SELLS: Option<SourceFacts> = Some(SourceFacts {
    linked: true,
    enabled: true,
});

fn held(on_hand: &str, mode: BackorderMode) -> HeldItem {
    HeldItem {
        on_hand: d(on_hand),
        settings: settings(mode, "0"),
    }
}

fn facts(
    source: Option<SourceFacts>,
    manage_stock: bool,
    item: Option<&HeldItem>,
) -> LineFacts<'_> {
    LineFacts {
        source,
        manage_stock,
        item,
    }
}

#[test]
fn a_shipment_leaves_only_an_enabled_source_of_the_orders_stock() {
    let item = held("10", BackorderMode::No);
    let ship = |source| judge_shipment(&line("A", "x", "1"), facts(source, true, Some(&item)));
    assert_eq!(ship(SELLS), Ok(Move::Quantity));
    let unlinked = Some(SourceFacts {
        linked: false,
        enabled: true,
    });
    assert_eq!(ship(unlinked).unwrap_err().0, SOURCE_NOT_IN_STOCK);
    let disabled = Some(SourceFacts {
        linked: true,
        enabled: false,
    });
    assert_eq!(ship(disabled).unwrap_err().0, SOURCE_DISABLED);
    let both = Some(SourceFacts {
        linked: false,
        enabled: false,
    });
    assert_eq!(ship(both).unwrap_err().0, SOURCE_NOT_IN_STOCK);
    assert_eq!(ship(None).unwrap_err().0, SOURCE_ITEM_NOT_FOUND);
}

#[test]
fn an_unmanaged_product_ships_without_any_deduction_or_shortage() {
    let empty = held("0", BackorderMode::No);
    let line = line("A", "x", "5");
    assert_eq!(
        judge_shipment(&line, facts(SELLS, false, Some(&empty))),
        Ok(Move::Nothing)
    );
    assert_eq!(
        judge_shipment(&line, facts(SELLS, false, None)),
        Ok(Move::Nothing)
    );
    let disabled = Some(SourceFacts {
        linked: true,
        enabled: false,
    });
    assert_eq!(
        judge_shipment(&line, facts(disabled, false, None))
            .unwrap_err()
            .0,
        SOURCE_DISABLED,
        "the source guards hold for every line"
    );
    let managed = judge_shipment(&line, facts(SELLS, true, Some(&empty)));
    assert_eq!(managed.unwrap_err().0, BACKORDERS_NOT_ALLOWED);
    let missing = judge_shipment(&line, facts(SELLS, true, None));
    assert_eq!(missing.unwrap_err().0, SOURCE_ITEM_NOT_FOUND);
}

#[test]
fn returns_to_the_shelf_keep_the_shipment_guards_and_write_offs_need_no_source() {
    let item = held("0", BackorderMode::No);
    let line = line("A", "x", "2");
    let unlinked = Some(SourceFacts {
        linked: false,
        enabled: true,
    });
    let back = |source, managed, item| judge_return(&line, true, facts(source, managed, item));
    assert_eq!(back(SELLS, true, Some(&item)), Ok(Move::Quantity));
    assert_eq!(
        back(unlinked, true, Some(&item)).unwrap_err().0,
        SOURCE_NOT_IN_STOCK
    );
    assert_eq!(
        back(SELLS, true, None).unwrap_err().0,
        SOURCE_ITEM_NOT_FOUND
    );
    assert_eq!(back(SELLS, false, None), Ok(Move::Nothing));
    assert_eq!(
        judge_return(&line, false, facts(None, true, None)),
        Ok(Move::Nothing)
    );
}

#[test]
fn every_failing_line_is_named_and_only_moving_lines_are_returned() {
    let lines = [
        line("A", "x", "1"),
        line("B", "y", "1"),
        line("C", "z", "1"),
    ];
    let moving = judge_lines(&lines, |i, _| match i {
        1 => Ok(Move::Nothing),
        _ => Ok(Move::Quantity),
    });
    assert_eq!(moving, Ok(vec![0, 2]));
    let refused = judge_lines(&lines, |i, _| match i {
        1 => Ok(Move::Quantity),
        _ => Err((SOURCE_DISABLED, "off".into())),
    })
    .unwrap_err();
    let named: Vec<_> = refused
        .iter()
        .map(|r| (r.line, r.sku.as_str(), r.code))
        .collect();
    assert_eq!(
        named,
        [(0, "A", SOURCE_DISABLED), (2, "C", SOURCE_DISABLED)]
    );
}
