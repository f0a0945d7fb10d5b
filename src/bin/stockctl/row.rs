//! One data row of a source-items file, checked cell by cell.

use std::collections::HashSet;

use serde_json::json;
use stockd::{
    domain::{Quantity, Sku, SourceCode},
    grpc::pb,
    validation::parse_iso_date,
};

use crate::columns::{Column, Header, Mode};

/// A checked row: what to write for one source item.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) source_code: String,
    pub(crate) sku: String,
    /// Absolute quantity (set mode) or signed change (adjust mode), canonical.
    pub(crate) quantity: String,
    pub(crate) status: pb::SourceItemStatus,
    /// The settings columns present in the file and their cells (None: use default).
    pub(crate) settings: Vec<(Column, Option<String>)>,
}

/// Why a row cannot be imported: where, and what is wrong.
#[derive(Debug, Clone)]
pub(crate) struct RowError {
    pub(crate) line: u64,
    pub(crate) sku: String,
    pub(crate) column: String,
    pub(crate) message: String,
}

impl RowError {
    /// The error as a JSON object, for `--json`.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        json!({"line": self.line, "sku": self.sku, "column": self.column, "error": self.message})
    }
}

/// Checks rows against the header, the known sources and the rows before them.
pub(crate) struct RowChecker<'a> {
    pub(crate) header: &'a Header,
    pub(crate) mode: Mode,
    pub(crate) sources: &'a HashSet<String>,
    /// (source, SKU) pairs already seen, to refuse a second row for one item.
    pub(crate) seen: HashSet<(String, String)>,
}

impl RowChecker<'_> {
    /// Checks one record; every bad cell is reported.
    pub(crate) fn check(&mut self, record: &csv::ByteRecord) -> Result<Row, Vec<RowError>> {
        let line = record.position().map_or(0, csv::Position::line);
        let mut cells = Cells {
            line,
            sku: String::new(),
            errors: Vec::new(),
        };
        if record.len() != self.header.columns.len() {
            cells.fail(
                "",
                format!(
                    "{} cells where the header has {}",
                    record.len(),
                    self.header.columns.len()
                ),
            );
            return Err(cells.errors);
        }
        let mut row = Row {
            source_code: String::new(),
            sku: String::new(),
            quantity: String::new(),
            status: pb::SourceItemStatus::InStock,
            settings: Vec::new(),
        };
        let texts: Vec<Option<&str>> = self
            .header
            .columns
            .iter()
            .zip(record.iter())
            .map(|(column, raw)| cells.utf8(*column, raw))
            .collect();
        if let Some(text) = self.text_of(&texts, Column::Sku) {
            cells.sku = text.to_owned();
        }
        for (column, text) in self.header.columns.iter().zip(texts) {
            if let Some(text) = text {
                self.cell(&mut cells, &mut row, *column, text.trim());
            }
        }
        if cells.errors.is_empty() {
            let key = (row.source_code.clone(), row.sku.clone());
            if !self.seen.insert(key) {
                cells.fail("sku", "a second row for this source and SKU".into());
            }
        }
        if cells.errors.is_empty() {
            Ok(row)
        } else {
            Err(cells.errors)
        }
    }

    fn text_of<'t>(&self, texts: &[Option<&'t str>], wanted: Column) -> Option<&'t str> {
        let position = self.header.columns.iter().position(|c| *c == wanted)?;
        texts.get(position).copied().flatten()
    }

    fn cell(&self, cells: &mut Cells, row: &mut Row, column: Column, text: &str) {
        let name = column.name();
        match column {
            Column::SourceCode => match SourceCode::parse(text) {
                Ok(_) if !self.sources.contains(text) => {
                    cells.fail(name, format!("no source {text:?} in stockd"));
                }
                Ok(code) => row.source_code = code.as_str().to_owned(),
                Err(e) => cells.fail(name, e.to_string()),
            },
            Column::Sku => match Sku::parse(text) {
                Ok(sku) => row.sku = sku.as_str().to_owned(),
                Err(e) => cells.fail(name, e.to_string()),
            },
            Column::Status => match text {
                "" | "1" => row.status = pb::SourceItemStatus::InStock,
                "0" => row.status = pb::SourceItemStatus::OutOfStock,
                _ => cells.fail(name, "must be 1 (in stock) or 0 (out of stock)".into()),
            },
            Column::Quantity => match self.quantity(text) {
                Ok(q) => row.quantity = q,
                Err(e) => cells.fail(name, e),
            },
            _ => match setting_cell(column, text) {
                Ok(value) => row.settings.push((column, value)),
                Err(e) => cells.fail(name, e),
            },
        }
    }

    fn quantity(&self, text: &str) -> Result<String, String> {
        if text.is_empty() {
            return Err("a quantity is required".into());
        }
        let q = Quantity::parse(text).map_err(|e| e.to_string())?;
        match self.mode {
            Mode::Set => q.non_negative().map_err(|e| e.to_string()),
            Mode::Adjust => Ok(q),
        }
        .map(|q| q.get().to_string())
    }
}

/// Reads a settings cell: empty is "use default", anything else must parse.
fn setting_cell(column: Column, text: &str) -> Result<Option<String>, String> {
    if text.is_empty() {
        return Ok(None);
    }
    let value = match column {
        Column::Backorders => match text {
            "0" | "1" | "2" => text.to_owned(),
            _ => return Err("must be 0 (no), 1 (allow) or 2 (allow and notify)".into()),
        },
        Column::RestockDate => match parse_iso_date(text) {
            Some(_) => text.to_owned(),
            None => return Err("must be a date like 2026-12-01".into()),
        },
        Column::RestockQty => canonical(text, true)?,
        _ => canonical(text, false)?,
    };
    Ok(Some(value))
}

/// The canonical text of a decimal, so that values compare as stockd stores them.
pub(crate) fn canonical(text: &str, non_negative: bool) -> Result<String, String> {
    let q = Quantity::parse(text).map_err(|e| e.to_string())?;
    let q = if non_negative {
        q.non_negative().map_err(|e| e.to_string())?
    } else {
        q
    };
    Ok(q.get().to_string())
}

/// Collects the errors of one row.
struct Cells {
    line: u64,
    sku: String,
    errors: Vec<RowError>,
}

impl Cells {
    fn fail(&mut self, column: &str, message: String) {
        self.errors.push(RowError {
            line: self.line,
            sku: self.sku.clone(),
            column: column.to_owned(),
            message,
        });
    }

    fn utf8<'r>(&mut self, column: Column, raw: &'r [u8]) -> Option<&'r str> {
        match std::str::from_utf8(raw) {
            Ok(text) => Some(text),
            Err(_) => {
                self.fail(column.name(), "not valid UTF-8".into());
                None
            }
        }
    }
}
