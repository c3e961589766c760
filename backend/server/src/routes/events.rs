//! Live events as Server-Sent Events: everything about one experiment (stage, step, epoch,
//! student, status) or the status changes of all. Every event carries its id; a client that
//! reconnects with `Last-Event-ID` gets each event it missed once. Streams poll the store (the
//! workers that write events are other processes) and end when the server shuts down.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;

use super::{Access, ApiError, ApiPath, ApiQuery, AppState, parse_id};
use crate::store::events::{EventFilter, StoredEvent};

/// How often an idle stream looks for new events: a step reaches the browser well within a
/// second.
const POLL: Duration = Duration::from_millis(200);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct From {
    /// Start after this event id (as `Last-Event-ID` does); new events only by default.
    after: Option<i64>,
    /// The token, for clients that cannot send headers (read by the API's gate).
    #[serde(rename = "access_token")]
    _access_token: Option<String>,
}

pub async fn experiment(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiQuery(from): ApiQuery<From>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let id = parse_id("experiment", &id)?;
    access.read(id)?;
    state.store.experiment(id).await?;
    let after = start(&state, &headers, from.after).await?;
    Ok(stream(state, EventFilter::Experiment(id), after))
}

pub async fn experiments(
    State(state): State<AppState>,
    Extension(access): Extension<Access>,
    headers: HeaderMap,
    ApiQuery(from): ApiQuery<From>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    access.owner()?;
    let after = start(&state, &headers, from.after).await?;
    Ok(stream(state, EventFilter::Statuses, after))
}

/// Where a stream starts: after `Last-Event-ID`, after `?after=`, or after the newest event.
async fn start(state: &AppState, headers: &HeaderMap, after: Option<i64>) -> Result<i64, ApiError> {
    let last = headers.get("last-event-id").map(|value| {
        value.to_str().ok().and_then(|v| v.trim().parse::<i64>().ok()).ok_or_else(|| {
            ApiError::bad_request("`Last-Event-ID` must be the id of an event this server sent")
        })
    });
    match (last.transpose()?, after) {
        (Some(id), _) | (None, Some(id)) => Ok(id.max(0)),
        (None, None) => Ok(state.store.last_event_id().await?),
    }
}

fn stream(
    state: AppState,
    filter: EventFilter,
    after: i64,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let pending: std::collections::VecDeque<StoredEvent> = Default::default();
    let events = futures_util::stream::unfold(
        (state, after, pending),
        move |(state, mut after, mut pending)| async move {
            let mut shutdown = state.shutdown.clone();
            loop {
                if *shutdown.borrow() {
                    return None;
                }
                if let Some(event) = pending.pop_front() {
                    after = event.id;
                    let sse = Event::default()
                        .id(event.id.to_string())
                        .event(&event.kind)
                        .data(event.payload);
                    return Some((Ok(sse), (state, after, pending)));
                }
                match state.store.events_after(filter, after, 500).await {
                    Ok(batch) if !batch.is_empty() => pending.extend(batch),
                    Ok(_) => {}
                    Err(error) => tracing::warn!("event stream: {error}"),
                }
                if pending.is_empty() {
                    tokio::select! {
                        _ = tokio::time::sleep(POLL) => {}
                        _ = shutdown.changed() => return None,
                    }
                }
            }
        },
    );
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
