//! The one place errors become gRPC statuses, with google.rpc error details a client can decode.

use std::{collections::HashMap, time::Duration};

use tonic::{Code, Status};
use tonic_types::{
    ErrorDetails, FieldViolation as PbFieldViolation, PreconditionViolation, StatusExt,
};

use crate::{domain::LineRefusal, repo::RepoError, validation::FieldViolation};

/// The `domain` of every ErrorInfo stockd sends.
pub const ERROR_DOMAIN: &str = "stockd";
/// How long a client should wait before retrying a call that failed for a passing reason.
pub const RETRY_DELAY: Duration = Duration::from_millis(200);

mod budget;

pub use budget::{MAX_DETAILS_HEADER_LEN, base64_len};

/// INVALID_ARGUMENT with one BadRequest field violation per bad field, as many as fit the
/// trailer; when some are left out, the message says so and an ErrorInfo
/// (`TOO_MANY_VIOLATIONS`) counts them.
pub(crate) fn invalid_argument(violations: Vec<FieldViolation>) -> Status {
    let total = violations.len();
    let shown = budget::listed(&violations, |v| {
        budget::echo_len(&v.field) + budget::echo_len(&v.description)
    });
    let violations: Vec<PbFieldViolation> = violations
        .into_iter()
        .take(shown)
        .map(|v| PbFieldViolation::new(budget::clip(v.field), budget::clip(v.description)))
        .collect();
    let message = match violations.as_slice() {
        [only] if total == 1 => format!("invalid {}: {}", only.field, only.description),
        _ if shown < total => format!("{total} invalid fields; the first {shown} are listed"),
        _ => format!("{total} invalid fields"),
    };
    let mut details = ErrorDetails::with_bad_request(violations);
    if shown < total {
        details.set_error_info("TOO_MANY_VIOLATIONS", ERROR_DOMAIN, counts(total, shown));
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// ErrorInfo metadata saying how many entries there were and how many are listed.
fn counts(total: usize, shown: usize) -> HashMap<String, String> {
    HashMap::from([
        ("total".to_owned(), total.to_string()),
        ("listed".to_owned(), shown.to_string()),
    ])
}

impl From<RepoError> for Status {
    fn from(error: RepoError) -> Self {
        let message = error.to_string();
        match error {
            RepoError::NotFound { kind, name } => Status::with_error_details(
                Code::NotFound,
                message,
                ErrorDetails::with_resource_info(kind, name, "", ""),
            ),
            RepoError::AlreadyExists { kind, name } => Status::with_error_details(
                Code::AlreadyExists,
                message,
                ErrorDetails::with_resource_info(kind, name, "", ""),
            ),
            RepoError::Invalid(violations) => invalid_argument(violations),
            RepoError::FailedPrecondition { reason, .. } => Status::with_error_details(
                Code::FailedPrecondition,
                message,
                ErrorDetails::with_error_info(reason, ERROR_DOMAIN, HashMap::new()),
            ),
            RepoError::Refused(refusals) => refused(refusals),
            RepoError::StaleCounts(stale) => stale_counts(stale),
            RepoError::Unavailable(ref cause) => {
                tracing::warn!(error.cause_chain = ?cause, "database unavailable");
                retryable(Code::Unavailable, message)
            }
            RepoError::Overloaded { .. } => {
                let mut details = ErrorDetails::with_retry_info(Some(RETRY_DELAY));
                details.set_error_info("OVERLOADED", ERROR_DOMAIN, HashMap::new());
                Status::with_error_details(Code::Unavailable, message, details)
            }
            RepoError::Aborted(ref cause) => {
                tracing::warn!(error.cause_chain = ?cause, "transaction kept conflicting");
                retryable(Code::Aborted, message)
            }
            RepoError::Database(_) | RepoError::Corrupt(_) => {
                tracing::error!(error.cause_chain = ?error, error.message = %error, "internal error");
                Status::new(Code::Internal, "internal error")
            }
        }
    }
}

/// FAILED_PRECONDITION naming the refused lines: a PreconditionFailure violation per line
/// (type = reason code, subject = `lines[i]`), and an ErrorInfo whose reason is the first code
/// with the SKU of each listed line in its metadata. As many lines are listed as fit the trailer;
/// when some are left out, the message says so and the metadata counts them.
fn refused(refusals: Vec<LineRefusal>) -> Status {
    let total = refusals.len();
    let shown = budget::listed(&refusals, |r| {
        let subject = "lines[]".len() + r.line.checked_ilog10().unwrap_or(0) as usize + 1;
        r.code.len() + 2 * subject + budget::echo_len(&r.sku) + budget::echo_len(&r.message)
    });
    let message = match refusals.as_slice() {
        [only] => budget::clip(format!(
            "lines[{}] ({}): {}",
            only.line, only.sku, only.message
        )),
        _ if shown < total => format!("{total} lines refused; the first {shown} are listed"),
        many => format!("{} lines refused", many.len()),
    };
    let reason = refusals.first().map_or("REFUSED", |r| r.code);
    let mut metadata = if shown < total {
        counts(total, shown)
    } else {
        HashMap::new()
    };
    let violations: Vec<PreconditionViolation> = refusals
        .into_iter()
        .take(shown)
        .map(|r| {
            let subject = format!("lines[{}]", r.line);
            metadata.insert(subject.clone(), budget::clip(r.sku));
            PreconditionViolation::new(r.code, subject, budget::clip(r.message))
        })
        .collect();
    let mut details = ErrorDetails::with_precondition_failure(violations);
    details.set_error_info(reason, ERROR_DOMAIN, metadata);
    Status::with_error_details(Code::FailedPrecondition, message, details)
}

/// ABORTED naming every item whose expected quantity was not the stored one: a
/// PreconditionFailure violation per item (type `QUANTITY_CHANGED`, subject `items[i]`) and an
/// ErrorInfo whose metadata maps `items[i]` to the current quantity ("" when the item does not
/// exist). The client reads again and redoes its change; no RetryInfo, as the same call fails
/// again.
fn stale_counts(stale: Vec<crate::domain::stock_count::StaleCount>) -> Status {
    const REASON: &str = "QUANTITY_CHANGED";
    let message = format!(
        "{} source item(s) changed since they were read",
        stale.len()
    );
    let current = |s: &crate::domain::stock_count::StaleCount| {
        s.current.map(super::convert::decimal).unwrap_or_default()
    };
    let metadata: std::collections::HashMap<String, String> = stale
        .iter()
        .map(|s| (format!("items[{}]", s.item), current(s)))
        .collect();
    let violations: Vec<PreconditionViolation> = stale
        .iter()
        .map(|s| {
            let now = match s.current {
                Some(_) => format!("the current quantity is {}", current(s)),
                None => "the item does not exist".to_owned(),
            };
            let description = format!(
                "{}/{}: expected {}, {now}",
                s.source,
                s.sku,
                super::convert::decimal(s.expected)
            );
            PreconditionViolation::new(REASON, format!("items[{}]", s.item), description)
        })
        .collect();
    let mut details = ErrorDetails::with_precondition_failure(violations);
    details.set_error_info(REASON, ERROR_DOMAIN, metadata);
    Status::with_error_details(Code::Aborted, message, details)
}

/// PERMISSION_DENIED for sources outside the caller's scope (DOMAIN §7): an ErrorInfo with
/// reason `SOURCE_NOT_IN_SCOPE` whose metadata maps each offending field to its source, and a
/// ResourceInfo naming the first source.
pub(crate) fn outside_scope(named: Vec<(String, String)>) -> Status {
    let message = match named.as_slice() {
        [(_, code)] => format!("source {code} is not one of the sources this caller manages"),
        many => format!(
            "{} fields name sources this caller does not manage",
            many.len()
        ),
    };
    let first = named
        .first()
        .map(|(_, code)| code.clone())
        .unwrap_or_default();
    let mut details = ErrorDetails::with_error_info(
        "SOURCE_NOT_IN_SCOPE",
        ERROR_DOMAIN,
        named
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>(),
    );
    details.set_resource_info("source", first, "", "outside the caller's source scope");
    Status::with_error_details(Code::PermissionDenied, message, details)
}

fn retryable(code: Code, message: String) -> Status {
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_retry_info(Some(RETRY_DELAY)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool_timeout() -> sqlx::Error {
        sqlx::Error::PoolTimedOut
    }

    #[test]
    fn every_repo_error_maps_to_its_code() {
        let cases: Vec<(RepoError, Code)> = vec![
            (
                RepoError::NotFound {
                    kind: "source",
                    name: "x".into(),
                },
                Code::NotFound,
            ),
            (
                RepoError::AlreadyExists {
                    kind: "source",
                    name: "x".into(),
                },
                Code::AlreadyExists,
            ),
            (
                RepoError::invalid("items[0].sku", "must not be empty"),
                Code::InvalidArgument,
            ),
            (
                RepoError::FailedPrecondition {
                    reason: "NOT_ENOUGH_QTY",
                    message: "no".into(),
                },
                Code::FailedPrecondition,
            ),
            (RepoError::Unavailable(pool_timeout()), Code::Unavailable),
            (
                RepoError::Overloaded {
                    waited: Duration::from_millis(120),
                },
                Code::Unavailable,
            ),
            (RepoError::Aborted(pool_timeout()), Code::Aborted),
            (RepoError::Database(pool_timeout()), Code::Internal),
            (RepoError::Corrupt("bad row".into()), Code::Internal),
            (RepoError::StaleCounts(vec![]), Code::Aborted),
        ];
        for (error, code) in cases {
            assert_eq!(Status::from(error).code(), code);
        }
    }

    #[test]
    fn not_found_names_the_resource() {
        let status = Status::from(RepoError::NotFound {
            kind: "stock",
            name: "7".into(),
        });
        let info = status.get_details_resource_info().unwrap();
        assert_eq!(
            (info.resource_type.as_str(), info.resource_name.as_str()),
            ("stock", "7")
        );
    }

    #[test]
    fn invalid_argument_carries_every_violation() {
        let status = invalid_argument(vec![
            FieldViolation::new("a", "bad"),
            FieldViolation::new("b", "worse"),
        ]);
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations.len(), 2);
        assert_eq!(status.message(), "2 invalid fields");
    }

    #[test]
    fn internal_errors_never_leak_database_text() {
        let status = Status::from(RepoError::Corrupt("secret row".into()));
        assert_eq!(status.message(), "internal error");
    }

    #[test]
    fn an_overloaded_queue_says_so_and_when_to_retry() {
        let status = Status::from(RepoError::Overloaded {
            waited: Duration::from_millis(120),
        });
        assert_eq!(status.code(), Code::Unavailable);
        assert!(status.message().contains("120 ms"), "{}", status.message());
        assert_eq!(
            status.get_details_retry_info().unwrap().retry_delay,
            Some(RETRY_DELAY)
        );
        let info = status.get_details_error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("OVERLOADED", ERROR_DOMAIN)
        );
    }

    #[test]
    fn sources_outside_the_scope_are_named_field_by_field() {
        let status = outside_scope(vec![
            ("lines[0].source_code".into(), "west".into()),
            ("lines[2].source_code".into(), "north".into()),
        ]);
        assert_eq!(status.code(), Code::PermissionDenied);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "SOURCE_NOT_IN_SCOPE");
        assert_eq!(info.metadata["lines[2].source_code"], "north");
        let resource = status.get_details_resource_info().unwrap();
        assert_eq!(resource.resource_name, "west");
    }

    #[test]
    fn retryable_errors_say_when_to_retry() {
        let status = Status::from(RepoError::Unavailable(pool_timeout()));
        assert!(status.get_details_retry_info().is_some());
    }
}

#[cfg(test)]
mod budget_tests;
