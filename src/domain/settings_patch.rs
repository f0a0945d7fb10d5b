//! A caller's change to the settings of one level: values to set, fields to clear.

use chrono::NaiveDate;

use super::{
    error::ValidationError,
    quantity::Quantity,
    settings::{
        BackorderMode, GlobalSettings, ProductSettings, SettingField, SettingLevel,
        SourceItemSettings,
    },
};

/// Values a caller wants stored; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingValues {
    /// See `SettingField::ManageStock`.
    pub manage_stock: Option<bool>,
    /// See `SettingField::Backorders`.
    pub backorders: Option<BackorderMode>,
    /// See `SettingField::OutOfStockThreshold`.
    pub out_of_stock_threshold: Option<Quantity>,
    /// See `SettingField::NotifyStockQty`.
    pub notify_stock_qty: Option<Quantity>,
    /// See `SettingField::StockThresholdQty`.
    pub stock_threshold_qty: Option<Quantity>,
    /// See `SettingField::MinSaleQty`.
    pub min_sale_qty: Option<Quantity>,
    /// See `SettingField::MaxSaleQty`.
    pub max_sale_qty: Option<Quantity>,
    /// See `SettingField::QtyIncrements`.
    pub qty_increments: Option<Quantity>,
    /// See `SettingField::IsQtyDecimal`.
    pub is_qty_decimal: Option<bool>,
    /// See `SettingField::RestockDate`.
    pub restock_date: Option<NaiveDate>,
    /// See `SettingField::RestockQty`.
    pub restock_qty: Option<Quantity>,
}

/// A change to one level's settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsPatch {
    /// Values to store.
    pub set: SettingValues,
    /// Fields to return to "use default".
    pub clear: Vec<SettingField>,
}

impl SettingValues {
    /// The fields that carry a value, so callers can check them against a level.
    pub fn fields(&self) -> Vec<SettingField> {
        let present = [
            (self.manage_stock.is_some(), SettingField::ManageStock),
            (self.backorders.is_some(), SettingField::Backorders),
            (
                self.out_of_stock_threshold.is_some(),
                SettingField::OutOfStockThreshold,
            ),
            (
                self.notify_stock_qty.is_some(),
                SettingField::NotifyStockQty,
            ),
            (
                self.stock_threshold_qty.is_some(),
                SettingField::StockThresholdQty,
            ),
            (self.min_sale_qty.is_some(), SettingField::MinSaleQty),
            (self.max_sale_qty.is_some(), SettingField::MaxSaleQty),
            (self.qty_increments.is_some(), SettingField::QtyIncrements),
            (self.is_qty_decimal.is_some(), SettingField::IsQtyDecimal),
            (self.restock_date.is_some(), SettingField::RestockDate),
            (self.restock_qty.is_some(), SettingField::RestockQty),
        ];
        present
            .into_iter()
            .filter_map(|(is_set, field)| is_set.then_some(field))
            .collect()
    }
}

impl SettingValues {
    /// Rules each value obeys on its own, whatever level it lands on (cross-field rules such as
    /// max ≥ min are checked once the patch is merged with what is stored).
    pub fn check_values(&self) -> Vec<(SettingField, ValidationError)> {
        let positive = [
            (SettingField::MinSaleQty, self.min_sale_qty),
            (SettingField::MaxSaleQty, self.max_sale_qty),
        ];
        let non_negative = [
            (SettingField::StockThresholdQty, self.stock_threshold_qty),
            (SettingField::QtyIncrements, self.qty_increments),
            (SettingField::RestockQty, self.restock_qty),
        ];
        let mut errors = Vec::new();
        for (field, value) in positive {
            if let Some(Err(error)) = value.map(Quantity::positive) {
                errors.push((field, error));
            }
        }
        for (field, value) in non_negative {
            if let Some(Err(error)) = value.map(Quantity::non_negative) {
                errors.push((field, error));
            }
        }
        errors
    }
}

impl SettingsPatch {
    /// Every field that is set or cleared but does not exist on `level`, or is both set and cleared.
    pub fn check_level(
        &self,
        level: SettingLevel,
    ) -> Vec<(PatchPart, SettingField, ValidationError)> {
        let mut errors: Vec<_> = self
            .set
            .check_values()
            .into_iter()
            .map(|(field, error)| (PatchPart::Set, field, error))
            .collect();
        let set = self.set.fields();
        for field in &set {
            if !field.allowed_on(level) {
                errors.push((PatchPart::Set, *field, not_on_level()));
            }
        }
        for field in &self.clear {
            if level == SettingLevel::Global {
                errors.push((
                    PatchPart::Clear,
                    *field,
                    ValidationError::Invalid("global settings have no default to return to"),
                ));
            } else if !field.allowed_on(level) {
                errors.push((PatchPart::Clear, *field, not_on_level()));
            } else if set.contains(field) {
                errors.push((
                    PatchPart::Clear,
                    *field,
                    ValidationError::Invalid("is both set and cleared"),
                ));
            }
        }
        errors
    }

    /// Applies the values that exist on the global level.
    pub fn apply_to_global(&self, global: &mut GlobalSettings) {
        let v = &self.set;
        if let Some(x) = v.manage_stock {
            global.manage_stock = x;
        }
        if let Some(x) = v.backorders {
            global.backorders = x;
        }
        set_value(&mut global.out_of_stock_threshold, v.out_of_stock_threshold);
        set_value(&mut global.notify_stock_qty, v.notify_stock_qty);
        set_value(&mut global.stock_threshold_qty, v.stock_threshold_qty);
        set_value(&mut global.min_sale_qty, v.min_sale_qty);
        set_value(&mut global.max_sale_qty, v.max_sale_qty);
        set_value(&mut global.qty_increments, v.qty_increments);
    }

    /// Applies the values and clears that exist on the product level.
    pub fn apply_to_product(&self, product: &mut ProductSettings) {
        for field in &self.clear {
            // check_level has already refused fields that are not on this level.
            let _ = product.clear(*field);
        }
        let v = &self.set;
        set_option(&mut product.manage_stock, v.manage_stock);
        set_option(&mut product.backorders, v.backorders);
        set_option(
            &mut product.out_of_stock_threshold,
            v.out_of_stock_threshold,
        );
        set_option(&mut product.notify_stock_qty, v.notify_stock_qty);
        set_option(&mut product.stock_threshold_qty, v.stock_threshold_qty);
        set_option(&mut product.min_sale_qty, v.min_sale_qty);
        set_option(&mut product.max_sale_qty, v.max_sale_qty);
        set_option(&mut product.qty_increments, v.qty_increments);
        set_option(&mut product.is_qty_decimal, v.is_qty_decimal);
    }

    /// Applies the values and clears that exist on the source-item level.
    pub fn apply_to_source_item(&self, item: &mut SourceItemSettings) {
        for field in &self.clear {
            let _ = item.clear(*field);
        }
        let v = &self.set;
        set_option(&mut item.backorders, v.backorders);
        set_option(&mut item.out_of_stock_threshold, v.out_of_stock_threshold);
        set_option(&mut item.notify_stock_qty, v.notify_stock_qty);
        set_option(&mut item.restock_date, v.restock_date);
        set_option(&mut item.restock_qty, v.restock_qty);
    }
}

/// Whether a patch problem is in its `set` values or its `clear` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchPart {
    /// In the values to set.
    Set,
    /// In the fields to clear.
    Clear,
}

fn not_on_level() -> ValidationError {
    ValidationError::Invalid("is not a setting of this level")
}

fn set_value<T>(target: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *target = value;
    }
}

fn set_option<T>(target: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *target = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qty(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    #[test]
    fn fields_lists_exactly_the_values_that_are_set() {
        let values = SettingValues {
            backorders: Some(BackorderMode::Allow),
            restock_qty: Some(qty("3")),
            ..SettingValues::default()
        };
        assert_eq!(
            values.fields(),
            vec![SettingField::Backorders, SettingField::RestockQty]
        );
    }

    #[test]
    fn a_field_of_another_level_is_refused_in_set_and_clear() {
        let patch = SettingsPatch {
            set: SettingValues {
                restock_date: NaiveDate::from_ymd_opt(2026, 12, 1),
                ..SettingValues::default()
            },
            clear: vec![SettingField::RestockQty],
        };
        let errors = patch.check_level(SettingLevel::Product);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].0, PatchPart::Set);
        assert_eq!(errors[1].0, PatchPart::Clear);
    }

    #[test]
    fn values_out_of_their_own_range_are_refused_on_any_level() {
        let patch = SettingsPatch {
            set: SettingValues {
                min_sale_qty: Some(qty("0")),
                restock_qty: Some(qty("-1")),
                out_of_stock_threshold: Some(qty("-1")),
                ..SettingValues::default()
            },
            clear: vec![],
        };
        let fields: Vec<_> = patch
            .check_level(SettingLevel::SourceItem)
            .into_iter()
            .map(|(_, field, _)| field)
            .collect();
        assert_eq!(
            fields,
            vec![
                SettingField::MinSaleQty,
                SettingField::RestockQty,
                SettingField::MinSaleQty
            ]
        );
    }

    #[test]
    fn a_field_both_set_and_cleared_is_refused() {
        let patch = SettingsPatch {
            set: SettingValues {
                backorders: Some(BackorderMode::No),
                ..SettingValues::default()
            },
            clear: vec![SettingField::Backorders],
        };
        let errors = patch.check_level(SettingLevel::SourceItem);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].1, SettingField::Backorders);
    }

    #[test]
    fn global_settings_cannot_be_cleared() {
        let patch = SettingsPatch {
            clear: vec![SettingField::Backorders],
            ..SettingsPatch::default()
        };
        assert_eq!(patch.check_level(SettingLevel::Global).len(), 1);
    }

    #[test]
    fn applying_to_a_source_item_sets_and_clears() {
        let mut item = SourceItemSettings {
            backorders: Some(BackorderMode::Allow),
            ..SourceItemSettings::default()
        };
        let patch = SettingsPatch {
            set: SettingValues {
                out_of_stock_threshold: Some(qty("-10")),
                ..SettingValues::default()
            },
            clear: vec![SettingField::Backorders],
        };
        patch.apply_to_source_item(&mut item);
        assert_eq!(item.backorders, None);
        assert_eq!(item.out_of_stock_threshold, Some(qty("-10")));
    }

    #[test]
    fn applying_to_global_changes_only_the_given_values() {
        let mut global = GlobalSettings::default();
        let patch = SettingsPatch {
            set: SettingValues {
                max_sale_qty: Some(qty("50")),
                ..SettingValues::default()
            },
            clear: vec![],
        };
        patch.apply_to_global(&mut global);
        assert_eq!(global.max_sale_qty, qty("50"));
        assert_eq!(global.min_sale_qty, GlobalSettings::default().min_sale_qty);
    }

    #[test]
    fn applying_to_a_product_sets_and_clears() {
        let mut product = ProductSettings {
            manage_stock: Some(false),
            ..ProductSettings::default()
        };
        let patch = SettingsPatch {
            set: SettingValues {
                is_qty_decimal: Some(true),
                ..SettingValues::default()
            },
            clear: vec![SettingField::ManageStock],
        };
        patch.apply_to_product(&mut product);
        assert_eq!(product.manage_stock, None);
        assert_eq!(product.is_qty_decimal, Some(true));
    }
}
