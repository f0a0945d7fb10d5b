//! Exhaustive tests of salable quantity, quantity checks and fulfilment plans (DOMAIN §3).

use chrono::NaiveDate;
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn q(s: &str) -> Quantity {
    Quantity::parse(s).unwrap()
}

fn item(source: &str, qty: &str) -> LinkedSourceItem {
    LinkedSourceItem {
        item: SourceItem {
            source: SourceCode::parse(source).unwrap(),
            sku: Sku::parse("SKU").unwrap(),
            quantity: q(qty),
            status: SourceItemStatus::InStock,
            settings: SourceItemSettings::default(),
        },
        priority: 1,
        source_enabled: true,
    }
}

fn with_mode(mut i: LinkedSourceItem, mode: BackorderMode, threshold: &str) -> LinkedSourceItem {
    i.item.settings.backorders = Some(mode);
    i.item.settings.out_of_stock_threshold = Some(q(threshold));
    i
}

fn priority(mut i: LinkedSourceItem, p: u32) -> LinkedSourceItem {
    i.priority = p;
    i
}

#[derive(Debug)]
struct Case {
    sku: Sku,
    global: GlobalSettings,
    product: ProductSettings,
    items: Vec<LinkedSourceItem>,
    reserved: Decimal,
}

impl Case {
    fn new(items: Vec<LinkedSourceItem>) -> Self {
        Self {
            sku: Sku::parse("SKU").unwrap(),
            global: GlobalSettings::default(),
            product: ProductSettings::default(),
            items,
            reserved: Decimal::ZERO,
        }
    }

    fn product(mut self, mode: BackorderMode, threshold: &str) -> Self {
        self.product.backorders = Some(mode);
        self.product.out_of_stock_threshold = Some(q(threshold));
        self
    }

    fn reserved(mut self, r: &str) -> Self {
        self.reserved = d(r);
        self
    }

    fn view(&self) -> StockSku<'_> {
        StockSku {
            sku: &self.sku,
            global: &self.global,
            product: &self.product,
            items: &self.items,
            reserved: self.reserved,
        }
    }

    fn salable(&self) -> SalableQuantity {
        salable_quantity(&self.view())
    }

    fn check(&self, qty: &str) -> QuantityCheck {
        check_quantity(&self.view(), q(qty))
    }
}

fn codes(list: &[Violation]) -> Vec<MessageCode> {
    list.iter().map(|v| v.code).collect()
}

const MODES: [BackorderMode; 3] = [
    BackorderMode::No,
    BackorderMode::Allow,
    BackorderMode::AllowNotify,
];
const THRESHOLDS: [&str; 3] = ["-5", "0", "3"];
const STATUSES: [SourceItemStatus; 2] = [SourceItemStatus::InStock, SourceItemStatus::OutOfStock];

/// The contract's three rules, spelled out per case rather than computed.
fn expected(
    mode: BackorderMode,
    threshold: &str,
    status: SourceItemStatus,
) -> (Option<Decimal>, bool) {
    if status == SourceItemStatus::OutOfStock {
        return (None, false);
    }
    // On hand is 10 in every case.
    match (mode, threshold) {
        (BackorderMode::No, "-5") => (Some(d("10")), false),
        (BackorderMode::No, "0") => (Some(d("10")), false),
        (BackorderMode::No, "3") => (Some(d("7")), false),
        (_, "-5") => (Some(d("15")), false),
        (_, "0") => (Some(d("10")), true),
        (_, "3") => (Some(d("7")), true),
        _ => unreachable!(),
    }
}

#[test]
fn every_mode_threshold_status_and_management_combination() {
    for mode in MODES {
        for threshold in THRESHOLDS {
            for status in STATUSES {
                for source_managed in [false, true] {
                    let mut one = item("a", "10");
                    one.item.status = status;
                    let case = if source_managed {
                        // The product says the opposite, to prove the item is judged alone.
                        Case::new(vec![with_mode(one, mode, threshold)])
                            .product(BackorderMode::No, "100")
                    } else {
                        Case::new(vec![one]).product(mode, threshold)
                    };
                    let s = case.salable();
                    let (qty, unlimited) = expected(mode, threshold, status);
                    let label = format!("{mode:?} {threshold} {status:?} managed={source_managed}");
                    assert_eq!(s.salable_qty, qty.unwrap_or_default(), "{label}");
                    assert_eq!(s.unlimited, unlimited, "{label}");
                    assert_eq!(s.is_salable, qty.is_some(), "{label}");
                    assert!(s.assigned, "{label}");
                    let check = case.check("12");
                    let sells_12 = qty.is_some() && (unlimited || qty >= Some(d("12")));
                    assert_eq!(check.is_salable, sells_12, "{label}");
                    if status == SourceItemStatus::OutOfStock {
                        assert_eq!(
                            codes(&check.violations),
                            [MessageCode::NoSourceItemInStock],
                            "{label}"
                        );
                    }
                    if sells_12 {
                        let backordered = if mode.allows_backorders() {
                            d("2")
                        } else {
                            d("0")
                        };
                        assert_eq!(check.backordered_qty, backordered, "{label}");
                    }
                }
            }
        }
    }
}

#[test]
fn the_msi_worked_example() {
    let mut case = Case::new(vec![item("default", "25")]).product(BackorderMode::Allow, "-50");
    case.product.stock_threshold_qty = Some(q("5"));
    let s = case.salable();
    assert_eq!(s.salable_qty, d("75"));
    assert!(!s.unlimited && s.is_salable);
    assert_eq!(s.only_x_left, None);

    let order_30 = case.check("30");
    assert!(order_30.is_salable);
    assert_eq!(order_30.backordered_qty, d("5"));

    case.reserved = d("-70");
    let s = case.salable();
    assert_eq!(s.salable_qty, d("5"));
    assert_eq!(s.only_x_left, Some(d("5")));
    assert_eq!(codes(&case.check("5").notices), [MessageCode::OnlyXLeft]);
    assert_eq!(case.check("5").notices[0].message(), "Only 5 left");
    assert_eq!(
        codes(&case.check("6").violations),
        [MessageCode::NotEnoughQty]
    );

    case.reserved = d("-75");
    let s = case.salable();
    assert_eq!(s.salable_qty, d("0"));
    assert!(!s.is_salable);
    assert_eq!(s.only_x_left, None);
}

#[test]
fn the_per_source_example() {
    let a = item("a", "5");
    let b = with_mode(item("b", "0"), BackorderMode::Allow, "-10");
    let mut case = Case::new(vec![a, b]).reserved("-3");
    assert_eq!(case.salable().salable_qty, d("12"));
    case.items[1].item.settings.backorders = None;
    // B still overrides its threshold, so it is judged alone, with the product's NO.
    assert_eq!(case.salable().salable_qty, d("2"));
    case.items[1].item.settings.out_of_stock_threshold = None;
    assert_eq!(case.salable().salable_qty, d("2"));
}

#[test]
fn pooled_items_are_judged_once_on_their_total() {
    // Each alone would be 4 − 3 = 1; pooled, 8 − 3 = 5 (MSI's stock-level judgement).
    let case = Case::new(vec![item("a", "4"), item("b", "4")]).product(BackorderMode::No, "3");
    assert_eq!(case.salable().salable_qty, d("5"));
}

#[test]
fn an_empty_pool_contributes_nothing() {
    // Only a source-managed item: the product's −50 does not add 50 from nowhere.
    let case = Case::new(vec![with_mode(item("a", "5"), BackorderMode::No, "0")])
        .product(BackorderMode::Allow, "-50");
    assert_eq!(case.salable().salable_qty, d("5"));
}

#[test]
fn disabled_sources_and_out_of_stock_items_never_count() {
    let mut off = item("off", "100");
    off.source_enabled = false;
    let mut flagged = item("flagged", "100");
    flagged.item.status = SourceItemStatus::OutOfStock;
    let case = Case::new(vec![off.clone(), flagged.clone(), item("a", "2")]);
    assert_eq!(case.salable().salable_qty, d("2"));
    let none = Case::new(vec![off, flagged]);
    let s = none.salable();
    assert!(s.assigned && !s.is_salable);
    assert_eq!(
        codes(&none.check("1").violations),
        [MessageCode::NoSourceItemInStock]
    );
}

#[test]
fn a_sku_without_items_is_not_assigned() {
    let case = Case::new(vec![]);
    let s = case.salable();
    assert!(!s.assigned && !s.is_salable);
    assert_eq!(s.salable_qty, d("0"));
    assert_eq!(
        codes(&case.check("1").violations),
        [MessageCode::SkuNotAssignedToStock]
    );
}

#[test]
fn unmanaged_stock_is_always_salable_where_assigned_and_never_planned() {
    let mut case = Case::new(vec![item("a", "0")]);
    case.product.manage_stock = Some(false);
    let s = case.salable();
    assert!(s.is_salable && s.unlimited && !s.manage_stock);
    let check = case.check("500");
    assert!(check.is_salable);
    assert!(check.plan.is_empty());
    assert_eq!(check.backordered_qty, d("0"));
    // Quantity rules still apply.
    assert_eq!(
        codes(&case.check("0.5").violations),
        [MessageCode::MinSaleQty, MessageCode::QtyNotDecimal]
    );
}

#[test]
fn an_unmanaged_sku_is_not_salable_in_a_stock_it_is_not_assigned_to() {
    // DOMAIN §3 as amended (MSI's MinQtyConditionTest): "not managed" does not reach stocks
    // that never heard of the SKU, whether the product or the global default turns it off.
    let mut by_product = Case::new(vec![]);
    by_product.product.manage_stock = Some(false);
    let mut by_default = Case::new(vec![]);
    by_default.global.manage_stock = false;
    for case in [by_product, by_default] {
        let s = case.salable();
        assert!(!s.assigned && !s.manage_stock, "{case:?}");
        assert!(!s.is_salable && !s.unlimited, "{case:?}");
        assert_eq!(s.salable_qty, d("0"));
        let check = case.check("1");
        assert!(!check.is_salable);
        assert_eq!(
            codes(&check.violations),
            [MessageCode::SkuNotAssignedToStock]
        );
        assert!(check.plan.is_empty());
        // The quantity rules come first, then the assignment.
        assert_eq!(
            codes(&case.check("0.5").violations),
            [
                MessageCode::MinSaleQty,
                MessageCode::QtyNotDecimal,
                MessageCode::SkuNotAssignedToStock
            ]
        );
    }
}

#[test]
fn any_item_on_a_linked_source_assigns_an_unmanaged_sku() {
    // Off sale and on a disabled source: not counted, but assigned, so salable when unmanaged.
    let mut parked = item("off", "0");
    parked.source_enabled = false;
    parked.item.status = SourceItemStatus::OutOfStock;
    let mut case = Case::new(vec![parked]);
    case.product.manage_stock = Some(false);
    let s = case.salable();
    assert!(s.assigned && s.is_salable && s.unlimited);
    let check = case.check("3");
    assert!(check.is_salable, "{:?}", check.violations);
    assert!(check.plan.is_empty());
    case.product.manage_stock = Some(true);
    assert_eq!(
        codes(&case.check("3").violations),
        [MessageCode::NoSourceItemInStock]
    );
}

#[test]
fn unlimited_salable_quantity_may_be_negative_and_still_salable() {
    let case = Case::new(vec![item("a", "1")])
        .product(BackorderMode::Allow, "0")
        .reserved("-30");
    let s = case.salable();
    assert_eq!(s.salable_qty, d("-29"));
    assert!(s.unlimited && s.is_salable);
    let check = case.check("1000");
    assert!(check.is_salable);
    assert_eq!(check.backordered_qty, d("1000"));
}

#[test]
fn the_number_and_the_flag_never_contradict() {
    let case = Case::new(vec![item("a", "3")]).reserved("-3");
    let s = case.salable();
    assert_eq!(s.salable_qty, d("0"));
    assert!(!s.is_salable);
}

#[test]
fn quantity_rules_are_all_reported_in_order_with_their_values() {
    let mut case = Case::new(vec![item("a", "100")]);
    case.product.min_sale_qty = Some(q("4"));
    case.product.max_sale_qty = Some(q("10"));
    case.product.qty_increments = Some(q("2"));
    let check = case.check("3.5");
    assert_eq!(
        codes(&check.violations),
        [
            MessageCode::MinSaleQty,
            MessageCode::QtyIncrements,
            MessageCode::QtyNotDecimal
        ]
    );
    assert_eq!(
        check.violations[0].message(),
        "The fewest you may purchase is 4."
    );
    assert_eq!(check.violations[1].param("qty_increments"), Some("2"));
    let check = case.check("12");
    assert_eq!(codes(&check.violations), [MessageCode::MaxSaleQty]);
    assert_eq!(check.violations[0].param("max_sale_qty"), Some("10"));
    assert!(check.plan.is_empty() || !check.is_salable);
    assert!(case.check("6").is_salable);
}

#[test]
fn decimal_products_take_fractions_and_increments_may_be_fractional() {
    let mut case = Case::new(vec![item("a", "10")]);
    case.product.is_qty_decimal = Some(true);
    case.product.min_sale_qty = Some(q("0.25"));
    case.product.qty_increments = Some(q("0.25"));
    assert!(case.check("1.75").is_salable);
    assert_eq!(
        codes(&case.check("1.8").violations),
        [MessageCode::QtyIncrements]
    );
}

#[test]
fn quantity_and_availability_failures_are_reported_together() {
    let case = Case::new(vec![item("a", "1")]);
    assert_eq!(
        codes(&case.check("2.5").violations),
        [MessageCode::QtyNotDecimal, MessageCode::NotEnoughQty]
    );
}

#[test]
fn only_x_left_needs_a_threshold_a_limit_and_a_positive_number() {
    let mut case = Case::new(vec![item("a", "3")]);
    assert_eq!(case.salable().only_x_left, None);
    case.product.stock_threshold_qty = Some(q("3"));
    assert_eq!(case.salable().only_x_left, Some(d("3")));
    case.items[0].item.quantity = q("4");
    assert_eq!(case.salable().only_x_left, None);
    let unlimited = Case::new(vec![item("a", "3")]).product(BackorderMode::Allow, "0");
    let mut unlimited = unlimited;
    unlimited.product.stock_threshold_qty = Some(q("5"));
    assert_eq!(unlimited.salable().only_x_left, None);
}

#[test]
fn backorder_notice_only_for_allow_notify() {
    let silent = Case::new(vec![item("a", "2")]).product(BackorderMode::Allow, "-10");
    let check = silent.check("4");
    assert_eq!(check.backordered_qty, d("2"));
    assert!(check.notices.is_empty());

    let told = Case::new(vec![item("a", "2")]).product(BackorderMode::AllowNotify, "-10");
    let check = told.check("4");
    assert_eq!(codes(&check.notices), [MessageCode::BackorderNotice]);
    assert_eq!(check.notices[0].param("backordered_qty"), Some("2"));
    assert!(
        check.notices[0]
            .message()
            .contains("back order the remaining 2")
    );
    assert!(
        told.check("2").notices.is_empty(),
        "no notice without backordered units"
    );
}

#[test]
fn the_notice_carries_the_restock_of_the_backordering_source() {
    let mut dropship = with_mode(
        priority(item("drop", "0"), 2),
        BackorderMode::AllowNotify,
        "-20",
    );
    dropship.item.settings.restock_date = NaiveDate::from_ymd_opt(2026, 12, 15);
    dropship.item.settings.restock_qty = Some(q("40"));
    let case = Case::new(vec![item("wh", "3"), dropship]);
    let check = case.check("5");
    assert!(check.is_salable);
    assert_eq!(check.backordered_qty, d("2"));
    let notice = &check.notices[0];
    assert_eq!(notice.param("restock_date"), Some("2026-12-15"));
    assert_eq!(notice.param("restock_qty"), Some("40"));
    let restock = case.salable().restock.unwrap();
    assert_eq!(restock.date, NaiveDate::from_ymd_opt(2026, 12, 15).unwrap());
    assert_eq!(restock.qty, Some(d("40")));
}

#[test]
fn restock_is_the_earliest_of_enabled_sources() {
    let mut early = item("early", "0");
    early.item.settings.restock_date = NaiveDate::from_ymd_opt(2026, 12, 1);
    early.source_enabled = false;
    let mut late = item("late", "0");
    late.item.settings.restock_date = NaiveDate::from_ymd_opt(2027, 1, 1);
    let mut later = item("later", "0");
    later.item.settings.restock_date = NaiveDate::from_ymd_opt(2027, 2, 1);
    let case = Case::new(vec![early, late, later]);
    let restock = case.salable().restock.unwrap();
    assert_eq!(restock.date, NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
    assert_eq!(restock.qty, None);
}

#[test]
fn the_plan_serves_on_hand_by_priority_then_backorders() {
    let first = priority(item("first", "3"), 1);
    let second = priority(item("second", "4"), 2);
    let drop = with_mode(priority(item("drop", "0"), 3), BackorderMode::Allow, "-5");
    let case = Case::new(vec![drop, second, first]);
    let plan = case.check("9").plan;
    let summary: Vec<_> = plan
        .iter()
        .map(|l| (l.source.as_str(), l.from_on_hand, l.backordered))
        .collect();
    assert_eq!(
        summary,
        [
            ("first", d("3"), d("0")),
            ("second", d("4"), d("0")),
            ("drop", d("0"), d("2")),
        ]
    );
    let small = case.check("2").plan;
    assert_eq!(small.len(), 1);
    assert_eq!(small[0].source.as_str(), "first");
}

#[test]
fn the_plan_spends_on_hand_only_once_reservations_are_taken() {
    // 5 on hand, 4 already reserved: one unit left on hand, then backorder.
    let case = Case::new(vec![item("a", "5")])
        .product(BackorderMode::Allow, "-10")
        .reserved("-4");
    let check = case.check("3");
    assert_eq!(check.backordered_qty, d("2"));
    assert_eq!(check.plan[0].from_on_hand, d("1"));
    assert_eq!(check.plan[0].backordered, d("2"));
}

#[test]
fn the_plan_charges_earlier_backorders_to_the_first_backorderable_rooms() {
    // Nothing on hand; 4 units already backordered used A's room of 4; B takes the new line.
    let a = with_mode(priority(item("a", "0"), 1), BackorderMode::Allow, "-4");
    let b = with_mode(priority(item("b", "0"), 2), BackorderMode::Allow, "-4");
    let case = Case::new(vec![a, b]).reserved("-4");
    let check = case.check("3");
    assert!(check.is_salable);
    assert_eq!(check.plan.len(), 1);
    assert_eq!(check.plan[0].source.as_str(), "b");
    assert_eq!(check.plan[0].backordered, d("3"));
}

#[test]
fn pooled_sources_share_one_backorder_room() {
    let a = priority(item("a", "0"), 1);
    let b = priority(item("b", "0"), 2);
    let case = Case::new(vec![a, b]).product(BackorderMode::Allow, "-5");
    assert_eq!(case.salable().salable_qty, d("5"));
    let plan = case.check("5").plan;
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].backordered, d("5"));
}

#[test]
fn nothing_is_planned_for_a_line_that_cannot_be_sold() {
    let case = Case::new(vec![item("a", "1")]);
    let check = case.check("2");
    assert!(!check.is_salable);
    assert!(check.plan.is_empty());
    assert_eq!(check.backordered_qty, d("0"));
}

#[test]
fn contribution_rules_in_isolation() {
    let c = contribution(BackorderMode::No, d("-5"), d("10"));
    assert_eq!(
        (c.qty, c.unlimited, c.allows_backorders),
        (d("10"), false, false)
    );
    let c = contribution(BackorderMode::Allow, d("-5"), d("10"));
    assert_eq!((c.qty, c.unlimited), (d("15"), false));
    let c = contribution(BackorderMode::AllowNotify, d("2"), d("10"));
    assert_eq!(
        (c.qty, c.unlimited, c.allows_backorders),
        (d("8"), true, true)
    );
}

fn arb_item() -> impl Strategy<Value = LinkedSourceItem> {
    (
        0u32..4,
        -20i64..50,
        prop::option::of((0usize..3, -30i64..10)),
        any::<bool>(),
        prop::bool::weighted(0.9),
        1u32..5,
    )
        .prop_map(|(n, qty, own, out, enabled, prio)| {
            let mut i = priority(item(&format!("s{n}"), &qty.to_string()), prio);
            if let Some((mode, threshold)) = own {
                i = with_mode(i, MODES[mode], &threshold.to_string());
            }
            if out {
                i.item.status = SourceItemStatus::OutOfStock;
            }
            i.source_enabled = enabled;
            i
        })
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(arb_item(), 0..5),
        0usize..3,
        -30i64..10,
        -60i64..1,
    )
        .prop_map(|(items, mode, threshold, reserved)| {
            let mut seen = std::collections::HashSet::new();
            let items = items
                .into_iter()
                .filter(|i| seen.insert(i.item.source.clone()))
                .collect();
            Case::new(items)
                .product(MODES[mode], &threshold.to_string())
                .reserved(&reserved.to_string())
        })
}

proptest! {
    #[test]
    fn salable_is_the_sum_of_contributions_and_reservations(case in arb_case()) {
        let view = case.view();
        let product = view.effective_product();
        let total: Decimal = view.contributions(&product).iter().map(|c| c.qty).sum();
        let s = case.salable();
        prop_assert_eq!(s.salable_qty, total + case.reserved);
        let in_stock = view.counted().next().is_some();
        prop_assert_eq!(s.is_salable, in_stock && (s.unlimited || s.salable_qty > Decimal::ZERO));
    }

    #[test]
    fn a_check_agrees_with_the_salable_quantity(case in arb_case(), units in 1i64..80) {
        let check = case.check(&units.to_string());
        let s = &check.salable;
        let qty = Decimal::from(units);
        prop_assert_eq!(
            check.is_salable,
            s.is_salable && (s.unlimited || s.salable_qty >= qty)
        );
        prop_assert!(check.backordered_qty >= Decimal::ZERO && check.backordered_qty <= qty);
        if check.is_salable {
            let planned: Decimal = check.plan.iter().map(|l| l.from_on_hand + l.backordered).sum();
            let backordered: Decimal = check.plan.iter().map(|l| l.backordered).sum();
            prop_assert_eq!(planned, qty);
            if check.backordered_qty > Decimal::ZERO {
                prop_assert_eq!(backordered, check.backordered_qty);
            }
            for line in &check.plan {
                let on_hand = case.items.iter()
                    .find(|i| i.item.source == line.source)
                    .map(|i| i.item.quantity.get())
                    .unwrap_or_default();
                prop_assert!(line.from_on_hand <= on_hand.max(Decimal::ZERO));
                prop_assert!(line.backordered == Decimal::ZERO || line.backorder_mode.allows_backorders());
            }
        } else {
            prop_assert!(check.plan.is_empty());
            prop_assert!(!check.violations.is_empty());
        }
    }

    #[test]
    fn selling_less_is_never_harder(case in arb_case(), units in 2i64..80) {
        if case.check(&units.to_string()).is_salable {
            prop_assert!(case.check(&(units - 1).to_string()).is_salable);
        }
    }
}

#[test]
fn a_line_failing_only_a_quantity_rule_has_no_plan_and_no_backorders() {
    let case = Case::new(vec![item("a", "0")]).product(BackorderMode::Allow, "-10");
    let check = case.check("2.5");
    assert_eq!(codes(&check.violations), [MessageCode::QtyNotDecimal]);
    assert!(check.plan.is_empty());
    assert_eq!(check.backordered_qty, d("0"));
    assert!(check.notices.is_empty() || codes(&check.notices) == [MessageCode::OnlyXLeft]);
}
