//! The pure domain core: catalogue types and the rules of DOMAIN §2–3. No I/O, no framework types.

pub mod error;
pub mod fulfilment;
pub mod ids;
pub mod messages;
pub mod order;
pub mod order_decision;
pub mod plan;
pub mod quantity;
pub mod salable;
pub mod settings;
pub mod settings_patch;
pub mod source;
pub mod source_item;
pub mod source_selection;
pub mod stock;
pub mod stock_count;

#[cfg(test)]
mod salable_tests;

pub use error::ValidationError;
pub use ids::{ChannelField, SalesChannel, Sku, SourceCode, StockId};
pub use messages::{MessageCode, Violation};
pub use order::{
    CancellationId, CartId, HoldPolicy, LineRefusal, OrderId, OrderLine, ReturnId, ShipmentId,
};
pub use order_decision::{CartHolds, OrderDecision, OrderToDecide, check_lines, decide_orders};
pub use plan::{PlanLine, fulfilment_plan};
pub use quantity::Quantity;
pub use salable::{
    Contribution, LineNotices, QuantityCheck, Restock, SalableQuantity, StockSku, check_quantity,
    contribution, salable_quantity,
};
pub use settings::{
    BackorderMode, EffectiveItemSettings, EffectiveProductSettings, GlobalSettings,
    ProductSettings, SettingField, SettingLevel, SourceItemSettings, validate_global,
};
pub use source_item::{LinkedSourceItem, SourceItem, SourceItemStatus};
