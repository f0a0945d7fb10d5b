//! Who is calling and what they may do: bearer tokens carrying roles, and for admins optionally
//! the sources they manage (docs/security.md).

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
    /// For a source-scoped admin, the sources they manage; `None` is every source.
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
        if self.allows(source) {
            Ok(())
        } else {
            Err(tonic::Status::permission_denied(format!(
                "source {source} is not one of the sources this caller manages"
            )))
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
