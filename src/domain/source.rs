//! Sources: the places stock sits, and what a merchant may say about them.

use super::{error::ValidationError, ids::SourceCode};

/// Longest free-text field we store; longer input is a caller's mistake, not data.
pub const MAX_TEXT_LEN: usize = 255;

/// A warehouse, store or drop-shipper that holds source items.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    /// Permanent identifier.
    pub code: SourceCode,
    /// Descriptive fields a merchant may change.
    pub details: SourceDetails,
    /// Disabled sources never count towards salable quantity.
    pub enabled: bool,
}

/// Everything about a source except its code and enabled flag.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SourceDetails {
    /// Required display name.
    pub name: String,
    /// Free text for the merchant.
    pub description: String,
    /// Postal address, for people and for distance-based selection.
    pub address: Address,
    /// Coordinates, when known.
    pub location: Option<GeoPoint>,
    /// Who to call.
    pub contact: Contact,
}

/// A postal address.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    /// Country (ISO code or name, as the merchant keeps it).
    pub country: String,
    /// Region or state.
    pub region: String,
    /// City.
    pub city: String,
    /// Postcode.
    pub postcode: String,
    /// Street and number.
    pub street: String,
}

/// A contact person at a source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contact {
    /// Name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// Phone number.
    pub phone: String,
}

/// WGS-84 coordinates in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    latitude: f64,
    longitude: f64,
}

/// Which coordinate was out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoField {
    /// Latitude outside −90..=90.
    Latitude,
    /// Longitude outside −180..=180.
    Longitude,
}

impl GeoPoint {
    /// Checks the ranges, so distances computed later are meaningful.
    pub fn new(latitude: f64, longitude: f64) -> Result<Self, Vec<(GeoField, ValidationError)>> {
        let mut errors = Vec::new();
        if !(latitude.is_finite() && (-90.0..=90.0).contains(&latitude)) {
            errors.push((GeoField::Latitude, ValidationError::OutOfRange));
        }
        if !(longitude.is_finite() && (-180.0..=180.0).contains(&longitude)) {
            errors.push((GeoField::Longitude, ValidationError::OutOfRange));
        }
        if errors.is_empty() {
            Ok(Self {
                latitude,
                longitude,
            })
        } else {
            Err(errors)
        }
    }

    /// Latitude in degrees.
    pub fn latitude(self) -> f64 {
        self.latitude
    }

    /// Longitude in degrees.
    pub fn longitude(self) -> f64 {
        self.longitude
    }
}

/// Checks a one-line free-text field: at most [`MAX_TEXT_LEN`] characters, no control
/// characters (PostgreSQL refuses NUL, and logs and terminals misread the others), non-empty
/// when required.
pub fn check_text(value: &str, required: bool) -> Result<(), ValidationError> {
    if required && value.trim().is_empty() {
        return Err(ValidationError::Empty);
    }
    check_length_and_characters(value, |c| !c.is_control(), "printable characters")
}

/// Checks a description, which may run over several lines: as [`check_text`], but line breaks
/// and tabs are allowed.
pub fn check_multiline_text(value: &str) -> Result<(), ValidationError> {
    check_length_and_characters(
        value,
        |c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'),
        "printable characters, line breaks and tabs",
    )
}

fn check_length_and_characters(
    value: &str,
    allowed: impl Fn(char) -> bool,
    alphabet: &'static str,
) -> Result<(), ValidationError> {
    if value.chars().count() > MAX_TEXT_LEN {
        return Err(ValidationError::TooLong { max: MAX_TEXT_LEN });
    }
    if !value.chars().all(allowed) {
        return Err(ValidationError::BadCharacters { allowed: alphabet });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_inside_their_ranges_are_accepted() {
        let point = GeoPoint::new(-90.0, 180.0).unwrap();
        assert_eq!((point.latitude(), point.longitude()), (-90.0, 180.0));
    }

    #[test]
    fn every_out_of_range_coordinate_is_reported() {
        let errors = GeoPoint::new(91.0, f64::NAN).unwrap_err();
        assert_eq!(
            errors,
            vec![
                (GeoField::Latitude, ValidationError::OutOfRange),
                (GeoField::Longitude, ValidationError::OutOfRange)
            ]
        );
    }

    #[test]
    fn required_text_must_not_be_blank_and_no_text_may_be_too_long() {
        assert_eq!(check_text("  ", true), Err(ValidationError::Empty));
        assert_eq!(check_text("", false), Ok(()));
        let long = "x".repeat(MAX_TEXT_LEN + 1);
        assert_eq!(
            check_text(&long, false),
            Err(ValidationError::TooLong { max: MAX_TEXT_LEN })
        );
        assert_eq!(check_text(&long[1..], true), Ok(()));
    }

    #[test]
    fn no_text_may_hold_a_nul_or_another_control_character() {
        for bad in [
            "a\0b",
            "\0",
            "a\u{7f}",
            "tab\there",
            "line\nbreak",
            "\u{1b}[31m",
        ] {
            assert!(
                matches!(
                    check_text(bad, false),
                    Err(ValidationError::BadCharacters { .. })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(check_text("Lager Süd – Halle 2", true), Ok(()));
    }

    #[test]
    fn a_description_may_break_lines_but_holds_no_other_control_character() {
        assert_eq!(check_multiline_text("first\r\nsecond\tcolumn"), Ok(()));
        for bad in ["a\0b", "\u{7}", "\u{85}"] {
            assert!(
                matches!(
                    check_multiline_text(bad),
                    Err(ValidationError::BadCharacters { .. })
                ),
                "{bad:?}"
            );
        }
    }
}

/// The parts of [`SourceDetails`] an update may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceField {
    /// `name`.
    Name,
    /// `description`.
    Description,
    /// `address`, as a whole.
    Address,
    /// `location`, as a whole (absent clears it).
    Location,
    /// `contact`, as a whole.
    Contact,
}

impl SourceField {
    /// Every field, for an update that names none.
    pub const ALL: [SourceField; 5] = [
        SourceField::Name,
        SourceField::Description,
        SourceField::Address,
        SourceField::Location,
        SourceField::Contact,
    ];

    /// Reads a field mask path.
    pub fn parse(path: &str) -> Option<SourceField> {
        match path {
            "name" => Some(SourceField::Name),
            "description" => Some(SourceField::Description),
            "address" => Some(SourceField::Address),
            "location" => Some(SourceField::Location),
            "contact" => Some(SourceField::Contact),
            _ => None,
        }
    }
}

impl SourceDetails {
    /// Copies the named fields from `update`, leaving the others as stored.
    pub fn merge(&mut self, update: &SourceDetails, fields: &[SourceField]) {
        for field in fields {
            match field {
                SourceField::Name => self.name.clone_from(&update.name),
                SourceField::Description => self.description.clone_from(&update.description),
                SourceField::Address => self.address.clone_from(&update.address),
                SourceField::Location => self.location = update.location,
                SourceField::Contact => self.contact.clone_from(&update.contact),
            }
        }
    }
}

#[cfg(test)]
mod merge_tests {
    use super::*;

    #[test]
    fn merge_copies_only_the_named_fields() {
        let mut stored = SourceDetails {
            name: "Old".into(),
            description: "kept".into(),
            ..SourceDetails::default()
        };
        let update = SourceDetails {
            name: "New".into(),
            description: "ignored".into(),
            location: Some(GeoPoint::new(1.0, 2.0).unwrap()),
            ..SourceDetails::default()
        };
        stored.merge(&update, &[SourceField::Name, SourceField::Location]);
        assert_eq!(stored.name, "New");
        assert_eq!(stored.description, "kept");
        assert_eq!(stored.location, update.location);
    }

    #[test]
    fn mask_paths_parse_to_fields() {
        for field in SourceField::ALL {
            let path = format!("{field:?}").to_lowercase();
            assert_eq!(SourceField::parse(&path), Some(field));
        }
        assert_eq!(SourceField::parse("code"), None);
    }
}
