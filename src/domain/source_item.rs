//! Source items: a SKU's quantity on one source, and how it sits in a stock.

use super::{
    ids::{Sku, SourceCode},
    quantity::Quantity,
    settings::SourceItemSettings,
};

/// The merchant's flag; the service never flips it (DOMAIN §1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceItemStatus {
    /// On sale.
    InStock,
    /// Taken off sale by the merchant.
    OutOfStock,
}

/// A SKU on a source, with its own settings.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceItem {
    /// The source holding it.
    pub source: SourceCode,
    /// The product.
    pub sku: Sku,
    /// On hand; negative only after backordered shipments.
    pub quantity: Quantity,
    /// The merchant's flag.
    pub status: SourceItemStatus,
    /// Source-level overrides.
    pub settings: SourceItemSettings,
}

/// A source item as one stock sees it: with its link priority and whether its source is enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedSourceItem {
    /// The item.
    pub item: SourceItem,
    /// Priority of the source's link to the stock; lower is preferred.
    pub priority: u32,
    /// Disabled sources never count.
    pub source_enabled: bool,
}

impl LinkedSourceItem {
    /// True when the item counts towards salable quantity (DOMAIN §3).
    pub fn is_counted(&self) -> bool {
        self.source_enabled && self.item.status == SourceItemStatus::InStock
    }
}
