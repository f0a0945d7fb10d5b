//! Field violations: how every layer says which part of a request was wrong; and the strict
//! shapes of dates and times, which chrono's parsers read leniently (`+2026-1-5`, ` 2026-01-05`).

use std::fmt;

use chrono::{DateTime, FixedOffset, NaiveDate};

/// One bad field of a request, named by its path in the request message (`items[3].quantity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request.
    pub field: String,
    /// What is wrong with it, lowercase with no trailing period.
    pub description: String,
}

impl FieldViolation {
    /// Builds a violation from anything printable.
    pub fn new(field: impl Into<String>, description: impl fmt::Display) -> Self {
        Self {
            field: field.into(),
            description: description.to_string(),
        }
    }
}

/// Collects every violation of a request so the caller learns all of them at once.
#[derive(Debug, Default)]
pub struct Violations(Vec<FieldViolation>);

impl Violations {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records one violation.
    pub fn add(&mut self, field: impl Into<String>, description: impl fmt::Display) {
        self.0.push(FieldViolation::new(field, description));
    }

    /// Keeps the value of `result`, or records its error under `field` and returns `None`.
    pub fn check<T, E: fmt::Display>(
        &mut self,
        field: impl Into<String>,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.add(field, error);
                None
            }
        }
    }

    /// How many violations were recorded, so a parser can tell whether its part added any.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, else every violation.
    pub fn finish<T>(self, value: T) -> Result<T, Vec<FieldViolation>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }

    /// The parsed value when nothing was recorded. Parse helpers record a violation whenever
    /// they return `None`, so a `None` with nothing recorded is a request we cannot use at all.
    pub fn require<T>(self, value: Option<T>) -> Result<T, Vec<FieldViolation>> {
        match value {
            Some(value) if self.0.is_empty() => Ok(value),
            None if self.0.is_empty() => Err(vec![FieldViolation::new("request", "is incomplete")]),
            _ => Err(self.0),
        }
    }

    /// The recorded violations.
    pub fn into_vec(self) -> Vec<FieldViolation> {
        self.0
    }
}

/// Reads a calendar date written exactly `YYYY-MM-DD`: four-digit year, two-digit month and day,
/// no sign, no spaces.
pub fn parse_iso_date(text: &str) -> Option<NaiveDate> {
    let b = text.as_bytes();
    let shaped = b.len() == 10 && digits(b, 0..4) && b[4] == b'-' && digits(b, 5..7);
    if !(shaped && b[7] == b'-' && digits(b, 8..10)) {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Reads an RFC 3339 time written exactly `YYYY-MM-DDTHH:MM:SS`, an optional fraction, and `Z`
/// or `±HH:MM`: no lower-case `t`/`z`, no space for the `T`, no sign on the year.
pub fn parse_rfc3339(text: &str) -> Option<DateTime<FixedOffset>> {
    let (date, time) = text.split_at_checked(10)?;
    let time = time.strip_prefix('T')?.as_bytes();
    let clock = time.len() >= 8 && digits(time, 0..2) && time[2] == b':' && digits(time, 3..5);
    if parse_iso_date(date).is_none() || !(clock && time[5] == b':' && digits(time, 6..8)) {
        return None;
    }
    let mut rest = &time[8..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let n = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return None;
        }
        rest = &fraction[n..];
    }
    let offset = rest == b"Z"
        || (rest.len() == 6 && matches!(rest[0], b'+' | b'-') && digits(rest, 1..3))
            && rest[3] == b':'
            && digits(rest, 4..6);
    if !offset {
        return None;
    }
    DateTime::parse_from_rfc3339(text).ok()
}

fn digits(bytes: &[u8], range: std::ops::Range<usize>) -> bool {
    bytes
        .get(range)
        .is_some_and(|part| part.iter().all(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_is_exactly_year_month_day() {
        assert_eq!(
            parse_iso_date("2026-01-05"),
            NaiveDate::from_ymd_opt(2026, 1, 5)
        );
        for bad in [
            " 2026-01-05",
            "2026-01-05 ",
            "+2026-01-01",
            "-2026-01-01",
            "2026-1-5",
            "2026-01-5",
            "26-01-05",
            "02026-01-05",
            "2026/01/05",
            "2026-02-30",
            "2026-13-01",
            "2026-01-05T00:00:00Z",
            "",
            "２０２６-01-05",
        ] {
            assert_eq!(parse_iso_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_time_is_strict_rfc_3339() {
        for good in [
            "2027-01-01T00:00:00Z",
            "2027-01-01T00:00:00.5Z",
            "2027-01-01T01:00:00+01:00",
            "2027-01-01T00:00:00.123456-05:30",
        ] {
            assert!(parse_rfc3339(good).is_some(), "{good:?}");
        }
        for bad in [
            "2027-01-01t00:00:00Z",
            "2027-01-01T00:00:00z",
            "2027-01-01 00:00:00Z",
            "+2027-01-01T00:00:00Z",
            " 2027-01-01T00:00:00Z",
            "2027-01-01T00:00:00",
            "2027-01-01T00:00:00.Z",
            "2027-01-01T0:00:00Z",
            "2027-01-01T00:00:00+0100",
            "2027-1-01T00:00:00Z",
            "2027-01-01T25:00:00Z",
            "2027-01-01",
        ] {
            assert!(parse_rfc3339(bad).is_none(), "{bad:?}");
        }
    }
}
