//! One module per page of the studio.
//!
//! * [`experiments`] — the experiments table (`/`);
//! * [`new_experiment`] — the config form (`/new`, `/new?clone=ID`);
//! * [`experiment`] — one experiment: stages, curves, clouds, table (`/experiments/ID`);
//! * [`compare`] — experiments overlaid (`/compare?ids=1,2`);
//! * [`share`] — a share link's read-only view (`/share/TOKEN`);
//! * [`spaces`] — the presets and the space editor (`/spaces`).

pub mod compare;
pub mod experiment;
pub mod experiments;
pub mod new_experiment;
pub mod share;
pub mod spaces;
