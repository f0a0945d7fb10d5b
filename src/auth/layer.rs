//! The tower layer that authenticates every request before any service sees it, checks the
//! RPC's roles, and hands the caller to handlers in the request's extensions.

use std::{
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use arc_swap::ArcSwap;
use tonic::Status;
use tower::{Layer, Service};

use super::{
    policy::{Access, access},
    tokens::{Refusal, TokenTable},
};
use crate::{clock::SharedClock, repo::history::acting_as};

/// The tokens table in force, replaced whole when the tokens file is reloaded; each call reads
/// it without a lock.
pub type LiveTokens = Arc<ArcSwap<TokenTable>>;

/// Authentication on (a table of tokens) or off (an explicit choice of the operator).
#[derive(Debug, Clone)]
pub struct AuthLayer {
    tokens: Option<LiveTokens>,
    clock: SharedClock,
}

impl AuthLayer {
    /// Checks every call against the table `tokens` holds at the time; `None` lets every call
    /// through.
    pub fn new(tokens: Option<LiveTokens>, clock: SharedClock) -> Self {
        Self { tokens, clock }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service the layer wraps around the routes.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let mut name = None;
        if let Some(tokens) = &self.layer.tokens {
            match authorize(&tokens.load(), &request, &self.layer.clock) {
                Ok(Some(caller)) => {
                    name = Some(caller.name.clone());
                    request.extensions_mut().insert(caller);
                }
                Ok(None) => {}
                Err(status) => return Box::pin(async move { Ok(status.into_http()) }),
            }
        }
        // The clone that was made ready is the one to call (tower's readiness contract).
        let clone = self.inner.clone();
        let mut ready = std::mem::replace(&mut self.inner, clone);
        let call = ready.call(request);
        match name {
            // The history of source items names the caller of every change it records.
            Some(name) => Box::pin(acting_as(name, call)),
            None => Box::pin(call),
        }
    }
}

fn authorize<B>(
    tokens: &TokenTable,
    request: &http::Request<B>,
    clock: &SharedClock,
) -> Result<Option<super::Caller>, Status> {
    let roles = match access(request.uri().path()) {
        Access::Open => return Ok(None),
        Access::Unknown => return Err(Status::unimplemented("no such method")),
        Access::Roles(roles) => roles,
    };
    let token = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    let caller = tokens.authenticate(token, clock.now()).map_err(|refusal| {
        Status::unauthenticated(match refusal {
            Refusal::Missing => "missing bearer token (authorization: Bearer <token>)",
            Refusal::Unknown => "unknown bearer token",
            Refusal::Expired => "expired bearer token",
        })
    })?;
    if !roles.iter().any(|role| caller.roles.contains(role)) {
        return Err(Status::permission_denied(format!(
            "{} may not call {}",
            caller.name,
            request.uri().path()
        )));
    }
    Ok(Some(caller.clone()))
}

/// The token of an `authorization` value. The scheme name is case-insensitive (RFC 7235, 2.1),
/// so `bearer` and `BEARER` are accepted as well as `Bearer`.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for value in ["Bearer t-1", "bearer t-1", "BEARER t-1", "bEaReR t-1"] {
            assert_eq!(bearer_token(value), Some("t-1"), "{value:?}");
        }
        for value in ["Basic dDox", "Bearert-1", "t-1", "", "Bearer"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }
}
