//! Pieces several pages use.
//!
//! * [`cloud`] — the interactive scatter of students (canvas: 10 000 points pan, zoom, hover);
//! * [`line_chart`] — curves over steps or epochs (SVG, one path per series);
//! * [`predictor`] — fit the predictor, measured against predicted on held-out students;
//! * [`search`] — the Pareto search under a MACs budget, in the search worker;
//! * [`stages`] — an experiment's stages on a time line with progress and ETA;
//! * [`status`] — the status badge;
//! * [`verifications`] — export / verify a student, and the verified students.

pub mod cloud;
pub mod line_chart;
pub mod predictor;
pub mod search;
pub mod stages;
pub mod status;
pub mod verifications;
