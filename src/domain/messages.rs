//! Customer-facing messages: a stable code per rule, with MSI's wording.

use rust_decimal::Decimal;

use super::quantity::Quantity;

/// Every rule a storefront may need to show or translate (DOMAIN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageCode {
    /// Below the product's minimum per line.
    MinSaleQty,
    /// Above the product's maximum per line.
    MaxSaleQty,
    /// Not a multiple of the product's increment.
    QtyIncrements,
    /// A fraction for a product sold in whole units.
    QtyNotDecimal,
    /// No source item on an enabled linked source is in stock.
    NoSourceItemInStock,
    /// Fewer salable than asked.
    NotEnoughQty,
    /// The stock has no source item of the SKU.
    SkuNotAssignedToStock,
    /// Informational: part of the line will be backordered.
    BackorderNotice,
    /// Informational: few units left.
    OnlyXLeft,
}

impl MessageCode {
    /// Every code, for exhaustive tests and documentation.
    pub const ALL: [MessageCode; 9] = [
        MessageCode::MinSaleQty,
        MessageCode::MaxSaleQty,
        MessageCode::QtyIncrements,
        MessageCode::QtyNotDecimal,
        MessageCode::NoSourceItemInStock,
        MessageCode::NotEnoughQty,
        MessageCode::SkuNotAssignedToStock,
        MessageCode::BackorderNotice,
        MessageCode::OnlyXLeft,
    ];

    /// The stable code on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            MessageCode::MinSaleQty => "MIN_SALE_QTY",
            MessageCode::MaxSaleQty => "MAX_SALE_QTY",
            MessageCode::QtyIncrements => "QTY_INCREMENTS",
            MessageCode::QtyNotDecimal => "QTY_NOT_DECIMAL",
            MessageCode::NoSourceItemInStock => "NO_SOURCE_ITEM_IN_STOCK",
            MessageCode::NotEnoughQty => "NOT_ENOUGH_QTY",
            MessageCode::SkuNotAssignedToStock => "SKU_NOT_ASSIGNED_TO_STOCK",
            MessageCode::BackorderNotice => "BACKORDER_NOTICE",
            MessageCode::OnlyXLeft => "ONLY_X_LEFT",
        }
    }

    /// MSI's wording, with `%1` where the first parameter goes.
    fn template(self) -> &'static str {
        match self {
            MessageCode::MinSaleQty => "The fewest you may purchase is %1.",
            MessageCode::MaxSaleQty => {
                "The requested qty exceeds the maximum qty allowed in shopping cart"
            }
            MessageCode::QtyIncrements => {
                "You can buy this product only in quantities of %1 at a time."
            }
            MessageCode::QtyNotDecimal => "You cannot use decimal quantity for this product.",
            MessageCode::NoSourceItemInStock => {
                "There are no source items with the in stock status"
            }
            MessageCode::NotEnoughQty => "Not enough items for sale",
            MessageCode::SkuNotAssignedToStock => {
                "The requested sku is not assigned to given stock."
            }
            MessageCode::BackorderNotice => {
                "We don't have as many quantity as you requested, but we'll back order the remaining %1."
            }
            MessageCode::OnlyXLeft => "Only %1 left",
        }
    }
}

/// A rule's verdict on a line: its code and the values the message mentions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Which rule.
    pub code: MessageCode,
    /// Named values, first one fills `%1`; storefronts may use them to translate.
    pub params: Vec<(&'static str, String)>,
}

impl Violation {
    /// A verdict with no values.
    pub fn new(code: MessageCode) -> Self {
        Self {
            code,
            params: Vec::new(),
        }
    }

    /// Adds a named value.
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.params.push((name, value.into()));
        self
    }

    /// The value of a named parameter, if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The English text a customer sees.
    pub fn message(&self) -> String {
        let first = self.params.first().map_or("", |(_, v)| v.as_str());
        let mut text = self.code.template().replace("%1", first);
        if self.code == MessageCode::BackorderNotice
            && let Some(date) = self.param("restock_date")
        {
            match self.param("restock_qty") {
                Some(qty) => text.push_str(&format!(" Expected restock: {qty} on {date}.")),
                None => text.push_str(&format!(" Expected restock on {date}.")),
            }
        }
        text
    }
}

/// Formats a decimal as messages and the wire show it: at most 4 places, no trailing zeros.
pub fn format_qty(value: Decimal) -> String {
    value.round_dp(Quantity::SCALE).normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_distinct_upper_snake_name_and_a_text() {
        let mut names: Vec<_> = MessageCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MessageCode::ALL.len());
        for code in MessageCode::ALL {
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c == '_')
            );
            assert!(!Violation::new(code).message().is_empty());
        }
    }

    #[test]
    fn the_first_parameter_fills_the_placeholder() {
        let v = Violation::new(MessageCode::MinSaleQty).with("min_sale_qty", "4");
        assert_eq!(v.message(), "The fewest you may purchase is 4.");
        let v = Violation::new(MessageCode::QtyIncrements).with("qty_increments", "2");
        assert_eq!(
            v.message(),
            "You can buy this product only in quantities of 2 at a time."
        );
        let v = Violation::new(MessageCode::OnlyXLeft).with("only_x_left", "5");
        assert_eq!(v.message(), "Only 5 left");
        assert_eq!(v.param("only_x_left"), Some("5"));
        assert_eq!(v.param("other"), None);
    }

    #[test]
    fn messages_without_values_are_msi_texts() {
        let cases = [
            (
                MessageCode::MaxSaleQty,
                "The requested qty exceeds the maximum qty allowed in shopping cart",
            ),
            (
                MessageCode::QtyNotDecimal,
                "You cannot use decimal quantity for this product.",
            ),
            (
                MessageCode::NoSourceItemInStock,
                "There are no source items with the in stock status",
            ),
            (MessageCode::NotEnoughQty, "Not enough items for sale"),
            (
                MessageCode::SkuNotAssignedToStock,
                "The requested sku is not assigned to given stock.",
            ),
        ];
        for (code, text) in cases {
            assert_eq!(Violation::new(code).message(), text);
        }
    }

    #[test]
    fn the_backorder_notice_carries_the_restock_when_known() {
        let plain = Violation::new(MessageCode::BackorderNotice).with("backordered_qty", "2");
        assert_eq!(
            plain.message(),
            "We don't have as many quantity as you requested, but we'll back order the remaining 2."
        );
        let dated = plain.clone().with("restock_date", "2026-12-15");
        assert!(dated.message().ends_with("Expected restock on 2026-12-15."));
        let full = dated.with("restock_qty", "40");
        assert!(
            full.message()
                .ends_with("Expected restock: 40 on 2026-12-15.")
        );
    }

    #[test]
    fn quantities_print_without_trailing_zeros() {
        assert_eq!(format_qty(Decimal::new(50000, 4)), "5");
        assert_eq!(format_qty(Decimal::new(-25, 1)), "-2.5");
        assert_eq!(format_qty(Decimal::new(123_456, 5)), "1.2346");
    }
}
