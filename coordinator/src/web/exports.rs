//! Export downloads, calling `coordinator::exports` as `export` does: spreadsheet CSV (UTF-8
//! with BOM, labels in the page's language) and `.xlsx`; DHIS2 `dataValueSets` JSON and ADX
//! XML when `[dashboard] mapping` names a mapping file.

use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::i18n::Lang;
use super::period::chosen_period;
use super::{AppState, User, bad_request, error_page, now};
use crate::error::CoordinatorError;
use crate::exports::mapping::Mapping;
use crate::exports::{Language, adx, dhis2, spreadsheet};

/// `?p=PERIOD&format=csv|xlsx|dhis2|adx`.
#[derive(Debug, Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    p: Option<String>,
    format: String,
}

/// GET /export.
pub async fn download(
    State(state): State<AppState>,
    user: User,
    Query(query): Query<ExportQuery>,
) -> Response {
    let chrome = user.chrome("totals", "totals-title");
    let Some(period) = chosen_period(&state, query.p.as_deref()) else {
        return bad_request(chrome, "/totals");
    };
    let (extension, content_type) = match query.format.as_str() {
        "csv" => ("csv", "text/csv; charset=utf-8"),
        "xlsx" => (
            "xlsx",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ),
        "dhis2" => ("json", "application/json"),
        "adx" => ("xml", "application/adx+xml"),
        _ => return bad_request(chrome, "/totals"),
    };
    let language = match user.t.lang {
        Lang::Vi => Language::Vietnamese,
        Lang::En => Language::English,
    };
    match export_bytes(&state, period, &query.format, language).await {
        Ok(bytes) => {
            let name = format!("quietcount-{period}.{extension}");
            let mut response = ([(header::CONTENT_TYPE, content_type)], bytes).into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_DISPOSITION, value);
            }
            response
        }
        Err(error) => error_page(chrome, &error, "/totals"),
    }
}

async fn export_bytes(
    state: &AppState,
    period: quietcount_protocol::Period,
    format: &str,
    language: Language,
) -> Result<Vec<u8>, CoordinatorError> {
    let coordinator = state.coordinator();
    let form_id = coordinator.forms.first().map(|f| f.form.id.clone());
    let table = coordinator.export_table(period, form_id.as_deref()).await?;
    let export = |e: crate::exports::ExportError| CoordinatorError::Export(e.to_string());
    match format {
        "csv" => Ok(spreadsheet::csv_bytes(&table, language)),
        "xlsx" => spreadsheet::xlsx_bytes(&table, language).map_err(export),
        _ => {
            let Some(path) = &coordinator.config.dashboard.mapping else {
                return Err(CoordinatorError::Export(
                    "no DHIS2 mapping file is configured ([dashboard] mapping in config.toml)"
                        .into(),
                ));
            };
            let path = coordinator.dir.join(path);
            let text = std::fs::read_to_string(&path).map_err(crate::error::io(&path))?;
            let mapping = Mapping::from_toml(&text)
                .map_err(|e| CoordinatorError::Export(format!("{}: {e}", path.display())))?;
            let (bytes, summary) = if format == "adx" {
                adx::adx_bytes(&table, &mapping, now()).map_err(export)?
            } else {
                dhis2::data_value_sets_bytes(&table, &mapping).map_err(export)?
            };
            tracing::info!(
                values = summary.values,
                left_out = summary.left_out.len(),
                "dashboard DHIS2 export"
            );
            Ok(bytes)
        }
    }
}
