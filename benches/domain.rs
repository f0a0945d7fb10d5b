//! Micro-benchmarks of the pure domain rules: salable quantity, the quantity check, the
//! fulfilment plan and source selection. No I/O: these are the CPU cost per SKU or per order
//! that every availability call and every reservation pays on top of its database round trips.
//!
//! `cargo bench --bench domain` (add `-- --quick` for a short run).

use std::{
    collections::{BTreeMap, BTreeSet},
    hint::black_box,
};

use chrono::NaiveDate;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use rust_decimal::Decimal;
use stockd::domain::{
    BackorderMode, GlobalSettings, LinkedSourceItem, ProductSettings, Quantity, Sku, SourceCode,
    SourceItem, SourceItemSettings, SourceItemStatus, StockSku, check_quantity, fulfilment_plan,
    salable_quantity,
    source::GeoPoint,
    source_selection::{Algorithm, Candidate, suggest},
};

fn qty(text: &str) -> Quantity {
    Quantity::parse(text).expect("a valid quantity")
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("a valid decimal")
}

fn sku(name: &str) -> Sku {
    Sku::parse(name).expect("a valid SKU")
}

fn source(code: &str) -> SourceCode {
    SourceCode::parse(code).expect("a valid source code")
}

fn item(code: &str, on_hand: &str, priority: u32) -> LinkedSourceItem {
    LinkedSourceItem {
        item: SourceItem {
            source: source(code),
            sku: sku("SKU1"),
            quantity: qty(on_hand),
            status: SourceItemStatus::InStock,
            settings: SourceItemSettings::default(),
        },
        priority,
        source_enabled: true,
    }
}

fn judged_alone(
    mut linked: LinkedSourceItem,
    mode: BackorderMode,
    threshold: &str,
) -> LinkedSourceItem {
    linked.item.settings.backorders = Some(mode);
    linked.item.settings.out_of_stock_threshold = Some(qty(threshold));
    linked
}

/// One stock's view of one SKU, owning what [`StockSku`] borrows.
struct Case {
    name: &'static str,
    sku: Sku,
    global: GlobalSettings,
    product: ProductSettings,
    items: Vec<LinkedSourceItem>,
    reserved: Decimal,
}

impl Case {
    fn view(&self) -> StockSku<'_> {
        StockSku {
            sku: &self.sku,
            global: &self.global,
            product: &self.product,
            items: &self.items,
            reserved: self.reserved,
        }
    }
}

/// The shapes the benchmark catalogue has: one pooled source; a default source plus a second one
/// judged alone; and five sources with every backorder flavour, a disabled and an out-of-stock
/// source, restock dates and "Only X left" on.
fn cases() -> Vec<Case> {
    let one = Case {
        name: "1_source",
        sku: sku("SKU1"),
        global: GlobalSettings::default(),
        product: ProductSettings::default(),
        items: vec![item("default", "1000000", 1)],
        reserved: dec("-12"),
    };
    let two = Case {
        name: "2_sources_mixed",
        sku: sku("SKU1"),
        global: GlobalSettings::default(),
        product: ProductSettings {
            backorders: Some(BackorderMode::AllowNotify),
            out_of_stock_threshold: Some(qty("-20")),
            ..ProductSettings::default()
        },
        items: vec![
            item("default", "40", 1),
            judged_alone(item("north", "7", 2), BackorderMode::No, "2"),
        ],
        reserved: dec("-30"),
    };
    let mut restocking = item("south", "3", 3);
    restocking.item.settings.restock_date = NaiveDate::from_ymd_opt(2026, 12, 1);
    restocking.item.settings.restock_qty = Some(qty("50"));
    let mut disabled = item("store-berlin", "100", 4);
    disabled.source_enabled = false;
    let mut out_of_stock = item("outlet", "25", 5);
    out_of_stock.item.status = SourceItemStatus::OutOfStock;
    let five = Case {
        name: "5_sources_backorders",
        sku: sku("SKU1"),
        global: GlobalSettings::default(),
        product: ProductSettings {
            stock_threshold_qty: Some(qty("100")),
            ..ProductSettings::default()
        },
        items: vec![
            item("default", "10", 1),
            judged_alone(item("north", "5", 2), BackorderMode::Allow, "-5"),
            judged_alone(restocking, BackorderMode::AllowNotify, "0"),
            disabled,
            out_of_stock,
            judged_alone(item("dropship", "0", 6), BackorderMode::Allow, "-1000"),
        ],
        reserved: dec("-14"),
    };
    vec![one, two, five]
}

fn salable(c: &mut Criterion) {
    let mut group = c.benchmark_group("salable_quantity");
    for case in cases() {
        group.bench_function(case.name, |b| {
            b.iter(|| salable_quantity(black_box(&case.view())))
        });
    }
    // What one GetSalableQuantities call of 50 SKUs costs in the domain.
    let all = cases();
    group.throughput(Throughput::Elements(50));
    group.bench_function("batch_of_50", |b| {
        b.iter(|| {
            for k in 0..50 {
                black_box(salable_quantity(black_box(&all[k % all.len()].view())));
            }
        })
    });
    group.finish();
}

fn check(c: &mut Criterion) {
    let mut group = c.benchmark_group("check_quantity");
    for case in cases() {
        // A line well within stock, and one that needs backorders (or is refused).
        for wanted in ["1", "60"] {
            let id = BenchmarkId::new(case.name, wanted);
            group.bench_with_input(id, &qty(wanted), |b, q| {
                b.iter(|| check_quantity(black_box(&case.view()), black_box(*q)))
            });
        }
    }
    group.finish();
}

fn plan(c: &mut Criterion) {
    let mut group = c.benchmark_group("fulfilment_plan");
    for case in cases() {
        for wanted in ["1", "60"] {
            let id = BenchmarkId::new(case.name, wanted);
            group.bench_with_input(id, &dec(wanted), |b, q| {
                b.iter(|| fulfilment_plan(black_box(&case.view()), black_box(*q)))
            });
        }
    }
    group.finish();
}

/// Candidate source items per SKU, as source selection receives them.
type Candidates = BTreeMap<Sku, Vec<Candidate>>;

/// An order of `lines` SKUs, each held by 3 of 5 sources with varied stock and backorder room.
fn order(lines: usize) -> (Vec<(Sku, Decimal)>, Candidates) {
    let sources = [
        ("default", 1, (52.0, 13.0)),
        ("north", 2, (53.5, 10.0)),
        ("south", 3, (48.1, 11.6)),
        ("store-berlin", 4, (52.5, 13.4)),
        ("dropship", 5, (51.9, 4.5)),
    ];
    let mut wanted = Vec::with_capacity(lines);
    let mut candidates = BTreeMap::new();
    for i in 0..lines {
        let name = sku(&format!("SKU{}", i + 1));
        wanted.push((name.clone(), Decimal::from(1 + i % 4)));
        let held = (0..3)
            .map(|k| {
                let (code, priority, (lat, lon)) = sources[(i + k) % sources.len()];
                Candidate {
                    source: source(code),
                    priority,
                    location: GeoPoint::new(lat, lon).ok(),
                    on_hand: Decimal::from((i * 7 + k * 3) % 5),
                    room: (k == 2).then(|| Decimal::from(10)),
                }
            })
            .collect();
        candidates.insert(name, held);
    }
    (wanted, candidates)
}

fn selection(c: &mut Criterion) {
    let mut group = c.benchmark_group("source_selection");
    let destination = GeoPoint::new(50.1, 8.7).ok();
    for lines in [1, 5, 50] {
        let (wanted, candidates) = order(lines);
        for (name, algorithm) in [
            ("priority", Algorithm::Priority),
            ("distance", Algorithm::Distance),
            ("fewest_sources", Algorithm::FewestSources),
        ] {
            group.throughput(Throughput::Elements(lines as u64));
            group.bench_function(BenchmarkId::new(name, lines), |b| {
                b.iter(|| {
                    suggest(
                        black_box(algorithm),
                        black_box(&wanted),
                        black_box(&candidates),
                        black_box(&BTreeSet::new()),
                        black_box(destination),
                    )
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, salable, check, plan, selection);
criterion_main!(benches);
