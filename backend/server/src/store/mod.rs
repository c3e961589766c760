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
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlSafeStr};

/// The schema's migrations, embedded in the binary: (version, description, SQL) as
/// `sqlx::migrate!` would read them from `migrations/<database>/NNNN_description.sql`. Listed by
/// hand because that macro's crate builds sqlx and SQLite a second time for the build host, minutes
/// of every clean build; a test checks this list against the folders.
fn migrations(backend: Backend) -> &'static [(i64, &'static str, &'static str)] {
    match backend {
        Backend::Sqlite => &[
            (1, "studio", include_str!("../../migrations/sqlite/0001_studio.sql")),
            (2, "events", include_str!("../../migrations/sqlite/0002_events.sql")),
            (3, "side jobs", include_str!("../../migrations/sqlite/0003_side_jobs.sql")),
        ],
        Backend::Postgres => &[
            (1, "studio", include_str!("../../migrations/postgres/0001_studio.sql")),
            (2, "events", include_str!("../../migrations/postgres/0002_events.sql")),
            (3, "side jobs", include_str!("../../migrations/postgres/0003_side_jobs.sql")),
        ],
    }
}

fn migrator(backend: Backend) -> Migrator {
    Migrator::with_migrations(
        migrations(backend)
            .iter()
            .map(|&(version, description, sql)| {
                let no_tx = sql.starts_with("-- no-transaction");
                Migration::new(
                    version,
                    description.into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    no_tx,
                )
            })
            .collect(),
    )
}

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
        migrator(backend)
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
    use super::{Backend, migrator};
    use sqlx::migrate::Migrator;

    /// The embedded list is what sqlx resolves from the folders: every file, and the same
    /// versions, descriptions and checksums (so databases migrated before stay valid).
    #[tokio::test]
    async fn embedded_migrations_are_the_folders() {
        for (backend, folder) in [(Backend::Sqlite, "sqlite"), (Backend::Postgres, "postgres")] {
            let dir =
                std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations").join(folder);
            let resolved = Migrator::new(dir.as_path()).await.unwrap();
            let embedded = migrator(backend);
            let summary = |m: &Migrator| {
                m.iter()
                    .map(|m| {
                        (
                            m.version,
                            m.description.to_string(),
                            m.checksum.to_vec(),
                            m.no_tx,
                            m.migration_type,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(summary(&embedded), summary(&resolved), "{folder}");
        }
    }

    #[test]
    fn passwords_are_not_repeated_in_messages() {
        assert_eq!(super::redact("postgres://u:secret@h:5/db"), "postgres://u:***@h:5/db");
        assert_eq!(super::redact("postgres://u@h:5/db"), "postgres://u@h:5/db");
        assert_eq!(super::redact("sqlite:///tmp/a.db"), "sqlite:///tmp/a.db");
    }
}
