//! Client records and service events: the import's and the simulator's writes (in one named
//! transaction each, [`RecordsTransaction`]) and the lookups tests and tools need.

use std::collections::{HashMap, HashSet};

use sqlx::{QueryBuilder, Row, Sqlite, Transaction};

use super::{Result, Store, StoreError, db};
use crate::dates::Date;
use crate::import::{ClientRecord, EventRecord};
use crate::sealed::{
    IDENTITY_FIELDS, IdentityFields, RecordsKey, SealError, SealedIdentity, Sealer,
};
use crate::vocab::{self, Vocabulary};

/// Rows per multi-row INSERT (SQLite allows 32,766 bound parameters).
const BATCH_ROWS: usize = 500;

/// The clear columns an upsert may change (all but the key and the sealed columns).
const UPDATABLE_CLEAR_COLUMNS: [&str; 7] = [
    "sex",
    "birth_year",
    "birth_month",
    "primary_substance",
    "referral_source",
    "enrolled_on",
    "modality",
];

/// The columns of `sealed_identity` after the client code, in [`IDENTITY_FIELDS`] order.
const SEALED_COLUMNS: [&str; 5] = IDENTITY_FIELDS;

const CLIENT_COLUMNS: &str = "c.client_code, c.sex, c.birth_year, c.birth_month, c.primary_substance, c.referral_source, c.enrolled_on, c.modality, s.full_name, s.date_of_birth, s.phone, s.national_id, s.address";

const CLEAR_COLUMNS: &str = "client_code, sex, birth_year, birth_month, primary_substance, referral_source, enrolled_on, modality";

const CLIENTS_JOINED: &str = "clients c JOIN sealed_identity s USING (client_code)";

/// The columns a file without `column` leaves as stored: an identity column's sealed column
/// (and for the date of birth, its clear year and month).
fn kept_columns(column: &str) -> &'static [&'static str] {
    match column {
        "full_name" => &["full_name"],
        "date_of_birth" => &["date_of_birth", "birth_year", "birth_month"],
        "phone" => &["phone"],
        "national_id" => &["national_id"],
        "address" => &["address"],
        "sex" => &["sex"],
        "primary_substance" => &["primary_substance"],
        "referral_source" => &["referral_source"],
        "enrolled_on" => &["enrolled_on"],
        "modality" => &["modality"],
        _ => &[],
    }
}

/// A stored client: the clear fields reports count, and the identifying fields sealed.
/// Opening them needs the unlocked records key ([`StoredClient::open`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClient {
    /// Site-local code.
    pub client_code: String,
    /// Birth year, if the date of birth is known.
    pub birth_year: Option<i64>,
    /// Birth month (1..=12), if the date of birth is known.
    pub birth_month: Option<u32>,
    /// Vocabulary code.
    pub sex: &'static str,
    /// Vocabulary code; `None` when unknown.
    pub primary_substance: Option<&'static str>,
    /// Vocabulary code.
    pub referral_source: &'static str,
    /// Enrolment date.
    pub enrolled_on: Date,
    /// Vocabulary code.
    pub modality: &'static str,
    /// Full name, date of birth, phone, national ID and address, sealed.
    pub sealed: SealedIdentity,
}

impl StoredClient {
    /// The whole record, with the identifying fields opened by `key`.
    pub fn open(&self, key: &RecordsKey) -> std::result::Result<ClientRecord, SealError> {
        let fields = key.open(&self.client_code, &self.sealed)?;
        let date_of_birth = if fields.date_of_birth.is_empty() {
            None
        } else {
            Some(
                vocab::parse_date(&fields.date_of_birth).ok_or(SealError::Corrupt {
                    field: "date_of_birth",
                })?,
            )
        };
        Ok(ClientRecord {
            client_code: self.client_code.clone(),
            full_name: fields.full_name.clone(),
            date_of_birth,
            sex: self.sex,
            phone: fields.phone.clone(),
            national_id: fields.national_id.clone(),
            address: fields.address.clone(),
            primary_substance: self.primary_substance,
            referral_source: self.referral_source,
            enrolled_on: self.enrolled_on,
            modality: self.modality,
        })
    }
}

/// What an upsert of client records did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientWrites {
    /// Clients new to the database.
    pub inserted: u64,
    /// Existing clients with a clear field changed (identity fields are sealed afresh from
    /// every row and cannot be compared without the records key).
    pub updated: u64,
    /// Rows whose clear fields are identical to what was stored.
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

    /// The client with this code, if stored (identifying fields sealed).
    pub async fn client(&self, client_code: &str) -> Result<Option<StoredClient>> {
        let row = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM {CLIENTS_JOINED} WHERE c.client_code = ?1"
        ))
        .bind(client_code)
        .fetch_optional(&self.pool)
        .await
        .map_err(db("client_by_code"))?;
        row.as_ref().map(client_from_row).transpose()
    }

    /// Every client, by client code (identifying fields sealed).
    pub async fn clients(&self) -> Result<Vec<StoredClient>> {
        let rows = sqlx::query(&format!(
            "SELECT {CLIENT_COLUMNS} FROM {CLIENTS_JOINED} ORDER BY c.client_code"
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

    /// Upserts client records by `client_code`, sealing their identifying fields with
    /// `sealer`; `progress` is told how many rows are done after each batch. The columns named
    /// in `kept` (a file without them) keep their stored values for clients already stored: a
    /// file of codes only never blanks the names.
    ///
    /// A stored client counts as updated when one of its clear fields changed. Sealed fields
    /// cannot be compared without the records key, so they are sealed afresh from every row
    /// given (a changed name alone is stored, and counted as unchanged).
    pub async fn upsert_clients(
        &mut self,
        clients: &[ClientRecord],
        kept: &[&str],
        sealer: &Sealer,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<ClientWrites> {
        let kept: Vec<&str> = kept.iter().flat_map(|c| kept_columns(c)).copied().collect();
        let on_conflict = |columns: &[&str]| {
            let set = columns
                .iter()
                .filter(|c| !kept.contains(c))
                .map(|c| format!("{c} = excluded.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            if set.is_empty() {
                " ON CONFLICT (client_code) DO NOTHING".to_owned()
            } else {
                format!(" ON CONFLICT (client_code) DO UPDATE SET {set}")
            }
        };
        let clear_conflict = on_conflict(&UPDATABLE_CLEAR_COLUMNS);
        let sealed_conflict = on_conflict(&SEALED_COLUMNS);
        let compared: Vec<&str> = UPDATABLE_CLEAR_COLUMNS
            .iter()
            .copied()
            .filter(|c| !kept.contains(c))
            .collect();
        let mut new = 0u64;
        let mut changed = 0u64;
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
            if !compared.is_empty() {
                changed += self.count_clear_changes(chunk, &compared).await?;
            }
        }
        let mut done = 0u64;
        for chunk in clients.chunks(BATCH_ROWS) {
            let sealed: Vec<SealedIdentity> = chunk
                .iter()
                .map(|c| sealer.seal(&c.client_code, &identity_of(c)))
                .collect();
            let mut builder = QueryBuilder::new(format!("INSERT INTO clients ({CLEAR_COLUMNS}) "));
            builder.push_values(chunk, |mut row, c| {
                row.push_bind(&c.client_code);
                push_clear(&mut row, c);
            });
            builder.push(&clear_conflict);
            self.execute_batch(&mut builder).await?;
            let mut builder = QueryBuilder::new(format!(
                "INSERT INTO sealed_identity (client_code, {}) ",
                SEALED_COLUMNS.join(", ")
            ));
            builder.push_values(chunk.iter().zip(sealed), |mut row, (c, sealed)| {
                row.push_bind(&c.client_code);
                for value in sealed.0 {
                    row.push_bind(value);
                }
            });
            builder.push(&sealed_conflict);
            self.execute_batch(&mut builder).await?;
            done += chunk.len() as u64;
            progress(done);
        }
        Ok(ClientWrites {
            inserted: new,
            updated: changed,
            unchanged: (clients.len() as u64).saturating_sub(new + changed),
        })
    }

    /// How many of `chunk`'s clients are stored with another value in one of `compared`.
    async fn count_clear_changes(
        &mut self,
        chunk: &[ClientRecord],
        compared: &[&str],
    ) -> Result<u64> {
        let mut builder = QueryBuilder::new(format!(
            "WITH given (client_code, {}) AS (",
            UPDATABLE_CLEAR_COLUMNS.join(", ")
        ));
        builder.push_values(chunk, |mut row, c| {
            row.push_bind(&c.client_code);
            push_clear(&mut row, c);
        });
        let differs = compared
            .iter()
            .map(|c| format!("clients.{c} IS NOT given.{c}"))
            .collect::<Vec<_>>()
            .join(" OR ");
        builder.push(format!(
            ") SELECT COUNT(*) FROM clients JOIN given USING (client_code) WHERE {differs}"
        ));
        let n: i64 = builder
            .build_query_scalar()
            .fetch_one(&mut *self.tx)
            .await
            .map_err(db(self.name))?;
        Ok(super::to_u64(n))
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
        progress: &mut (dyn FnMut(u64) + Send),
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

/// Binds a client's clear columns, in [`UPDATABLE_CLEAR_COLUMNS`] order.
fn push_clear(
    row: &mut sqlx::query_builder::Separated<'_, '_, Sqlite, &'static str>,
    c: &ClientRecord,
) {
    row.push_bind(c.sex)
        .push_bind(c.date_of_birth.map(|d| d.year()))
        .push_bind(c.date_of_birth.map(|d| i64::from(d.month())))
        .push_bind(c.primary_substance)
        .push_bind(c.referral_source)
        .push_bind(c.enrolled_on.to_string())
        .push_bind(c.modality);
}

/// A client record's identifying fields, to seal.
pub(crate) fn identity_of(c: &ClientRecord) -> IdentityFields {
    IdentityFields {
        full_name: c.full_name.clone(),
        date_of_birth: c.date_of_birth.map(|d| d.to_string()).unwrap_or_default(),
        phone: c.phone.clone(),
        national_id: c.national_id.clone(),
        address: c.address.clone(),
    }
}

fn client_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredClient> {
    let get = |e| db("read_client")(e);
    let text = |i: usize| -> Result<String> { row.try_get(i).map_err(get) };
    let optional = |i: usize| -> Result<Option<String>> { row.try_get(i).map_err(get) };
    let sealed = |i: usize| -> Result<Vec<u8>> { row.try_get(i).map_err(get) };
    let birth_month: Option<i64> = row.try_get(3).map_err(get)?;
    Ok(StoredClient {
        client_code: text(0)?,
        sex: vocab_code(&vocab::SEX, &text(1)?, "sex")?,
        birth_year: row.try_get(2).map_err(get)?,
        birth_month: birth_month
            .map(|m| {
                u32::try_from(m).map_err(|_| StoreError::CorruptRecord {
                    column: "birth_month",
                })
            })
            .transpose()?,
        primary_substance: optional(4)?
            .map(|s| vocab_code(&vocab::SUBSTANCE, &s, "primary_substance"))
            .transpose()?,
        referral_source: vocab_code(&vocab::REFERRAL_SOURCE, &text(5)?, "referral_source")?,
        enrolled_on: vocab::parse_date(&text(6)?).ok_or(StoreError::CorruptRecord {
            column: "enrolled_on",
        })?,
        modality: vocab_code(&vocab::MODALITY, &text(7)?, "modality")?,
        sealed: SealedIdentity([
            sealed(8)?,
            sealed(9)?,
            sealed(10)?,
            sealed(11)?,
            sealed(12)?,
        ]),
    })
}
