//! `proard-backend`: the ProARD Studio server and the `proard` CLI, over a library that works
//! without either.
//!
//! * [`attack`] — adversarial attacks (input gradients only) and robust evaluation;
//! * [`bench`] — throughput measurements of `proard model bench`;
//! * [`cli`] — the `proard` command line;
//! * [`data`] — CIFAR binaries, image folders, the synthetic set, download, loader;
//! * [`experiment`] — the ProARD pipeline: config, stages with resume, students, bench;
//! * [`device`] — which Burn device a command computes on;
//! * [`model`] — dynamic supernets, BatchNorm modes, students, weights files;
//! * [`objective`] — robust training objectives (SAT, TRADES, MART, ARD, IAD, RSLAD, AdaAD, DARD, CIARD);
//! * [`overlay`] — partial config tables over context-dependent defaults;
//! * [`server`] — axum routes (JSON API, static studio);
//! * [`spaces`] — a space from a preset name or a file;
//! * [`space_report`] — the human-readable space summary.

pub mod attack;
pub mod bench;
pub mod cli;
pub mod data;
pub mod device;
pub mod experiment;
pub mod model;
pub mod objective;
pub mod overlay;
pub mod server;
pub mod space_report;
pub mod spaces;
