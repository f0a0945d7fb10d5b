//! Page sizes and opaque page tokens for list calls.

use crate::validation::Violations;

/// Page size when the caller gives none.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page served; larger requests are reduced to it (AIP-158).
pub(crate) const MAX_PAGE_SIZE: u32 = 1000;

/// A validated page request: how many, after which key.
pub(crate) struct PageRequest {
    pub(crate) size: u32,
    pub(crate) after: Option<String>,
}

/// Reads page_size and page_token; `kind` binds a token to the listing that issued it.
pub(crate) fn page_request(
    v: &mut Violations,
    page_size: i32,
    page_token: &str,
    kind: &str,
) -> Option<PageRequest> {
    let size = match u32::try_from(page_size) {
        Ok(0) => DEFAULT_PAGE_SIZE,
        Ok(size) => size.min(MAX_PAGE_SIZE),
        Err(_) => {
            v.add("page_size", "must be zero or more");
            return None;
        }
    };
    if page_token.is_empty() {
        return Some(PageRequest { size, after: None });
    }
    match decode(page_token).and_then(|t| t.strip_prefix(&format!("{kind}:")).map(str::to_owned)) {
        Some(after) => Some(PageRequest {
            size,
            after: Some(after),
        }),
        None => {
            v.add("page_token", "is not a token this listing issued");
            None
        }
    }
}

/// The token for the page after `last_key`, or empty when the page was not full.
pub(crate) fn next_token(kind: &str, page_len: usize, size: u32, last_key: Option<&str>) -> String {
    match last_key {
        Some(key) if page_len >= size as usize => encode(&format!("{kind}:{key}")),
        _ => String::new(),
    }
}

fn encode(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode(token: &str) -> Option<String> {
    if !token.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| {
            token
                .get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_round_trips_for_its_own_listing_only() {
        let token = next_token("sources", 2, 2, Some("wh-1"));
        let mut v = Violations::new();
        let page = page_request(&mut v, 2, &token, "sources").unwrap();
        assert_eq!(page.after.as_deref(), Some("wh-1"));
        assert!(page_request(&mut v, 2, &token, "stocks").is_none());
        assert!(!v.is_empty());
    }

    #[test]
    fn a_short_page_has_no_next_token() {
        assert_eq!(next_token("sources", 1, 2, Some("a")), "");
    }

    #[test]
    fn sizes_default_and_are_capped_and_negative_is_refused() {
        let mut v = Violations::new();
        assert_eq!(
            page_request(&mut v, 0, "", "x").unwrap().size,
            DEFAULT_PAGE_SIZE
        );
        assert_eq!(
            page_request(&mut v, 5000, "", "x").unwrap().size,
            MAX_PAGE_SIZE
        );
        assert!(v.is_empty());
        assert!(page_request(&mut v, -1, "", "x").is_none());
        assert!(page_request(&mut v, 1, "zz", "x").is_none());
        assert_eq!(v.into_vec().len(), 2);
    }
}
