//! Corrections and erasure of records: deleting a client with all their events, or one
//! service event, each in one transaction that also notes which days changed (never who), so
//! that the next report of those periods is a new revision.

use std::collections::BTreeSet;

use quietcount_protocol::UnixTime;
use sqlx::{Sqlite, Transaction};

use super::{Result, Store, db, to_i64, to_u64};
use crate::dates::Date;

/// What erasing a client removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// Service events deleted with the client.
    pub events: u64,
    /// The days whose records changed (enrolment and event dates), oldest first.
    pub days: Vec<String>,
}

/// What `delete-event` found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventDeletion {
    /// No event of that client, date and service (and outcome, if given).
    NoMatch,
    /// Several events match and deleting all of them was not asked: nothing deleted.
    Ambiguous {
        /// How many match.
        matching: u64,
        /// Their distinct outcomes ('' for none), to choose one by.
        outcomes: Vec<String>,
    },
    /// Deleted this many events.
    Deleted(u64),
}

/// The simulator's client codes (`SIM-000001`): any other code was imported.
pub const SIMULATED_CODE_PATTERN: &str = "SIM-%";

impl Store {
    /// Deletes the client `code` and every event of theirs, in one transaction, noting the
    /// days whose records changed at `now`. `None` if there is no such client.
    pub async fn erase_client(&self, code: &str, now: UnixTime) -> Result<Option<Erasure>> {
        const TX: &str = "erase_client_and_events";
        let mut tx = self.begin_write(TX).await?;
        let enrolled: Option<String> =
            sqlx::query_scalar("SELECT enrolled_on FROM clients WHERE client_code = ?1")
                .bind(code)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db(TX))?;
        let Some(enrolled) = enrolled else {
            return Ok(None);
        };
        let event_days: Vec<String> =
            sqlx::query_scalar("SELECT DISTINCT date FROM events WHERE client_code = ?1")
                .bind(code)
                .fetch_all(&mut *tx)
                .await
                .map_err(db(TX))?;
        let deleted = sqlx::query("DELETE FROM events WHERE client_code = ?1")
            .bind(code)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?
            .rows_affected();
        // The sealed identity goes with the client (secure_delete overwrites the freed pages).
        sqlx::query("DELETE FROM sealed_identity WHERE client_code = ?1")
            .bind(code)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
        sqlx::query("DELETE FROM clients WHERE client_code = ?1")
            .bind(code)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?;
        let days: BTreeSet<String> = event_days.into_iter().chain([enrolled]).collect();
        note_changed_days(&mut tx, TX, &days, now).await?;
        tx.commit().await.map_err(db(TX))?;
        Ok(Some(Erasure {
            events: deleted,
            days: days.into_iter().collect(),
        }))
    }

    /// Deletes the event(s) of client `code` on `date` for `service` (and `outcome`, if
    /// given), in one transaction, noting the day as changed at `now`. Several matching events
    /// are deleted only if `all`.
    pub async fn delete_events(
        &self,
        code: &str,
        date: Date,
        service: &str,
        outcome: Option<&str>,
        all: bool,
        now: UnixTime,
    ) -> Result<EventDeletion> {
        const TX: &str = "delete_service_events";
        const MATCH: &str = "client_code = ?1 AND date = ?2 AND service = ?3 \
             AND (?4 IS NULL OR outcome = ?4)";
        let day = date.to_string();
        let mut tx = self.begin_write(TX).await?;
        let outcomes: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT outcome FROM events WHERE {MATCH} ORDER BY outcome, ordinal"
        ))
        .bind(code)
        .bind(&day)
        .bind(service)
        .bind(outcome)
        .fetch_all(&mut *tx)
        .await
        .map_err(db(TX))?;
        let matching = outcomes.len() as u64;
        if matching == 0 {
            return Ok(EventDeletion::NoMatch);
        }
        if matching > 1 && !all {
            let distinct: BTreeSet<String> = outcomes.into_iter().collect();
            return Ok(EventDeletion::Ambiguous {
                matching,
                outcomes: distinct.into_iter().collect(),
            });
        }
        let deleted = sqlx::query(&format!("DELETE FROM events WHERE {MATCH}"))
            .bind(code)
            .bind(&day)
            .bind(service)
            .bind(outcome)
            .execute(&mut *tx)
            .await
            .map_err(db(TX))?
            .rows_affected();
        note_changed_days(&mut tx, TX, &BTreeSet::from([day]), now).await?;
        tx.commit().await.map_err(db(TX))?;
        Ok(EventDeletion::Deleted(deleted))
    }

    /// Whether records of a day from `first` to `last` were corrected or erased after `since`.
    pub async fn records_changed_since(
        &self,
        first: Date,
        last: Date,
        since: UnixTime,
    ) -> Result<bool> {
        let changed: i64 = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM record_changes WHERE day BETWEEN ?1 AND ?2 \
             AND changed_at >= ?3)",
        )
        .bind(first.to_string())
        .bind(last.to_string())
        .bind(to_i64(since))
        .fetch_one(&self.pool)
        .await
        .map_err(db("records_changed_since"))?;
        Ok(changed != 0)
    }

    /// How many clients were imported rather than simulated (their code is not the
    /// simulator's `SIM-…`).
    pub async fn count_imported_clients(&self) -> Result<u64> {
        let n: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM clients WHERE client_code NOT LIKE ?1")
                .bind(SIMULATED_CODE_PATTERN)
                .fetch_one(&self.pool)
                .await
                .map_err(db("count_imported_clients"))?;
        Ok(to_u64(n))
    }
}

async fn note_changed_days(
    tx: &mut Transaction<'static, Sqlite>,
    name: &'static str,
    days: &BTreeSet<String>,
    now: UnixTime,
) -> Result<()> {
    for day in days {
        sqlx::query("INSERT INTO record_changes (day, changed_at) VALUES (?1, ?2)")
            .bind(day)
            .bind(to_i64(now))
            .execute(&mut **tx)
            .await
            .map_err(db(name))?;
    }
    Ok(())
}
