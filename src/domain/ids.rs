//! Identifiers of the domain: SKUs, source codes, stock ids and sales channels.

use std::fmt;

use super::error::ValidationError;

/// Longest SKU or source code (MSI stores both as varchar(64)).
pub const MAX_CODE_LEN: usize = 64;

/// A product's stock keeping unit, checked once at the edge so the core never sees a bad one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sku(String);

impl Sku {
    /// Accepts 1–64 characters with no control characters and no surrounding whitespace.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        check_printable(value)?;
        Ok(Self(value.to_owned()))
    }

    /// The SKU as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A source's permanent code, safe to put in paths, logs and page tokens.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SourceCode(String);

impl SourceCode {
    /// Accepts 1–64 characters of `[A-Za-z0-9_-]`.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        check_code(value)?;
        Ok(Self(value.to_owned()))
    }

    /// The source every fresh database has.
    pub fn default_source() -> Self {
        Self("default".to_owned())
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SourceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rule for identifiers other systems choose (SKUs, order and cart ids): 1–64 printable
/// characters with no surrounding whitespace.
pub(crate) fn check_printable(value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::Empty);
    }
    if value.chars().count() > MAX_CODE_LEN {
        return Err(ValidationError::TooLong { max: MAX_CODE_LEN });
    }
    if value.chars().any(char::is_control) {
        return Err(ValidationError::BadCharacters {
            allowed: "printable characters",
        });
    }
    if value.trim() != value {
        return Err(ValidationError::Invalid(
            "must not start or end with whitespace",
        ));
    }
    Ok(())
}

fn check_code(value: &str) -> Result<(), ValidationError> {
    if value.is_empty() {
        return Err(ValidationError::Empty);
    }
    if value.len() > MAX_CODE_LEN {
        return Err(ValidationError::TooLong { max: MAX_CODE_LEN });
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ValidationError::BadCharacters {
            allowed: "letters, digits, '_' and '-'",
        });
    }
    Ok(())
}

/// A stock's identifier; stored as a PostgreSQL `integer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StockId(i32);

impl StockId {
    /// The stock every fresh database has.
    pub const DEFAULT: StockId = StockId(1);

    /// Accepts 1 up to the largest `integer`.
    pub fn new(value: i64) -> Result<Self, ValidationError> {
        if value < 1 {
            return Err(ValidationError::NotPositive);
        }
        i32::try_from(value)
            .map(Self)
            .map_err(|_| ValidationError::OutOfRange)
    }

    /// The id as stored.
    pub fn get(self) -> i32 {
        self.0
    }
}

impl fmt::Display for StockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Which part of a sales channel was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelField {
    /// The channel type (`website`).
    Kind,
    /// The channel code (`base`).
    Code,
}

/// Where a storefront sells, e.g. website `base`; it sells from exactly one stock.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SalesChannel {
    kind: String,
    code: String,
}

impl SalesChannel {
    /// Accepts a type and a code, each 1–64 characters of `[A-Za-z0-9_-]`.
    pub fn parse(kind: &str, code: &str) -> Result<Self, (ChannelField, ValidationError)> {
        check_code(kind).map_err(|e| (ChannelField::Kind, e))?;
        check_code(code).map_err(|e| (ChannelField::Code, e))?;
        Ok(Self {
            kind: kind.to_owned(),
            code: code.to_owned(),
        })
    }

    /// The channel every fresh database has.
    pub fn default_website() -> Self {
        Self {
            kind: "website".to_owned(),
            code: "base".to_owned(),
        }
    }

    /// The channel type.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The channel code.
    pub fn code(&self) -> &str {
        &self.code
    }
}

impl fmt::Display for SalesChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.kind, self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sku_may_hold_any_printable_text_up_to_64_characters() {
        assert_eq!(
            Sku::parse("24-MB01 blue/ü").unwrap().as_str(),
            "24-MB01 blue/ü"
        );
        assert!(Sku::parse(&"é".repeat(64)).is_ok());
        assert_eq!(
            Sku::parse(&"x".repeat(65)),
            Err(ValidationError::TooLong { max: 64 })
        );
    }

    #[test]
    fn a_sku_refuses_empty_control_and_surrounding_whitespace() {
        assert_eq!(Sku::parse(""), Err(ValidationError::Empty));
        assert!(matches!(
            Sku::parse("a\nb"),
            Err(ValidationError::BadCharacters { .. })
        ));
        assert!(matches!(Sku::parse(" a"), Err(ValidationError::Invalid(_))));
        assert!(matches!(Sku::parse("a "), Err(ValidationError::Invalid(_))));
    }

    #[test]
    fn a_source_code_accepts_only_its_alphabet() {
        assert!(SourceCode::parse("warehouse-east_2").is_ok());
        assert!(SourceCode::parse(&"a".repeat(64)).is_ok());
        assert_eq!(
            SourceCode::parse(&"a".repeat(65)),
            Err(ValidationError::TooLong { max: 64 })
        );
        assert_eq!(SourceCode::parse(""), Err(ValidationError::Empty));
        for bad in ["a b", "a/b", "é", "a.b"] {
            assert!(
                matches!(
                    SourceCode::parse(bad),
                    Err(ValidationError::BadCharacters { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(SourceCode::default_source().as_str(), "default");
    }

    #[test]
    fn a_stock_id_is_a_positive_integer() {
        assert_eq!(StockId::new(1).unwrap(), StockId::DEFAULT);
        assert_eq!(StockId::new(0), Err(ValidationError::NotPositive));
        assert_eq!(StockId::new(-5), Err(ValidationError::NotPositive));
        assert_eq!(
            StockId::new(i64::from(i32::MAX) + 1),
            Err(ValidationError::OutOfRange)
        );
        assert_eq!(StockId::new(7).unwrap().get(), 7);
    }

    #[test]
    fn a_sales_channel_names_the_bad_part() {
        let channel = SalesChannel::parse("website", "base").unwrap();
        assert_eq!(channel, SalesChannel::default_website());
        assert_eq!(channel.to_string(), "website/base");
        assert_eq!(
            SalesChannel::parse("", "base"),
            Err((ChannelField::Kind, ValidationError::Empty))
        );
        assert!(matches!(
            SalesChannel::parse("website", "b s"),
            Err((ChannelField::Code, ValidationError::BadCharacters { .. }))
        ));
    }
}
