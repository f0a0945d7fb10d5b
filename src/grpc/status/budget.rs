//! How much of a long list of violations fits in an error's trailer. grpc-java refuses metadata
//! over 8 KiB and the C-core clients (Python, PHP, Ruby, C++) over 16 KiB; a client past its limit
//! sees RESOURCE_EXHAUSTED instead of our error. So an error lists its first violations and counts
//! the rest.

/// Largest encoded `grpc-status-details-bin` (base64, as sent) any error may carry, leaving room
/// in an 8 KiB trailer for `grpc-message` and `grpc-status`.
pub const MAX_DETAILS_HEADER_LEN: usize = 6 * 1024;

/// Bytes of the encoded google.rpc.Status the listed entries may take; the rest of the
/// [`MAX_DETAILS_HEADER_LEN`] budget (base64 grows by a third) is for the message, the
/// ErrorInfo and the type URLs.
const LIST_BUDGET: usize = MAX_DETAILS_HEADER_LEN * 3 / 4 - 1024;

/// Upper bound of the protobuf framing (tags and length prefixes) of one listed entry.
const ENTRY_FRAMING: usize = 16;

/// Longest text echoed back in an error; a caller's own long text is cut to it.
const MAX_ECHO_LEN: usize = 200;

/// How many of the first entries fit the budget, given each entry's text length.
pub(super) fn listed<T>(entries: &[T], text_len: impl Fn(&T) -> usize) -> usize {
    let mut used = 0;
    entries
        .iter()
        .take_while(|entry| {
            used += text_len(entry) + ENTRY_FRAMING;
            used <= LIST_BUDGET
        })
        .count()
}

/// The length `text` takes in an error once clipped.
pub(super) fn echo_len(text: &str) -> usize {
    text.len().min(MAX_ECHO_LEN)
}

/// `text`, cut at a character boundary to at most [`MAX_ECHO_LEN`] bytes, with `…` when cut.
pub(super) fn clip(mut text: String) -> String {
    if text.len() > MAX_ECHO_LEN {
        let mut end = MAX_ECHO_LEN - '…'.len_utf8();
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// The length of the base64 text (unpadded, as gRPC sends `-bin` metadata) of `bytes` bytes.
pub fn base64_len(bytes: usize) -> usize {
    (bytes * 4).div_ceil(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_listed_while_they_fit() {
        let entries = vec![100_usize; 1000];
        let n = listed(&entries, |len| *len);
        assert!(n > 0 && n < 1000);
        assert!(n * (100 + ENTRY_FRAMING) <= LIST_BUDGET);
        assert_eq!(listed(&entries[..3], |len| *len), 3);
    }

    #[test]
    fn long_text_is_clipped_on_a_character_boundary() {
        assert_eq!(clip("short".into()), "short");
        let clipped = clip("é".repeat(500));
        assert!(clipped.len() <= MAX_ECHO_LEN && clipped.ends_with('…'));
    }
}
