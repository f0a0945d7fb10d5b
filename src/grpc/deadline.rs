//! The caller's deadline, read from the `grpc-timeout` header, so a call that could not be
//! answered in time is refused at once instead of waiting for an answer nobody will read.

use std::time::Duration;

use tonic::metadata::MetadataMap;

/// Longest value the protocol allows: at most eight digits.
const MAX_DIGITS: usize = 8;

/// How long the caller is prepared to wait, if it said; a malformed header counts as none, as
/// tonic's own timeout handling treats it.
pub(crate) fn time_left(metadata: &MetadataMap) -> Option<Duration> {
    parse(metadata.get("grpc-timeout")?.to_str().ok()?)
}

/// Parses `<1 to 8 digits><unit>`, the unit one of H, M, S, m, u, n.
fn parse(value: &str) -> Option<Duration> {
    let digits = value.get(..value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    match value.bytes().last()? {
        b'H' => Some(Duration::from_secs(amount * 3600)),
        b'M' => Some(Duration::from_secs(amount * 60)),
        b'S' => Some(Duration::from_secs(amount)),
        b'm' => Some(Duration::from_millis(amount)),
        b'u' => Some(Duration::from_micros(amount)),
        b'n' => Some(Duration::from_nanos(amount)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_of_the_protocol_is_understood() {
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("99999999u"), Some(Duration::from_micros(99_999_999)));
        assert_eq!(parse("7n"), Some(Duration::from_nanos(7)));
    }

    #[test]
    fn malformed_values_mean_no_deadline() {
        for value in [
            "",
            "m",
            "10",
            "10x",
            "-1m",
            "1.5S",
            "123456789m",
            " 1m",
            "1 m",
            "१m",
        ] {
            assert_eq!(parse(value), None, "{value:?}");
        }
    }

    #[test]
    fn the_header_is_read_from_the_metadata() {
        let mut metadata = MetadataMap::new();
        assert_eq!(time_left(&metadata), None);
        metadata.insert("grpc-timeout", "100m".parse().unwrap());
        assert_eq!(time_left(&metadata), Some(Duration::from_millis(100)));
    }
}
