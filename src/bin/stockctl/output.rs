//! Printing answers: aligned tables for people, one JSON document per answer with `--json`.

use std::io::Write;

use serde_json::Value;

/// How answers are printed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// Prints one JSON document on a line of its own.
    pub(crate) fn json_line(self, value: &Value) {
        println!("{value}");
    }

    /// Prints a flat object: as JSON, or as `key  value` lines.
    pub(crate) fn summary(self, value: &Value) {
        if self.json {
            return self.json_line(value);
        }
        let mut table = Table::new(&[]);
        if let Value::Object(fields) = value {
            for (key, v) in fields {
                table.row(vec![key.clone(), plain(v)]);
            }
        }
        table.print();
    }

    /// Prints a list of objects: as a JSON array, or as a table of the given columns.
    pub(crate) fn list(self, columns: &[&str], rows: &[Value]) {
        if self.json {
            return self.json_line(&Value::Array(rows.to_vec()));
        }
        let mut table = Table::new(columns);
        for row in rows {
            table.row(columns.iter().map(|c| plain(&row[*c])).collect());
        }
        table.print();
    }

    /// Reports a header that cannot be read; nothing else of the file is checked.
    pub(crate) fn header_errors(self, errors: &[String]) {
        if self.json {
            return self.json_line(&serde_json::json!({ "header_errors": errors }));
        }
        for e in errors {
            println!("header: {e}");
        }
        println!("nothing written");
    }
}

/// A JSON value as a table cell.
fn plain(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Columns aligned to their widest cell.
pub(crate) struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with a header row (none when `headers` is empty).
    pub(crate) fn new(headers: &[&str]) -> Table {
        let rows = if headers.is_empty() {
            Vec::new()
        } else {
            vec![headers.iter().map(|h| h.to_uppercase()).collect()]
        };
        Table { rows }
    }

    /// Adds a row.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Prints the table on stdout.
    pub(crate) fn print(&self) {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = std::io::stdout().lock();
        for row in &self.rows {
            let line: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            let _ = writeln!(out, "{}", line.join("  ").trim_end());
        }
    }
}
