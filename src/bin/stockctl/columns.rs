//! The source-items CSV format: Magento's "Stock Sources" columns plus stockd's settings.

use stockd::grpc::pb;

/// A column stockd reads and writes; the order is the export's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    SourceCode,
    Sku,
    Status,
    Quantity,
    Backorders,
    OutOfStockThreshold,
    NotifyStockQty,
    RestockDate,
    RestockQty,
}

/// Every column, in the order an export writes them.
pub(crate) const ALL: [Column; 9] = [
    Column::SourceCode,
    Column::Sku,
    Column::Status,
    Column::Quantity,
    Column::Backorders,
    Column::OutOfStockThreshold,
    Column::NotifyStockQty,
    Column::RestockDate,
    Column::RestockQty,
];

impl Column {
    /// The header name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Column::SourceCode => "source_code",
            Column::Sku => "sku",
            Column::Status => "status",
            Column::Quantity => "quantity",
            Column::Backorders => "backorders",
            Column::OutOfStockThreshold => "out_of_stock_threshold",
            Column::NotifyStockQty => "notify_stock_qty",
            Column::RestockDate => "restock_date",
            Column::RestockQty => "restock_qty",
        }
    }

    fn from_name(name: &str) -> Option<Column> {
        ALL.into_iter().find(|c| c.name() == name)
    }

    /// True for the source-item settings, cleared back to "use default" by an empty cell.
    pub(crate) fn is_setting(self) -> bool {
        self.setting_field().is_some()
    }

    /// The settings field a settings column writes.
    pub(crate) fn setting_field(self) -> Option<pb::SettingField> {
        match self {
            Column::Backorders => Some(pb::SettingField::Backorders),
            Column::OutOfStockThreshold => Some(pb::SettingField::OutOfStockThreshold),
            Column::NotifyStockQty => Some(pb::SettingField::NotifyStockQty),
            Column::RestockDate => Some(pb::SettingField::RestockDate),
            Column::RestockQty => Some(pb::SettingField::RestockQty),
            _ => None,
        }
    }
}

/// What the file's quantity column means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// Absolute quantities, status and settings (UpsertSourceItems).
    Set,
    /// Signed changes of the quantity (AdjustSourceItems); only source_code, sku and quantity.
    Adjust,
}

/// Which column sits at which position of a file.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// The column of each position.
    pub(crate) columns: Vec<Column>,
}

impl Header {
    /// Reads a header row; every problem is reported, each with its column.
    pub(crate) fn parse(raw: &csv::ByteRecord, mode: Mode) -> Result<Header, Vec<String>> {
        let mut errors = Vec::new();
        let mut columns = Vec::new();
        for (position, cell) in raw.iter().enumerate() {
            let Ok(name) = std::str::from_utf8(cell) else {
                errors.push(format!(
                    "column {}: header is not valid UTF-8",
                    position + 1
                ));
                continue;
            };
            let name = name.trim_start_matches('\u{feff}').trim();
            match Column::from_name(name) {
                _ if name.starts_with("attr:") => errors.push(format!(
                    "column {name:?}: custom attributes are not supported by stockd yet"
                )),
                Some(column) if columns.contains(&column) => {
                    errors.push(format!("column {name:?} appears twice"));
                }
                Some(column) if mode == Mode::Adjust && column.is_setting() => {
                    errors.push(format!(
                        "column {name:?}: --mode adjust reads only source_code, sku and quantity"
                    ))
                }
                Some(Column::Status) if mode == Mode::Adjust => errors.push(format!(
                    "column {name:?}: --mode adjust reads only source_code, sku and quantity"
                )),
                Some(column) => columns.push(column),
                None => errors.push(format!(
                    "column {name:?} is unknown; known columns: {}",
                    ALL.map(Column::name).join(", ")
                )),
            }
        }
        let required: &[Column] = match mode {
            Mode::Set => &[
                Column::SourceCode,
                Column::Sku,
                Column::Status,
                Column::Quantity,
            ],
            Mode::Adjust => &[Column::SourceCode, Column::Sku, Column::Quantity],
        };
        for column in required {
            if !columns.contains(column) {
                errors.push(format!("column {:?} is missing", column.name()));
            }
        }
        if errors.is_empty() {
            Ok(Header { columns })
        } else {
            Err(errors)
        }
    }
}

/// The export's header row.
pub(crate) fn export_header() -> [&'static str; 9] {
    ALL.map(Column::name)
}
