//! Stocks: sets of prioritised sources that sales channels sell from.

use super::ids::{SalesChannel, SourceCode, StockId};

/// A virtual aggregation of sources, answering "what can this channel sell".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    /// Identifier; 1 is the default stock.
    pub id: StockId,
    /// Display name.
    pub name: String,
    /// Linked sources, preferred first.
    pub links: Vec<SourceLink>,
    /// Channels that sell from this stock.
    pub sales_channels: Vec<SalesChannel>,
}

/// A source's membership in a stock; lower priority is preferred when fulfilling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLink {
    /// The linked source.
    pub source: SourceCode,
    /// 1 or more.
    pub priority: u32,
}
