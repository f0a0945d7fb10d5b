//! Salable quantity of one SKU in one stock, and whether a line of it can be sold (DOMAIN §3).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{
    ids::Sku,
    messages::{MessageCode, Violation, format_qty},
    plan::{PlanLine, fulfilment_plan},
    quantity::Quantity,
    settings::{BackorderMode, EffectiveProductSettings, GlobalSettings, ProductSettings},
    source_item::LinkedSourceItem,
};

/// Everything one stock knows about one SKU: the inputs of every rule here.
#[derive(Debug, Clone, Copy)]
pub struct StockSku<'a> {
    /// The product.
    pub sku: &'a Sku,
    /// Store-wide defaults.
    pub global: &'a GlobalSettings,
    /// The product's overrides.
    pub product: &'a ProductSettings,
    /// Source items of the SKU on sources linked to the stock (enabled or not).
    pub items: &'a [LinkedSourceItem],
    /// Sum of live reservations of (stock, SKU); negative while units are held.
    pub reserved: Decimal,
}

/// What a storefront shows for a SKU.
#[derive(Debug, Clone, PartialEq)]
pub struct SalableQuantity {
    /// Σ contributions + reservations; may be negative when `unlimited`.
    pub salable_qty: Decimal,
    /// Some contribution has no limit (or stock is not managed and the SKU is assigned).
    pub unlimited: bool,
    /// Whether anything can be sold now.
    pub is_salable: bool,
    /// False when the product is always salable and never reserved.
    pub manage_stock: bool,
    /// Whether the stock has any source item of the SKU (on a linked source, enabled or not, in
    /// stock or not): an unmanaged SKU is salable only where it is assigned (DOMAIN §3).
    pub assigned: bool,
    /// The number to show in "Only X left", when it applies.
    pub only_x_left: Option<Decimal>,
    /// The earliest restock any enabled linked source expects.
    pub restock: Option<Restock>,
}

/// When and how much a source expects.
#[derive(Debug, Clone, PartialEq)]
pub struct Restock {
    /// Expected date.
    pub date: NaiveDate,
    /// Expected quantity, when the merchant gave one.
    pub qty: Option<Decimal>,
}

/// The verdict on one line (SKU × quantity).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityCheck {
    /// True when no rule failed.
    pub is_salable: bool,
    /// Every failed rule, quantity rules first.
    pub violations: Vec<Violation>,
    /// Informational messages (backorder notice, "Only X left").
    pub notices: Vec<Violation>,
    /// What the notices were built from, so an order can store and replay them.
    pub notice_facts: LineNotices,
    /// Units of the line beyond what is on hand.
    pub backordered_qty: Decimal,
    /// Which sources would serve the line; empty when it cannot be sold or stock is not managed.
    pub plan: Vec<PlanLine>,
    /// The SKU's salable quantity the verdict was based on.
    pub salable: SalableQuantity,
}

/// What one source item, or the pool of non-overriding items, adds to salable quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contribution {
    /// Its number in `salable_qty`.
    pub qty: Decimal,
    /// Backorders with a threshold of 0 or more have no limit (as in MSI).
    pub unlimited: bool,
    /// Whether its mode lets quantity go below zero.
    pub allows_backorders: bool,
}

/// The three rules of DOMAIN §3 for on-hand `qty` judged with `mode` and `threshold`.
pub fn contribution(mode: BackorderMode, threshold: Decimal, qty: Decimal) -> Contribution {
    let allows_backorders = mode.allows_backorders();
    let (qty, unlimited) = if !allows_backorders {
        (qty - threshold.max(Decimal::ZERO), false)
    } else {
        (qty - threshold, threshold >= Decimal::ZERO)
    };
    Contribution {
        qty,
        unlimited,
        allows_backorders,
    }
}

impl<'a> StockSku<'a> {
    /// The product's settings after falling back to global.
    pub fn effective_product(&self) -> EffectiveProductSettings {
        self.product.resolve(self.global)
    }

    /// Items that count: on an enabled source and in stock.
    pub fn counted(&self) -> impl Iterator<Item = &'a LinkedSourceItem> + 'a {
        self.items.iter().filter(|i| i.is_counted())
    }

    /// Σ Q_s of the counted items, thresholds ignored.
    pub fn on_hand(&self) -> Decimal {
        self.counted().map(|i| i.item.quantity.get()).sum()
    }

    /// Each source-managed item alone, then the pool once if it has any item.
    pub fn contributions(&self, product: &EffectiveProductSettings) -> Vec<Contribution> {
        let mut out = Vec::new();
        let mut pool: Option<Decimal> = None;
        for linked in self.counted() {
            let item = &linked.item;
            if item.settings.is_source_managed() {
                let eff = item.settings.resolve(product);
                out.push(contribution(
                    eff.backorders,
                    eff.out_of_stock_threshold.get(),
                    item.quantity.get(),
                ));
            } else {
                *pool.get_or_insert(Decimal::ZERO) += item.quantity.get();
            }
        }
        if let Some(pooled) = pool {
            out.push(contribution(
                product.backorders,
                product.out_of_stock_threshold.get(),
                pooled,
            ));
        }
        out
    }

    fn earliest_restock(&self) -> Option<Restock> {
        let enabled = self.items.iter().filter(|i| i.source_enabled);
        let date = enabled
            .clone()
            .filter_map(|i| i.item.settings.restock_date)
            .min()?;
        let qty = enabled
            .filter(|i| i.item.settings.restock_date == Some(date))
            .filter_map(|i| i.item.settings.restock_qty.map(Quantity::get))
            .reduce(|a, b| a + b);
        Some(Restock { date, qty })
    }
}

/// Salable quantity of a SKU in a stock.
pub fn salable_quantity(s: &StockSku<'_>) -> SalableQuantity {
    let product = s.effective_product();
    let contributions = s.contributions(&product);
    let salable_qty = contributions.iter().map(|c| c.qty).sum::<Decimal>() + s.reserved;
    let in_stock = s.counted().next().is_some();
    let manage_stock = product.manage_stock;
    let assigned = !s.items.is_empty();
    // MSI parity: an unmanaged SKU is always salable, but only in a stock it is assigned to.
    let unmanaged_here = !manage_stock && assigned;
    let unlimited = unmanaged_here || contributions.iter().any(|c| c.unlimited);
    let is_salable = unmanaged_here || (in_stock && (unlimited || salable_qty > Decimal::ZERO));
    let threshold = product.stock_threshold_qty.get();
    let only_x_left = (!unlimited
        && threshold > Decimal::ZERO
        && salable_qty > Decimal::ZERO
        && salable_qty <= threshold)
        .then_some(salable_qty);
    SalableQuantity {
        salable_qty,
        unlimited,
        is_salable,
        manage_stock,
        assigned,
        only_x_left,
        restock: s.earliest_restock(),
    }
}

/// Whether `qty` of the SKU can be sold, with every failed rule, notices and a fulfilment plan.
pub fn check_quantity(s: &StockSku<'_>, qty: Quantity) -> QuantityCheck {
    let product = s.effective_product();
    let salable = salable_quantity(s);
    let q = qty.get();
    let mut violations = quantity_rules(&product, qty);
    let availability = availability_violation(s, &salable, q);
    let available = availability.is_none();
    violations.extend(availability);
    let backorders_apply = s
        .contributions(&product)
        .iter()
        .any(|c| c.allows_backorders);
    // A line that breaks any rule is not sold, so it has no backordered units and no plan.
    let sellable = available && violations.is_empty();
    let backordered_qty = if salable.manage_stock && sellable && backorders_apply {
        (q - (s.on_hand() + s.reserved).max(Decimal::ZERO)).clamp(Decimal::ZERO, q)
    } else {
        Decimal::ZERO
    };
    let plan = if salable.manage_stock && sellable {
        fulfilment_plan(s, q)
    } else {
        Vec::new()
    };
    let facts = LineNotices {
        backorder_notice: notifies(&plan, backordered_qty),
        restock: backordering_restock(&plan),
        only_x_left: salable.only_x_left,
    };
    let notices = facts.messages(backordered_qty);
    QuantityCheck {
        is_salable: violations.is_empty(),
        violations,
        notices,
        notice_facts: facts,
        backordered_qty,
        plan,
        salable,
    }
}

/// The per-line rules, all reported, in the order of DOMAIN §3.
fn quantity_rules(product: &EffectiveProductSettings, qty: Quantity) -> Vec<Violation> {
    let q = qty.get();
    let mut out = Vec::new();
    let min = product.min_sale_qty.get();
    if q < min {
        out.push(Violation::new(MessageCode::MinSaleQty).with("min_sale_qty", format_qty(min)));
    }
    let max = product.max_sale_qty.get();
    if q > max {
        out.push(Violation::new(MessageCode::MaxSaleQty).with("max_sale_qty", format_qty(max)));
    }
    let step = product.qty_increments.get();
    if step > Decimal::ZERO && !(q % step).is_zero() {
        out.push(
            Violation::new(MessageCode::QtyIncrements).with("qty_increments", format_qty(step)),
        );
    }
    if !product.is_qty_decimal && !qty.is_integer() {
        out.push(Violation::new(MessageCode::QtyNotDecimal));
    }
    out
}

fn availability_violation(
    s: &StockSku<'_>,
    salable: &SalableQuantity,
    q: Decimal,
) -> Option<Violation> {
    // Assignment comes first, even when stock is not managed (DOMAIN §3).
    let code = if !salable.assigned {
        MessageCode::SkuNotAssignedToStock
    } else if !salable.manage_stock {
        return None;
    } else if s.counted().next().is_none() {
        MessageCode::NoSourceItemInStock
    } else if !(salable.unlimited || salable.salable_qty >= q) {
        MessageCode::NotEnoughQty
    } else {
        return None;
    };
    Some(Violation::new(code))
}

/// The facts behind a line's informational messages; an order line stores them so a replayed
/// request gets the very same notices.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LineNotices {
    /// Units are backordered on a source in "allow and notify" mode.
    pub backorder_notice: bool,
    /// The earliest restock among the backordering sources.
    pub restock: Option<Restock>,
    /// "Only X left", when it applies.
    pub only_x_left: Option<Decimal>,
}

impl LineNotices {
    /// The customer-facing notices for a line with `backordered` units.
    pub fn messages(&self, backordered: Decimal) -> Vec<Violation> {
        let mut out = Vec::new();
        if self.backorder_notice && backordered > Decimal::ZERO {
            let mut notice = Violation::new(MessageCode::BackorderNotice)
                .with("backordered_qty", format_qty(backordered));
            if let Some(restock) = &self.restock {
                notice = notice.with("restock_date", restock.date.format("%Y-%m-%d").to_string());
                if let Some(qty) = restock.qty {
                    notice = notice.with("restock_qty", format_qty(qty));
                }
            }
            out.push(notice);
        }
        if let Some(left) = self.only_x_left {
            out.push(Violation::new(MessageCode::OnlyXLeft).with("only_x_left", format_qty(left)));
        }
        out
    }
}

/// MSI tells the customer only when a backordering source is in "allow and notify" mode.
fn notifies(plan: &[PlanLine], backordered: Decimal) -> bool {
    backordered > Decimal::ZERO
        && plan.iter().any(|l| {
            l.backordered > Decimal::ZERO && l.backorder_mode == BackorderMode::AllowNotify
        })
}

fn backordering_restock(plan: &[PlanLine]) -> Option<Restock> {
    plan.iter()
        .filter(|l| l.backordered > Decimal::ZERO)
        .filter_map(|l| {
            l.restock_date.map(|date| Restock {
                date,
                qty: l.restock_qty,
            })
        })
        .min_by_key(|r| r.date)
}
