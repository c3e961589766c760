//! An experiment's evaluated students: a sorted, filtered page as JSON, or all of them as CSV
//! with every evaluation setting.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use proard_shared::api::{Page, Student, StudentValues};

use super::experiments::{experiment_id, page_bounds};
use super::{Access, ApiError, ApiPath, ApiQuery, AppState};
use crate::store::students::{StoredStudent, StudentQuery};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudentsQuery {
    /// proard | baseline | teacher
    cloud: Option<String>,
    macs_min: Option<i64>,
    macs_max: Option<i64>,
    clean_min: Option<f64>,
    pgd20_min: Option<f64>,
    /// index | macs | params | clean | fgsm | pgd20
    sort: Option<String>,
    desc: Option<bool>,
    offset: Option<i64>,
    limit: Option<i64>,
    /// Only what a chart needs (`proard_shared::api::Student`): no encoding, no settings.
    compact: Option<bool>,
}

fn store_query(id: i64, query: StudentsQuery) -> Result<StudentQuery, ApiError> {
    let bad = ApiError::bad_request;
    for (name, value) in [("clean_min", query.clean_min), ("pgd20_min", query.pgd20_min)] {
        if value.is_some_and(|v| !v.is_finite()) {
            return Err(bad(format!("`{name}` must be a number")));
        }
    }
    Ok(StudentQuery {
        experiment: Some(id),
        cloud: query.cloud.map(|c| c.parse()).transpose().map_err(bad)?,
        method: None,
        macs_min: query.macs_min,
        macs_max: query.macs_max,
        clean_min: query.clean_min,
        pgd20_min: query.pgd20_min,
        order: query.sort.map(|s| s.parse()).transpose().map_err(bad)?.unwrap_or_default(),
        descending: query.desc.unwrap_or(false),
        offset: query.offset.unwrap_or(0),
        limit: query.limit.unwrap_or(0),
    })
}

/// What the browser's charts read of a stored student.
fn compact(student: StoredStudent) -> Student {
    let r = student.record;
    Student {
        experiment_id: student.experiment_id,
        cloud: student.cloud.name().to_owned(),
        record: StudentValues {
            index: r.index,
            arch: r.arch,
            macs: r.macs,
            params: r.params,
            clean: r.clean,
            fgsm: r.fgsm,
            pgd20: r.pgd20,
        },
    }
}

pub async fn page(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<StudentsQuery>,
) -> Result<Response, ApiError> {
    let id = experiment_id(&state, &access, &id).await?;
    let (offset, limit) = page_bounds(query.offset, query.limit, 1000)?;
    let compact_page = query.compact.unwrap_or(false);
    let mut query = store_query(id, query)?;
    (query.offset, query.limit) = (offset, limit);
    let items = state.store.students(&query).await?;
    let total = state.store.student_count(&query).await?;
    Ok(if compact_page {
        let items = items.into_iter().map(compact).collect();
        Json(Page { items, total, offset, limit }).into_response()
    } else {
        Json(Page { items, total, offset, limit }).into_response()
    })
}

/// `settings` flattened to `settings.pgd20.steps`-style columns.
fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, value) in map {
                flatten(&format!("{prefix}.{key}"), value, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        other => out.push((prefix.to_owned(), other.to_string())),
    }
}

pub async fn csv(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<StudentsQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let id = experiment_id(&state, &access, &id).await?;
    let students = state.store.students(&store_query(id, query)?).await?;
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header: Option<Vec<String>> = None;
    for student in &students {
        let record = &student.record;
        let mut settings = Vec::new();
        flatten(
            "settings",
            &serde_json::to_value(&record.settings).expect("settings serialise"),
            &mut settings,
        );
        let row: Vec<(String, String)> = [
            ("cloud".to_owned(), student.cloud.name().to_owned()),
            ("index".to_owned(), record.index.to_string()),
            ("macs".to_owned(), record.macs.to_string()),
            ("params".to_owned(), record.params.to_string()),
            ("clean".to_owned(), record.clean.to_string()),
            ("fgsm".to_owned(), record.fgsm.to_string()),
            ("pgd20".to_owned(), record.pgd20.to_string()),
            ("arch".to_owned(), serde_json::to_string(&record.arch).expect("archs serialise")),
        ]
        .into_iter()
        .chain(settings)
        .collect();
        let names: Vec<String> = row.iter().map(|(k, _)| k.clone()).collect();
        if header.is_none() {
            writer.write_record(&names).map_err(csv_error)?;
            header = Some(names);
        }
        writer.write_record(row.iter().map(|(_, v)| v)).map_err(csv_error)?;
    }
    if header.is_none() {
        writer
            .write_record(["cloud", "index", "macs", "params", "clean", "fgsm", "pgd20", "arch"])
            .map_err(csv_error)?;
    }
    let bytes = writer.into_inner().map_err(|e| csv_error(e.into_error().into()))?;
    let name = format!("attachment; filename=\"experiment-{id}-students.csv\"");
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        bytes,
    ))
}

fn csv_error(error: csv::Error) -> ApiError {
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("writing CSV: {error}"))
}
