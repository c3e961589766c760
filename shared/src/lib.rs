//! `proard-shared`: everything the ProARD server, CLI and browser studio share.
//!
//! Architecture invariants: no I/O, no clocks — pure functions of their inputs, so the crate
//! builds for wasm32 and gives bit-identical answers natively and in the browser (seeded
//! ChaCha8 randomness, integer cost arithmetic). Tensors only behind the `predictor` feature
//! (Burn), so the UI bundle stays small; the search's Web Worker enables it.
//!
//! * [`space`] — search spaces (ResNet / MobileNetV3 families), validation, channel tables;
//! * [`preset`] — the built-in spaces;
//! * [`arch`] — arch configs in the reference format, validated against a space;
//! * [`subnet`] — the concrete network an arch stands for;
//! * [`cost`] — analytic MACs and parameters;
//! * [`count`] — exact number of distinct subnets;
//! * [`encoding`] — one-hot encoding for the predictor;
//! * [`genome`] — seeded sampling, mutation and crossover;
//! * [`nsga2`] — NSGA-II multi-objective search over genomes (pymoo's algorithm);
//! * [`phase`] — progressive-shrinking phases: allowed choices, reference table, validation grid;
//! * [`channels`] — the reference's channel rounding;
//! * [`display`] — number formatting shared by CLI and studio;
//! * [`schedule`] — the learning rate per step (the studio previews it);
//! * [`ticks`] — chart axes' ticks at round numbers (the studio's charts);
//! * [`search`] — arch search: NSGA-II over genomes under a MACs budget, generation by
//!   generation, with a score cache and warm starts;
//! * [`search_worker`] — the messages between the studio page and its search Web Worker;
//! * [`predictor`] — the accuracy–robustness MLP (feature `predictor`, Burn);
//! * [`weights_header`] — the self-describing metadata of safetensors weights files;
//! * [`api`] — JSON types exchanged between server, CLI and browser.

pub mod api;
pub mod arch;
pub mod channels;
pub mod cost;
pub mod count;
pub mod display;
pub mod encoding;
pub mod genome;
pub mod nsga2;
pub mod phase;
#[cfg(feature = "predictor")]
pub mod predictor;
pub mod preset;
pub mod schedule;
pub mod search;
pub mod search_worker;
pub mod space;
pub mod subnet;
pub mod ticks;
pub mod weights_header;

pub use arch::{Arch, ArchError};
pub use cost::Cost;
pub use space::{Family, Space, SpaceError};
pub use subnet::Subnet;
