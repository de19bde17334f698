//! The one source of `now`, so that time-dependent behaviour is tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quietcount_protocol::UnixTime;

/// Tells the time in Unix seconds.
pub trait Clock: Send + Sync + std::fmt::Debug + 'static {
    /// Now, in Unix seconds (UTC).
    fn now(&self) -> UnixTime;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> UnixTime {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
}

/// A clock that shows a set time until moved (tests).
#[derive(Debug, Clone, Default)]
pub struct FixedClock(Arc<AtomicU64>);

impl FixedClock {
    /// A clock showing `now`.
    pub fn new(now: UnixTime) -> Self {
        Self(Arc::new(AtomicU64::new(now)))
    }

    /// Sets the time.
    pub fn set(&self, now: UnixTime) {
        self.0.store(now, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> UnixTime {
        self.0.load(Ordering::SeqCst)
    }
}
