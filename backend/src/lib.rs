//! `proard-backend`: the ProARD Studio server and the `proard` CLI, over a library that works
//! without either.
//!
//! * [`cli`] — the `proard` command line;
//! * [`device`] — which Burn device a command computes on;
//! * [`model`] — dynamic supernets, BatchNorm modes, students, weights files;
//! * [`server`] — axum routes (JSON API, static studio);
//! * [`spaces`] — a space from a preset name or a file;
//! * [`space_report`] — the human-readable space summary.

pub mod cli;
pub mod device;
pub mod model;
pub mod server;
pub mod space_report;
pub mod spaces;
