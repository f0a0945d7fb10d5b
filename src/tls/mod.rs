//! gRPC over TLS through rustls directly rather than tonic's TLS, whose certificate is fixed at
//! start: here the certificate and key sit in a slot that a reload swaps, and each new connection
//! takes whatever the slot holds at its handshake.

mod certs;
mod incoming;

pub use certs::{CertSlot, certified_key, leaf_fingerprint, load_files, server_config};
pub use incoming::TlsIncoming;
