//! The live-event log behind the studio's streams: one row per event, ids increasing. A stream
//! reads the rows after the last id its client saw, so a reconnecting client gets every event it
//! missed exactly once.

use serde::Serialize;
use sqlx::Row;

use super::{Store, StoreError, now_ms};

/// One stored event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredEvent {
    pub id: i64,
    pub experiment_id: Option<i64>,
    /// stage | step | epoch | student | status
    pub kind: String,
    /// JSON.
    pub payload: String,
}

/// Which events a stream follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventFilter {
    /// Everything about one experiment.
    Experiment(i64),
    /// Status changes of every experiment (the experiments list).
    Statuses,
}

impl Store {
    pub async fn append_event(
        &self,
        experiment: Option<i64>,
        kind: &str,
        payload: &serde_json::Value,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO events (experiment_id, kind, payload, created_at) \
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(experiment)
        .bind(kind.to_owned())
        .bind(payload.to_string())
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?)
    }

    /// Events after `after` that `filter` selects, oldest first, at most `limit`.
    pub async fn events_after(
        &self,
        filter: EventFilter,
        after: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let (experiment, kind) = match filter {
            EventFilter::Experiment(id) => (id, ""),
            EventFilter::Statuses => (-1, "status"),
        };
        let rows = sqlx::query(
            "SELECT id, experiment_id, kind, payload FROM events WHERE id > $1 \
             AND ($2 < 0 OR experiment_id = $2) AND ($3 = '' OR kind = $3) ORDER BY id LIMIT $4",
        )
        .bind(after)
        .bind(experiment)
        .bind(kind)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredEvent {
                    id: row.try_get("id")?,
                    experiment_id: row.try_get("experiment_id")?,
                    kind: row.try_get("kind")?,
                    payload: row.try_get("payload")?,
                })
            })
            .collect()
    }

    /// The newest event's id (0 when there is none): where a new stream starts.
    pub async fn last_event_id(&self) -> Result<i64, StoreError> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM events").fetch_one(self.pool()).await?;
        Ok(id.unwrap_or(0))
    }
}
