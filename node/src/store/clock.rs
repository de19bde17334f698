//! The last comparison of this computer's clock with the coordinator's (one row).

use super::{Result, Store, db, to_i64, to_u64};
use crate::clock_check::ClockCheck;

impl Store {
    /// Records that the coordinator's clock said `coordinator_time` when this computer's said
    /// `checked_at`.
    pub async fn record_clock_check(&self, check: &ClockCheck) -> Result<()> {
        sqlx::query(
            "INSERT INTO clock_checks (id, checked_at, coordinator_time) VALUES (1, ?1, ?2) \
             ON CONFLICT (id) DO UPDATE SET checked_at = ?1, coordinator_time = ?2",
        )
        .bind(to_i64(check.checked_at))
        .bind(to_i64(check.coordinator_time))
        .execute(&self.pool)
        .await
        .map_err(db("record_clock_check"))?;
        Ok(())
    }

    /// The last comparison, if the coordinator has ever answered with its clock.
    pub async fn clock_check(&self) -> Result<Option<ClockCheck>> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT checked_at, coordinator_time FROM clock_checks WHERE id = 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(db("clock_check"))?;
        Ok(row.map(|(checked_at, coordinator_time)| ClockCheck {
            checked_at: to_u64(checked_at),
            coordinator_time: to_u64(coordinator_time),
        }))
    }
}
