//! The Quietcount provincial coordinator: the service sites deliver signed reports to, and the
//! source of the donor package.
//!
//! It owns the coordinator's store and its QUIC endpoint; the report format, signatures,
//! disclosure and aggregation rules all come from `quietcount-protocol`, and the donor package
//! is put together by `quietcount_keys::package::assemble`.
//!
//! - [`config`]: `config.toml`, documented and strictly parsed.
//! - [`store`]: every SQL statement, behind a narrow API (SQLite by default).
//! - [`ingest`]: the decision on one delivered report, testable without a network.
//! - [`directory`]: the in-memory snapshot of enrolled keys the TLS handshake consults.
//! - [`server`]: the QUIC server (`run`).
//! - [`admission`]: the caps on handshakes in progress and on connections per site and overall.
//! - [`admin`]: `init`, `enroll`, `revoke`, `sites`, `status`, `publish`, `export`.
//! - [`exports`]: spreadsheet CSV and `.xlsx`, DHIS2 `dataValueSets` JSON and ADX XML, and
//!   the mapping file the last two follow.
//! - [`backup`]: `backup`, a consistent snapshot of the database while it runs.
//! - [`clock_sanity`]: a warning when this computer's clock is before the newest receipt.
//! - [`conflicts`]: `conflicts` and `resolve`, the province's handling of equivocation.
//! - [`locks`]: `lock` and `unlock` of a period before publishing it, and site contacts.
//! - [`accounts`]: dashboard accounts (viewer, manager; Argon2id) and the audit trail.
//! - [`web`]: the dashboard `run` serves over HTTP(S): completeness grid, sites, conflicts,
//!   periods, totals with SVG charts, exports, audit.
//! - `Clock`: re-exported from `quietcount-service`, the one source of `now`.
//!
//! The binary (`main.rs`, with its terminal rendering in `cli.rs`) only parses arguments, calls
//! these and prints what they return.
#![warn(missing_docs)]

pub mod accounts;
pub mod admin;
pub mod admission;
pub mod backup;
pub mod clock_sanity;

pub mod config;
pub mod conflicts;
pub mod directory;
pub mod error;
pub mod exports;
pub mod ingest;
pub mod locks;
pub mod server;
pub mod store;
#[cfg(feature = "test-util")]
pub mod testing;
pub mod web;

pub use admin::Coordinator;
pub use config::Config;
pub use error::CoordinatorError;
pub use ingest::{Ingest, IngestPolicy};
pub use quietcount_service::clock::{Clock, FixedClock, SystemClock};
pub use server::{Server, run};
pub use store::Store;
