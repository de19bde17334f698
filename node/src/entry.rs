//! One client or one service entered by hand (the web app's forms): the fields are written
//! as a one-row file in the import's own layout and imported, so a record typed in a form is
//! checked by exactly the rules a spreadsheet row is (vocabulary, dates, known client) and
//! its problems come back as the same grouped findings.

use std::path::Path;

use quietcount_protocol::UnixTime;

use crate::Node;
use crate::error::NodeError;
use crate::import::{
    CLIENT_COLUMNS, DateOrder, EVENT_COLUMNS, ImportError, ImportOptions, Imported,
};

/// A client's fields as typed: vocabulary fields as codes or labels, dates as `YYYY-MM-DD`
/// or `DD/MM/YYYY`. Its `Debug` leaves out the identifying fields.
#[derive(Clone, Default)]
pub struct ClientEntry {
    /// Site-local code.
    pub client_code: String,
    /// Identifying.
    pub full_name: String,
    /// Identifying; empty when unknown.
    pub date_of_birth: String,
    /// Vocabulary.
    pub sex: String,
    /// Identifying.
    pub phone: String,
    /// Identifying.
    pub national_id: String,
    /// Identifying.
    pub address: String,
    /// Vocabulary; empty when unknown.
    pub primary_substance: String,
    /// Vocabulary.
    pub referral_source: String,
    /// Enrolment date.
    pub enrolled_on: String,
    /// Vocabulary.
    pub modality: String,
}

impl std::fmt::Debug for ClientEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientEntry")
            .field("client_code", &self.client_code)
            .finish_non_exhaustive()
    }
}

/// One service given to a client.
#[derive(Debug, Clone, Default)]
pub struct ServiceEntry {
    /// The client's code.
    pub client_code: String,
    /// The day: `YYYY-MM-DD` or `DD/MM/YYYY`.
    pub date: String,
    /// Vocabulary.
    pub service: String,
    /// Vocabulary, or empty.
    pub outcome: String,
}

impl Node {
    /// Adds a client, or replaces the record of the client with that code (every field, the
    /// identifying ones sealed afresh), whole or not at all.
    pub async fn save_client(
        &self,
        client: &ClientEntry,
        now: UnixTime,
    ) -> Result<Imported, NodeError> {
        let row = [
            &client.client_code,
            &client.full_name,
            &client.date_of_birth,
            &client.sex,
            &client.phone,
            &client.national_id,
            &client.address,
            &client.primary_substance,
            &client.referral_source,
            &client.enrolled_on,
            &client.modality,
        ];
        let bytes = one_row_file(&CLIENT_COLUMNS, &row)?;
        self.import_bytes(&bytes, Path::new("client form"), &typed(now), |_| {})
            .await
    }

    /// Records services given to a client on one day, all or none.
    pub async fn record_services(
        &self,
        services: &[ServiceEntry],
        now: UnixTime,
    ) -> Result<Imported, NodeError> {
        let rows: Vec<[&String; 4]> = services
            .iter()
            .map(|s| [&s.client_code, &s.date, &s.service, &s.outcome])
            .collect();
        let bytes = rows_file(&EVENT_COLUMNS, &rows)?;
        self.import_bytes(&bytes, Path::new("services form"), &typed(now), |_| {})
            .await
    }
}

/// Import options for typed dates: slash dates are day first, as staff write them.
fn typed(now: UnixTime) -> ImportOptions {
    ImportOptions {
        date_order: Some(DateOrder::DayMonthYear),
        ..ImportOptions::at(now)
    }
}

fn one_row_file<const N: usize>(
    header: &[&str; N],
    row: &[&String; N],
) -> Result<Vec<u8>, NodeError> {
    rows_file(header, std::slice::from_ref(row))
}

fn rows_file<const N: usize>(
    header: &[&str; N],
    rows: &[[&String; N]],
) -> Result<Vec<u8>, NodeError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |source: csv::Error| {
        NodeError::Import(ImportError::Io {
            file: "form".into(),
            source: std::io::Error::other(source.to_string()),
        })
    };
    writer.write_record(header).map_err(failed)?;
    for row in rows {
        writer
            .write_record(row.iter().map(|v| v.trim()))
            .map_err(failed)?;
    }
    writer
        .into_inner()
        .map_err(|e| failed(e.into_error().into()))
}
