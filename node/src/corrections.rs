//! Correcting and erasing records: `erase` (a client and all their events, e.g. an erasure
//! request) and `delete-event` (one service event typed by mistake). Each runs in one
//! transaction and notes which days changed, so that the next report of every affected period
//! is a new revision. Nothing here logs or returns a value read from a record: the caller
//! knows the client code it typed, and no name, date of birth or other identity field is read.

use quietcount_protocol::{Period, PeriodType, UnixTime};

use crate::error::NodeError;
use crate::store::EventDeletion;
use crate::{Node, vocab};

/// What `erase` removed, without saying whose records they were.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErasureSummary {
    /// Service events deleted with the client.
    pub events: u64,
    /// The months whose reports change (a new revision at the next build), oldest first.
    pub periods: Vec<Period>,
}

/// Which event `delete-event` is about.
#[derive(Debug, Clone, Copy)]
pub struct EventToDelete<'a> {
    /// The client's code.
    pub client: &'a str,
    /// The event's date: `YYYY-MM-DD` or `DD/MM/YYYY`.
    pub date: &'a str,
    /// The service, as its code or its label in either language.
    pub service: &'a str,
    /// The outcome, as code or label, when the service has one and several events match.
    pub outcome: Option<&'a str>,
    /// Delete every matching event.
    pub all: bool,
}

/// The code of a vocabulary value given as its code or a label.
fn code_of(vocabulary: &'static vocab::Vocabulary, text: &str) -> Option<&'static str> {
    let text = text.trim();
    vocabulary
        .entry(text)
        .map(|e| e.code.as_str())
        .or_else(|| vocabulary.code(text))
}

/// The months holding `days` (ISO dates), oldest first.
fn months_of(days: &[String]) -> Vec<Period> {
    let mut periods: Vec<Period> = days
        .iter()
        .filter_map(|day| Period::parse(day.get(..7)?).ok())
        .filter(|p| p.period_type() == PeriodType::Month)
        .collect();
    periods.sort();
    periods.dedup();
    periods
}

impl Node {
    /// Deletes the client `code` and all their events in one transaction (an erasure request,
    /// or a client entered by mistake). The next report of every month holding their
    /// enrolment or one of their events is a new revision.
    pub async fn erase_client(
        &self,
        code: &str,
        now: UnixTime,
    ) -> Result<ErasureSummary, NodeError> {
        let Some(erased) = self.store.erase_client(code.trim(), now).await? else {
            return Err(NodeError::Correction(
                "no client has the code given; nothing was changed".into(),
            ));
        };
        let periods = months_of(&erased.days);
        tracing::info!(
            events = erased.events,
            periods = periods.len(),
            "a client and their events were erased"
        );
        Ok(ErasureSummary {
            events: erased.events,
            periods,
        })
    }

    /// Deletes a service event identified by client code, date and service (and outcome when
    /// several match), in one transaction. Returns how many were deleted and the month whose
    /// next report is a new revision.
    pub async fn delete_event(
        &self,
        event: &EventToDelete<'_>,
        now: UnixTime,
    ) -> Result<(u64, Period), NodeError> {
        let refuse = |why: String| NodeError::Correction(why);
        let date = vocab::parse_date(event.date)
            .ok_or_else(|| refuse("--date is not a date (YYYY-MM-DD or DD/MM/YYYY)".into()))?;
        let service = code_of(&vocab::SERVICE, event.service).ok_or_else(|| {
            refuse(format!(
                "unknown service; use one of: {}",
                vocab::SERVICE.codes().join(", ")
            ))
        })?;
        let outcome = match event.outcome {
            None => None,
            Some(text) => Some(
                vocab::outcome_vocabulary(service)
                    .and_then(|v| code_of(v, text))
                    .ok_or_else(|| refuse(format!("unknown outcome for service {service}")))?,
            ),
        };
        let period = Period::parse(&date.to_string()[..7])
            .map_err(|_| refuse("--date is out of range".into()))?;
        match self
            .store
            .delete_events(event.client.trim(), date, service, outcome, event.all, now)
            .await?
        {
            EventDeletion::NoMatch => Err(refuse(format!(
                "no {service} event of the client given on that date; nothing was changed"
            ))),
            EventDeletion::Ambiguous { matching, outcomes } => Err(refuse(format!(
                "{matching} {service} events of the client given on that date (outcomes: {}); \
                 name one with --outcome, or pass --all to delete them all; nothing was changed",
                outcomes
                    .iter()
                    .map(|o| if o.is_empty() { "none" } else { o.as_str() })
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
            EventDeletion::Deleted(n) => {
                tracing::info!(%service, deleted = n, %period, "service event(s) deleted");
                Ok((n, period))
            }
        }
    }
}
