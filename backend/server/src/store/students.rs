//! Evaluated students (ProARD, baseline, teacher) and the weights files of an experiment.

use proard_core::experiment::Cloud;
use proard_core::experiment::students::{StudentRecord, StudentSettings};
use proard_shared::Arch;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};

use super::{Store, StoreError, now_ms};

/// A stored student: which experiment and cloud, and the record the evaluation wrote.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StoredStudent {
    pub experiment_id: i64,
    pub cloud: Cloud,
    pub record: StudentRecord,
}

/// Column a student query sorts by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StudentOrder {
    #[default]
    Index,
    Macs,
    Params,
    Clean,
    Fgsm,
    Pgd20,
}

impl StudentOrder {
    fn column(self) -> &'static str {
        match self {
            StudentOrder::Index => "idx",
            StudentOrder::Macs => "macs",
            StudentOrder::Params => "params",
            StudentOrder::Clean => "clean",
            StudentOrder::Fgsm => "fgsm",
            StudentOrder::Pgd20 => "pgd20",
        }
    }
}

impl std::str::FromStr for StudentOrder {
    type Err = String;

    fn from_str(text: &str) -> Result<StudentOrder, String> {
        Ok(match text {
            "index" => StudentOrder::Index,
            "macs" => StudentOrder::Macs,
            "params" => StudentOrder::Params,
            "clean" => StudentOrder::Clean,
            "fgsm" => StudentOrder::Fgsm,
            "pgd20" => StudentOrder::Pgd20,
            _ => {
                return Err(format!(
                    "cannot sort students by `{text}`: use index, macs, params, clean, fgsm or pgd20"
                ));
            }
        })
    }
}

const STUDENT_FILTER: &str = "($1 < 0 OR s.experiment_id = $1) AND ($2 = '' OR s.cloud = $2) \
     AND ($3 = '' OR e.distill_method = $3) AND s.macs >= $4 AND s.macs <= $5 \
     AND s.clean >= $6 AND s.pgd20 >= $7";

fn bind_filter<'q>(
    sql: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    query: &StudentQuery,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
    sql.bind(query.experiment.unwrap_or(-1))
        .bind(query.cloud.map_or("", Cloud::name))
        .bind(query.method.clone().unwrap_or_default())
        .bind(query.macs_min.unwrap_or(0))
        .bind(query.macs_max.unwrap_or(i64::MAX))
        .bind(query.clean_min.unwrap_or(-1.0))
        .bind(query.pgd20_min.unwrap_or(-1.0))
}

/// A weights file of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Artifact {
    pub id: i64,
    pub kind: String,
    /// Relative to the data directory.
    pub path: String,
    pub bytes: i64,
}

/// Which students to read: filters, order and page.
#[derive(Clone, Debug, Default)]
pub struct StudentQuery {
    /// One experiment, or every experiment.
    pub experiment: Option<i64>,
    pub cloud: Option<Cloud>,
    /// The experiment's distillation method (`rslad`, `ard`, …).
    pub method: Option<String>,
    pub macs_min: Option<i64>,
    pub macs_max: Option<i64>,
    pub clean_min: Option<f64>,
    pub pgd20_min: Option<f64>,
    pub order: StudentOrder,
    pub descending: bool,
    pub offset: i64,
    /// At most this many (all when 0).
    pub limit: i64,
}

fn student(row: &AnyRow) -> Result<StoredStudent, StoreError> {
    let corrupt =
        |what: &str, e: serde_json::Error| StoreError::Corrupt(format!("student {what}: {e}"));
    let cloud: String = row.try_get("cloud")?;
    let arch: String = row.try_get("arch")?;
    let encoding: String = row.try_get("encoding")?;
    let settings: String = row.try_get("settings")?;
    Ok(StoredStudent {
        experiment_id: row.try_get("experiment_id")?,
        cloud: cloud.parse().map_err(StoreError::Corrupt)?,
        record: StudentRecord {
            index: row.try_get::<i64, _>("idx")? as usize,
            arch: serde_json::from_str::<Arch>(&arch).map_err(|e| corrupt("arch", e))?,
            encoding: serde_json::from_str(&encoding).map_err(|e| corrupt("encoding", e))?,
            macs: row.try_get::<i64, _>("macs")? as u64,
            params: row.try_get::<i64, _>("params")? as u64,
            clean: row.try_get("clean")?,
            fgsm: row.try_get("fgsm")?,
            pgd20: row.try_get("pgd20")?,
            settings: serde_json::from_str::<StudentSettings>(&settings)
                .map_err(|e| corrupt("settings", e))?,
        },
    })
}

impl Store {
    /// Stores a student record (the same record again overwrites it).
    pub async fn put_student(
        &self,
        experiment: i64,
        cloud: Cloud,
        record: &StudentRecord,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO students (experiment_id, cloud, idx, arch, encoding, macs, params, \
             clean, fgsm, pgd20, settings) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (experiment_id, cloud, idx) DO UPDATE SET arch = excluded.arch, \
             encoding = excluded.encoding, macs = excluded.macs, params = excluded.params, \
             clean = excluded.clean, fgsm = excluded.fgsm, pgd20 = excluded.pgd20, \
             settings = excluded.settings",
        )
        .bind(experiment)
        .bind(cloud.name())
        .bind(record.index as i64)
        .bind(serde_json::to_string(&record.arch).expect("archs serialise"))
        .bind(serde_json::to_string(&record.encoding).expect("encodings serialise"))
        .bind(record.macs as i64)
        .bind(record.params as i64)
        .bind(record.clean)
        .bind(record.fgsm)
        .bind(record.pgd20)
        .bind(serde_json::to_string(&record.settings).expect("settings serialise"))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Students matching `query`, in its order, one page.
    pub async fn students(&self, query: &StudentQuery) -> Result<Vec<StoredStudent>, StoreError> {
        let direction = if query.descending { "DESC" } else { "ASC" };
        // Only the column name and direction are spliced in, both from fixed lists.
        let sql = format!(
            "SELECT s.experiment_id, s.cloud, s.idx, s.arch, s.encoding, s.macs, s.params, \
             s.clean, s.fgsm, s.pgd20, s.settings FROM students s \
             JOIN experiments e ON e.id = s.experiment_id WHERE {STUDENT_FILTER} \
             ORDER BY s.{column} {direction}, s.experiment_id, s.cloud, s.idx LIMIT $8 OFFSET $9",
            column = query.order.column(),
        );
        let rows = bind_filter(sqlx::query(AssertSqlSafe(sql)), query)
            .bind(if query.limit > 0 { query.limit } else { i64::MAX })
            .bind(query.offset)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(student).collect()
    }

    /// How many students `query` selects, all pages together.
    pub async fn student_count(&self, query: &StudentQuery) -> Result<i64, StoreError> {
        let sql = format!(
            "SELECT COUNT(*) FROM students s JOIN experiments e ON e.id = s.experiment_id \
             WHERE {STUDENT_FILTER}"
        );
        let row =
            bind_filter(sqlx::query(AssertSqlSafe(sql)), query).fetch_one(self.pool()).await?;
        Ok(row.try_get(0)?)
    }

    /// The best ProARD student of an experiment on clean and on PGD-20 accuracy.
    pub async fn best_students(
        &self,
        experiment: i64,
    ) -> Result<(Option<f64>, Option<f64>), StoreError> {
        let row = sqlx::query(
            "SELECT MAX(clean) AS clean, MAX(pgd20) AS pgd20 FROM students \
             WHERE experiment_id = $1 AND cloud = 'proard'",
        )
        .bind(experiment)
        .fetch_one(self.pool())
        .await?;
        Ok((row.try_get("clean")?, row.try_get("pgd20")?))
    }

    /// Records a weights file of an experiment (once per path).
    pub async fn put_artifact(
        &self,
        experiment: i64,
        kind: &str,
        path: &str,
        bytes: u64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO artifacts (experiment_id, kind, path, bytes, created_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (experiment_id, path) DO NOTHING",
        )
        .bind(experiment)
        .bind(kind.to_owned())
        .bind(path.to_owned())
        .bind(bytes as i64)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The weights files of an experiment.
    pub async fn artifacts(&self, experiment: i64) -> Result<Vec<Artifact>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, kind, path, bytes FROM artifacts WHERE experiment_id = $1 ORDER BY id",
        )
        .bind(experiment)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Artifact {
                    id: r.try_get("id")?,
                    kind: r.try_get("kind")?,
                    path: r.try_get("path")?,
                    bytes: r.try_get("bytes")?,
                })
            })
            .collect()
    }
}
