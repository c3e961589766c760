//! Progress of long stages: an indicatif bar with ETA on a terminal, plain lines otherwise (logs,
//! CI), so that a run in the background still says where it is.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::validate::GridResult;

pub struct Progress {
    bar: Option<ProgressBar>,
    name: String,
}

impl Progress {
    pub fn new(name: &str, total: u64, done: u64) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(total).with_position(done);
            bar.set_style(
                ProgressStyle::with_template(
                    "{prefix:>16} [{bar:30}] {pos}/{len} steps · {msg} · ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar.set_prefix(name.to_owned());
            bar
        });
        if bar.is_none() {
            eprintln!("{name}: {done}/{total} steps");
        }
        Progress { bar, name: name.to_owned() }
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
        let line = format!(
            "{}: epoch {epoch}/{epochs} done; clean/PGD-20 over the grid: [{}]",
            self.name,
            summary.join(", ")
        );
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
