//! Clients: find a client by code or by name (the session holds the unlocked records key);
//! add, edit, erase (after a confirmation that says the affected months are re-reported).
//! Names and other identifying fields travel only in POST bodies, never in a URL.

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::import::{Findings, findings};
use super::{AppState, Chrome, MessagePage, Staff, error_page, now, render};
use crate::entry::ClientEntry;
use crate::import::ClientRecord;
use crate::vocab::{self, Vocabulary};

use super::i18n::Tr;

/// Most clients listed on one page.
const LISTED: usize = 200;

/// The clients list.
#[derive(Debug, Template)]
#[template(path = "clients.html")]
pub struct ClientsPage {
    page: Chrome,
    query: String,
    rows: Vec<ClientRow>,
    count_line: String,
}

/// One client in the list.
#[derive(Debug)]
pub struct ClientRow {
    code: String,
    name: String,
    sex: String,
    enrolled: String,
    modality: String,
}

/// The add/edit form.
#[derive(Debug, Template)]
#[template(path = "client_form.html")]
pub struct ClientFormPage {
    page: Chrome,
    editing: bool,
    client: ClientFields,
    sex: Vec<Choice>,
    substance: Vec<Choice>,
    referral: Vec<Choice>,
    modality: Vec<Choice>,
    result: Option<Findings>,
}

/// The erase confirmation.
#[derive(Debug, Template)]
#[template(path = "erase_confirm.html")]
pub struct EraseConfirmPage {
    page: Chrome,
    code: String,
}

/// One option of a drop-down list.
#[derive(Debug, Clone)]
pub struct Choice {
    /// The stored code.
    pub code: String,
    /// The label shown.
    pub label: String,
    /// Whether it is chosen.
    pub selected: bool,
}

/// The options of `vocabulary`, `chosen` selected, optionally with an empty first one.
pub fn choices(t: Tr, vocabulary: &Vocabulary, chosen: &str, empty: Option<String>) -> Vec<Choice> {
    let mut out = Vec::new();
    if let Some(label) = empty {
        out.push(Choice {
            code: String::new(),
            label,
            selected: chosen.is_empty(),
        });
    }
    out.extend(vocabulary.entries.iter().map(|e| Choice {
        code: e.code.clone(),
        label: e.label(t.lang).to_owned(),
        selected: e.code == chosen,
    }));
    out
}

/// The client form's fields (what was typed, or the stored record).
#[derive(Deserialize, Default, Clone)]
pub struct ClientFields {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    editing: Option<String>,
    client_code: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    date_of_birth: String,
    #[serde(default)]
    sex: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    national_id: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    primary_substance: String,
    #[serde(default)]
    referral_source: String,
    #[serde(default)]
    enrolled_on: String,
    #[serde(default)]
    modality: String,
}

impl std::fmt::Debug for ClientFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientFields")
            .field("client_code", &self.client_code)
            .finish_non_exhaustive()
    }
}

fn dmy(date: crate::dates::Date) -> String {
    format!("{:02}/{:02}/{:04}", date.day(), date.month(), date.year())
}

impl ClientFields {
    fn of(record: &ClientRecord) -> Self {
        Self {
            csrf: String::new(),
            editing: Some("1".into()),
            client_code: record.client_code.clone(),
            full_name: record.full_name.clone(),
            date_of_birth: record.date_of_birth.map(dmy).unwrap_or_default(),
            sex: record.sex.to_owned(),
            phone: record.phone.clone(),
            national_id: record.national_id.clone(),
            address: record.address.clone(),
            primary_substance: record.primary_substance.unwrap_or_default().to_owned(),
            referral_source: record.referral_source.to_owned(),
            enrolled_on: dmy(record.enrolled_on),
            modality: record.modality.to_owned(),
        }
    }

    fn entry(&self) -> ClientEntry {
        ClientEntry {
            client_code: self.client_code.clone(),
            full_name: self.full_name.clone(),
            date_of_birth: self.date_of_birth.clone(),
            sex: self.sex.clone(),
            phone: self.phone.clone(),
            national_id: self.national_id.clone(),
            address: self.address.clone(),
            primary_substance: self.primary_substance.clone(),
            referral_source: self.referral_source.clone(),
            enrolled_on: self.enrolled_on.clone(),
            modality: self.modality.clone(),
        }
    }
}

fn form_page(staff: &Staff, client: ClientFields, result: Option<Findings>) -> Response {
    let t = staff.t;
    let editing = client.editing.is_some();
    let title = if editing {
        "client-edit-title"
    } else {
        "client-new-title"
    };
    render(&ClientFormPage {
        page: staff.chrome("clients", title),
        editing,
        sex: choices(t, &vocab::SEX, &client.sex, None),
        substance: choices(
            t,
            &vocab::SUBSTANCE,
            &client.primary_substance,
            Some(t.msg("value-unknown")),
        ),
        referral: choices(t, &vocab::REFERRAL_SOURCE, &client.referral_source, None),
        modality: choices(t, &vocab::MODALITY, &client.modality, None),
        client,
        result,
    })
}

async fn list(state: &AppState, staff: &Staff, query: &str) -> Response {
    let t = staff.t;
    let node = state.node();
    let clients = match node.clients(&staff.session.key).await {
        Ok(clients) => clients,
        Err(error) => return error_page(staff.chrome("clients", "clients-title"), &error, "/"),
    };
    let folded = vocab::fold(query);
    let matching: Vec<&ClientRecord> = clients
        .iter()
        .filter(|c| {
            folded.is_empty()
                || vocab::fold(&c.client_code).contains(&folded)
                || vocab::fold(&c.full_name).contains(&folded)
        })
        .collect();
    let label = |v: &'static Vocabulary, code: &str| {
        v.entry(code)
            .map_or_else(|| code.to_owned(), |e| e.label(t.lang).to_owned())
    };
    let rows = matching
        .iter()
        .take(LISTED)
        .map(|c| ClientRow {
            code: c.client_code.clone(),
            name: c.full_name.clone(),
            sex: label(&vocab::SEX, c.sex),
            enrolled: dmy(c.enrolled_on),
            modality: label(&vocab::MODALITY, c.modality),
        })
        .collect();
    render(&ClientsPage {
        page: staff.chrome("clients", "clients-title"),
        query: query.to_owned(),
        rows,
        count_line: if folded.is_empty() {
            t.arg("clients-total", "count", &t.num(matching.len() as u64))
        } else {
            t.arg("clients-found", "count", &t.num(matching.len() as u64))
        },
    })
}

/// GET /clients: every client (up to 200), by code.
pub async fn page(State(state): State<AppState>, staff: Staff) -> Response {
    list(&state, &staff, "").await
}

/// The search form (POST, so that a name typed never appears in a URL).
#[derive(Deserialize)]
pub struct SearchForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    q: String,
}

impl std::fmt::Debug for SearchForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SearchForm(..)")
    }
}

/// POST /clients: search by code or name.
pub async fn search(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<SearchForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&form.csrf) {
        return refused;
    }
    list(&state, &staff, form.q.trim()).await
}

/// GET /clients/new.
pub async fn new_form(staff: Staff) -> Response {
    let client = ClientFields {
        enrolled_on: staff.t.date(now()),
        modality: "voluntary".into(),
        ..ClientFields::default()
    };
    form_page(&staff, client, None)
}

/// `?code=` (a client code identifies nobody outside the site's records).
#[derive(Debug, Deserialize)]
pub struct CodeQuery {
    code: String,
}

/// GET /clients/edit?code=.
pub async fn edit_form(
    State(state): State<AppState>,
    staff: Staff,
    Query(query): Query<CodeQuery>,
) -> Response {
    match state
        .node()
        .client(&staff.session.key, query.code.trim())
        .await
    {
        Ok(Some(record)) => form_page(&staff, ClientFields::of(&record), None),
        Ok(None) => not_found(&staff),
        Err(error) => error_page(staff.chrome("clients", "clients-title"), &error, "/clients"),
    }
}

fn not_found(staff: &Staff) -> Response {
    let t = staff.t;
    render(&MessagePage {
        heading: t.msg("client-not-found"),
        page: staff.chrome("clients", "clients-title"),
        lines: Vec::new(),
        problem: true,
        back: "/clients",
    })
}

/// POST /clients/save: add or replace, checked by the import's rules.
pub async fn save(
    State(state): State<AppState>,
    staff: Staff,
    Form(client): Form<ClientFields>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&client.csrf) {
        return refused;
    }
    let outcome = state.node().save_client(&client.entry(), now()).await;
    let result = findings(staff.t, outcome);
    if result.imported {
        let t = staff.t;
        let mut lines = vec![t.arg("client-saved", "code", client.client_code.trim())];
        lines.extend(result.warnings);
        if client.editing.is_some() {
            lines.push(t.msg("client-edit-rereported"));
        }
        render(&MessagePage {
            heading: t.msg("client-saved-heading"),
            page: staff.chrome("clients", "clients-title"),
            lines,
            problem: false,
            back: "/clients",
        })
    } else {
        form_page(&staff, client, Some(result))
    }
}

/// GET /clients/erase?code=: the confirmation.
pub async fn erase_confirm(staff: Staff, Query(query): Query<CodeQuery>) -> Response {
    render(&EraseConfirmPage {
        page: staff.chrome("clients", "erase-title"),
        code: query.code.trim().to_owned(),
    })
}

/// The erase form.
#[derive(Debug, Deserialize)]
pub struct EraseForm {
    #[serde(default)]
    csrf: String,
    code: String,
}

/// POST /clients/erase.
pub async fn erase(
    State(state): State<AppState>,
    staff: Staff,
    Form(form): Form<EraseForm>,
) -> Response {
    if let Some(refused) = staff.csrf_refusal(&form.csrf) {
        return refused;
    }
    let t = staff.t;
    match state.node().erase_client(form.code.trim(), now()).await {
        Ok(erased) => {
            let months: Vec<String> = erased
                .periods
                .iter()
                .map(super::home::month_label)
                .collect();
            let mut lines = vec![t.arg("erase-done", "events", &t.num(erased.events))];
            if !months.is_empty() {
                lines.push(t.arg("erase-rereported", "months", &months.join(", ")));
            }
            render(&MessagePage {
                heading: t.msg("erase-done-heading"),
                page: staff.chrome("clients", "clients-title"),
                lines,
                problem: false,
                back: "/clients",
            })
        }
        Err(error) => error_page(staff.chrome("clients", "clients-title"), &error, "/clients"),
    }
}
