//! Quietcount identities and trust: who is who, and the donor's offline verifier.
//!
//! It links no network, TLS or async runtime: the donor's verifier runs offline. What the two
//! services share besides identities (pinned TLS, the QUIC transport, the clock) lives in
//! `quietcount-service`.
//!
//! - [`identity`]: Ed25519 identity keys in PEM files, fingerprints in full and short form,
//!   atomic file writes.
//! - [`package`]: the donor package layout, shared by its writer and its reader.
//! - [`verify`]: the donor's verifier of a package.
//! - [`inspect`]: one signed object, verified and shown readably.
//! - `testing` (feature `test-util`): a two-site test package and ways to forge variants of it.
#![warn(missing_docs)]

pub mod identity;
pub mod inspect;
pub mod message;
pub mod package;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod verify;

pub use verify::{Check, VerifyReport, verify_package};

pub use identity::{
    Identity, KeyError, full_fingerprint, load_public_key, load_trusted_public_key,
    normalize_short_fingerprint, public_key_pem, save_public_key, short_fingerprint,
};
