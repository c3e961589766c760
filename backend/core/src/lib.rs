//! `proard-core`: the ProARD science. It knows no HTTP server, no database and no terminal: runs
//! report progress through [`experiment::Events`] and are cancelled through it; the CLI draws
//! bars from those events, a studio worker stores them (crates `proard-cli`, `proard-server`).
//!
//! * [`attack`] — adversarial attacks (input gradients only) and robust evaluation;
//! * [`mod@bench`] — throughput measurements of `proard model bench`;
//! * [`data`] — CIFAR binaries, image folders, the synthetic set, download, loader;
//! * [`experiment`] — the ProARD pipeline: config, stages with resume, students, events, bench;
//! * [`device`] — which Burn device a command computes on;
//! * [`kernel`] — our own compute kernels behind Burn's backend extension (depthwise conv);
//! * [`model`] — dynamic supernets, BatchNorm modes, students, weights files;
//! * [`noise`] — random numbers from one seeded stream on the host, the same on every device;
//! * [`objective`] — robust training objectives (SAT, TRADES, MART, ARD, IAD, RSLAD, AdaAD, DARD, CIARD);
//! * [`overlay`] — partial config tables over context-dependent defaults;
//! * [`spaces`] — a space from a preset name or a file;
//! * [`verify`] — one student under strong attacks, with gradient-masking flags.

pub mod attack;
pub mod bench;
pub mod data;
pub mod device;
pub mod experiment;
pub mod kernel;
pub mod model;
pub mod noise;
pub mod objective;
pub mod overlay;
pub mod spaces;
pub mod verify;
