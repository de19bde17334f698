//! Client records and service events: the import's and the simulator's writes (in one named
//! transaction each, [`RecordsTransaction`]) and the lookups tests and tools need.

use std::collections::{HashMap, HashSet};

use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::{Result, Store, StoreError, db};
use crate::dates::Date;
use crate::import::{ClientRecord, EventRecord};
use crate::vocab::{self, Vocabulary};

/// Rows per multi-row INSERT (SQLite allows 32,766 bound parameters).
const BATCH_ROWS: usize = 500;

/// The columns an upsert may change (all but the key).
const UPDATABLE_CLIENT_COLUMNS: [&str; 10] = [
    "full_name",
    "date_of_birth",
    "sex",
    "phone",
    "national_id",
    "address",
    "primary_substance",
    "referral_source",
    "enrolled_on",
    "modality",
];

const CLIENT_COLUMNS: &str = "client_code, full_name, date_of_birth, sex, phone, national_id, address, primary_substance, referral_source, enrolled_on, modality";

/// What an upsert of client records did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientWrites {
    /// Clients new to the database.
    pub inserted: u64,
    /// Existing clients whose record changed.
    pub updated: u64,
    /// Rows identical to what was stored.
    pub unchanged: u64,
}

/// A stored service event with its row id (ids never change once stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Row id.
    pub id: i64,
    /// The event.
    pub event: EventRecord,
}

/// A write transaction over client records and events: everything written through it is
/// committed at once by [`RecordsTransaction::commit`], or not at all if it is dropped.
#[derive(Debug)]
pub struct RecordsTransaction {
    name: &'static str,
    tx: Transaction<'static, Sqlite>,
}

impl Store {
    /// Starts a write transaction over records, named `name` (e.g. `import_clients`).
    pub async fn begin_records(&self, name: &'static str) -> Result<RecordsTransaction> {
        Ok(RecordsTransaction {
            name,
            tx: self.begin_write(name).await?,
        })
    }

    /// The client with this code, if stored.
    pub async fn client(&self, client_code: &str) -> Result<Option<ClientRecord>> {
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients WHERE client_code = ?1"
        ))
        .bind(client_code)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("client_by_code"))?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Every client, by client code.
    pub async fn clients(&self) -> Result<Vec<ClientRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM clients ORDER BY client_code"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db("list_clients"))?;
        rows.iter().map(client_from_row).collect()
    }

    /// Every service event, in the order they were stored.
    pub async fn events(&self) -> Result<Vec<StoredEvent>> {
        let rows = sqlx::query(
            "SELECT id, client_code, date, service, outcome, ordinal FROM events ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db("list_events"))?;
        rows.iter()
            .map(|row| {
                let get = |e| db("list_events")(e);
                let date: String = row.try_get(2).map_err(get)?;
                let service: String = row.try_get(3).map_err(get)?;
                let outcome: String = row.try_get(4).map_err(get)?;
                let service = vocab_code(&vocab::SERVICE, &service, "service")?;
                let outcome = if outcome.is_empty() {
                    ""
                } else {
                    vocab::outcome_vocabulary(service)
                        .and_then(|v| v.code(&outcome))
                        .ok_or(StoreError::CorruptRecord { column: "outcome" })?
                };
                Ok(StoredEvent {
                    id: row.try_get(0).map_err(get)?,
                    event: EventRecord {
                        client_code: row.try_get(1).map_err(get)?,
                        date: vocab::parse_date(&date)
                            .ok_or(StoreError::CorruptRecord { column: "date" })?,
                        service,
                        outcome,
                        ordinal: u32::try_from(row.try_get::<i64, _>(5).map_err(get)?)
                            .map_err(|_| StoreError::CorruptRecord { column: "ordinal" })?,
                    },
                })
            })
            .collect()
    }

    /// How many clients are stored.
    pub async fn count_clients(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM clients")
            .fetch_one(&self.pool)
            .await
            .map_err(db("count_clients"))?;
        Ok(super::to_u64(n))
    }

    /// How many service events are stored.
    pub async fn count_events(&self) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&self.pool)
            .await
            .map_err(db("count_events"))?;
        Ok(super::to_u64(n))
    }

    /// How many service events are dated from `first` to `last`, both included.
    pub async fn count_events_between(&self, first: Date, last: Date) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM events WHERE date BETWEEN ?1 AND ?2")
            .bind(first.to_string())
            .bind(last.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(db("count_events_between"))?;
        Ok(super::to_u64(n))
    }

    /// Reads every column of every event once and returns the number of rows: the baseline
    /// the report benchmark compares itself with.
    #[cfg(feature = "test-util")]
    pub async fn scan_all_events(&self) -> Result<u64> {
        let (rows, _bytes): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), SUM(length(service)) + SUM(length(client_code)) + SUM(length(date)) + SUM(length(outcome)) FROM events",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(db("scan_all_events"))?;
        Ok(super::to_u64(rows))
    }
}

impl RecordsTransaction {
    /// The codes of every stored client, as this transaction sees them.
    pub async fn client_codes(&mut self) -> Result<HashSet<String>> {
        let codes = sqlx::query_scalar::<_, String>("SELECT client_code FROM clients")
            .fetch_all(&mut *self.tx)
            .await
            .map_err(db(self.name))?;
        Ok(codes.into_iter().collect())
    }

    /// Every stored client's code with its enrolment date (what an events import checks
    /// its rows against).
    pub async fn client_enrolments(&mut self) -> Result<HashMap<String, Date>> {
        let rows =
            sqlx::query_as::<_, (String, String)>("SELECT client_code, enrolled_on FROM clients")
                .fetch_all(&mut *self.tx)
                .await
                .map_err(db(self.name))?;
        rows.into_iter()
            .map(|(code, enrolled_on)| {
                let date = vocab::parse_date(&enrolled_on).ok_or(StoreError::CorruptRecord {
                    column: "enrolled_on",
                })?;
                Ok((code, date))
            })
            .collect()
    }

    /// Upserts client records by `client_code`; `progress` is told how many rows are done
    /// after each batch. The columns named in `kept` (a file without them) keep their stored
    /// values for clients already stored: a file of codes only never blanks the names.
    pub async fn upsert_clients(
        &mut self,
        clients: &[ClientRecord],
        kept: &[&str],
        progress: &mut dyn FnMut(u64),
    ) -> Result<ClientWrites> {
        let updated: Vec<&str> = UPDATABLE_CLIENT_COLUMNS
            .iter()
            .copied()
            .filter(|c| !kept.contains(c))
            .collect();
        let set = updated
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let differs = updated
            .iter()
            .map(|c| format!("clients.{c} IS NOT excluded.{c}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        let on_conflict = format!(" ON CONFLICT (client_code) DO UPDATE SET {set} WHERE {differs}");
        let mut new = 0u64;
        for chunk in clients.chunks(BATCH_ROWS) {
            let mut builder =
                QueryBuilder::new("SELECT COUNT(*) FROM clients WHERE client_code IN (");
            let mut separated = builder.separated(", ");
            for c in chunk {
                separated.push_bind(&c.client_code);
            }
            builder.push(")");
            let present: i64 = builder
                .build_query_scalar()
                .fetch_one(&mut *self.tx)
                .await
                .map_err(db(self.name))?;
            new += chunk.len() as u64 - u64::try_from(present).unwrap_or(0);
        }
        let mut changed = 0u64;
        let mut done = 0u64;
        for chunk in clients.chunks(BATCH_ROWS) {
            let mut builder = QueryBuilder::new(format!("INSERT INTO clients ({CLIENT_COLUMNS}) "));
            builder.push_values(chunk, |mut row, c| {
                row.push_bind(&c.client_code)
                    .push_bind(&c.full_name)
                    .push_bind(c.date_of_birth.map(|d| d.to_string()))
                    .push_bind(c.sex)
                    .push_bind(&c.phone)
                    .push_bind(&c.national_id)
                    .push_bind(&c.address)
                    .push_bind(c.primary_substance)
                    .push_bind(c.referral_source)
                    .push_bind(c.enrolled_on.to_string())
                    .push_bind(c.modality);
            });
            builder.push(&on_conflict);
            changed += self.execute_batch(&mut builder).await?;
            done += chunk.len() as u64;
            progress(done);
        }
        Ok(ClientWrites {
            inserted: new,
            updated: changed.saturating_sub(new),
            unchanged: clients.len() as u64 - changed,
        })
    }

    /// Runs one multi-row statement in this transaction; how many rows it changed.
    async fn execute_batch(&mut self, builder: &mut QueryBuilder<'_, Sqlite>) -> Result<u64> {
        Ok(builder
            .build()
            .execute(&mut *self.tx)
            .await
            .map_err(db(self.name))?
            .rows_affected())
    }

    /// Inserts the events not already stored; returns how many were new. `progress` is told
    /// how many rows are done after each batch.
    pub async fn insert_events(
        &mut self,
        events: &[EventRecord],
        progress: &mut dyn FnMut(u64),
    ) -> Result<u64> {
        let mut inserted = 0;
        let mut done = 0u64;
        for chunk in events.chunks(BATCH_ROWS) {
            let mut builder = QueryBuilder::new(
                "INSERT OR IGNORE INTO events (client_code, date, service, outcome, ordinal) ",
            );
            builder.push_values(chunk, |mut row, e| {
                row.push_bind(&e.client_code)
                    .push_bind(e.date.to_string())
                    .push_bind(e.service)
                    .push_bind(e.outcome)
                    .push_bind(i64::from(e.ordinal));
            });
            inserted += self.execute_batch(&mut builder).await?;
            done += chunk.len() as u64;
            progress(done);
        }
        Ok(inserted)
    }

    /// Commits everything written.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await.map_err(db(self.name))
    }

    /// Discards everything written.
    pub async fn rollback(self) -> Result<()> {
        self.tx.rollback().await.map_err(db(self.name))
    }
}

fn vocab_code(
    vocabulary: &'static Vocabulary,
    stored: &str,
    column: &'static str,
) -> Result<&'static str> {
    vocabulary
        .code(stored)
        .ok_or(StoreError::CorruptRecord { column })
}

fn client_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<ClientRecord> {
    let get = |e| db("read_client")(e);
    let text = |i: usize| -> Result<String> { row.try_get(i).map_err(get) };
    let optional = |i: usize| -> Result<Option<String>> { row.try_get(i).map_err(get) };
    let date =
        |value: &str, column| vocab::parse_date(value).ok_or(StoreError::CorruptRecord { column });
    Ok(ClientRecord {
        client_code: text(0)?,
        full_name: text(1)?,
        date_of_birth: optional(2)?
            .map(|d| date(&d, "date_of_birth"))
            .transpose()?,
        sex: vocab_code(&vocab::SEX, &text(3)?, "sex")?,
        phone: text(4)?,
        national_id: text(5)?,
        address: text(6)?,
        primary_substance: optional(7)?
            .map(|s| vocab_code(&vocab::SUBSTANCE, &s, "primary_substance"))
            .transpose()?,
        referral_source: vocab_code(&vocab::REFERRAL_SOURCE, &text(8)?, "referral_source")?,
        enrolled_on: date(&text(9)?, "enrolled_on")?,
        modality: vocab_code(&vocab::MODALITY, &text(10)?, "modality")?,
    })
}
