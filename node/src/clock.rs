//! Time, passed in: re-exports the shared [`Clock`] of `quietcount-service`.

pub use quietcount_service::clock::{Clock, FixedClock, SystemClock};
