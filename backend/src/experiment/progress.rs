//! Progress of long stages: an indicatif bar with ETA on a terminal, plain lines otherwise (logs,
//! CI), so that a run in the background still says where it is.

use std::cell::Cell;
use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::validate::GridResult;

pub struct Progress {
    bar: Option<ProgressBar>,
    name: String,
    /// What is counted: `steps`, `students`.
    unit: String,
    total: u64,
    position: Cell<u64>,
}

impl Progress {
    pub fn new(name: &str, unit: &str, total: u64, done: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total).with_position(done);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{prefix:>16}} [{{bar:30}}] {{pos}}/{{len}} {unit} · {{msg}} · ETA {{eta}}"
                ))
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(name.to_owned());
            bar
        });
        if bar.is_none() {
            eprintln!("{name}: {done}/{total} {unit}");
        }
        Progress {
            bar,
            name: name.to_owned(),
            unit: unit.to_owned(),
            total,
            position: Cell::new(done),
        }
    }

    /// One slow item done (a student): on the bar, or as a line of its own without a terminal.
    pub fn item(&self, message: &str) {
        self.position.set(self.position.get() + 1);
        match &self.bar {
            Some(bar) => {
                bar.set_message(message.to_owned());
                bar.inc(1);
            }
            None => eprintln!(
                "{}: {}/{} {} · {message}",
                self.name,
                self.position.get(),
                self.total,
                self.unit
            ),
        }
    }

    pub fn step(&self, loss: f64) {
        if let Some(bar) = &self.bar {
            bar.set_message(format!("loss {loss:.4}"));
            bar.inc(1);
        }
    }

    pub fn epoch(&self, epoch: usize, epochs: usize, validation: &[GridResult]) {
        let summary: Vec<String> =
            validation.iter().map(|r| format!("{:.3}/{:.3}", r.clean, r.pgd20)).collect();
        let line = if validation.is_empty() {
            format!("{}: epoch {epoch}/{epochs} done", self.name)
        } else {
            format!(
                "{}: epoch {epoch}/{epochs} done; clean/PGD-20 over the grid: [{}]",
                self.name,
                summary.join(", ")
            )
        };
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
