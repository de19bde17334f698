//! Quietcount identities and trust: who is who, and the donor's offline verifier.
//!
//! - [`identity`]: Ed25519 identity keys in PEM files, fingerprints in full and short form.
//! - [`tls`]: pinned mutual TLS 1.3 for QUIC, with no web PKI and no 0-RTT.
//! - [`package`]: the donor package layout, shared by its writer and its reader.
//! - [`verify`]: the donor's verifier of a package.
#![warn(missing_docs)]

pub mod identity;
pub mod package;
pub mod tls;
pub mod verify;

pub use identity::{
    Identity, KeyError, full_fingerprint, load_public_key, normalize_short_fingerprint,
    public_key_pem, save_public_key, short_fingerprint,
};
