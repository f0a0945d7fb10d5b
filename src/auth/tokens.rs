//! The tokens file: one line per token, holding the token's SHA-256 (never the token itself),
//! its roles and, for admins, optionally the sources they manage and an expiry.
//!
//! ```text
//! # sha256 of the token (hex)                                      roles       options
//! 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 storefront  name=web
//! 60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752 admin       sources=east,west expires=2027-01-01T00:00:00Z
//! ```

use std::{
    collections::{BTreeSet, HashMap},
    os::unix::fs::MetadataExt,
    path::Path,
};

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
        if grants.is_empty() {
            // A server that refuses every call, and says nothing of why, helps no one.
            return Err("the file holds no token line; add one, or set \
                        STOCKD_AUTH_DISABLED=true to serve without authentication"
                .into());
        }
        Ok(Self { grants })
    }

    /// Reads the tokens file at `path`, refusing one that others may read or anyone but its
    /// owner may change (see [`check_mode`]); errors name the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let shown = path.display();
        let metadata = std::fs::metadata(path).map_err(|e| format!("tokens file {shown}: {e}"))?;
        check_mode(metadata.mode(), metadata.uid())
            .map_err(|e| format!("tokens file {shown} {e}: chmod 600 {shown}"))?;
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("tokens file {shown}: {e}"))?;
        Self::parse(&text).map_err(|e| format!("tokens file {shown}: {e}"))
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

/// Refuses a file that others may read or write, or its group may write, as ssh does for keys:
/// anyone able to change it could grant themselves any role. Its group may read it only when root
/// owns it, as PostgreSQL allows for its server key: Kubernetes mounts Secret files as root with
/// the pod's fsGroup and adds group read whatever the volume's defaultMode says.
fn check_mode(mode: u32, owner: u32) -> Result<(), String> {
    let permissions = mode & 0o777;
    let group_read_allowed = if owner == 0 { 0o040 } else { 0 };
    if permissions & 0o077 & !group_read_allowed == 0 {
        Ok(())
    } else if owner == 0 {
        Err(format!(
            "has mode {permissions:04o}; a root-owned one may be read by its group only"
        ))
    } else {
        Err(format!(
            "has mode {permissions:04o}; it must not be readable or writable by group or others"
        ))
    }
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
                    crate::validation::parse_rfc3339(value)
                        .ok_or(format!("expires {value:?} is not an RFC 3339 time"))?
                        .with_timezone(&Utc),
                );
            }
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    // A scope limits what a caller does to sources; storefront and checkout name none.
    let scoped_roles = [Role::Admin, Role::Fulfilment];
    if caller.sources.is_some() && !scoped_roles.iter().any(|r| caller.roles.contains(r)) {
        return Err(
            "sources= limits admin and fulfilment callers; this token has neither role".into(),
        );
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
    fn a_scope_may_limit_fulfilment_as_well_as_admin() {
        let text = format!(
            "{} fulfilment sources=east\n{} checkout,fulfilment sources=east,west\n",
            hash_token("ship-east"),
            hash_token("both"),
        );
        let table = TokenTable::parse(&text).unwrap();
        let east = table.authenticate(Some("ship-east"), at(2026)).unwrap();
        assert_eq!(east.sources.as_ref().map(BTreeSet::len), Some(1));
        let error = TokenTable::parse(&format!(
            "# header\n{} storefront sources=east",
            hash_token("x")
        ))
        .unwrap_err();
        assert!(error.starts_with("line 2: "), "{error}");
    }

    #[test]
    fn a_file_without_a_token_line_is_an_error() {
        for empty in ["", "\n\n", "# only a comment\n   \n"] {
            let error = TokenTable::parse(empty).unwrap_err();
            assert!(error.contains("no token line"), "{empty:?}: {error}");
        }
    }

    #[test]
    fn only_the_owner_may_read_and_write_the_file() {
        let user = 1000;
        for mode in [0o600, 0o400, 0o100600, 0o700] {
            assert_eq!(check_mode(mode, user), Ok(()), "{mode:o}");
        }
        for mode in [0o644, 0o640, 0o604, 0o620, 0o602, 0o660, 0o666, 0o100644] {
            let error = check_mode(mode, user).unwrap_err();
            assert!(error.contains("must not be readable"), "{mode:o}: {error}");
        }
        let error = check_mode(0o644, user).unwrap_err();
        assert!(error.contains("mode 0644"), "{error}");
    }

    #[test]
    fn a_root_owned_file_may_be_read_by_its_group_as_kubernetes_mounts_secrets() {
        assert_eq!(check_mode(0o440, 0), Ok(()));
        assert_eq!(check_mode(0o640, 0), Ok(()));
        for mode in [0o444, 0o460, 0o644, 0o604] {
            assert!(check_mode(mode, 0).is_err(), "{mode:o}");
        }
    }

    #[test]
    fn bad_lines_are_named() {
        let hash = hash_token("x");
        for (bad, needle) in [
            ("abc storefront".to_owned(), "64-hex"),
            (hash.clone(), "roles are missing"),
            (format!("{hash} wizard"), "unknown role"),
            (format!("{hash} admin sources=a/b"), "source"),
            (format!("{hash} checkout sources=a"), "neither role"),
            (
                format!("{hash} storefront,checkout sources=a"),
                "neither role",
            ),
            (format!("{hash} admin expires=tomorrow"), "RFC 3339"),
            (
                format!("{hash} admin expires=2027-01-01t00:00:00z"),
                "RFC 3339",
            ),
            (
                format!("{hash} admin expires=+2027-01-01T00:00:00Z"),
                "RFC 3339",
            ),
            (format!("{hash} admin colour=blue"), "unknown option"),
            (format!("{hash} admin\n{hash} checkout"), "twice"),
        ] {
            let error = TokenTable::parse(&bad).unwrap_err();
            assert!(error.contains(needle), "{bad}: {error}");
            assert!(error.starts_with("line "), "{error}");
        }
    }
}
