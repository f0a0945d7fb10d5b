//! Orders, carts and cancellations: the rules of DOMAIN §4 that need no database.

use std::{collections::HashMap, fmt};

use rust_decimal::Decimal;

use super::{
    error::ValidationError,
    ids::{Sku, check_printable},
    messages::MessageCode,
    quantity::Quantity,
};

macro_rules! external_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Accepts 1–64 printable characters with no surrounding whitespace.
            pub fn parse(value: &str) -> Result<Self, ValidationError> {
                check_printable(value)?;
                Ok(Self(value.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

external_id!(
    /// The storefront's order id; the key that makes placing an order safe to retry.
    OrderId
);
external_id!(
    /// The storefront's cart id; a cart's holds are replaced, extended and released together.
    CartId
);
external_id!(
    /// The caller's id for one cancellation of an order, so a retried cancel changes nothing.
    CancellationId
);
external_id!(
    /// The fulfilment system's shipment id, so a retried confirmation changes nothing.
    ShipmentId
);
external_id!(
    /// The id of one return, so a retried return changes nothing.
    ReturnId
);

/// What the order record says about one SKU of an order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderLine {
    /// The product.
    pub sku: Sku,
    /// Units ordered.
    pub ordered: Decimal,
    /// Units beyond on-hand when the order was placed.
    pub backordered: Decimal,
    /// Units shipped.
    pub shipped: Decimal,
    /// Units canceled.
    pub canceled: Decimal,
    /// Units returned after shipping.
    pub returned: Decimal,
    /// False when the product did not manage stock: nothing was reserved for it.
    pub reserved: bool,
}

impl OrderLine {
    /// Units neither shipped nor canceled: what the order still reserves.
    pub fn open(&self) -> Decimal {
        self.ordered - self.shipped - self.canceled
    }
}

/// True when every line is shipped or canceled: the order is done and its ledger compactable.
pub fn is_complete(lines: &[OrderLine]) -> bool {
    lines.iter().all(|l| l.open() <= Decimal::ZERO)
}

/// Why one line of a request was refused; `line` is its index in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineRefusal {
    /// Index of the line in the request.
    pub line: usize,
    /// The SKU of the line.
    pub sku: String,
    /// Stable reason code.
    pub code: &'static str,
    /// Explanation for people.
    pub message: String,
}

impl LineRefusal {
    /// A refusal for a failed salable-quantity rule.
    pub fn rule(line: usize, sku: &Sku, code: MessageCode, message: String) -> Self {
        Self {
            line,
            sku: sku.to_string(),
            code: code.as_str(),
            message,
        }
    }
}

/// Reason code: the line names a SKU the order does not have.
pub const NOT_ON_ORDER: &str = "SKU_NOT_ON_ORDER";
/// Reason code: more is asked than is still open on the line.
pub const EXCEEDS_OPEN: &str = "QTY_EXCEEDS_OPEN";

/// The quantity to cancel per SKU: the given lines, or every open line when none is given.
pub fn cancel_quantities(
    lines: &[OrderLine],
    request: &[(Sku, Quantity)],
) -> Result<Vec<(Sku, Decimal)>, Vec<LineRefusal>> {
    if request.is_empty() {
        return Ok(lines
            .iter()
            .filter(|l| l.open() > Decimal::ZERO)
            .map(|l| (l.sku.clone(), l.open()))
            .collect());
    }
    let by_sku: HashMap<&Sku, &OrderLine> = lines.iter().map(|l| (&l.sku, l)).collect();
    let mut refusals = Vec::new();
    let mut out = Vec::new();
    for (i, (sku, qty)) in request.iter().enumerate() {
        let Some(line) = by_sku.get(sku) else {
            refusals.push(refusal(
                i,
                sku,
                NOT_ON_ORDER,
                "the order has no line of this SKU".into(),
            ));
            continue;
        };
        if qty.get() > line.open() {
            let message = format!("only {} is open on this line", line.open().normalize());
            refusals.push(refusal(i, sku, EXCEEDS_OPEN, message));
            continue;
        }
        out.push((sku.clone(), qty.get()));
    }
    if refusals.is_empty() {
        Ok(out)
    } else {
        Err(refusals)
    }
}

fn refusal(line: usize, sku: &Sku, code: &'static str, message: String) -> LineRefusal {
    LineRefusal {
        line,
        sku: sku.to_string(),
        code,
        message,
    }
}

/// A canonical text of a request's content: equal for the same content in any line order.
pub fn fingerprint<'a>(
    header: &[&str],
    lines: impl IntoIterator<Item = (&'a Sku, Quantity)>,
) -> String {
    fingerprint_of(
        header,
        lines
            .into_iter()
            .map(|(sku, qty)| format!("{}={}", escape(sku.as_str()), qty)),
    )
}

/// Like [`fingerprint`] for lines that carry more than a SKU and a quantity; each part must
/// already be canonical text.
pub fn fingerprint_of(header: &[&str], parts: impl IntoIterator<Item = String>) -> String {
    let mut parts: Vec<String> = parts.into_iter().collect();
    parts.sort_unstable();
    let header: Vec<String> = header.iter().map(|h| escape(h)).collect();
    format!("{}|{}", header.join("|"), parts.join("|"))
}

/// Escapes the separators of a fingerprint.
pub fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('=', "\\=")
}

/// How long cart holds live: a default for callers that do not say, and a ceiling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldPolicy {
    /// Seconds a hold lives when the caller gives no time to live.
    pub default_ttl_secs: u32,
    /// The longest time to live a caller may ask for.
    pub max_ttl_secs: u32,
}

impl HoldPolicy {
    /// The time to live for a request; 0 or absent means the default.
    pub fn ttl_secs(&self, requested: Option<u32>) -> Result<u32, ValidationError> {
        match requested {
            None | Some(0) => Ok(self.default_ttl_secs),
            Some(secs) if secs > self.max_ttl_secs => Err(ValidationError::Invalid(
                "exceeds the longest time to live this service allows",
            )),
            Some(secs) => Ok(secs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sku(s: &str) -> Sku {
        Sku::parse(s).unwrap()
    }

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    fn line(s: &str, ordered: i64, shipped: i64, canceled: i64) -> OrderLine {
        OrderLine {
            sku: sku(s),
            ordered: Decimal::from(ordered),
            backordered: Decimal::ZERO,
            shipped: Decimal::from(shipped),
            canceled: Decimal::from(canceled),
            returned: Decimal::ZERO,
            reserved: true,
        }
    }

    #[test]
    fn ids_follow_the_sku_rules() {
        assert!(OrderId::parse("000000123").is_ok());
        assert!(CartId::parse("cart 7f3a").is_ok());
        assert_eq!(OrderId::parse(""), Err(ValidationError::Empty));
        assert!(CancellationId::parse(&"x".repeat(65)).is_err());
        assert!(OrderId::parse(" 1").is_err());
    }

    #[test]
    fn open_is_what_is_neither_shipped_nor_canceled() {
        assert_eq!(line("A", 5, 2, 1).open(), Decimal::from(2));
        assert!(!is_complete(&[line("A", 5, 2, 1)]));
        assert!(is_complete(&[line("A", 5, 2, 3), line("B", 1, 1, 0)]));
    }

    #[test]
    fn cancelling_nothing_in_particular_cancels_every_open_line() {
        let lines = [line("A", 5, 2, 0), line("B", 1, 1, 0)];
        assert_eq!(
            cancel_quantities(&lines, &[]).unwrap(),
            vec![(sku("A"), Decimal::from(3))]
        );
    }

    #[test]
    fn cancelling_more_than_is_open_or_a_foreign_sku_is_refused_per_line() {
        let lines = [line("A", 5, 2, 0)];
        let refusals =
            cancel_quantities(&lines, &[(sku("A"), q("4")), (sku("Z"), q("1"))]).unwrap_err();
        assert_eq!(refusals.len(), 2);
        assert_eq!((refusals[0].line, refusals[0].code), (0, EXCEEDS_OPEN));
        assert!(refusals[0].message.contains("only 3"));
        assert_eq!((refusals[1].line, refusals[1].code), (1, NOT_ON_ORDER));
        assert_eq!(
            cancel_quantities(&lines, &[(sku("A"), q("3"))]).unwrap(),
            vec![(sku("A"), Decimal::from(3))]
        );
    }

    #[test]
    fn fingerprints_ignore_line_order_but_not_content() {
        let (a, b) = (sku("A"), sku("B"));
        let one = fingerprint(&["website", "base"], [(&a, q("1")), (&b, q("2"))]);
        let same = fingerprint(&["website", "base"], [(&b, q("2.0")), (&a, q("1"))]);
        let other = fingerprint(&["website", "base"], [(&a, q("2")), (&b, q("1"))]);
        assert_eq!(one, same);
        assert_ne!(one, other);
        let tricky = fingerprint(&["a|b"], [(&a, q("1"))]);
        assert_ne!(tricky, fingerprint(&["a", "b"], [(&a, q("1"))]));
    }

    #[test]
    fn hold_ttl_defaults_and_is_capped() {
        let policy = HoldPolicy {
            default_ttl_secs: 900,
            max_ttl_secs: 3600,
        };
        assert_eq!(policy.ttl_secs(None), Ok(900));
        assert_eq!(policy.ttl_secs(Some(0)), Ok(900));
        assert_eq!(policy.ttl_secs(Some(3600)), Ok(3600));
        assert!(policy.ttl_secs(Some(3601)).is_err());
    }
}
