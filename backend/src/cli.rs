//! The `proard` command line: argument parsing and dispatch to the library.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use proard_shared::api::{SampledArch, SpaceSummary};
use proard_shared::genome::seeded_rng;

use crate::server::{self, ServerConfig};
use crate::space_report::{mmacs, report};
use crate::spaces::load_space;

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
    /// Serve the studio and its API.
    Serve {
        /// Address to listen on; loopback unless you ask otherwise.
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: SocketAddr,
        /// Directory with index.html and the built frontend.
        #[arg(long, default_value = "static")]
        static_dir: PathBuf,
    },
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
        Command::Serve { addr, static_dir } => serve(addr, static_dir),
    }
}

fn serve(addr: SocketAddr, static_dir: PathBuf) -> anyhow::Result<()> {
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
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(async {
        let listener =
            server::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
        let local = listener.local_addr()?;
        // The first line on stdout is the address; scripts and tests read it.
        println!("serving http://{local}/");
        std::io::stdout().flush()?;
        server::serve(listener, server::router(&ServerConfig { static_dir })).await?;
        Ok(())
    })
}
