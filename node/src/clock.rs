//! Time, passed in: re-exports the shared [`Clock`] of `quietcount-keys`.

pub use quietcount_keys::clock::{Clock, FixedClock, SystemClock};
