//! Quantities: exact decimals with at most four places, like MSI's `decimal(12,4)`.

use std::{fmt, str::FromStr};

use rust_decimal::Decimal;

use super::error::ValidationError;

/// A stock quantity; never a float, never more than [`Quantity::SCALE`] places.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(Decimal);

/// Stored quantities are `NUMERIC(16,4)`: magnitudes must stay below 10^12.
const LIMIT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

impl Quantity {
    /// Decimal places kept.
    pub const SCALE: u32 = 4;
    /// Nothing.
    pub const ZERO: Quantity = Quantity(Decimal::ZERO);

    /// Reads a decimal written in plain notation (`12`, `-0.5`, `3.2500`) and nothing else: no
    /// sign but `-`, no `_`, spaces, exponent or bare point, which the decimal library would
    /// otherwise accept.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        if !is_plain_decimal(text) {
            return Err(ValidationError::NotANumber);
        }
        let value = Decimal::from_str_exact(text).map_err(|_| ValidationError::OutOfRange)?;
        Self::from_decimal(value)
    }

    /// Accepts a decimal that fits the stored precision and range.
    pub fn from_decimal(value: Decimal) -> Result<Self, ValidationError> {
        let value = value.normalize();
        if value.scale() > Self::SCALE {
            return Err(ValidationError::TooPrecise {
                max_scale: Self::SCALE,
            });
        }
        if value.abs() >= LIMIT {
            return Err(ValidationError::OutOfRange);
        }
        Ok(Self(value))
    }

    /// Keeps the quantity only if it is above zero.
    pub fn positive(self) -> Result<Self, ValidationError> {
        if self.0 > Decimal::ZERO {
            Ok(self)
        } else {
            Err(ValidationError::NotPositive)
        }
    }

    /// Keeps the quantity only if it is zero or more.
    pub fn non_negative(self) -> Result<Self, ValidationError> {
        if self.0 >= Decimal::ZERO {
            Ok(self)
        } else {
            Err(ValidationError::Negative)
        }
    }

    /// The exact value.
    pub fn get(self) -> Decimal {
        self.0
    }

    /// True for whole numbers, which products without decimal quantities require.
    pub fn is_integer(self) -> bool {
        self.0.fract().is_zero()
    }
}

/// An optional `-`, digits, and optionally a point followed by more digits.
fn is_plain_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = match unsigned.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && fraction.is_none_or(digits)
}

impl From<Quantity> for Decimal {
    fn from(value: Quantity) -> Self {
        value.0
    }
}

impl FromStr for Quantity {
    type Err = ValidationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.normalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_decimals_are_read_exactly() {
        assert_eq!(Quantity::parse("12").unwrap().get(), Decimal::new(12, 0));
        assert_eq!(Quantity::parse("-0.5").unwrap().get(), Decimal::new(-5, 1));
        assert_eq!(Quantity::parse("3.2500").unwrap().to_string(), "3.25");
        assert_eq!(Quantity::parse("1.00000").unwrap().to_string(), "1");
    }

    #[test]
    fn the_limit_is_ten_to_the_twelfth() {
        assert_eq!(LIMIT, Decimal::new(1_000_000_000_000, 0));
        assert!(Quantity::parse("999999999999.9999").is_ok());
        assert_eq!(
            Quantity::parse("1000000000000"),
            Err(ValidationError::OutOfRange)
        );
        assert_eq!(
            Quantity::parse("-1000000000000"),
            Err(ValidationError::OutOfRange)
        );
        assert_eq!(
            Quantity::parse("99999999999999999999999999999999"),
            Err(ValidationError::OutOfRange)
        );
    }

    #[test]
    fn more_than_four_places_is_refused() {
        assert_eq!(
            Quantity::parse("0.00001"),
            Err(ValidationError::TooPrecise { max_scale: 4 })
        );
        assert!(Quantity::parse("0.0001").is_ok());
    }

    #[test]
    fn words_floats_and_blanks_are_not_numbers() {
        for bad in [
            "", "abc", "1e3", " 1", "1 ", "1,5", "NaN", "inf", "0x10", "1_000", "1_0.5", "+1",
            "--1", "-", ".5", "5.", "1.2.3", "1E3", "\u{0}", "١٢",
        ] {
            assert_eq!(
                Quantity::parse(bad),
                Err(ValidationError::NotANumber),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sign_checks() {
        let zero = Quantity::ZERO;
        assert_eq!(zero.positive(), Err(ValidationError::NotPositive));
        assert_eq!(zero.non_negative(), Ok(zero));
        let minus = Quantity::parse("-1").unwrap();
        assert_eq!(minus.non_negative(), Err(ValidationError::Negative));
        assert_eq!(minus.positive(), Err(ValidationError::NotPositive));
    }

    #[test]
    fn integers_are_recognised() {
        assert!(Quantity::parse("3.0").unwrap().is_integer());
        assert!(!Quantity::parse("3.5").unwrap().is_integer());
        assert!(Quantity::parse("-2").unwrap().is_integer());
    }

    proptest! {
        #[test]
        fn any_stored_value_round_trips_through_its_text(units in -9_999_999_999_999_999_i64..=9_999_999_999_999_999_i64) {
            let q = Quantity::from_decimal(Decimal::new(units, 4)).unwrap();
            prop_assert_eq!(Quantity::parse(&q.to_string()).unwrap(), q);
        }
    }
}
