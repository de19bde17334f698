//! The node's error type.
//!
//! Messages name files, lines, columns, periods and indicators, never a value read from a
//! client record: an error message may end up in a log, a terminal scroll-back or a support
//! chat, and the people behind these records must not.

use std::path::PathBuf;

use quietcount_protocol::{DisclosureError, EncodeError, Period, PeriodType};

use crate::import::ImportError;

/// Everything that can go wrong in the node library.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// `init` was pointed at a directory that already holds something.
    #[error("{dir}: exists and is not empty; refusing to initialise over it")]
    DirectoryNotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// The configuration file is invalid.
    #[error("{path}: invalid configuration: {problem}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong (names fields, never record values).
        problem: String,
    },
    /// A key file could not be used.
    #[error(transparent)]
    Key(#[from] quietcount_keys::KeyError),
    /// The store (database) failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A form listed in the configuration could not be loaded.
    #[error("{path}: form {entry:?}: {problem}")]
    Form {
        /// The configuration file.
        path: PathBuf,
        /// The entry of `forms` (a form id or a file name).
        entry: String,
        /// What is wrong.
        problem: String,
    },
    /// The form asked for is not one this site reports.
    #[error("form {form} is not one of the forms this site reports (see `forms` in config.toml)")]
    UnknownForm {
        /// The form id asked for.
        form: String,
    },
    /// An import was refused.
    #[error(transparent)]
    Import(#[from] ImportError),
    /// The period asked for has not ended yet.
    #[error("period {period} is not over yet")]
    PeriodNotOver {
        /// The period.
        period: Period,
    },
    /// This computer's clock and the coordinator's disagree about whether the period is over:
    /// the computer's clock is wrong, and no report is built until it is set right.
    #[error("{}", clock_wrong_message(*period, *over_here, warning))]
    ClockWrong {
        /// The period.
        period: Period,
        /// Whether this computer's clock says the period is over (it is ahead).
        over_here: bool,
        /// The plain sentence on the clock.
        warning: String,
    },
    /// The period is of the wrong kind for the form (or for every form the site reports).
    #[error("period {period} is not a {expected:?} period, which the form reports")]
    WrongPeriodType {
        /// The period.
        period: Period,
        /// What the form reports.
        expected: PeriodType,
    },
    /// A record holds a value the form has no category for.
    #[error(
        "indicator {indicator}, dimension {dimension}: a record holds a value outside the form's categories"
    )]
    Uncategorised {
        /// The indicator.
        indicator: String,
        /// The dimension.
        dimension: String,
    },
    /// Disclosure control refused an indicator's tables.
    #[error("indicator {indicator}: disclosure control failed: {source}")]
    Disclosure {
        /// The indicator.
        indicator: String,
        /// Why.
        source: DisclosureError,
    },
    /// A correction that cannot be published yet: jointly with what earlier revisions of the
    /// period published, every way of publishing it would single people out.
    #[error(
        "the correction of {period} ({form}) is held: {changed} client record(s) changed since \
         the report already sent, and together with it any publication of the correction would \
         single out the people concerned. The report already sent stays in force; build again \
         once more corrections for {period} are recorded (more changes hide each other)"
    )]
    CorrectionHeld {
        /// The form.
        form: quietcount_protocol::FormKey,
        /// The period.
        period: quietcount_protocol::Period,
        /// Client records changed since the last revision sent.
        changed: u64,
    },
    /// An earlier revision kept in the outbox cannot be read back (its envelope or its true
    /// tables): the next revision cannot be audited against it.
    #[error("revision {revision} of {period} in the outbox cannot be read back: {problem}")]
    EarlierRevision {
        /// The period.
        period: quietcount_protocol::Period,
        /// The revision.
        revision: u32,
        /// What is wrong.
        problem: String,
    },
    /// A report or request could not be encoded.
    #[error("encoding: {0}")]
    Encode(#[from] EncodeError),
    /// Delivery failed as a whole (entries stay pending).
    #[error(transparent)]
    Delivery(#[from] crate::deliver::DeliveryError),
    /// Fetching this site's stored reports back from the coordinator failed.
    #[error("fetching this site's reports from the coordinator failed: {0}")]
    Fetch(String),
    /// Synthetic data could not be generated.
    #[error("simulate: {0}")]
    Simulate(String),
    /// `erase` or `delete-event` could not do what was asked (names no record value).
    #[error("{0}")]
    Correction(String),
    /// Sealing, opening or the records keyring failed.
    #[error(transparent)]
    Seal(#[from] crate::sealed::SealError),
    /// The records are not sealed yet (a data directory from before sealed records): writing
    /// client records and backups wait for `quietcount-node seal`.
    #[error(
        "client records are not sealed yet: run `quietcount-node seal` once (it asks for the first staff member's passphrase)"
    )]
    NotSealed,
    /// The web app's address could not be bound (another program uses the port, or the
    /// address is not this computer's).
    #[error(
        "cannot serve the web app on {address}: {source}; choose another web_port in config.toml"
    )]
    WebBind {
        /// The address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl NodeError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

fn clock_wrong_message(period: Period, over_here: bool, warning: &str) -> String {
    if over_here {
        format!(
            "period {period} is not over yet by the coordinator's clock, so no report is built \
             for it. {warning}"
        )
    } else {
        format!("period {period} is over, but not by this computer's clock. {warning}")
    }
}
