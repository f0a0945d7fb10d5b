//! Errors with more violations than a trailer holds: what is listed, what is counted.

use tonic::Code;
use tonic_types::StatusExt;

use super::{MAX_DETAILS_HEADER_LEN, base64_len, invalid_argument, refused};
use crate::{domain::LineRefusal, validation::FieldViolation};

/// The size of `grpc-status-details-bin` as sent, plus `grpc-message` before escaping.
fn trailer_len(status: &tonic::Status) -> usize {
    base64_len(status.details().len()) + status.message().len()
}

#[test]
fn a_hundred_thousand_violations_fit_an_eight_kib_trailer() {
    let violations: Vec<FieldViolation> = (0..100_000)
        .map(|i| FieldViolation::new(format!("items[{i}].quantity"), "must be a decimal"))
        .collect();
    let status = invalid_argument(violations);
    assert!(base64_len(status.details().len()) <= MAX_DETAILS_HEADER_LEN);
    assert!(trailer_len(&status) < 8 * 1024, "{}", trailer_len(&status));
    let listed = status.get_details_bad_request().unwrap().field_violations;
    assert!(listed.len() > 10, "{}", listed.len());
    assert_eq!(listed[0].field, "items[0].quantity");
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "TOO_MANY_VIOLATIONS");
    assert_eq!(info.metadata["total"], "100000");
    assert_eq!(info.metadata["listed"], listed.len().to_string());
    assert_eq!(
        status.message(),
        format!(
            "100000 invalid fields; the first {} are listed",
            listed.len()
        )
    );
}

#[test]
fn a_huge_echoed_text_is_clipped_and_still_listed() {
    let status = invalid_argument(vec![FieldViolation::new(
        "update_mask.paths[0]",
        "x".repeat(1_000_000),
    )]);
    assert!(trailer_len(&status) < 8 * 1024);
    assert_eq!(
        status
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .len(),
        1
    );
    assert!(status.get_details_error_info().is_none());
}

#[test]
fn a_hundred_thousand_refused_lines_fit_an_eight_kib_trailer() {
    let refusals: Vec<LineRefusal> = (0..100_000)
        .map(|line| LineRefusal {
            line,
            sku: format!("SKU-{line:0>60}"),
            code: "NOT_ENOUGH_QTY",
            message: "The requested qty is not available".into(),
        })
        .collect();
    let status = refused(refusals);
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(trailer_len(&status) < 8 * 1024, "{}", trailer_len(&status));
    let listed = status
        .get_details_precondition_failure()
        .unwrap()
        .violations;
    assert!(listed.len() > 10, "{}", listed.len());
    let info = status.get_details_error_info().unwrap();
    assert_eq!(info.reason, "NOT_ENOUGH_QTY");
    assert_eq!(info.metadata["total"], "100000");
    assert_eq!(info.metadata["listed"], listed.len().to_string());
    assert_eq!(info.metadata["lines[0]"], format!("SKU-{:0>60}", 0));
    assert!(
        status
            .message()
            .starts_with("100000 lines refused; the first ")
    );
}
