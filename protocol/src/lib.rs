//! The Quietcount protocol core: the one place where the report format, its signing, the
//! disclosure rule and the aggregation rule live.
//!
//! This crate does no I/O, reads no clock and starts no runtime (sans-IO, like `quinn-proto`):
//! callers pass in bytes, keys and `now`. The site node, the coordinator and the donor's
//! verifier all call this same code.
//!
//! - [`ids`]: validated identifiers ([`SiteId`], [`Period`], fingerprints and hashes).
//! - [`form`]: reporting forms as data, and their canonical reference.
//! - [`table`]: the layout of a table with its margins.
//! - [`report`]: the [`SiteReport`] a site publishes.
//! - [`revision`]: revision chains ([`next_revision`]).
//! - [`cbor`]: deterministic CBOR, checked on the way in.
//! - [`envelope`]: COSE_Sign1 signing and verification.
//! - [`ingest`]: the rule deciding whether a coordinator accepts a report.
//! - [`completeness`]: who was expected, who reported, who was on time.
//! - [`signed`]: receipts, the site registry and the provincial report.
//! - [`disclosure`]: [`suppress`] and [`audit`], and for whole reports with the relations
//!   between indicators, [`suppress_report`] and [`audit_report`].
//! - [`aggregate`](mod@aggregate): provincial totals.
//! - [`export`]: long-format rows for spreadsheets.
//! - [`wire`]: requests and responses between node and coordinator.
//! - `testing` (feature `test-util`): the one synthetic report builder for tests and benches.
#![warn(missing_docs)]

pub mod aggregate;
pub mod cbor;
pub mod completeness;
pub mod disclosure;
pub mod envelope;
pub mod error;
pub mod export;
pub mod form;
pub mod ids;
pub mod ingest;
pub mod report;
pub mod revision;
pub mod signed;
pub mod table;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod wire;

pub use aggregate::{ProvincialTotals, TotalCell, aggregate};
pub use disclosure::{
    IndicatorAudit, Interval, ReportAudit, SuppressionSecret, audit, audit_report, check_report,
    suppress, suppress_report,
};
pub use envelope::{ContentType, Opened, Payload, open, open_with, sign};
pub use error::{
    AggregateError, DecodeError, DisclosureError, EncodeError, EnvelopeError, FormError, IdError,
    MismatchError,
};
pub use form::{Form, FormKey, FormRef};
pub use ids::{
    EnvelopeHash, Fingerprint, Period, PeriodType, Sha256Hash, SiteId, UnixTime, fingerprint_of,
};
pub use report::{
    Cell, DisclosurePolicy, FORMAT_VERSION, IndicatorTables, SiteReport, Table, ZeroPolicy,
};
pub use revision::{ChainHead, NextRevision, content_hash, next_revision};
pub use signed::{
    Completeness, KeyEnd, KeyEndReason, ProvincialReport, Receipt, RegistryEntry, ReportInput,
    SiteRegistry,
};
pub use table::{CountTable, Shape};
