//! The coordinator library's error type.

use std::path::PathBuf;

use quietcount_protocol::SiteId;

use crate::config::ConfigError;
use crate::store::StoreError;

/// Why a coordinator command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoordinatorError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// `init` was pointed at a directory that is not empty.
    #[error("{path}: exists and is not empty; refusing to overwrite a coordinator")]
    NotEmpty {
        /// The directory.
        path: PathBuf,
    },
    /// The configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A key file could not be read or written.
    #[error(transparent)]
    Key(#[from] quietcount_keys::KeyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A form file is invalid.
    #[error("{path}: {source}")]
    Form {
        /// The form file.
        path: PathBuf,
        /// The error.
        source: quietcount_protocol::FormError,
    },
    /// No accepted form has this id.
    #[error("no accepted form has id {0:?}")]
    UnknownForm(String),
    /// The province accepts several forms and the command did not say which one it is about.
    #[error("this coordinator accepts {} forms ({}): name the one meant", accepted.len(), accepted.join(", "))]
    FormRequired {
        /// The ids of the accepted forms.
        accepted: Vec<String>,
    },
    /// The short fingerprint read out by the site differs from its key's.
    #[error("fingerprint mismatch: the key file has {actual}, but {expected} was expected")]
    FingerprintMismatch {
        /// The key's short fingerprint.
        actual: String,
        /// The one given.
        expected: String,
    },
    /// The key is enrolled for another site.
    #[error("this key is already enrolled for site {0}")]
    KeyOfAnotherSite(String),
    /// The key's window for this site closed (retired or revoked); it cannot be enrolled again.
    #[error(
        "this key was retired or revoked for site {0} and cannot come back; the site must make a new key"
    )]
    KeyRevoked(SiteId),
    /// The site has no key valid at the time given.
    #[error("site {0} has no key valid at that time")]
    NotEnrolled(SiteId),
    /// `revoke --reason replaced`: replacing is what `enroll` with the new key does.
    #[error(
        "a key is replaced by enrolling the new one (`enroll`), which retires the old key; revoke is for compromised or lost keys and closed sites"
    )]
    RevokeReplaced,
    /// `revoke --since` a time in the future.
    #[error(
        "--since {since} is in the future; a key can only be revoked from now or an earlier time"
    )]
    RevokeInFuture {
        /// The time given.
        since: String,
    },
    /// TLS configuration failed.
    #[error(transparent)]
    Tls(#[from] quietcount_service::tls::TlsError),
    /// The donor package could not be assembled.
    #[error(transparent)]
    Assemble(#[from] quietcount_keys::package::AssembleError),
    /// The donor package could not be written.
    #[error(transparent)]
    Package(#[from] quietcount_keys::package::PackageError),
    /// Export failed.
    #[error("export: {0}")]
    Export(String),
    /// `resolve` was asked for something it cannot record.
    #[error("cannot resolve: {0}")]
    Resolve(String),
    /// A request was refused as asked (a lock without who, a contact too long): what to fix.
    #[error("{0}")]
    Refused(String),
    /// Signing failed.
    #[error(transparent)]
    Encode(#[from] quietcount_protocol::EncodeError),
    /// A dashboard account could not be added, changed or removed as asked.
    #[error("account: {0}")]
    Account(String),
    /// The dashboard could not start.
    #[error("dashboard: {0}")]
    Dashboard(String),
}

/// Wraps an I/O error with its path.
pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> CoordinatorError {
    let path = path.to_owned();
    move |source| CoordinatorError::Io { path, source }
}
