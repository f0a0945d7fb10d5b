//! Stock counts (DOMAIN §5): why a source item's quantity changes, adjustments by a delta, and the
//! compare-and-set that keeps a sync from overwriting a change it has not seen.

use std::collections::HashMap;

use rust_decimal::Decimal;

use super::{
    error::ValidationError,
    ids::{Sku, SourceCode, check_printable},
    order::{LineRefusal, escape, fingerprint_of},
    quantity::Quantity,
};

/// Why a source item's quantity changed, as its history records it. The first six are the
/// reasons a caller gives an adjustment (Shopify's names for on-hand changes); the rest name
/// the paths that change quantities on their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeReason {
    /// Goods arrived.
    Received,
    /// Units removed because they are damaged.
    Damaged,
    /// Fewer units than recorded: lost or stolen.
    Shrinkage,
    /// Units given away: a promotion or a donation.
    Promotion,
    /// A count corrected in either direction.
    Correction,
    /// Anything else; the note says what.
    Other,
    /// An absolute write (UpsertSourceItems), including the item's creation.
    Upsert,
    /// The item was deleted (DeleteSourceItems).
    Delete,
    /// A shipment deducted the units (ConfirmShipment).
    Shipment,
    /// Returned units went back on the shelf (ReturnItems).
    Return,
}

impl ChangeReason {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeReason::Received => "RECEIVED",
            ChangeReason::Damaged => "DAMAGED",
            ChangeReason::Shrinkage => "SHRINKAGE",
            ChangeReason::Promotion => "PROMOTION",
            ChangeReason::Correction => "CORRECTION",
            ChangeReason::Other => "OTHER",
            ChangeReason::Upsert => "UPSERT",
            ChangeReason::Delete => "DELETE",
            ChangeReason::Shipment => "SHIPMENT",
            ChangeReason::Return => "RETURN",
        }
    }
}

/// The caller's key for one adjustment call, so a retry applies nothing twice.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Accepts 1–64 printable characters with no surrounding whitespace.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        check_printable(value)?;
        Ok(Self(value.to_owned()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Longest free-text note an adjustment may carry.
pub const MAX_NOTE_CHARS: usize = 500;

/// Checks an adjustment's note: short, and without control characters but line breaks.
pub fn check_note(note: &str) -> Result<(), ValidationError> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(ValidationError::TooLong {
            max: MAX_NOTE_CHARS,
        });
    }
    if note.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ValidationError::BadCharacters {
            allowed: "printable characters and line breaks",
        });
    }
    Ok(())
}

/// One item of an adjustment: a signed change of a source item's quantity.
#[derive(Debug, Clone, PartialEq)]
pub struct Delta {
    /// Where.
    pub source: SourceCode,
    /// What.
    pub sku: Sku,
    /// How much, never zero: positive adds, negative removes.
    pub delta: Quantity,
}

/// Reason code: the adjusted source item does not exist (create it with an upsert first).
pub const SOURCE_ITEM_NOT_FOUND: &str = "SOURCE_ITEM_NOT_FOUND";
/// Reason code: removing the units would take the quantity below zero.
pub const QTY_BELOW_ZERO: &str = "QTY_BELOW_ZERO";
/// Reason code: the quantity afterwards would not fit the stored precision.
pub const QTY_OUT_OF_RANGE: &str = "QTY_OUT_OF_RANGE";

/// The quantity after adding `delta` to `before`, or why it is refused. Only shipments on
/// backorder take a count below zero (DOMAIN §1), so a removal must leave zero or more; an
/// addition is always welcome, even to a count still below zero.
pub fn adjusted(before: Decimal, delta: Decimal) -> Result<Decimal, (&'static str, String)> {
    let after = before + delta;
    if delta < Decimal::ZERO && after < Decimal::ZERO {
        return Err((
            QTY_BELOW_ZERO,
            format!("removing {} from {before} would leave {after}", -delta),
        ));
    }
    Quantity::from_decimal(after)
        .map(Quantity::get)
        .map_err(|_| (QTY_OUT_OF_RANGE, format!("{after} is out of range")))
}

/// Applies every delta to the current quantities (`None`: no such item), all or nothing:
/// the quantities after in request order, or a refusal for every failing item.
pub fn apply_deltas(
    deltas: &[Delta],
    current: &[Option<Decimal>],
) -> Result<Vec<Decimal>, Vec<LineRefusal>> {
    let mut after = Vec::with_capacity(deltas.len());
    let mut refusals = Vec::new();
    for (i, (delta, before)) in deltas.iter().zip(current).enumerate() {
        let outcome = match before {
            None => Err((
                SOURCE_ITEM_NOT_FOUND,
                format!("source {} has no item of this SKU", delta.source),
            )),
            Some(before) => adjusted(*before, delta.delta.get()),
        };
        match outcome {
            Ok(quantity) => after.push(quantity),
            Err((code, message)) => refusals.push(LineRefusal {
                line: i,
                sku: delta.sku.to_string(),
                code,
                message,
            }),
        }
    }
    if refusals.is_empty() {
        Ok(after)
    } else {
        Err(refusals)
    }
}

/// The canonical text of an adjustment request: the same reason, note and items in any order
/// give the same fingerprint.
pub fn adjustment_fingerprint(reason: ChangeReason, note: &str, deltas: &[Delta]) -> String {
    fingerprint_of(
        &[reason.as_str(), note],
        deltas.iter().map(|d| {
            format!(
                "{}@{}={}",
                escape(d.sku.as_str()),
                d.source,
                d.delta.get().normalize()
            )
        }),
    )
}

/// An item of an upsert whose expected quantity is not the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleCount {
    /// Index of the item in the request.
    pub item: usize,
    /// Its source.
    pub source: String,
    /// Its SKU.
    pub sku: String,
    /// What the caller expected.
    pub expected: Decimal,
    /// What is stored; `None` when the item does not exist.
    pub current: Option<Decimal>,
}

/// The items whose expected quantity differs from the current one; an item that does not exist
/// differs from every expectation. `expected` holds (request index, source, SKU, expected).
pub fn stale_counts<'a>(
    expected: impl IntoIterator<Item = (usize, &'a SourceCode, &'a Sku, Decimal)>,
    current: &HashMap<(String, String), Decimal>,
) -> Vec<StaleCount> {
    expected
        .into_iter()
        .filter_map(|(item, source, sku, expected)| {
            let key = (source.to_string(), sku.to_string());
            let current = current.get(&key).copied();
            (current != Some(expected)).then_some(StaleCount {
                item,
                source: key.0,
                sku: key.1,
                expected,
                current,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn delta(source: &str, sku: &str, qty: &str) -> Delta {
        Delta {
            source: SourceCode::parse(source).unwrap(),
            sku: Sku::parse(sku).unwrap(),
            delta: Quantity::parse(qty).unwrap(),
        }
    }

    #[test]
    fn a_removal_may_not_go_below_zero_but_an_addition_always_may() {
        assert_eq!(adjusted(d("5"), d("-5")), Ok(d("0")));
        assert_eq!(adjusted(d("5"), d("-6")).unwrap_err().0, QTY_BELOW_ZERO);
        assert_eq!(adjusted(d("-3"), d("2")), Ok(d("-1")));
        assert_eq!(adjusted(d("-3"), d("-1")).unwrap_err().0, QTY_BELOW_ZERO);
        assert_eq!(
            adjusted(d("999999999999"), d("1")).unwrap_err().0,
            QTY_OUT_OF_RANGE
        );
    }

    #[test]
    fn deltas_apply_all_or_name_every_failing_item() {
        let deltas = [
            delta("a", "X", "40"),
            delta("a", "Y", "-2"),
            delta("b", "X", "1"),
        ];
        assert_eq!(
            apply_deltas(&deltas, &[Some(d("1")), Some(d("2")), Some(d("0"))]),
            Ok(vec![d("41"), d("0"), d("1")])
        );
        let refusals = apply_deltas(&deltas, &[Some(d("1")), Some(d("1")), None]).unwrap_err();
        let codes: Vec<(usize, &str)> = refusals.iter().map(|r| (r.line, r.code)).collect();
        assert_eq!(codes, [(1, QTY_BELOW_ZERO), (2, SOURCE_ITEM_NOT_FOUND)]);
    }

    #[test]
    fn the_fingerprint_ignores_item_order_and_trailing_zeros_but_not_content() {
        let a = [delta("a", "X", "40"), delta("a", "Y", "-2")];
        let b = [delta("a", "Y", "-2.00"), delta("a", "X", "40")];
        let print = adjustment_fingerprint(ChangeReason::Received, "po-1", &a);
        assert_eq!(
            print,
            adjustment_fingerprint(ChangeReason::Received, "po-1", &b)
        );
        assert_ne!(
            print,
            adjustment_fingerprint(ChangeReason::Damaged, "po-1", &a)
        );
        assert_ne!(
            print,
            adjustment_fingerprint(ChangeReason::Received, "po-2", &a)
        );
        assert_ne!(
            print,
            adjustment_fingerprint(ChangeReason::Received, "po-1", &a[..1])
        );
    }

    #[test]
    fn stale_counts_name_every_differing_or_missing_item() {
        let (src, x, y) = (
            SourceCode::parse("a").unwrap(),
            Sku::parse("X").unwrap(),
            Sku::parse("Y").unwrap(),
        );
        let current: HashMap<(String, String), Decimal> =
            [(("a".to_owned(), "X".to_owned()), d("8"))].into();
        assert!(stale_counts([(0, &src, &x, d("8.00"))], &current).is_empty());
        let stale = stale_counts([(0, &src, &x, d("10")), (3, &src, &y, d("0"))], &current);
        let found: Vec<(usize, Option<Decimal>)> =
            stale.iter().map(|s| (s.item, s.current)).collect();
        assert_eq!(found, [(0, Some(d("8"))), (3, None)]);
    }

    #[test]
    fn notes_are_short_printable_text() {
        assert!(check_note("pallet 7\nwet corner").is_ok());
        assert!(check_note("bad\u{7}").is_err());
        assert!(check_note(&"x".repeat(MAX_NOTE_CHARS + 1)).is_err());
    }
}
