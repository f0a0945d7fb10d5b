//! What a call's answer means for the benchmark: done, refused for a stated reason, or an error.

use tonic::{Code, Status};
use tonic_types::StatusExt;

/// The meaning of one call's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The call did what it asked.
    Done,
    /// A definite refusal: `FAILED_PRECONDITION`, with the reason stockd gave (`NOT_ENOUGH_QTY`…).
    Refused(String),
    /// Anything else: the caller cannot tell from the answer alone what happened.
    Error(Code),
}

impl Answer {
    /// Classifies a failed call.
    pub(crate) fn of(status: &Status) -> Self {
        if status.code() == Code::FailedPrecondition {
            let reason = status
                .get_details_error_info()
                .map_or_else(|| "FAILED_PRECONDITION".to_owned(), |info| info.reason);
            Self::Refused(reason)
        } else {
            Self::Error(status.code())
        }
    }

    /// Classifies any call's result.
    pub(crate) fn from_result<T>(result: &Result<T, Status>) -> Self {
        match result {
            Ok(_) => Self::Done,
            Err(status) => Self::of(status),
        }
    }
}

/// How long the server asked the caller to wait before retrying (`google.rpc.RetryInfo`), if it
/// did: a well-behaved client waits that long.
pub(crate) fn retry_delay<T>(result: &Result<T, Status>) -> Option<std::time::Duration> {
    let status = result.as_ref().err()?;
    status.get_details_retry_info()?.retry_delay
}

/// A short, stable name for a gRPC code, for the result line.
pub(crate) fn code_name(code: Code) -> String {
    let mut name = String::new();
    for (i, c) in format!("{code:?}").chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name
}
