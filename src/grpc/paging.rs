//! Page sizes and page tokens for list calls. A token holds the last key of a page and an
//! HMAC-SHA256 over that key and the listing it belongs to, so a caller can neither forge a token,
//! alter one nor use one of another listing (docs/decisions/0010-page-tokens.md). The key is the
//! database's, so any replica accepts a token any other issued, across restarts.

use ring::hmac;

use crate::{
    repo::{Repo, RepoError},
    validation::Violations,
};

/// Page size when the caller gives none.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page served; larger requests are reduced to it (AIP-158).
pub(crate) const MAX_PAGE_SIZE: u32 = 1000;

/// Bytes of the HMAC-SHA256 tag at the end of every token.
const TAG_LEN: usize = 32;

/// A validated page request: how many, after which key.
pub(crate) struct PageRequest {
    pub(crate) size: u32,
    pub(crate) after: Option<String>,
}

/// The key page tokens are signed and checked with.
pub(crate) struct PageKey(hmac::Key);

impl PageKey {
    /// The database's key, which every replica shares.
    pub(crate) async fn of(repo: &Repo) -> Result<Self, RepoError> {
        Ok(Self::new(&repo.page_token_key().await?))
    }

    fn new(secret: &[u8]) -> Self {
        Self(hmac::Key::new(hmac::HMAC_SHA256, secret))
    }
}

/// What a token's tag covers: the listing (length first, so no kind can pass for another) and
/// the key.
fn signed(kind: &str, key: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(8 + kind.len() + key.len());
    message.extend_from_slice(&(kind.len() as u64).to_be_bytes());
    message.extend_from_slice(kind.as_bytes());
    message.extend_from_slice(key);
    message
}

/// Reads page_size and page_token; `kind` binds a token to the listing that issued it.
pub(crate) fn page_request(
    v: &mut Violations,
    pages: &PageKey,
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
    match verify(pages, kind, page_token) {
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
pub(crate) fn next_token(
    pages: &PageKey,
    kind: &str,
    page_len: usize,
    size: u32,
    last_key: Option<&str>,
) -> String {
    match last_key {
        Some(key) if page_len >= size as usize => {
            let tag = hmac::sign(&pages.0, &signed(kind, key.as_bytes()));
            let mut token = hex(key.as_bytes());
            token.push_str(&hex(tag.as_ref()));
            token
        }
        _ => String::new(),
    }
}

/// The key inside a genuine token of listing `kind`.
fn verify(pages: &PageKey, kind: &str, token: &str) -> Option<String> {
    let bytes = unhex(token)?;
    let (key, tag) = bytes.split_at_checked(bytes.len().checked_sub(TAG_LEN)?)?;
    hmac::verify(&pages.0, &signed(kind, key), tag).ok()?;
    String::from_utf8(key.to_vec()).ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| {
            text.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> PageKey {
        PageKey::new(b"a key of thirty-two bytes or more")
    }

    fn refused(pages: &PageKey, token: &str, kind: &str) -> bool {
        let mut v = Violations::new();
        let page = page_request(&mut v, pages, 2, token, kind);
        let fields: Vec<String> = v.into_vec().into_iter().map(|f| f.field).collect();
        page.is_none() && fields == ["page_token"]
    }

    #[test]
    fn a_token_round_trips_for_its_own_listing_only() {
        let token = next_token(&key(), "sources", 2, 2, Some("wh-1"));
        let mut v = Violations::new();
        let page = page_request(&mut v, &key(), 2, &token, "sources").unwrap();
        assert_eq!(page.after.as_deref(), Some("wh-1"));
        assert!(refused(&key(), &token, "stocks"));
        assert!(refused(&key(), &token, "sourcesw"));
    }

    #[test]
    fn a_token_altered_in_any_one_place_is_refused() {
        let token = next_token(&key(), "sources", 2, 2, Some("wh-1"));
        for i in 0..token.len() {
            let mut altered = token.clone().into_bytes();
            altered[i] = if altered[i] == b'0' { b'1' } else { b'0' };
            let altered = String::from_utf8(altered).unwrap();
            assert!(refused(&key(), &altered, "sources"), "position {i}");
        }
        assert!(refused(&key(), &token[..token.len() - 2], "sources"));
        assert!(refused(&key(), &format!("{token}00"), "sources"));
    }

    #[test]
    fn forged_garbage_and_nul_tokens_are_refused() {
        let unsigned = hex(b"sources:\0");
        let other_key = PageKey::new(b"another key of thirty-two bytes!!");
        let foreign = next_token(&other_key, "sources", 2, 2, Some("wh-1"));
        for bad in [unsigned.as_str(), "zz", "\0", "a\0", "%%%", &foreign, "00"] {
            assert!(refused(&key(), bad, "sources"), "{bad:?}");
        }
    }

    #[test]
    fn a_short_page_has_no_next_token() {
        assert_eq!(next_token(&key(), "sources", 1, 2, Some("a")), "");
    }

    #[test]
    fn sizes_default_and_are_capped_and_negative_is_refused() {
        let mut v = Violations::new();
        let size = |v: &mut Violations, n| page_request(v, &key(), n, "", "x").map(|p| p.size);
        assert_eq!(size(&mut v, 0), Some(DEFAULT_PAGE_SIZE));
        assert_eq!(size(&mut v, 5000), Some(MAX_PAGE_SIZE));
        assert!(v.is_empty());
        assert_eq!(size(&mut v, -1), None);
        assert_eq!(v.into_vec().len(), 1);
    }
}
