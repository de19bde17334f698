//! What the two Quietcount services (the site node and the provincial coordinator) share, and
//! nothing the donor's offline verifier needs: that stays in `quietcount-keys`, which links no
//! network, TLS or async runtime.
//!
//! - [`tls`]: pinned mutual TLS 1.3 for QUIC, with no web PKI and no 0-RTT.
//! - [`transport`]: the one QUIC site transport: connect to a coordinator with pinned mTLS,
//!   send one request frame per bidirectional stream, read the response.
//! - [`clock`]: the one `Clock` both services read time from.
//! - [`logging`]: the one tracing-subscriber setup both binaries use.
//! - [`shutdown`]: the one SIGINT/SIGTERM shutdown future.
//! - [`files`]: atomic file writes with a mode (the implementation lives in `quietcount-keys`,
//!   which must write key files atomically without depending on this crate).
//! - [`sqlite`]: the durability settings both services' SQLite stores open with.
//! - [`config`]: helpers for the services' documented TOML configuration files.
//! - [`web`]: the web apps' shared plumbing: sessions, login throttle, security headers,
//!   catalogues, times in a time zone, the base style sheet.
#![warn(missing_docs)]

pub mod clock;
pub mod config;
pub mod files;
pub mod logging;
pub mod shutdown;
pub mod sqlite;
pub mod tls;
pub mod transport;
pub mod web;

pub use clock::{Clock, FixedClock, SystemClock};
pub use config::toml_string;
pub use transport::{SiteConnection, TransportError};
