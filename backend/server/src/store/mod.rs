//! The studio's database through sqlx's Any driver: an embedded SQLite file by default (WAL,
//! busy timeout, foreign keys), PostgreSQL for several machines — one schema
//! (`migrations/sqlite`, `migrations/postgres`), one code path, `$n` placeholders on both.
//!
//! Invariants: every write that belongs together is one transaction; rows written from a run's
//! events are keyed (stage + step, cloud + index), so replayed steps and re-read records
//! overwrite instead of duplicating; files stay in the data directory, referenced by relative
//! paths.

pub mod events;
pub mod experiments;
pub mod metrics;
pub mod predictors;
pub mod queue;
pub mod shares;
pub mod students;
pub mod verifications;

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::Migrator;
use sqlx::{AnyPool, Executor};

static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");

/// Which database a store talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {url}: {source}")]
    Open { url: String, source: sqlx::Error },
    #[error("cannot migrate the database {url}: {source}")]
    Migrate { url: String, source: sqlx::migrate::MigrateError },
    #[error("`{0}` is not a database URL: use sqlite://FILE or postgres://USER@HOST:PORT/DB")]
    Url(String),
    #[error("database: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the row's state (e.g. deleting a running experiment).
    #[error("{0}")]
    Conflict(String),
    /// A stored value that does not parse (written by another version, or edited by hand).
    #[error("{0}")]
    Corrupt(String),
}

/// A connection pool to the studio's database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

/// The default database of a data directory: `DIR/studio.db`.
pub fn sqlite_url(data_dir: &Path) -> String {
    format!("sqlite://{}?mode=rwc", data_dir.join("studio.db").display())
}

/// Unix milliseconds: the time every row records.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl Store {
    /// Connects to `url` (`sqlite://…` or `postgres://…`) and brings its schema up to date.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(url.to_owned()));
        };
        let options = AnyPoolOptions::new().max_connections(8);
        let options = match backend {
            // WAL lets the server read while a worker writes; NORMAL is durable across process
            // crashes (the queue's concern) and fast; the busy timeout makes writers queue.
            Backend::Sqlite => options.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(
                        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                         PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;",
                    )
                    .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options,
        };
        let pool = options
            .connect(url)
            .await
            .map_err(|source| StoreError::Open { url: redact(url), source })?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE,
            Backend::Postgres => &POSTGRES,
        };
        migrator
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { url: redact(url), source })?;
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_not_repeated_in_messages() {
        assert_eq!(super::redact("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(super::redact("postgres://u@h:5/db"), "postgres://u@h:5/db");
        assert_eq!(super::redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }
}
