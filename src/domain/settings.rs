//! Settings on three levels (global → product → source item) and how they resolve.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::{error::ValidationError, quantity::Quantity};

/// What happens when a source runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BackorderMode {
    /// Never sell below zero.
    No,
    /// Sell below zero, silently.
    Allow,
    /// Sell below zero and tell the customer.
    AllowNotify,
}

impl BackorderMode {
    /// True for both modes that let quantity go below zero.
    pub fn allows_backorders(self) -> bool {
        self != BackorderMode::No
    }
}

/// Where a setting may be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingLevel {
    /// The store-wide defaults.
    Global,
    /// One SKU, every source.
    Product,
    /// One SKU on one source.
    SourceItem,
}

/// Each setting of DOMAIN §2, so callers can name the one they mean (to clear it, or in errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SettingField {
    /// Whether stock is tracked at all.
    ManageStock,
    /// Backorder mode.
    Backorders,
    /// MSI's `min_qty`: safety stock when positive, backorder depth when negative.
    OutOfStockThreshold,
    /// Below this a source item is low on stock.
    NotifyStockQty,
    /// "Only X left" shows at or below this salable quantity.
    StockThresholdQty,
    /// Fewest units per line.
    MinSaleQty,
    /// Most units per line.
    MaxSaleQty,
    /// Lines must be multiples of this (0 = off).
    QtyIncrements,
    /// Whether fractional quantities may be ordered.
    IsQtyDecimal,
    /// When the source expects more.
    RestockDate,
    /// How much the source expects.
    RestockQty,
}

impl SettingField {
    /// Every setting, in the order of DOMAIN §2.
    pub const ALL: [SettingField; 11] = [
        SettingField::ManageStock,
        SettingField::Backorders,
        SettingField::OutOfStockThreshold,
        SettingField::NotifyStockQty,
        SettingField::StockThresholdQty,
        SettingField::MinSaleQty,
        SettingField::MaxSaleQty,
        SettingField::QtyIncrements,
        SettingField::IsQtyDecimal,
        SettingField::RestockDate,
        SettingField::RestockQty,
    ];

    /// The name used on the wire and in field paths.
    pub fn name(self) -> &'static str {
        match self {
            SettingField::ManageStock => "manage_stock",
            SettingField::Backorders => "backorders",
            SettingField::OutOfStockThreshold => "out_of_stock_threshold",
            SettingField::NotifyStockQty => "notify_stock_qty",
            SettingField::StockThresholdQty => "stock_threshold_qty",
            SettingField::MinSaleQty => "min_sale_qty",
            SettingField::MaxSaleQty => "max_sale_qty",
            SettingField::QtyIncrements => "qty_increments",
            SettingField::IsQtyDecimal => "is_qty_decimal",
            SettingField::RestockDate => "restock_date",
            SettingField::RestockQty => "restock_qty",
        }
    }

    /// Whether the setting exists on `level` (the "Levels" column of DOMAIN §2).
    pub fn allowed_on(self, level: SettingLevel) -> bool {
        use SettingLevel::{Global, Product, SourceItem};
        match self {
            SettingField::Backorders
            | SettingField::OutOfStockThreshold
            | SettingField::NotifyStockQty => true,
            SettingField::ManageStock
            | SettingField::StockThresholdQty
            | SettingField::MinSaleQty
            | SettingField::MaxSaleQty
            | SettingField::QtyIncrements => matches!(level, Global | Product),
            SettingField::IsQtyDecimal => level == Product,
            SettingField::RestockDate | SettingField::RestockQty => level == SourceItem,
        }
    }
}

/// The store-wide defaults every other level falls back to.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalSettings {
    /// See [`SettingField::ManageStock`].
    pub manage_stock: bool,
    /// See [`SettingField::Backorders`].
    pub backorders: BackorderMode,
    /// See [`SettingField::OutOfStockThreshold`].
    pub out_of_stock_threshold: Quantity,
    /// See [`SettingField::NotifyStockQty`].
    pub notify_stock_qty: Quantity,
    /// See [`SettingField::StockThresholdQty`].
    pub stock_threshold_qty: Quantity,
    /// See [`SettingField::MinSaleQty`].
    pub min_sale_qty: Quantity,
    /// See [`SettingField::MaxSaleQty`].
    pub max_sale_qty: Quantity,
    /// See [`SettingField::QtyIncrements`].
    pub qty_increments: Quantity,
}

impl Default for GlobalSettings {
    /// The defaults of DOMAIN §2.
    fn default() -> Self {
        Self {
            manage_stock: true,
            backorders: BackorderMode::No,
            out_of_stock_threshold: Quantity::ZERO,
            notify_stock_qty: whole(1),
            stock_threshold_qty: Quantity::ZERO,
            min_sale_qty: whole(1),
            max_sale_qty: whole(10_000),
            qty_increments: Quantity::ZERO,
        }
    }
}

fn whole(n: i64) -> Quantity {
    Quantity::from_decimal(Decimal::from(n)).unwrap_or(Quantity::ZERO)
}

/// A product's overrides; `None` means "use default".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductSettings {
    /// See [`SettingField::ManageStock`].
    pub manage_stock: Option<bool>,
    /// See [`SettingField::Backorders`].
    pub backorders: Option<BackorderMode>,
    /// See [`SettingField::OutOfStockThreshold`].
    pub out_of_stock_threshold: Option<Quantity>,
    /// See [`SettingField::NotifyStockQty`].
    pub notify_stock_qty: Option<Quantity>,
    /// See [`SettingField::StockThresholdQty`].
    pub stock_threshold_qty: Option<Quantity>,
    /// See [`SettingField::MinSaleQty`].
    pub min_sale_qty: Option<Quantity>,
    /// See [`SettingField::MaxSaleQty`].
    pub max_sale_qty: Option<Quantity>,
    /// See [`SettingField::QtyIncrements`].
    pub qty_increments: Option<Quantity>,
    /// See [`SettingField::IsQtyDecimal`].
    pub is_qty_decimal: Option<bool>,
}

/// A product's settings after falling back to the global defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveProductSettings {
    /// See [`SettingField::ManageStock`].
    pub manage_stock: bool,
    /// See [`SettingField::Backorders`].
    pub backorders: BackorderMode,
    /// See [`SettingField::OutOfStockThreshold`].
    pub out_of_stock_threshold: Quantity,
    /// See [`SettingField::NotifyStockQty`].
    pub notify_stock_qty: Quantity,
    /// See [`SettingField::StockThresholdQty`].
    pub stock_threshold_qty: Quantity,
    /// See [`SettingField::MinSaleQty`].
    pub min_sale_qty: Quantity,
    /// See [`SettingField::MaxSaleQty`].
    pub max_sale_qty: Quantity,
    /// See [`SettingField::QtyIncrements`].
    pub qty_increments: Quantity,
    /// See [`SettingField::IsQtyDecimal`].
    pub is_qty_decimal: bool,
}

impl ProductSettings {
    /// Falls back to `global` for every setting the product does not override.
    pub fn resolve(&self, global: &GlobalSettings) -> EffectiveProductSettings {
        EffectiveProductSettings {
            manage_stock: self.manage_stock.unwrap_or(global.manage_stock),
            backorders: self.backorders.unwrap_or(global.backorders),
            out_of_stock_threshold: self
                .out_of_stock_threshold
                .unwrap_or(global.out_of_stock_threshold),
            notify_stock_qty: self.notify_stock_qty.unwrap_or(global.notify_stock_qty),
            stock_threshold_qty: self
                .stock_threshold_qty
                .unwrap_or(global.stock_threshold_qty),
            min_sale_qty: self.min_sale_qty.unwrap_or(global.min_sale_qty),
            max_sale_qty: self.max_sale_qty.unwrap_or(global.max_sale_qty),
            qty_increments: self.qty_increments.unwrap_or(global.qty_increments),
            is_qty_decimal: self.is_qty_decimal.unwrap_or(false),
        }
    }

    /// Checks the overrides that are set; min/max are compared when both are overridden here
    /// (a product that overrides only one is compared against the default when read).
    pub fn validate(&self) -> Result<(), Vec<(SettingField, ValidationError)>> {
        let mut errors = quantity_rules(
            self.min_sale_qty,
            self.max_sale_qty,
            self.qty_increments,
            self.stock_threshold_qty,
        );
        if let Some(Err(e)) = self.notify_stock_qty.map(Quantity::non_negative) {
            errors.push((SettingField::NotifyStockQty, e));
        }
        finish(errors)
    }

    /// Returns one setting to "use default".
    pub fn clear(&mut self, field: SettingField) -> Result<(), ValidationError> {
        match field {
            SettingField::ManageStock => self.manage_stock = None,
            SettingField::Backorders => self.backorders = None,
            SettingField::OutOfStockThreshold => self.out_of_stock_threshold = None,
            SettingField::NotifyStockQty => self.notify_stock_qty = None,
            SettingField::StockThresholdQty => self.stock_threshold_qty = None,
            SettingField::MinSaleQty => self.min_sale_qty = None,
            SettingField::MaxSaleQty => self.max_sale_qty = None,
            SettingField::QtyIncrements => self.qty_increments = None,
            SettingField::IsQtyDecimal => self.is_qty_decimal = None,
            SettingField::RestockDate | SettingField::RestockQty => {
                return Err(ValidationError::Invalid("is not a setting of this level"));
            }
        }
        Ok(())
    }
}

/// Checks global defaults as a whole, after a change is merged in.
pub fn validate_global(
    global: &GlobalSettings,
) -> Result<(), Vec<(SettingField, ValidationError)>> {
    let mut errors = quantity_rules(
        Some(global.min_sale_qty),
        Some(global.max_sale_qty),
        Some(global.qty_increments),
        Some(global.stock_threshold_qty),
    );
    if let Err(e) = global.notify_stock_qty.non_negative() {
        errors.push((SettingField::NotifyStockQty, e));
    }
    finish(errors)
}

fn quantity_rules(
    min: Option<Quantity>,
    max: Option<Quantity>,
    increments: Option<Quantity>,
    stock_threshold: Option<Quantity>,
) -> Vec<(SettingField, ValidationError)> {
    let mut errors = Vec::new();
    if let Some(Err(e)) = min.map(Quantity::positive) {
        errors.push((SettingField::MinSaleQty, e));
    }
    if let Some(Err(e)) = max.map(Quantity::positive) {
        errors.push((SettingField::MaxSaleQty, e));
    }
    if let (Some(min), Some(max)) = (min, max)
        && max < min
    {
        errors.push((
            SettingField::MaxSaleQty,
            ValidationError::Invalid("must not be below min_sale_qty"),
        ));
    }
    if let Some(Err(e)) = increments.map(Quantity::non_negative) {
        errors.push((SettingField::QtyIncrements, e));
    }
    if let Some(Err(e)) = stock_threshold.map(Quantity::non_negative) {
        errors.push((SettingField::StockThresholdQty, e));
    }
    errors
}

fn finish(
    errors: Vec<(SettingField, ValidationError)>,
) -> Result<(), Vec<(SettingField, ValidationError)>> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// A source item's overrides; `None` means "use the product's value".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceItemSettings {
    /// See [`SettingField::Backorders`].
    pub backorders: Option<BackorderMode>,
    /// See [`SettingField::OutOfStockThreshold`].
    pub out_of_stock_threshold: Option<Quantity>,
    /// See [`SettingField::NotifyStockQty`].
    pub notify_stock_qty: Option<Quantity>,
    /// See [`SettingField::RestockDate`].
    pub restock_date: Option<NaiveDate>,
    /// See [`SettingField::RestockQty`].
    pub restock_qty: Option<Quantity>,
}

/// A source item's settings after source item → product → global resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct EffectiveItemSettings {
    /// See [`SettingField::Backorders`].
    pub backorders: BackorderMode,
    /// See [`SettingField::OutOfStockThreshold`].
    pub out_of_stock_threshold: Quantity,
    /// See [`SettingField::NotifyStockQty`].
    pub notify_stock_qty: Quantity,
    /// See [`SettingField::RestockDate`]; there is no default.
    pub restock_date: Option<NaiveDate>,
    /// See [`SettingField::RestockQty`]; there is no default.
    pub restock_qty: Option<Quantity>,
}

impl SourceItemSettings {
    /// Falls back to the product's effective values.
    pub fn resolve(&self, product: &EffectiveProductSettings) -> EffectiveItemSettings {
        EffectiveItemSettings {
            backorders: self.backorders.unwrap_or(product.backorders),
            out_of_stock_threshold: self
                .out_of_stock_threshold
                .unwrap_or(product.out_of_stock_threshold),
            notify_stock_qty: self.notify_stock_qty.unwrap_or(product.notify_stock_qty),
            restock_date: self.restock_date,
            restock_qty: self.restock_qty,
        }
    }

    /// True when the item is judged alone rather than pooled (DOMAIN §3).
    pub fn is_source_managed(&self) -> bool {
        self.backorders.is_some() || self.out_of_stock_threshold.is_some()
    }

    /// Checks the overrides that are set.
    pub fn validate(&self) -> Result<(), Vec<(SettingField, ValidationError)>> {
        let mut errors = Vec::new();
        if let Some(Err(e)) = self.restock_qty.map(Quantity::non_negative) {
            errors.push((SettingField::RestockQty, e));
        }
        if let Some(Err(e)) = self.notify_stock_qty.map(Quantity::non_negative) {
            errors.push((SettingField::NotifyStockQty, e));
        }
        finish(errors)
    }

    /// Returns one setting to "use default".
    pub fn clear(&mut self, field: SettingField) -> Result<(), ValidationError> {
        match field {
            SettingField::Backorders => self.backorders = None,
            SettingField::OutOfStockThreshold => self.out_of_stock_threshold = None,
            SettingField::NotifyStockQty => self.notify_stock_qty = None,
            SettingField::RestockDate => self.restock_date = None,
            SettingField::RestockQty => self.restock_qty = None,
            _ => return Err(ValidationError::Invalid("is not a setting of this level")),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn global_defaults_are_those_of_the_contract() {
        let g = GlobalSettings::default();
        assert!(g.manage_stock);
        assert_eq!(g.backorders, BackorderMode::No);
        assert_eq!(g.out_of_stock_threshold, q("0"));
        assert_eq!(g.notify_stock_qty, q("1"));
        assert_eq!(g.stock_threshold_qty, q("0"));
        assert_eq!(g.min_sale_qty, q("1"));
        assert_eq!(g.max_sale_qty, q("10000"));
        assert_eq!(g.qty_increments, q("0"));
        assert_eq!(validate_global(&g), Ok(()));
    }

    #[test]
    fn resolution_goes_source_item_then_product_then_global() {
        let global = GlobalSettings {
            notify_stock_qty: q("3"),
            ..GlobalSettings::default()
        };
        let product = ProductSettings {
            backorders: Some(BackorderMode::Allow),
            out_of_stock_threshold: Some(q("-5")),
            ..ProductSettings::default()
        }
        .resolve(&global);
        assert_eq!(product.backorders, BackorderMode::Allow);
        assert_eq!(product.notify_stock_qty, q("3"));
        assert!(!product.is_qty_decimal);
        let item = SourceItemSettings {
            out_of_stock_threshold: Some(q("-10")),
            ..SourceItemSettings::default()
        }
        .resolve(&product);
        assert_eq!(item.backorders, BackorderMode::Allow);
        assert_eq!(item.out_of_stock_threshold, q("-10"));
        assert_eq!(item.notify_stock_qty, q("3"));
        assert_eq!(item.restock_date, None);
    }

    #[test]
    fn an_item_is_source_managed_only_by_mode_or_threshold() {
        let mut s = SourceItemSettings {
            notify_stock_qty: Some(q("2")),
            restock_qty: Some(q("5")),
            ..SourceItemSettings::default()
        };
        assert!(!s.is_source_managed());
        s.backorders = Some(BackorderMode::No);
        assert!(s.is_source_managed());
        s.backorders = None;
        s.out_of_stock_threshold = Some(q("0"));
        assert!(s.is_source_managed());
    }

    #[test]
    fn levels_of_each_setting_match_the_contract() {
        use SettingLevel::*;
        let table = [
            (SettingField::ManageStock, [true, true, false]),
            (SettingField::Backorders, [true, true, true]),
            (SettingField::OutOfStockThreshold, [true, true, true]),
            (SettingField::NotifyStockQty, [true, true, true]),
            (SettingField::StockThresholdQty, [true, true, false]),
            (SettingField::MinSaleQty, [true, true, false]),
            (SettingField::MaxSaleQty, [true, true, false]),
            (SettingField::QtyIncrements, [true, true, false]),
            (SettingField::IsQtyDecimal, [false, true, false]),
            (SettingField::RestockDate, [false, false, true]),
            (SettingField::RestockQty, [false, false, true]),
        ];
        assert_eq!(table.len(), SettingField::ALL.len());
        for (field, [global, product, item]) in table {
            assert_eq!(field.allowed_on(Global), global, "{field:?}");
            assert_eq!(field.allowed_on(Product), product, "{field:?}");
            assert_eq!(field.allowed_on(SourceItem), item, "{field:?}");
        }
    }

    #[test]
    fn clearing_a_field_of_another_level_is_refused() {
        let mut product = ProductSettings::default();
        for field in SettingField::ALL {
            assert_eq!(
                product.clear(field).is_ok(),
                field.allowed_on(SettingLevel::Product),
                "{field:?}"
            );
        }
        let mut item = SourceItemSettings::default();
        for field in SettingField::ALL {
            assert_eq!(
                item.clear(field).is_ok(),
                field.allowed_on(SettingLevel::SourceItem),
                "{field:?}"
            );
        }
    }

    #[test]
    fn max_below_min_is_refused_on_the_max() {
        let global = GlobalSettings {
            min_sale_qty: q("5"),
            max_sale_qty: q("2"),
            ..GlobalSettings::default()
        };
        let errors = validate_global(&global).unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].0, SettingField::MaxSaleQty);
        let product = ProductSettings {
            min_sale_qty: Some(q("5")),
            max_sale_qty: Some(q("2")),
            ..ProductSettings::default()
        };
        assert_eq!(
            product.validate().unwrap_err()[0].0,
            SettingField::MaxSaleQty
        );
    }

    #[test]
    fn sign_rules_of_each_quantity_setting() {
        let global = GlobalSettings {
            min_sale_qty: q("0"),
            qty_increments: q("-1"),
            stock_threshold_qty: q("-1"),
            notify_stock_qty: q("-1"),
            out_of_stock_threshold: q("-100"),
            ..GlobalSettings::default()
        };
        let fields: Vec<_> = validate_global(&global)
            .unwrap_err()
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            fields,
            vec![
                SettingField::MinSaleQty,
                SettingField::QtyIncrements,
                SettingField::StockThresholdQty,
                SettingField::NotifyStockQty
            ]
        );
        let item = SourceItemSettings {
            restock_qty: Some(q("-1")),
            out_of_stock_threshold: Some(q("-7")),
            ..SourceItemSettings::default()
        };
        assert_eq!(item.validate().unwrap_err()[0].0, SettingField::RestockQty);
    }

    #[test]
    fn only_the_two_backorder_modes_allow_backorders() {
        assert!(!BackorderMode::No.allows_backorders());
        assert!(BackorderMode::Allow.allows_backorders());
        assert!(BackorderMode::AllowNotify.allows_backorders());
    }
}
