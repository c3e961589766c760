//! `proard config|run|train|eval|bench`: the ProARD pipeline from the command line.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use proard_core::device::DeviceChoice;
use proard_core::experiment::bench::{BenchConfig, bench};
use proard_core::experiment::config::SpaceRef;
use proard_core::experiment::{ExperimentConfig, Goal, Outcome, RunError, Shard, demo_config};

use crate::progress::Bars;
use proard_core::spaces::load_space;

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the default experiment config for a space (the reference's settings), commented.
    Init {
        /// Preset name or space file.
        #[arg(long)]
        preset: String,
    },
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Experiment config (TOML; `proard config init` writes one).
    #[arg(long, required_unless_present = "demo", conflicts_with = "demo")]
    pub config: Option<PathBuf>,
    /// The built-in demo: a tiny space on the synthetic set, every stage in a few minutes.
    #[arg(long)]
    pub demo: bool,
    /// Output directory; an interrupted run in it resumes.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum TrainCommand {
    /// The adversarially trained teacher (the space's largest subnet).
    Teacher(StageArgs),
    /// The progressive phases (after the teacher, trained first if missing).
    Supernet(StageArgs),
    /// The random-sampling baseline (after the teacher).
    Baseline(StageArgs),
}

#[derive(Debug, Args)]
pub struct StageArgs {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    #[arg(long)]
    pub config: PathBuf,
    #[arg(long)]
    pub out: PathBuf,
    /// `i/n`: evaluate every n-th student starting at i, into `students.shard-i-of-n.jsonl`.
    #[arg(long, default_value = "0/1")]
    pub shard: Shard,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A run directory (`--out` of `proard run`); it may still be running.
    pub out: PathBuf,
    /// One JSON object: `stages` and `clouds` (student statistics, best students, MACs–PGD-20 front).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Preset name or space file.
    #[arg(long, default_value = "resnet-mini")]
    pub space: String,
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Timed steps per measurement (after one warm-up step).
    #[arg(long, default_value_t = 3)]
    pub steps: usize,
    /// Test images of the one-student evaluation (the paper's protocol uses 10 000).
    #[arg(long, default_value_t = 10_000)]
    pub student_images: usize,
    #[arg(long, default_value_t = 4000)]
    pub calibration_images: usize,
    #[arg(long, default_value_t)]
    pub device: DeviceChoice,
    /// trades_step_img_s, rslad_step_img_s, pgd20_eval_img_s, student_eval_seconds,
    /// cpu_utilisation (cores busy), cpu_utilisation_by_measurement.
    #[arg(long)]
    pub json: bool,
}

/// Section comments of `proard config init`.
const COMMENTS: [(&str, &str); 8] = [
    ("[data_limits]", "# Use part of the data set (a seeded random subset), e.g. for quick runs."),
    ("[network]", "# Network settings outside the search space."),
    (
        "[teacher",
        "# The adversarially trained teacher: the space's largest subnet (TRADES by default).",
    ),
    (
        "[supernet",
        "# Supernet training shared by all phases and the baseline (RSLAD by default).\n# sampling: per-step (OFA: fresh subnets every step) or per-pass (the reference code).",
    ),
    (
        "[[phases]]",
        "# A progressive phase: choices it samples (\"all\", { largest = n } or a list),\n# epochs (+ warm-up), learning rate, subnets per step.",
    ),
    (
        "[baseline]",
        "# Random sampling of the whole space from the teacher, same number of subnet updates.",
    ),
    ("[validation", "# Per-epoch grid validation: BN re-calibration, clean and PGD-20 accuracy."),
    (
        "[evaluation",
        "# Student evaluation: N unique archs, clean / FGSM / PGD-20, one JSON line each.",
    ),
];

fn commented(config: &ExperimentConfig) -> String {
    let mut out = String::from(
        "# ProARD experiment (proard run --config FILE --out DIR). Defaults are the reference's\n\
         # (docs/method.md); every field may be left out to keep its default.\n",
    );
    let mut said = std::collections::HashSet::new();
    for line in config.to_toml().lines() {
        for (prefix, comment) in COMMENTS {
            if line.starts_with(prefix) && said.insert(prefix) {
                out.push('\n');
                out.push_str(comment);
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn report(outcome: &Outcome, out: &Path) {
    eprintln!("done: results in {}", out.display());
    for (label, students) in
        [("ProARD", &outcome.students), ("baseline", &outcome.baseline_students)]
    {
        if let Some((path, count)) = students {
            eprintln!("{label} students: {count} records in {}", path.display());
        }
    }
    if let Some((path, teacher)) = &outcome.teacher {
        eprintln!(
            "teacher: clean {:.3}, FGSM {:.3}, PGD-20 {:.3} in {}",
            teacher.clean,
            teacher.fgsm,
            teacher.pgd20,
            path.display()
        );
    }
}

pub fn config(command: ConfigCommand) -> anyhow::Result<()> {
    let ConfigCommand::Init { preset } = command;
    let space = load_space(&preset)?;
    print!("{}", commented(&ExperimentConfig::for_space(SpaceRef::Named(preset), space.family())));
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<ExperimentConfig> {
    ExperimentConfig::load(path).map_err(anyhow::Error::from)
}

/// Runs the pipeline with progress bars; library errors get the CLI's hints.
fn run(config: &ExperimentConfig, out: &Path, goal: Goal) -> anyhow::Result<Outcome> {
    proard_core::experiment::run(config, out, goal, &Bars::default()).map_err(|error| match error {
        RunError::OtherRun { .. } | RunError::Busy(_) => {
            anyhow::anyhow!("{error} (here: give this run another --out)")
        }
        error => anyhow::Error::new(error),
    })
}

pub fn run_command(args: RunArgs) -> anyhow::Result<()> {
    let config = match &args.config {
        Some(path) => load(path)?,
        None => demo_config(),
    };
    let outcome = run(&config, &args.out, Goal::Everything)?;
    report(&outcome, &args.out);
    Ok(())
}

pub fn train(command: TrainCommand) -> anyhow::Result<()> {
    let (args, goal) = match command {
        TrainCommand::Teacher(a) => (a, Goal::Teacher),
        TrainCommand::Supernet(a) => (a, Goal::Supernet),
        TrainCommand::Baseline(a) => (a, Goal::Baseline),
    };
    let outcome = run(&load(&args.config)?, &args.out, goal)?;
    report(&outcome, &args.out);
    Ok(())
}

pub fn eval(args: EvalArgs) -> anyhow::Result<()> {
    let outcome = run(&load(&args.config)?, &args.out, Goal::Evaluate(args.shard))?;
    report(&outcome, &args.out);
    Ok(())
}

pub fn bench_command(args: BenchArgs) -> anyhow::Result<()> {
    let space = load_space(&args.space)?;
    let device = args.device.device()?;
    let config = BenchConfig {
        batch: args.batch,
        steps: args.steps,
        student_images: args.student_images,
        calibration_images: args.calibration_images,
    };
    let report = bench(&space, &config, &device)
        .map_err(|e| anyhow::anyhow!("--{}", e.to_string().replace('_', "-")))?;
    if args.json {
        println!("{}", serde_json::to_string(&report).context("serialising the report")?);
    } else {
        println!(
            "{} ({}), batch {}: TRADES step {:.1} img/s, RSLAD step {:.1} img/s, PGD-20 eval {:.1} img/s, \
             one student ({} calibration + {} test images, clean + PGD-20) {:.1} s; \
             {:.2} cores busy",
            report.space,
            report.device,
            config.batch,
            report.trades_step_img_s,
            report.rslad_step_img_s,
            report.pgd20_eval_img_s,
            config.calibration_images,
            config.student_images,
            report.student_eval_seconds,
            report.cpu_utilisation
        );
    }
    Ok(())
}

pub fn report_command(args: ReportArgs) -> anyhow::Result<()> {
    let report = proard_core::experiment::report::report(&args.out)?;
    if args.json {
        println!("{}", serde_json::to_string(&report).context("serialising the report")?);
        return Ok(());
    }
    println!(
        "{:<22} {:>8} {:>7} {:>9} {:>8}  last validation (clean/PGD-20)",
        "stage", "epochs", "steps", "time", "loss"
    );
    for stage in &report.stages {
        let grid: Vec<String> = stage
            .last_validation
            .iter()
            .map(|g| format!("{:.3}/{:.3}", g.clean, g.pgd20))
            .collect();
        println!(
            "{:<22} {:>7}{} {:>7} {:>9} {:>8}  {}",
            stage.name,
            stage.epochs,
            if stage.finished { " " } else { "…" },
            stage.steps,
            duration(stage.seconds),
            stage.last_loss.map_or("-".into(), |l| format!("{l:.4}")),
            grid.join(" "),
        );
    }
    let total: f64 = report.stages.iter().map(|s| s.seconds).sum();
    println!("{:<22} {:>26}", "stage times summed", duration(total));
    if report.clouds.is_empty() {
        println!("\nno students evaluated yet");
        return Ok(());
    }
    // Named after the attack that produced them: `PGD-20`, `PGD-20 (any iterate)`.
    let robust = report.clouds[0].settings.pgd20.label();
    println!(
        "\n{:<10} {:>8}  {:>23}  {:>23}  {:>6}  best clean / {robust} student",
        "students",
        "count",
        "clean mean/median/max",
        format!("{robust} mean/median/max"),
        "FGSM"
    );
    for cloud in &report.clouds {
        let triple = |s: &proard_core::experiment::report::Stats| {
            format!("{:.3}/{:.3}/{:.3}", s.mean, s.median, s.max)
        };
        let best = |s: &proard_core::experiment::report::Student| {
            format!("#{} {:.1} MMACs {:.3}/{:.3}", s.index, s.macs as f64 / 1e6, s.clean, s.pgd20)
        };
        println!(
            "{:<10} {:>8}  {:>23}  {:>23}  {:>6.3}  {} ; {}",
            cloud.label,
            cloud.students,
            triple(&cloud.clean),
            triple(&cloud.pgd20),
            cloud.fgsm.mean,
            best(&cloud.best_clean),
            best(&cloud.best_pgd20),
        );
    }
    if let Some(teacher) = &report.teacher {
        println!(
            "{:<10} {:>8}  {:>23.3}  {:>23.3}  {:>6.3}  largest arch, {:.1} MMACs",
            "teacher",
            1,
            teacher.clean,
            teacher.pgd20,
            teacher.fgsm,
            teacher.macs as f64 / 1e6
        );
    }
    for cloud in &report.clouds {
        let front: Vec<String> = cloud
            .front
            .iter()
            .map(|s| format!("{:.1}M:{:.3}", s.macs as f64 / 1e6, s.pgd20))
            .collect();
        println!("{} MACs–{robust} front: {}", cloud.label, front.join(" "));
    }
    if let Some(paired) = &report.paired {
        let difference = |d: &proard_core::experiment::report::Difference| {
            let error = d.standard_error.map_or(String::new(), |e| format!(" ± {e:.3}"));
            format!("{:+.3}{error}", d.mean)
        };
        println!(
            "ProARD − baseline on the same {} archs (mean ± s.e.): clean {}, FGSM {}, {robust} {}; \
             {robust} higher on {}, lower on {}",
            paired.archs,
            difference(&paired.clean),
            difference(&paired.fgsm),
            difference(&paired.pgd20),
            paired.pgd20.higher,
            paired.pgd20.lower,
        );
    }
    let settings = &report.clouds[0].settings;
    println!(
        "settings: {} calibration / {} test images, seed {}; FGSM ε {}; {robust}: ε {} α {} × {} steps, {} restart(s)",
        settings.calibration_images,
        settings.test_images,
        settings.seed,
        settings.fgsm.epsilon,
        settings.pgd20.epsilon,
        settings.pgd20.step_size,
        settings.pgd20.steps,
        settings.pgd20.restarts,
    );
    if report.clouds.iter().any(|c| c.settings != *settings) {
        println!("warning: ProARD and baseline students were evaluated with different settings");
    }
    Ok(())
}

/// `1h 02m`, `12m 05s` or `42s`.
fn duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    match (s / 3600, s / 60 % 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, s) => format!("{m}m {s:02}s"),
        (h, m, _) => format!("{h}h {m:02}m"),
    }
}
