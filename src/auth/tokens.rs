//! The tokens file: one line per token, holding the token's SHA-256 (never the token itself),
//! its roles and, for admins, optionally the sources they manage and an expiry.
//!
//! ```text
//! # sha256 of the token (hex)                                      roles       options
//! 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 storefront  name=web
//! 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752 admin       sources=east,west expires=2027-01-01T00:00:00Z
//! ```

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::{Caller, Role};
use crate::domain::SourceCode;

/// One token's grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The caller the token stands for.
    pub caller: Caller,
    /// After this instant the token is refused.
    pub expires: Option<DateTime<Utc>>,
}

/// Every valid token, by the hex SHA-256 of the token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenTable {
    grants: HashMap<String, Grant>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `authorization: Bearer …` metadata.
    Missing,
    /// Not a token of this service.
    Unknown,
    /// The token's expiry has passed.
    Expired,
}

/// The hex SHA-256 of a token, as the tokens file stores it.
pub fn hash_token(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl TokenTable {
    /// Reads a tokens file; errors name the line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut grants = HashMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (hash, grant) =
                parse_line(line).map_err(|e| format!("line {}: {e}", number + 1))?;
            if grants.insert(hash, grant).is_some() {
                return Err(format!("line {}: the same token appears twice", number + 1));
            }
        }
        Ok(Self { grants })
    }

    /// The caller behind `token` at `now`.
    pub fn authenticate(
        &self,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<&Caller, Refusal> {
        let token = token.ok_or(Refusal::Missing)?;
        let grant = self
            .grants
            .get(&hash_token(token))
            .ok_or(Refusal::Unknown)?;
        match grant.expires {
            Some(expires) if expires <= now => Err(Refusal::Expired),
            _ => Ok(&grant.caller),
        }
    }

    /// Number of tokens, for the startup log.
    pub fn len(&self) -> usize {
        self.grants.len()
    }

    /// True when the file held no token.
    pub fn is_empty(&self) -> bool {
        self.grants.is_empty()
    }
}

/// Reads and parses the tokens file at `path`, at start and at each reload; a file with no token
/// is refused, since it would lock every caller out.
pub fn load_tokens(path: &std::path::Path) -> Result<TokenTable, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("reading the tokens file {}: {e}", path.display()))?;
    let table =
        TokenTable::parse(&text).map_err(|e| format!("tokens file {}: {e}", path.display()))?;
    if table.is_empty() {
        return Err(format!("tokens file {}: holds no token", path.display()));
    }
    Ok(table)
}

fn parse_line(line: &str) -> Result<(String, Grant), String> {
    let mut words = line.split_whitespace();
    let hash = words.next().unwrap_or_default().to_ascii_lowercase();
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the first word must be the 64-hex-digit SHA-256 of the token".into());
    }
    let roles_word = words.next().ok_or("roles are missing")?;
    let roles = roles_word
        .split(',')
        .map(|r| Role::parse(r).ok_or(format!("unknown role {r:?}")))
        .collect::<Result<BTreeSet<Role>, String>>()?;
    let mut caller = Caller {
        name: hash[..8].to_owned(),
        roles,
        sources: None,
    };
    let mut expires = None;
    for option in words {
        let (key, value) = option
            .split_once('=')
            .ok_or(format!("option {option:?} must be key=value"))?;
        match key {
            "name" => caller.name = value.to_owned(),
            "sources" => caller.sources = Some(parse_sources(value)?),
            "expires" => {
                expires = Some(
                    DateTime::parse_from_rfc3339(value)
                        .map_err(|_| format!("expires {value:?} is not an RFC 3339 time"))?
                        .with_timezone(&Utc),
                );
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if caller.sources.is_some() && !caller.roles.contains(&Role::Admin) {
        return Err("sources= limits an admin; this token has no admin role".into());
    }
    Ok((hash, Grant { caller, expires }))
}

fn parse_sources(value: &str) -> Result<BTreeSet<SourceCode>, String> {
    value
        .split(',')
        .map(|code| SourceCode::parse(code).map_err(|e| format!("source {code:?}: {e}")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(year: i32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn the_hash_is_sha256_in_hex() {
        assert_eq!(
            hash_token("test"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
        );
    }

    #[test]
    fn a_file_grants_roles_sources_and_expiry() {
        let text = format!(
            "# comment\n\n{} storefront,checkout name=web\n{} admin sources=east,west expires=2027-01-01T00:00:00Z\n",
            hash_token("web-token"),
            hash_token("east-token")
        );
        let table = TokenTable::parse(&text).unwrap();
        assert_eq!(table.len(), 2);
        let web = table.authenticate(Some("web-token"), at(2026)).unwrap();
        assert_eq!(web.name, "web");
        assert!(web.roles.contains(&Role::Checkout) && web.sources.is_none());
        let east = table.authenticate(Some("east-token"), at(2026)).unwrap();
        assert_eq!(east.sources.as_ref().unwrap().len(), 2);
        assert_eq!(
            table.authenticate(Some("east-token"), at(2027)),
            Err(Refusal::Expired)
        );
        assert_eq!(
            table.authenticate(Some("forged"), at(2026)),
            Err(Refusal::Unknown)
        );
        assert_eq!(table.authenticate(None, at(2026)), Err(Refusal::Missing));
    }

    #[test]
    fn bad_lines_are_named() {
        let hash = hash_token("x");
        for (bad, needle) in [
            ("abc storefront".to_owned(), "64-hex"),
            (hash.clone(), "roles are missing"),
            (format!("{hash} wizard"), "unknown role"),
            (format!("{hash} admin sources=a/b"), "source"),
            (format!("{hash} checkout sources=a"), "no admin role"),
            (format!("{hash} admin expires=tomorrow"), "RFC 3339"),
            (format!("{hash} admin colour=blue"), "unknown option"),
            (format!("{hash} admin\n{hash} checkout"), "twice"),
        ] {
            let error = TokenTable::parse(&bad).unwrap_err();
            assert!(error.contains(needle), "{bad}: {error}");
            assert!(error.starts_with("line "), "{error}");
        }
    }
}
