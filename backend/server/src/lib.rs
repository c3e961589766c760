//! `proard-server`: ProARD Studio's server side, thin over `proard-core`. The core runs
//! experiments; this crate stores them, queues their stages as jobs, runs the jobs in worker
//! processes and serves the studio.
//!
//! * [`store`] — the database (SQLite or PostgreSQL through sqlx): experiments, the job queue,
//!   metrics, students, artifacts, verifications;
//! * [`plan`] — the jobs an experiment is made of and what each runs;
//! * [`worker`] — `proard worker`: claims jobs, runs them, renews leases, records the end;
//! * [`recorder`] — the worker's `Events`: a run's progress written to the store;
//! * [`sync`] — a run directory's files read into the store;
//! * [`import`] — `proard import`: a CLI run becomes an experiment;
//! * [`verification`] — a verification job: a student exported and attacked;
//! * [`supervisor`] — local worker processes started and restarted by `proard serve`;
//! * [`studio`] — `proard serve`: the store, the demo, workers and routes together;
//! * [`access`] — the studio token and share-link tokens;
//! * [`routes`] — axum routes: the JSON API (experiments, students, metrics, artifacts, live
//!   events, share links, verifications), login, the static studio.

pub mod access;
pub mod import;
pub mod plan;
pub mod recorder;
pub mod routes;
pub mod store;
pub mod studio;
pub mod supervisor;
pub mod sync;
pub mod verification;
pub mod worker;
