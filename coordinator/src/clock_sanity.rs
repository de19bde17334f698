//! The coordinator's own clock check: a clock earlier than the newest stored receipt is wrong
//! (set back, or a dead battery), and everything judged by it (on time, the period window,
//! receipts' times) would be too. The service warns loudly at start; it does not refuse to
//! start, since the newest receipt may itself have been given by a clock that was ahead.

use quietcount_protocol::UnixTime;
use quietcount_protocol::ids::format_utc;

use crate::admin::Coordinator;
use crate::error::CoordinatorError;

impl Coordinator {
    /// A plain warning if `now` (this computer's clock) is before the newest stored report's
    /// receipt time.
    pub async fn clock_warning(&self, now: UnixTime) -> Result<Option<String>, CoordinatorError> {
        let Some(newest) = self.store.newest_received_at().await? else {
            return Ok(None);
        };
        if now >= newest {
            return Ok(None);
        }
        Ok(Some(format!(
            "THIS COMPUTER'S CLOCK IS WRONG: it says {}, but a report was already received at {}. \
             Reports would be judged late or early, and receipts dated, by a wrong clock: set this \
             computer's date and time correctly and restart the coordinator",
            format_utc(now),
            format_utc(newest)
        )))
    }
}
