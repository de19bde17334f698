//! The report's GROUP BY queries: for each indicator, one query counting its units by every
//! dimension its tables use. Classifying the grouped values into the form's categories is
//! the report's job ([`crate::report`]).

use std::fmt::Write as _;

use quietcount_protocol::form::{Basis, Field, Indicator, Unit};
use sqlx::Row;

use super::{Result, Store, db};
use crate::dates::Date;

/// One indicator to count, grouped by `fields` (in order).
#[derive(Debug, Clone)]
pub struct IndicatorQuery<'a> {
    /// The indicator.
    pub indicator: &'a Indicator,
    /// The fields to group by.
    pub fields: Vec<Field>,
}

/// One group of a grouped count: the value of each grouped field (`None` when missing) and
/// how many units have those values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupCount {
    /// One value per grouped field, as stored (an age band is the age in whole years).
    pub values: Vec<Option<String>>,
    /// Units counted.
    pub count: u64,
}

const TX: &str = "report_counts";

impl Store {
    /// Runs every query over the period from `first` to `last` (both included), in one read
    /// transaction so that all counts come from the same snapshot of the records. Returns one
    /// list of groups per query, in order.
    pub async fn grouped_counts(
        &self,
        queries: &[IndicatorQuery<'_>],
        first: Date,
        last: Date,
    ) -> Result<Vec<Vec<GroupCount>>> {
        // A deferred read transaction: in WAL mode it reads one snapshot and never blocks writers.
        let mut tx = self.begin_read(TX).await?;
        let mut out = Vec::with_capacity(queries.len());
        for query in queries {
            let started = std::time::Instant::now();
            let (sql, binds) = indicator_query(query.indicator, &query.fields, first, last);
            let mut statement = sqlx::query(&sql);
            for bind in &binds {
                statement = statement.bind(bind);
            }
            let rows = statement.fetch_all(&mut *tx).await.map_err(db(TX))?;
            let mut groups = Vec::with_capacity(rows.len());
            for row in rows {
                let mut values = Vec::with_capacity(query.fields.len());
                for i in 0..query.fields.len() {
                    values.push(row.try_get::<Option<String>, _>(i).map_err(db(TX))?);
                }
                let count: i64 = row.try_get(query.fields.len()).map_err(db(TX))?;
                groups.push(GroupCount {
                    values,
                    count: super::to_u64(count),
                });
            }
            tracing::debug!(indicator = %query.indicator.id, elapsed_ms = started.elapsed().as_millis() as u64, "indicator counted");
            out.push(groups);
        }
        tx.commit().await.map_err(db(TX))?;
        Ok(out)
    }
}

/// The SQL expression classifying a counted unit by a field, as text (NULL = missing).
fn field_expression(field: Field) -> &'static str {
    match field {
        Field::Sex => "c.sex",
        // Whole years on the period's last day (?2), from birth year and month (the exact
        // date is sealed): periods end on a month's last day, so a client born in that month
        // has had the birthday.
        Field::AgeBand => {
            "CASE WHEN c.birth_year IS NULL THEN NULL ELSE CAST( \
             CAST(substr(?2, 1, 4) AS INTEGER) - c.birth_year \
             - (CAST(substr(?2, 6, 2) AS INTEGER) < c.birth_month) AS TEXT) END"
        }
        Field::PrimarySubstance => "c.primary_substance",
        Field::ReferralSource => "c.referral_source",
        Field::Modality => "c.modality",
        Field::Service => "e.service",
        Field::Outcome => "NULLIF(e.outcome, '')",
    }
}

/// The GROUP BY query of one indicator over `fields`, and its bound parameters (?1 first day,
/// ?2 last day, ?3 the enrolment cut-off if the indicator has one, then services and outcomes).
fn indicator_query(
    indicator: &Indicator,
    fields: &[Field],
    first: Date,
    last: Date,
) -> (String, Vec<String>) {
    let mut binds = vec![first.to_string(), last.to_string()];
    let cutoff_filter = match indicator.min_months_enrolled {
        Some(months) => {
            binds.push(last.minus_months(months).to_string());
            " AND +c.enrolled_on <= ?3"
        }
        None => "",
    };
    let mut list = |values: &[String]| -> String {
        let start = binds.len() + 1;
        binds.extend(values.iter().cloned());
        (start..start + values.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut event_filter = String::from("e.date BETWEEN ?1 AND ?2");
    if !indicator.services.is_empty() {
        let _ = write!(
            event_filter,
            " AND e.service IN ({})",
            list(&indicator.services)
        );
    }
    if !indicator.outcomes.is_empty() {
        let _ = write!(
            event_filter,
            " AND e.outcome IN ({})",
            list(&indicator.outcomes)
        );
    }
    let select: Vec<String> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| format!("{} AS d{i}", field_expression(*f)))
        .collect();
    let group: Vec<String> = (0..fields.len()).map(|i| format!("d{i}")).collect();
    let mut sql = String::from("SELECT ");
    for s in &select {
        sql.push_str(s);
        sql.push_str(", ");
    }
    sql.push_str("COUNT(*) AS n ");
    match (indicator.basis, indicator.count) {
        (Basis::Events, Unit::Events)
            if cutoff_filter.is_empty() && fields.iter().all(|f| f.is_event_field()) =>
        {
            // Only event fields: no need to look up each event's client.
            let _ = write!(sql, "FROM events e WHERE {event_filter}");
        }
        (Basis::Events, Unit::Events) => {
            let _ = write!(
                sql,
                "FROM events e JOIN clients c ON c.client_code = e.client_code WHERE {event_filter}{cutoff_filter}"
            );
        }
        (Basis::Events, Unit::Clients)
            if indicator.services.is_empty() && indicator.outcomes.is_empty() =>
        {
            // Any service: probe each client's events by (client_code, date). (The unary `+` in
            // the cut-off keeps SQLite from walking the enrolment index instead.)
            let _ = write!(
                sql,
                "FROM clients c WHERE EXISTS (SELECT 1 FROM events e WHERE e.client_code = c.client_code AND {event_filter}){cutoff_filter}"
            );
        }
        (Basis::Events, Unit::Clients) => {
            // Some services: find their events by (service, date), then their clients.
            let _ = write!(
                sql,
                "FROM clients c WHERE c.client_code IN (SELECT e.client_code FROM events e WHERE {event_filter}){cutoff_filter}"
            );
        }
        (Basis::Enrolment, _) => {
            let _ = write!(
                sql,
                "FROM clients c WHERE c.enrolled_on BETWEEN ?1 AND ?2{cutoff_filter}"
            );
        }
    }
    if !group.is_empty() {
        let _ = write!(sql, " GROUP BY {}", group.join(", "));
    }
    (sql, binds)
}
