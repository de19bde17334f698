//! Services: record the services given to a client today (the daily task), the service and
//! its outcome chosen from the vocabulary, checked by the import's rules.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;

use super::clients::{Choice, choices};
use super::import::{Findings, findings};
use super::{AppState, Chrome, Staff, now, render};
use crate::dates::Date;
use crate::entry::ServiceEntry;
use crate::vocab;

/// The services page.
#[derive(Debug, Template)]
#[template(path = "services.html")]
pub struct ServicesPage {
    page: Chrome,
    codes: Vec<String>,
    client_code: String,
    date: String,
    services: Vec<Choice>,
    outcomes: Vec<(String, Vec<Choice>)>,
    today_count: String,
    result: Option<Findings>,
}

/// The form.
#[derive(Debug, Deserialize, Default)]
pub struct ServiceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    client_code: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    outcome: String,
}

async fn services_page(
    state: &AppState,
    staff: &Staff,
    form: ServiceForm,
    result: Option<Findings>,
) -> Response {
    let t = staff.t;
    let node = state.node();
    let codes = match node.store().clients().await {
        Ok(clients) => clients.into_iter().map(|c| c.client_code).collect(),
        Err(_) => Vec::new(),
    };
    let today = Date::from_days(t.local_days(now()));
    let today_count = node
        .store()
        .count_events_between(today, today)
        .await
        .unwrap_or_default();
    let outcomes = [
        ("urine_test", &*vocab::TEST_RESULT),
        ("follow_up", &*vocab::EMPLOYMENT),
    ]
    .into_iter()
    .map(|(service, vocabulary)| {
        let label = vocab::SERVICE
            .entry(service)
            .map_or_else(|| service.to_owned(), |e| e.label(t.lang).to_owned());
        (label, choices(t, vocabulary, &form.outcome, None))
    })
    .collect();
    let date = if form.date.is_empty() {
        t.date(now())
    } else {
        form.date.clone()
    };
    render(&ServicesPage {
        page: staff.chrome("services", "services-title"),
        codes,
        client_code: form.client_code.clone(),
        date,
        services: choices(t, &vocab::SERVICE, &form.service, None),
        outcomes,
        today_count: t.num(today_count),
        result,
    })
}

/// GET /services.
pub async fn page(State(state): State<AppState>, staff: Staff) -> Response {
    services_page(&state, &staff, ServiceForm::default(), None).await
}

/// POST /services.
pub async fn record(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<ServiceForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&form.csrf) {
        return refused;
    }
    let entry = ServiceEntry {
        client_code: form.client_code.clone(),
        date: form.date.clone(),
        service: form.service.clone(),
        outcome: form.outcome.clone(),
    };
    let outcome = state.node().record_services(&[entry], now()).await;
    let result = findings(staff.t, outcome);
    let next = if result.imported {
        // Keep the day for the next client; clear the rest.
        ServiceForm {
            date: form.date,
            ..ServiceForm::default()
        }
    } else {
        form
    };
    services_page(&state, &staff, next, Some(result)).await
}
