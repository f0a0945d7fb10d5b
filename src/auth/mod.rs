//! Who is calling and what they may do: bearer tokens carrying roles, and for admins and
//! fulfilment optionally the sources they manage (docs/security.md).

pub mod layer;
pub mod policy;
pub mod tokens;

use std::collections::BTreeSet;

use crate::domain::SourceCode;

/// A caller's role (DOMAIN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads availability.
    Storefront,
    /// Holds and orders.
    Checkout,
    /// Shipments, returns, source selection.
    Fulfilment,
    /// Catalogue and settings.
    Admin,
}

impl Role {
    /// Reads a role as written in the tokens file.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "storefront" => Some(Role::Storefront),
            "checkout" => Some(Role::Checkout),
            "fulfilment" => Some(Role::Fulfilment),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// An authenticated caller, put in each request's extensions for handlers that limit by source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// A name for logs (never the token).
    pub name: String,
    /// What the caller may do.
    pub roles: BTreeSet<Role>,
    /// For a source-scoped admin or fulfilment caller, the sources they manage; `None` is every
    /// source.
    pub sources: Option<BTreeSet<SourceCode>>,
}

/// Which sources a request may see or change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceScope {
    /// Every source: an unscoped caller, or authentication turned off.
    All,
    /// Only these.
    Only(BTreeSet<SourceCode>),
}

impl SourceScope {
    /// The scope of a request, from the caller the auth layer attached (none: auth is off).
    pub fn of<T>(request: &tonic::Request<T>) -> SourceScope {
        match request
            .extensions()
            .get::<Caller>()
            .and_then(|c| c.sources.clone())
        {
            Some(sources) => SourceScope::Only(sources),
            None => SourceScope::All,
        }
    }

    /// Whether `source` is inside the scope.
    pub fn allows(&self, source: &SourceCode) -> bool {
        match self {
            SourceScope::All => true,
            SourceScope::Only(sources) => sources.contains(source),
        }
    }

    /// PERMISSION_DENIED unless `source` is inside the scope.
    pub fn check(&self, source: &SourceCode) -> Result<(), tonic::Status> {
        self.check_named([("source_code".to_owned(), source)])
    }

    /// PERMISSION_DENIED naming every line of `field` whose source is outside the scope.
    pub fn check_lines<'a>(
        &self,
        field: &str,
        sources: impl IntoIterator<Item = &'a SourceCode>,
    ) -> Result<(), tonic::Status> {
        self.check_named(
            sources
                .into_iter()
                .enumerate()
                .map(|(i, source)| (format!("{field}[{i}].source_code"), source)),
        )
    }

    /// The one check behind every source a request names: each (field, source) outside the
    /// scope is reported, all at once.
    fn check_named<'a>(
        &self,
        named: impl IntoIterator<Item = (String, &'a SourceCode)>,
    ) -> Result<(), tonic::Status> {
        let outside: Vec<(String, String)> = named
            .into_iter()
            .filter(|(_, source)| !self.allows(source))
            .map(|(field, source)| (field, source.to_string()))
            .collect();
        if outside.is_empty() {
            Ok(())
        } else {
            Err(crate::grpc::status::outside_scope(outside))
        }
    }

    /// Keeps only the entries whose source is inside the scope: what a scoped caller may see.
    pub fn retain<T>(&self, entries: &mut Vec<T>, source: impl Fn(&T) -> &SourceCode) {
        if let SourceScope::Only(sources) = self {
            entries.retain(|entry| sources.contains(source(entry)));
        }
    }

    /// PERMISSION_DENIED for a scoped caller: the operation concerns every source.
    pub fn require_all(&self, what: &str) -> Result<(), tonic::Status> {
        match self {
            SourceScope::All => Ok(()),
            SourceScope::Only(_) => Err(tonic::Status::permission_denied(format!(
                "{what} needs an admin that is not limited to some sources"
            ))),
        }
    }

    /// The codes of a scoped caller, for listings; `None` for every source.
    pub fn codes(&self) -> Option<Vec<String>> {
        match self {
            SourceScope::All => None,
            SourceScope::Only(sources) => Some(sources.iter().map(|s| s.to_string()).collect()),
        }
    }
}
