//! The `proard` command line: argument parsing and dispatch to the library.

mod data;
mod experiment;
mod student;

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use proard_shared::Arch;
use proard_shared::api::{SampledArch, SpaceSummary};
use proard_shared::genome::seeded_rng;
use proard_shared::nsga2::Nsga2Config;
use proard_shared::predictor::{Labelled, Predictor, PredictorConfig};
use proard_shared::search::{ArchScorer, SearchConfig, search};

use proard_core::attack::selftest::{self, SelfTestConfig};
use proard_core::bench::model_bench;
use proard_core::device::DeviceChoice;
use proard_core::model::check::check_export;

use proard_server::import::import_run;
use proard_server::studio::{StudioConfig, database_url, open_store, serve_studio};
use proard_server::supervisor::WorkerCommand;
use proard_server::worker::{WorkerConfig, run_worker};

use crate::space_report::{mmacs, report};
use proard_core::spaces::load_space;

/// ProARD Studio: progressive adversarial robustness distillation of once-for-all supernets.
#[derive(Debug, Parser)]
#[command(name = "proard", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect search spaces (presets or your own .toml/.json files).
    #[command(subcommand)]
    Space(SpaceCommand),
    /// Check data sets, fetch the official CIFAR archives, measure the loader.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Attack checks users can run.
    #[command(subcommand)]
    Attack(AttackCommand),
    /// Build supernets, check exported students, measure throughput.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Fit the accuracy–robustness predictor on evaluated students.
    #[command(subcommand)]
    Predictor(PredictorCommand),
    /// NSGA-II search for the best students under a MACs budget, scored by a predictor.
    Search {
        /// Predictor file written by `proard predictor fit`.
        #[arg(long)]
        predictor: PathBuf,
        /// MACs budget per image, in millions.
        #[arg(long)]
        max_mmacs: Option<f64>,
        /// Population size.
        #[arg(long, default_value_t = 100)]
        pop: usize,
        /// Generations.
        #[arg(long, default_value_t = 100)]
        gens: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also minimise MACs (a third objective).
        #[arg(long)]
        macs_objective: bool,
        /// Stop early once the front's hypervolume has not grown (by 0.01 %) for this many
        /// generations.
        #[arg(long)]
        patience: Option<usize>,
        #[arg(long, default_value_t)]
        device: DeviceChoice,
        /// One JSON line per front member: arch, macs, pred_acc, pred_rob.
        #[arg(long)]
        json: bool,
    },
    /// Experiment configs.
    #[command(subcommand)]
    Config(experiment::ConfigCommand),
    /// The whole pipeline: teacher, progressive phases, baseline, student evaluation (resumes
    /// an interrupted run in --out).
    Run(experiment::RunArgs),
    /// One training stage of the pipeline (earlier stages are trained first if missing).
    #[command(subcommand)]
    Train(experiment::TrainCommand),
    /// Evaluate the students of a trained run (optionally one shard of them).
    Eval(experiment::EvalArgs),
    /// Pipeline throughput: TRADES and RSLAD steps, PGD-20 evaluation, one student's evaluation.
    Bench(experiment::BenchArgs),
    /// What a run has produced so far: stages, and ProARD and baseline students side by side.
    Report(experiment::ReportArgs),
    /// Write one student of a run as a standalone weights file, BatchNorm calibrated as the
    /// run's evaluation does.
    Export(student::ExportArgs),
    /// Attack one exported student: clean, FGSM, PGD-20, CW∞, APGD-CE, APGD-T, AutoAttack-style,
    /// with warning flags for gradient masking.
    Verify(student::VerifyArgs),
    /// Serve the studio and its API, with local workers running the queued experiments.
    Serve {
        /// Address to listen on; loopback unless you ask otherwise.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Directory with index.html and the built frontend.
        #[arg(long, default_value = "static")]
        static_dir: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
        /// Local worker processes (each runs one job at a time; 0: only remote workers).
        #[arg(long, default_value_t = 1)]
        workers: usize,
        /// Do not queue the built-in demo when the database holds no experiment.
        #[arg(long)]
        no_demo: bool,
        /// Seconds without a heartbeat after which a worker's job is taken over.
        #[arg(long, default_value_t = 30.0)]
        lease_seconds: f64,
    },
    /// Run queued jobs (one at a time) from the studio's database; start one per GPU, on any
    /// machine that shares the database and the data directory.
    Worker {
        #[command(flatten)]
        store: StoreArgs,
        /// Seconds without a heartbeat after which this worker's job is taken over.
        #[arg(long, default_value_t = 30.0)]
        lease_seconds: f64,
        /// Milliseconds between looks at the queue while idle.
        #[arg(long, default_value_t = 500)]
        poll_ms: u64,
        /// Exit after this many jobs.
        #[arg(long)]
        max_jobs: Option<usize>,
        /// Exit when the process with this id is no longer the parent (set by `proard serve`).
        #[arg(long, hide = true)]
        parent: Option<u32>,
    },
    /// Print the studio token of a data directory (created if missing): scripts send it as
    /// `Authorization: Bearer TOKEN`.
    Token {
        /// Data directory of `proard serve`.
        #[arg(long, default_value = "data")]
        data_dir: PathBuf,
    },
    /// Register a run directory made by `proard run` as a studio experiment (its files are
    /// copied into the data directory; unfinished stages are queued).
    Import {
        /// The run directory (`--out` of `proard run`).
        dir: PathBuf,
        /// The experiment's name (the directory's name by default).
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Where the studio keeps its database and files.
#[derive(Debug, clap::Args)]
pub struct StoreArgs {
    /// Data directory: run directories of experiments, and the embedded database.
    #[arg(long, default_value = "data")]
    pub data_dir: PathBuf,
    /// Database URL: `postgres://user@host:port/db` to share work between machines;
    /// `DATA_DIR/studio.db` (SQLite) by default.
    #[arg(long)]
    pub database: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum SpaceCommand {
    /// Subnet count, MACs and parameter ranges, and the layout stage by stage.
    Show {
        /// Preset name (resnet50-cifar, mbv3-cifar, resnet-mini, mbv3-mini) or space file.
        space: String,
        /// One JSON object: name, subnets, macs_min, macs_max, params_min, params_max, encoding_dim.
        #[arg(long)]
        json: bool,
    },
    /// Draw random archs (each choice uniform and independent) with their cost.
    Sample {
        /// Preset name or space file.
        space: String,
        /// How many archs.
        #[arg(long, default_value_t = 10)]
        n: usize,
        /// Seed of the generator; the same seed gives the same archs.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// One JSON object per line: arch, macs, params.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Seeded supernet, one random batch through it and its exported student (eval-mode BN):
    /// max_abs_diff, macs_executed, macs_analytic, params.
    Check {
        /// Preset name or space file.
        space: String,
        /// `largest`, `smallest`, `random` (drawn with --seed) or an arch as JSON.
        #[arg(long, default_value = "largest")]
        arch: String,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = 8)]
        batch: usize,
        #[arg(long, default_value_t)]
        device: DeviceChoice,
        #[arg(long)]
        json: bool,
    },
    /// Images per second of a forward pass, an SGD training step and PGD-10 on one subnet.
    Bench {
        space: String,
        #[arg(long, default_value = "largest")]
        arch: String,
        #[arg(long, default_value_t = 128)]
        batch: usize,
        /// Timed iterations per measurement (after one warm-up).
        #[arg(long, default_value_t = 3)]
        iterations: usize,
        #[arg(long, default_value_t)]
        device: DeviceChoice,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AttackCommand {
    /// Train a small network on the synthetic set (seeded, fixed budget), then report clean,
    /// FGSM, PGD-20, CW∞ and APGD-CE accuracy at ε ∈ {0, 2, 4, 8}/255: spots gradient masking
    /// or a broken install.
    Selftest {
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Training steps.
        #[arg(long, default_value_t = 300)]
        steps: usize,
        /// Synthetic test images attacked.
        #[arg(long, default_value_t = 256)]
        images: usize,
        #[arg(long, default_value_t)]
        device: DeviceChoice,
        /// `{"clean": a, "attacks": {"pgd20": {"0": a, "0.00784": a, …}, …}, "settings": …}`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PredictorCommand {
    /// Train the MLP on student records (JSON lines with `arch`, `clean`, `pgd20` as fractions)
    /// and report held-out RMSEs.
    Fit {
        /// Preset name or space file the records belong to.
        #[arg(long)]
        space: String,
        /// Student-evaluation records, JSON lines.
        #[arg(long)]
        records: PathBuf,
        /// Where to write the predictor (safetensors).
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 50)]
        epochs: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t)]
        device: DeviceChoice,
        /// rmse_acc, rmse_rob, n_train, n_test (and train RMSEs) as one JSON object.
        #[arg(long)]
        json: bool,
    },
}

/// Reads student records (JSON lines); a bad line is reported with its number.
fn read_records(path: &std::path::Path) -> anyhow::Result<Vec<Labelled>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).with_context(|| {
                format!(
                    "{} line {}: not a student record with `arch`, `clean`, `pgd20`",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

/// An arch given on the command line: a keyword or JSON.
fn parse_arch(space: &proard_shared::Space, text: &str, seed: u64) -> anyhow::Result<Arch> {
    Ok(match text {
        "largest" => space.largest_arch(),
        "smallest" => space.smallest_arch(),
        "random" => space.sample_arch(&mut seeded_rng(seed)),
        json => Arch::from_json(space, json)
            .context("--arch must be largest, smallest, random or an arch as JSON")?,
    })
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Space(SpaceCommand::Show { space, json }) => {
            let space = load_space(&space)?;
            if json {
                println!("{}", serde_json::to_string(&SpaceSummary::of(&space))?);
            } else {
                print!("{}", report(&space));
            }
            Ok(())
        }
        Command::Space(SpaceCommand::Sample { space, n, seed, json }) => {
            let space = load_space(&space)?;
            let mut rng = seeded_rng(seed);
            let mut out = std::io::stdout().lock();
            for _ in 0..n {
                let arch = space.sample_arch(&mut rng);
                let cost = space.subnet(&arch).expect("sampled archs are valid").cost();
                if json {
                    let line = SampledArch { arch, macs: cost.macs, params: cost.params };
                    writeln!(out, "{}", serde_json::to_string(&line)?)?;
                } else {
                    writeln!(
                        out,
                        "{:>10}  {:>9} params  {}",
                        mmacs(cost.macs),
                        cost.params,
                        arch.to_json()
                    )?;
                }
            }
            Ok(())
        }
        Command::Attack(AttackCommand::Selftest { seed, steps, images, device, json }) => {
            anyhow::ensure!(images > 0, "--images must be at least 1");
            let config =
                SelfTestConfig { seed, steps, test_images: images, ..SelfTestConfig::default() };
            let report = selftest::run(&config, &device.device()?);
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "clean accuracy {:.3} ({} synthetic test images, {} training steps)",
                    report.clean, images, steps
                );
                for (attack, by_epsilon) in &report.attacks {
                    let cells: Vec<String> =
                        by_epsilon.iter().map(|(e, a)| format!("ε {e}: {a:.3}")).collect();
                    println!("{attack:<8} {}", cells.join("   "));
                }
            }
            Ok(())
        }
        Command::Model(ModelCommand::Check { space, arch, seed, batch, device, json }) => {
            let space = load_space(&space)?;
            let arch = parse_arch(&space, &arch, seed)?;
            let check = check_export(space, &arch, seed, batch, &device.device()?)?;
            if json {
                println!("{}", serde_json::to_string(&check)?);
            } else {
                println!("arch          {}", check.arch.to_json());
                println!("max_abs_diff  {:e}", check.max_abs_diff);
                println!(
                    "MACs          {} executed, {} analytic",
                    check.macs_executed, check.macs_analytic
                );
                println!("params        {} (analytic {})", check.params, check.params_analytic);
            }
            Ok(())
        }
        Command::Model(ModelCommand::Bench { space, arch, batch, iterations, device, json }) => {
            let space = load_space(&space)?;
            let arch = parse_arch(&space, &arch, 0)?;
            anyhow::ensure!(
                batch > 0 && iterations > 0,
                "--batch and --iterations must be at least 1"
            );
            let report = model_bench(space, arch, batch, iterations, &device.device()?)
                .context("the device failed during the benchmark")?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{} on {}, batch {} ({} per image)",
                    report.space,
                    report.device,
                    report.batch,
                    mmacs(report.macs)
                );
                println!("forward      {:>9.1} img/s", report.forward_img_s);
                println!("train step   {:>9.1} img/s", report.train_step_img_s);
                println!("PGD-10       {:>9.1} img/s", report.pgd10_img_s);
            }
            Ok(())
        }
        Command::Predictor(PredictorCommand::Fit {
            space,
            records,
            out,
            epochs,
            seed,
            device,
            json,
        }) => {
            let space = load_space(&space)?;
            let records = read_records(&records)?;
            let config = PredictorConfig::new().with_epochs(epochs).with_seed(seed);
            let (predictor, report) = Predictor::fit(&space, &records, &config, &device.device()?)?;
            let bytes = predictor.to_bytes()?;
            std::fs::write(&out, bytes)
                .with_context(|| format!("cannot write {}", out.display()))?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!("trained on {} records, held out {}", report.n_train, report.n_test);
                println!(
                    "RMSE accuracy    {:.4} (train {:.4})",
                    report.rmse_acc, report.train_rmse_acc
                );
                println!(
                    "RMSE robustness  {:.4} (train {:.4})",
                    report.rmse_rob, report.train_rmse_rob
                );
                println!("wrote {}", out.display());
            }
            Ok(())
        }
        Command::Search {
            predictor,
            max_mmacs,
            pop,
            gens,
            seed,
            macs_objective,
            patience,
            device,
            json,
        } => {
            let bytes = std::fs::read(&predictor)
                .with_context(|| format!("cannot read {}", predictor.display()))?;
            let scorer = Predictor::from_bytes(bytes, &device.device()?)
                .with_context(|| format!("{} is not a predictor file", predictor.display()))?;
            if let Some(m) = max_mmacs {
                anyhow::ensure!(
                    m.is_finite() && m > 0.0,
                    "--max-mmacs must be a positive number, got {m}"
                );
            }
            let config = SearchConfig {
                nsga2: Nsga2Config {
                    population: pop,
                    generations: gens,
                    seed,
                    ..Nsga2Config::default()
                },
                max_macs: max_mmacs.map(|m| (m * 1e6) as u64),
                macs_objective,
                patience,
            };
            let space = scorer.space.clone();
            let started = Instant::now();
            let mut timed = Timed { scorer, archs: 0, time: Duration::ZERO };
            let result = search(&space, &mut timed, &config)?;
            eprintln!(
                "{} generations, {} archs scored, in {:.1} ms ({:.1} ms in the predictor)",
                result.generations,
                timed.archs,
                started.elapsed().as_secs_f64() * 1e3,
                timed.time.as_secs_f64() * 1e3
            );
            let mut out = std::io::stdout().lock();
            for member in &result.front {
                if json {
                    writeln!(out, "{}", serde_json::to_string(member)?)?;
                } else {
                    writeln!(
                        out,
                        "{:>10}  acc {:.4}  rob {:.4}  {}",
                        mmacs(member.macs),
                        member.pred_acc,
                        member.pred_rob,
                        member.arch.to_json()
                    )?;
                }
            }
            Ok(())
        }
        Command::Data(command) => data::run(command),
        Command::Config(command) => experiment::config(command),
        Command::Run(args) => experiment::run_command(args),
        Command::Train(command) => experiment::train(command),
        Command::Eval(args) => experiment::eval(args),
        Command::Bench(args) => experiment::bench_command(args),
        Command::Report(args) => experiment::report_command(args),
        Command::Export(args) => student::export_command(args),
        Command::Verify(args) => student::verify_command(args),
        Command::Serve { addr, static_dir, store, workers, no_demo, lease_seconds } => {
            serve(addr, static_dir, store, workers, !no_demo, lease_seconds)
        }
        Command::Worker { store, lease_seconds, poll_ms, max_jobs, parent } => {
            let mut config = WorkerConfig::new(store.data_dir.clone());
            config.lease = seconds(lease_seconds, "--lease-seconds")?;
            config.poll = Duration::from_millis(poll_ms.max(1));
            config.max_jobs = max_jobs;
            config.parent = parent;
            runtime()?.block_on(async {
                let store = open_store(store.database.as_deref(), &store.data_dir).await?;
                run_worker(store, config).await
            })
        }
        Command::Token { data_dir } => {
            let token = proard_server::access::studio_token(&data_dir)
                .with_context(|| format!("reading the studio token in {}", data_dir.display()))?;
            println!("{token}");
            Ok(())
        }
        Command::Import { dir, name, store } => {
            let name = name.unwrap_or_else(|| {
                dir.file_name().map_or("imported run".into(), |n| n.to_string_lossy().into_owned())
            });
            let experiment = runtime()?.block_on(async {
                let db = open_store(store.database.as_deref(), &store.data_dir).await?;
                import_run(&db, &store.data_dir, &dir, &name).await
            })?;
            println!("{}", serde_json::to_string(&experiment)?);
            Ok(())
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

/// A scorer that counts the archs it scored and the time it took (`proard search` reports both:
/// the rest of a search is NSGA-II's bookkeeping).
struct Timed<S> {
    scorer: S,
    archs: usize,
    time: Duration,
}

impl<S: ArchScorer> ArchScorer for Timed<S> {
    fn score(&mut self, archs: &[Arch]) -> Vec<[f64; 2]> {
        let started = Instant::now();
        let scores = self.scorer.score(archs);
        self.time += started.elapsed();
        self.archs += archs.len();
        scores
    }
}

fn seconds(value: f64, flag: &str) -> anyhow::Result<Duration> {
    anyhow::ensure!(
        value.is_finite() && value > 0.0,
        "{flag} must be a positive number of seconds"
    );
    Ok(Duration::from_secs_f64(value))
}

fn serve(
    addr: SocketAddr,
    static_dir: PathBuf,
    store: StoreArgs,
    workers: usize,
    demo: bool,
    lease_seconds: f64,
) -> anyhow::Result<()> {
    if !static_dir.join("index.html").is_file() {
        anyhow::bail!(
            "{} has no index.html: run from the repository root or pass --static-dir",
            static_dir.display()
        );
    }
    if !static_dir.join("pkg").is_dir() {
        tracing::warn!(
            "{}/pkg is missing: build the frontend with scripts/build-frontend",
            static_dir.display()
        );
    }
    let lease = seconds(lease_seconds, "--lease-seconds")?;
    let program = std::env::current_exe().context("cannot find the proard binary")?;
    let mut args = vec!["worker".to_owned(), "--data-dir".to_owned()];
    args.push(store.data_dir.display().to_string());
    args.push("--database".to_owned());
    args.push(database_url(store.database.as_deref(), &store.data_dir));
    args.extend(["--lease-seconds".to_owned(), lease.as_secs_f64().to_string()]);
    args.extend(["--parent".to_owned(), std::process::id().to_string()]);
    let config = StudioConfig {
        addr,
        static_dir,
        data_dir: store.data_dir,
        database: store.database,
        workers,
        demo,
        worker: WorkerCommand { program, args },
    };
    runtime()?.block_on(serve_studio(config, |local, login| {
        // The first line on stdout is the address; scripts and tests read it. The second is
        // the login URL (like Jupyter's): it sets the cookie the studio's page uses. A reader
        // that took the address and closed the pipe does not stop the server (println! would
        // panic on the broken pipe).
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "serving http://{local}/")
            .and_then(|()| writeln!(out, "log in at http://{local}{login}"))
            .and_then(|()| out.flush());
        Ok(())
    }))
}
