//! The only place raw protobuf values become domain types (and back). Parsing collects every
//! bad field into `Violations`, so a caller learns all its mistakes in one answer.

pub(crate) mod availability;
pub(crate) mod catalogue;
pub(crate) mod fulfilment;
pub(crate) mod reservations;
pub(crate) mod settings;
pub(crate) mod stock_counts;

use std::collections::HashSet;
use std::hash::Hash;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::pb;
use crate::{
    domain::{Quantity, SalesChannel, Sku, SourceCode, StockId},
    repo::availability::StockScope,
    validation::Violations,
};

/// Most items, SKUs or lines one call may carry.
pub(crate) const MAX_BATCH: usize = 1000;

/// The parsed request, or INVALID_ARGUMENT listing every violation recorded on the way.
pub(crate) fn finish<T>(v: Violations, value: Option<T>) -> Result<T, tonic::Status> {
    v.require(value).map_err(super::status::invalid_argument)
}

/// Checks a batch's length before any entry is read: an oversized batch ends the call at once
/// with that one violation (with those recorded before it), so a 100,000-entry batch costs no
/// more than a 1,001-entry one; an empty batch is recorded with the request's other violations.
pub(crate) fn batch_size(v: &mut Violations, field: &str, len: usize) -> Result<(), tonic::Status> {
    if batch_fits(v, field, len) {
        Ok(())
    } else {
        Err(super::status::invalid_argument(
            std::mem::take(v).into_vec(),
        ))
    }
}

/// Records an empty or oversized batch; false when it is too long for its entries to be read.
pub(crate) fn batch_fits(v: &mut Violations, field: &str, len: usize) -> bool {
    if len == 0 {
        v.add(field, "must not be empty");
    }
    !too_long(v, field, len)
}

/// Records a list over [`MAX_BATCH`] (one violation on the list); true when it is.
pub(crate) fn too_long(v: &mut Violations, field: &str, len: usize) -> bool {
    let over = len > MAX_BATCH;
    if over {
        v.add(field, format!("must have at most {MAX_BATCH} entries"));
    }
    over
}

/// Reports every entry whose key was already seen earlier in the batch, named by `name(index)`;
/// names are built only for the entries reported, since valid batches are the common case.
pub(crate) fn no_duplicates<K: Eq + Hash>(
    v: &mut Violations,
    keys: impl IntoIterator<Item = K>,
    name: impl Fn(usize) -> String,
) {
    let mut seen = HashSet::new();
    for (i, key) in keys.into_iter().enumerate() {
        if !seen.insert(key) {
            v.add(name(i), "appears more than once in this request");
        }
    }
}

/// Parses a list of SKUs, reporting repeated ones first and then unparsable ones, each as
/// `field[i]`.
pub(crate) fn sku_list(v: &mut Violations, field: &str, values: &[String]) -> Vec<Sku> {
    no_duplicates(v, values, |i| format!("{field}[{i}]"));
    let mut skus = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        match Sku::parse(value) {
            Ok(sku) => skus.push(sku),
            Err(error) => v.add(format!("{field}[{i}]"), error),
        }
    }
    skus
}

/// Parses a SKU.
pub(crate) fn sku(v: &mut Violations, field: &str, value: &str) -> Option<Sku> {
    v.check(field, Sku::parse(value))
}

/// Parses a source code.
pub(crate) fn source_code(v: &mut Violations, field: &str, value: &str) -> Option<SourceCode> {
    v.check(field, SourceCode::parse(value))
}

/// Parses a stock id.
pub(crate) fn stock_id(v: &mut Violations, field: &str, value: i32) -> Option<StockId> {
    v.check(field, StockId::new(i64::from(value)))
}

/// Parses a decimal quantity of any sign.
pub(crate) fn quantity(v: &mut Violations, field: &str, value: &str) -> Option<Quantity> {
    v.check(field, Quantity::parse(value))
}

/// Parses a quantity that must be greater than zero.
pub(crate) fn positive_quantity(v: &mut Violations, field: &str, value: &str) -> Option<Quantity> {
    v.check(field, Quantity::parse(value).and_then(Quantity::positive))
}

/// Parses a quantity that must not be negative.
pub(crate) fn non_negative_quantity(
    v: &mut Violations,
    field: &str,
    value: &str,
) -> Option<Quantity> {
    v.check(
        field,
        Quantity::parse(value).and_then(Quantity::non_negative),
    )
}

/// Parses an ISO date, written exactly `YYYY-MM-DD`.
pub(crate) fn date(v: &mut Violations, field: &str, value: &str) -> Option<NaiveDate> {
    v.check(
        field,
        crate::validation::parse_iso_date(value).ok_or("must be a date like 2026-12-01"),
    )
}

/// Parses a sales channel.
pub(crate) fn sales_channel(
    v: &mut Violations,
    field: &str,
    channel: &pb::SalesChannel,
) -> Option<SalesChannel> {
    match SalesChannel::parse(&channel.r#type, &channel.code) {
        Ok(parsed) => Some(parsed),
        Err((part, error)) => {
            let name = match part {
                crate::domain::ChannelField::Kind => "type",
                crate::domain::ChannelField::Code => "code",
            };
            v.add(format!("{field}.{name}"), error);
            None
        }
    }
}

/// Parses which stock a question is about.
pub(crate) fn scope(
    v: &mut Violations,
    field: &str,
    scope: Option<&pb::StockScope>,
) -> Option<StockScope> {
    match scope.and_then(|s| s.scope.as_ref()) {
        Some(pb::stock_scope::Scope::StockId(id)) => {
            stock_id(v, &format!("{field}.stock_id"), *id).map(StockScope::Stock)
        }
        Some(pb::stock_scope::Scope::SalesChannel(channel)) => {
            sales_channel(v, &format!("{field}.sales_channel"), channel).map(StockScope::Channel)
        }
        None => {
            v.add(field, "must name a stock_id or a sales_channel");
            None
        }
    }
}

/// Formats a decimal for the wire: normalised, at most 4 places.
pub(crate) fn decimal(value: Decimal) -> String {
    value.round_dp(Quantity::SCALE).normalize().to_string()
}

/// Formats a quantity for the wire.
pub(crate) fn qty(value: Quantity) -> String {
    decimal(value.get())
}

/// Formats a date for the wire.
pub(crate) fn iso_date(value: NaiveDate) -> String {
    value.format("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sku_list_names_repeated_then_unparsable_entries_by_index() {
        let mut v = Violations::new();
        let values: Vec<String> = ["A", "B", "A", "", "B"].map(String::from).to_vec();
        let skus = sku_list(&mut v, "skus", &values);
        let fields: Vec<String> = v.into_vec().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["skus[2]", "skus[4]", "skus[3]"]);
        let parsed: Vec<&str> = skus.iter().map(Sku::as_str).collect();
        assert_eq!(parsed, ["A", "B", "A", "B"]);
    }

    #[test]
    fn an_oversized_batch_is_one_violation_and_no_entry_is_read() {
        let mut v = Violations::new();
        v.add("scope", "must name a stock_id or a sales_channel");
        let status = batch_size(&mut v, "skus", 100_000).unwrap_err();
        let bad = tonic_types::StatusExt::get_details_bad_request(&status).unwrap();
        let fields: Vec<&str> = bad
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(fields, ["scope", "skus"]);
        assert_eq!(
            bad.field_violations[1].description,
            "must have at most 1000 entries"
        );
        assert!(batch_size(&mut Violations::new(), "skus", MAX_BATCH).is_ok());
    }

    #[test]
    fn oversized_lines_are_refused_whole_before_any_line_is_parsed() {
        let bad_line = ("\0", "1_000");
        let lines = vec![bad_line; 100_000];
        let mut v = Violations::new();
        let parsed = reservations::quantity_lines(&mut v, "lines", lines.iter().copied(), false);
        assert!(parsed.is_none());
        let fields: Vec<String> = v.into_vec().into_iter().map(|f| f.field).collect();
        assert_eq!(fields, ["lines"]);
    }
}
