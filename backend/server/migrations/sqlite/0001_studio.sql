-- ProARD Studio's store (SQLite). migrations/postgres holds the same schema for PostgreSQL.
-- Times are Unix milliseconds; JSON is TEXT; flags are INTEGER 0/1 (the Any driver reads no
-- SQLite booleans). Files (checkpoints, supernets, students) stay in the data directory and are
-- referenced by paths relative to it.

CREATE TABLE experiments (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    -- The run's config as TOML, its space inline (what DIR/config.toml holds).
    config TEXT NOT NULL,
    space TEXT NOT NULL,
    family TEXT NOT NULL,
    teacher_method TEXT NOT NULL,
    distill_method TEXT NOT NULL,
    -- The run directory, relative to the data directory.
    dir TEXT NOT NULL,
    eval_shards INTEGER NOT NULL,
    -- queued | running | done | failed | cancelled, derived from the jobs.
    status TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '[]',
    notes TEXT NOT NULL DEFAULT '',
    error TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX experiments_status ON experiments (status);

-- The durable queue: a worker claims a ready job by taking its lease and renews it while the
-- job runs; a lease that expires (a killed worker) makes the job claimable again.
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    -- JSON: {"kind": "train-teacher"} | {"kind": "train-phase", "index": 0, "name": …} |
    -- {"kind": "train-baseline"} | {"kind": "evaluate", "shard": 0, "shards": 2}
    kind TEXT NOT NULL,
    label TEXT NOT NULL,
    -- queued | running | done | failed | cancelled
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    error_kind TEXT,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX jobs_status ON jobs (status, id);
CREATE INDEX jobs_experiment ON jobs (experiment_id);

CREATE TABLE job_deps (
    job_id INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    depends_on INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    PRIMARY KEY (job_id, depends_on)
);

-- Progress of each stage (training stages and the evaluations `students:<cloud>`).
CREATE TABLE stages (
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    unit TEXT NOT NULL,
    total INTEGER NOT NULL,
    done INTEGER NOT NULL,
    epochs INTEGER NOT NULL,
    -- running | done | failed
    status TEXT NOT NULL,
    error TEXT,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER,
    PRIMARY KEY (experiment_id, name)
);

-- Keyed by step: a resumed stage replays the steps after its last checkpoint with the same
-- values, which overwrite, never duplicate.
CREATE TABLE steps (
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    step INTEGER NOT NULL,
    epoch INTEGER NOT NULL,
    lr REAL NOT NULL,
    loss REAL NOT NULL,
    PRIMARY KEY (experiment_id, stage, step)
);

CREATE TABLE epochs (
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    epoch INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    mean_loss REAL NOT NULL,
    seconds REAL NOT NULL,
    -- JSON array of the validation grid: [{arch, clean, pgd20, …}]
    validation TEXT NOT NULL,
    PRIMARY KEY (experiment_id, stage, epoch)
);

-- Evaluated students: cloud is proard | baseline | teacher.
CREATE TABLE students (
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    cloud TEXT NOT NULL,
    idx INTEGER NOT NULL,
    arch TEXT NOT NULL,
    encoding TEXT NOT NULL,
    macs INTEGER NOT NULL,
    params INTEGER NOT NULL,
    clean REAL NOT NULL,
    fgsm REAL NOT NULL,
    pgd20 REAL NOT NULL,
    settings TEXT NOT NULL,
    PRIMARY KEY (experiment_id, cloud, idx)
);
CREATE INDEX students_macs ON students (experiment_id, cloud, macs);

-- Weights files of an experiment (supernets now; exported students later).
CREATE TABLE artifacts (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    path TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (experiment_id, path)
);

-- Rows of the studio's later features, in the schema from the start so that every database
-- migrates the same way.
CREATE TABLE predictors (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    cloud TEXT NOT NULL,
    path TEXT NOT NULL,
    settings TEXT NOT NULL,
    rmse_acc REAL NOT NULL,
    rmse_rob REAL NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE searches (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    predictor_id INTEGER NOT NULL REFERENCES predictors (id) ON DELETE CASCADE,
    settings TEXT NOT NULL,
    front TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE verifications (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    arch TEXT NOT NULL,
    settings TEXT NOT NULL,
    result TEXT,
    created_at INTEGER NOT NULL
);

CREATE TABLE share_links (
    id INTEGER PRIMARY KEY,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
    -- Only a hash of the token is stored.
    token_hash TEXT NOT NULL UNIQUE,
    view TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
