//! Why a value from outside cannot become a domain value.

/// A reason a single value was refused; the caller names the field it belongs to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// Nothing was given where something is required.
    #[error("must not be empty")]
    Empty,
    /// The value is longer than the stored form allows.
    #[error("must be at most {max} characters")]
    TooLong {
        /// Largest accepted length.
        max: usize,
    },
    /// The value has characters outside its alphabet.
    #[error("may contain only {allowed}")]
    BadCharacters {
        /// The alphabet, in words.
        allowed: &'static str,
    },
    /// A quantity that is not a decimal number.
    #[error("must be a decimal number")]
    NotANumber,
    /// A quantity with more decimal places than are stored.
    #[error("must have at most {max_scale} decimal places")]
    TooPrecise {
        /// Largest accepted number of decimal places.
        max_scale: u32,
    },
    /// A number outside what can be stored.
    #[error("is out of range")]
    OutOfRange,
    /// A quantity below zero where none is allowed.
    #[error("must not be negative")]
    Negative,
    /// A quantity of zero or less where a positive one is needed.
    #[error("must be greater than zero")]
    NotPositive,
    /// Any other rule, stated in words.
    #[error("{0}")]
    Invalid(&'static str),
}
