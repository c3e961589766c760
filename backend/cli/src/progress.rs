//! Progress bars drawn from a run's events: an indicatif bar with ETA per stage on a terminal,
//! plain lines otherwise (logs, CI), so that a run in the background still says where it is.

use std::cell::RefCell;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use proard_core::experiment::students::StudentRecord;
use proard_core::experiment::train::LogLine;
use proard_core::experiment::{Cloud, Events, StageStart};

/// The CLI's observer of a run: one bar (or line stream) per stage.
#[derive(Default)]
pub struct Bars {
    current: RefCell<Option<Bar>>,
}

struct Bar {
    bar: Option<ProgressBar>,
    name: String,
    /// What is counted: `steps`, `students`.
    unit: &'static str,
    total: u64,
    position: u64,
    epochs: usize,
}

impl Bar {
    fn new(start: &StageStart) -> Bar {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(start.total).with_position(start.done);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{prefix:>18}} [{{bar:30}}] {{pos}}/{{len}} {} · {{msg}} · ETA {{eta}}",
                    start.unit
                ))
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(start.stage.to_owned());
            bar
        });
        if bar.is_none() {
            eprintln!("{}: {}/{} {}", start.stage, start.done, start.total, start.unit);
        }
        Bar {
            bar,
            name: start.stage.to_owned(),
            unit: start.unit,
            total: start.total,
            position: start.done,
            epochs: start.epochs,
        }
    }

    fn println(&self, line: String) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl Bars {
    fn with_bar(&self, f: impl FnOnce(&mut Bar)) {
        if let Some(bar) = self.current.borrow_mut().as_mut() {
            f(bar);
        }
    }

    fn finish(&self) {
        if let Some(Bar { bar: Some(bar), .. }) = self.current.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}

impl Events for Bars {
    fn stage_started(&self, start: &StageStart) {
        self.finish();
        *self.current.borrow_mut() = Some(Bar::new(start));
    }

    fn log(&self, line: &LogLine) {
        self.with_bar(|bar| match line {
            LogLine::Step { loss, .. } => {
                bar.position += 1;
                if let Some(b) = &bar.bar {
                    b.set_message(format!("loss {loss:.4}"));
                    b.inc(1);
                }
            }
            LogLine::Epoch { epoch, validation, .. } => {
                let epochs = bar.epochs;
                let summary: Vec<String> =
                    validation.iter().map(|r| format!("{:.3}/{:.3}", r.clean, r.pgd20)).collect();
                bar.println(if validation.is_empty() {
                    format!("{}: epoch {epoch}/{epochs} done", bar.name)
                } else {
                    format!(
                        "{}: epoch {epoch}/{epochs} done; clean/PGD-20 over the grid: [{}]",
                        bar.name,
                        summary.join(", ")
                    )
                });
            }
        });
    }

    fn student(&self, _cloud: Cloud, record: &StudentRecord) {
        self.with_bar(|bar| {
            bar.position += 1;
            let message = format!(
                "#{}: {:.1} MMACs, clean {:.3}, PGD-20 {:.3}",
                record.index,
                record.macs as f64 / 1e6,
                record.clean,
                record.pgd20
            );
            match &bar.bar {
                Some(b) => {
                    b.set_message(message);
                    b.inc(1);
                }
                None => eprintln!(
                    "{}: {}/{} {} · {message}",
                    bar.name, bar.position, bar.total, bar.unit
                ),
            }
        });
    }

    fn stage_finished(&self, _stage: &str) {
        self.finish();
    }

    fn stage_failed(&self, _stage: &str, _error: &dyn std::fmt::Display) {
        self.finish();
    }
}
