//! From evaluated students to what the charts draw: the accuracy–robustness cloud, the
//! MACs–PGD-20 fronts, and the arch-by-arch ProARD − baseline differences.

use std::collections::HashMap;

use proard_shared::api::Student;
use proard_shared::display::{mmacs, mparams};

use crate::components::cloud::{Marker, Point, Series};

/// The colours of the clouds (ProARD, baseline, teacher) where a chart does not tone by MACs.
pub const PROARD: &str = "#1f6fd1";
pub const BASELINE: &str = "#e8710a";
pub const TEACHER: &str = "#c0182a";

/// A student's key in the URL and in selections: `proard:12`.
pub fn key(student: &Student) -> String {
    format!("{}:{}", student.cloud, student.record.index)
}

/// An experiment's config (TOML text, as the API stores it) as a JSON value; `Null` if unreadable.
pub fn config_value(config: &str) -> serde_json::Value {
    toml::from_str(config).unwrap_or(serde_json::Value::Null)
}

/// What an experiment's robust accuracy is named, from its config (TOML text): `PGD-20`, or
/// `PGD-20 (any iterate)` where the evaluation keeps the first fooling iterate.
pub fn robust_label(config: &str) -> String {
    proard_shared::display::robust_label(&config_value(config))
}

/// Every number of a student and its arch, for tooltips and the selection panel; `robust` names
/// the robust accuracy.
pub fn describe(student: &Student, robust: &str) -> String {
    let r = &student.record;
    let arch = serde_json::to_string(&r.arch).unwrap_or_default();
    format!(
        "#{}  {} MMACs  {} M params\nclean {:.3}  FGSM {:.3}  {robust} {:.3}\n{arch}",
        r.index,
        mmacs(r.macs),
        mparams(r.params),
        r.clean,
        r.fgsm,
        r.pgd20
    )
}

fn of<'a>(students: &'a [Student], cloud: &str) -> impl Iterator<Item = &'a Student> {
    let cloud = cloud.to_owned();
    students.iter().filter(move |s| s.cloud == cloud)
}

fn point(s: &Student, (x, y): (f64, f64), toned: bool, robust: &str) -> Point {
    let tone = toned.then(|| s.record.macs as f64 / 1e6);
    Point { x, y, tone, key: key(s), label: describe(s, robust) }
}

/// Clean vs PGD-20 accuracy: ProARD (circles) and baseline (squares) toned by MMACs, the teacher.
pub fn accuracy_cloud(students: &[Student], prefix: &str, robust: &str) -> Vec<Series> {
    let series = |cloud: &str, name: &str, marker, color: &str| Series {
        name: format!("{prefix}{name}"),
        marker,
        color: color.to_owned(),
        points: of(students, cloud)
            .map(|s| point(s, (s.record.clean, s.record.pgd20), cloud != "teacher", robust))
            .collect(),
        staircase: false,
    };
    vec![
        series("proard", "ProARD", Marker::Circle, PROARD),
        series("baseline", "baseline (random sampling)", Marker::Square, BASELINE),
        series("teacher", "teacher", Marker::Diamond, TEACHER),
    ]
    .into_iter()
    .filter(|s| !s.points.is_empty())
    .collect()
}

/// The students no other beats on both fewer MACs and higher PGD-20 accuracy, by MACs.
pub fn front<'a>(students: impl Iterator<Item = &'a Student>) -> Vec<&'a Student> {
    let mut all: Vec<&Student> = students.collect();
    all.sort_by(|a, b| {
        a.record.macs.cmp(&b.record.macs).then(b.record.pgd20.total_cmp(&a.record.pgd20))
    });
    let mut best = f64::NEG_INFINITY;
    all.into_iter()
        .filter(|s| {
            let better = s.record.pgd20 > best;
            best = best.max(s.record.pgd20);
            better
        })
        .collect()
}

/// MMACs vs PGD-20: each cloud's points and its front as a staircase.
pub fn macs_front(
    students: &[Student],
    clouds: &[(&str, &str, &str)],
    robust: &str,
) -> Vec<Series> {
    let mut out = Vec::new();
    for &(cloud, name, color) in clouds {
        let points: Vec<Point> = of(students, cloud)
            .map(|s| point(s, (s.record.macs as f64 / 1e6, s.record.pgd20), false, robust))
            .collect();
        if points.is_empty() {
            continue;
        }
        let front: Vec<Point> = front(of(students, cloud))
            .into_iter()
            .map(|s| point(s, (s.record.macs as f64 / 1e6, s.record.pgd20), false, robust))
            .collect();
        out.push(Series {
            name: name.to_owned(),
            marker: Marker::Circle,
            color: color.to_owned(),
            points,
            staircase: false,
        });
        out.push(Series {
            name: format!("{name} front"),
            marker: Marker::Square,
            color: color.to_owned(),
            points: front,
            staircase: true,
        });
    }
    out
}

/// The same arch (sample index) in both clouds: ProARD − baseline per arch.
#[derive(Clone, Debug, PartialEq)]
pub struct Difference {
    pub index: usize,
    pub macs: u64,
    pub clean: f64,
    pub pgd20: f64,
}

pub fn differences(students: &[Student]) -> Vec<Difference> {
    let baseline: HashMap<usize, &Student> =
        of(students, "baseline").map(|s| (s.record.index, s)).collect();
    of(students, "proard")
        .filter_map(|p| {
            let b = baseline.get(&p.record.index)?;
            Some(Difference {
                index: p.record.index,
                macs: p.record.macs,
                clean: p.record.clean - b.record.clean,
                pgd20: p.record.pgd20 - b.record.pgd20,
            })
        })
        .collect()
}

/// Differences by MMACs, clean and PGD-20.
pub fn difference_series(diffs: &[Difference]) -> Vec<Series> {
    let series = |name: &str, color: &str, marker, pick: fn(&Difference) -> f64| Series {
        name: name.to_owned(),
        marker,
        color: color.to_owned(),
        points: diffs
            .iter()
            .map(|d| Point {
                x: d.macs as f64 / 1e6,
                y: pick(d),
                tone: None,
                key: format!("proard:{}", d.index),
                label: format!(
                    "#{}  {} MMACs\nProARD − baseline: clean {:+.3}, PGD-20 {:+.3}",
                    d.index,
                    mmacs(d.macs),
                    d.clean,
                    d.pgd20
                ),
            })
            .collect(),
        staircase: false,
    };
    vec![
        series("Δ PGD-20", TEACHER, Marker::Circle, |d| d.pgd20),
        series("Δ clean", PROARD, Marker::Square, |d| d.clean),
    ]
}
