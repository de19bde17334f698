//! Clock sanity: every coordinator response carries the coordinator's clock. A site computer
//! whose clock is more than [`TOLERANCE_SECS`] off says so in plain words (in `status` and the
//! log), and does not build a report for a period that is not over by the coordinator's clock.

use quietcount_protocol::UnixTime;

/// How far this computer's clock may be from the coordinator's before it is called wrong.
pub const TOLERANCE_SECS: u64 = 5 * 60;

/// The last comparison of this computer's clock with the coordinator's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockCheck {
    /// This computer's clock when the coordinator answered.
    pub checked_at: UnixTime,
    /// The coordinator's clock in its answer.
    pub coordinator_time: UnixTime,
}

impl ClockCheck {
    /// The coordinator's clock minus this computer's, in seconds (positive: this computer is
    /// behind).
    pub fn behind_secs(&self) -> i64 {
        let signed = |t: UnixTime| i64::try_from(t).unwrap_or(i64::MAX);
        signed(self.coordinator_time).saturating_sub(signed(self.checked_at))
    }

    /// Whether this computer's clock was off by more than the tolerance.
    pub fn is_off(&self) -> bool {
        self.behind_secs().unsigned_abs() > TOLERANCE_SECS
    }

    /// The coordinator's time at this computer's `now`, assuming the offset has not changed.
    pub fn coordinator_now(&self, now: UnixTime) -> UnixTime {
        let behind = self.behind_secs();
        if behind >= 0 {
            now.saturating_add(behind.unsigned_abs())
        } else {
            now.saturating_sub(behind.unsigned_abs())
        }
    }

    /// A plain sentence for staff, when the clock is off: how far, which way, what to do.
    pub fn warning(&self) -> Option<String> {
        if !self.is_off() {
            return None;
        }
        let behind = self.behind_secs();
        let way = if behind > 0 { "behind" } else { "ahead of" };
        Some(format!(
            "This computer's clock is {} {way} the coordinator's. Set this computer's date and \
             time correctly (and its time zone), then build reports again: reports are dated \
             and checked by the clock.",
            describe(behind.unsigned_abs())
        ))
    }
}

/// A duration in the largest whole units that say it (days, hours or minutes).
pub fn describe(secs: u64) -> String {
    let (n, unit) = if secs >= 2 * 86_400 {
        (secs / 86_400, "days")
    } else if secs >= 2 * 3_600 {
        (secs / 3_600, "hours")
    } else {
        (secs / 60, "minutes")
    };
    format!("about {n} {unit}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minutes_are_tolerated_and_more_is_said_plainly() {
        let check = |node: u64, coordinator: u64| ClockCheck {
            checked_at: node,
            coordinator_time: coordinator,
        };
        let t = 1_794_000_000;
        assert!(check(t, t + 200).warning().is_none());
        assert!(check(t + 200, t).warning().is_none());
        let behind = check(t - 3 * 365 * 86_400, t).warning().unwrap();
        assert!(behind.contains("about 1095 days behind"), "{behind}");
        let ahead = check(t + 3 * 3600, t).warning().unwrap();
        assert!(ahead.contains("about 3 hours ahead of"), "{ahead}");
        assert_eq!(check(t - 100, t).coordinator_now(t), t + 100);
        assert_eq!(check(t + 100, t).coordinator_now(t), t - 100);
    }
}
