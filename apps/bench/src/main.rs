//! `bench`: measures Practice Staff's speed and footprint against baselines measured in the
//! same run (see docs/benchmarks.md). Each scenario seeds its own data through the real gRPC
//! APIs, warms up, then alternates scenario and baseline in blocks and prints every figure as
//! the median and min–max over the blocks.
//!
//! Modules: [`check_access`] (P1, P2), [`offboarding`] (P3), [`invites`] (P4), [`sign_in`]
//! (P5), [`footprint`] (P6), [`reset`] (P7); [`harness`] starts the product and seeds it, [`load`] drives
//! closed-loop load, [`spans`] reads event-handling times from the product's spans, [`stats`]
//! summarises.

mod check_access;
mod footprint;
mod harness;
mod invites;
mod load;
mod offboarding;
mod reset;
mod sign_in;
mod spans;
mod stats;

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use harness::Backend;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    All,
    P1,
    P2,
    P3,
    P4,
    P5,
    P6,
    P7,
}

#[derive(Parser)]
#[command(about = "Practice Staff benchmarks: each figure against a baseline from the same run")]
struct Args {
    /// The scenario to run (see docs/benchmarks.md).
    #[arg(value_enum)]
    scenario: Scenario,
    /// A short run of small data, to check every scenario works (figures mean little).
    #[arg(long)]
    smoke: bool,
    /// Measured blocks of scenario and baseline (after one warm-up).
    #[arg(long)]
    blocks: Option<usize>,
    /// Seconds of load per block.
    #[arg(long)]
    block_secs: Option<f64>,
    /// PostgreSQL for P3 and P4 (a database per service is created and dropped).
    #[arg(long, env = "PS_TEST_POSTGRES_URL")]
    postgres_url: Option<String>,
    /// RabbitMQ for P3 and P4 (an exchange and queues of the run's own are removed afterwards).
    #[arg(long, env = "PS_TEST_AMQP_URL")]
    amqp_url: Option<String>,
    /// The `practice-staff` binary P6 starts; by default the one beside this executable.
    #[arg(long)]
    practice_staff_bin: Option<PathBuf>,
}

/// Sizes and durations of a run.
pub struct Settings {
    pub blocks: usize,
    pub warmup: Duration,
    pub block: Duration,
    pub organisations: usize,
    pub staff: usize,
    /// P2 questions per block.
    pub cold_samples: usize,
    /// P6: how long the process idles before its memory is read.
    pub idle: Duration,
}

impl Settings {
    fn from(args: &Args) -> Self {
        let mut settings = if args.smoke {
            Settings {
                blocks: 1,
                warmup: Duration::from_millis(200),
                block: Duration::from_millis(300),
                organisations: 20,
                staff: 10,
                cold_samples: 20,
                idle: Duration::from_millis(200),
            }
        } else {
            Settings {
                blocks: 5,
                warmup: Duration::from_secs(2),
                block: Duration::from_secs(3),
                organisations: 1000,
                staff: 500,
                cold_samples: 400,
                idle: Duration::from_secs(2),
            }
        };
        if let Some(blocks) = args.blocks {
            settings.blocks = blocks.max(1);
        }
        if let Some(secs) = args.block_secs {
            settings.block = Duration::from_secs_f64(secs);
        }
        settings
    }
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let profile = if cfg!(debug_assertions) {
        "debug build: figures are not representative"
    } else {
        "release build"
    };
    format!("{cores} cores, {cpu}; {profile}")
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    spans::install();
    let settings = Settings::from(&args);
    let external = external_backend(&args);
    println!("machine: {}", machine());
    println!(
        "{} blocks of {:.1} s after a warm-up{}",
        settings.blocks,
        settings.block.as_secs_f64(),
        if args.smoke { " (smoke run)" } else { "" }
    );
    let wants = |s: Scenario| args.scenario == Scenario::All || args.scenario == s;
    let mut outcomes = Outcomes::default();
    if wants(Scenario::P1) || wants(Scenario::P2) {
        p1_and_p2(
            &settings,
            wants(Scenario::P1),
            wants(Scenario::P2),
            &mut outcomes,
        )
        .await;
    }
    if wants(Scenario::P3) {
        p3_on_each_backend(&settings, external.as_ref(), &mut outcomes).await;
    }
    if wants(Scenario::P4) {
        p4_if_configured(
            &settings,
            external.as_ref(),
            args.scenario == Scenario::P4,
            &mut outcomes,
        )
        .await;
    }
    if wants(Scenario::P5) {
        outcomes.record("P5", sign_in::p5(&settings).await);
    }
    if wants(Scenario::P6) {
        let binary = args
            .practice_staff_bin
            .clone()
            .unwrap_or_else(footprint::default_binary);
        outcomes.record("P6", footprint::p6(&settings, &binary).await);
    }
    if wants(Scenario::P7) {
        outcomes.record("P7", reset::p7(&settings).await);
    }
    outcomes.exit_code()
}

/// PostgreSQL + RabbitMQ for P3 and P4, when both are given (and not empty).
fn external_backend(args: &Args) -> Option<Backend> {
    match (&args.postgres_url, &args.amqp_url) {
        (Some(p), Some(a)) if !p.is_empty() && !a.is_empty() => Some(Backend::External {
            postgres_url: p.clone(),
            amqp_url: a.clone(),
        }),
        _ => None,
    }
}

/// The scenarios that failed so far; each outcome is followed by an empty line.
#[derive(Default)]
struct Outcomes {
    failed: Vec<String>,
}

impl Outcomes {
    /// Notes how scenario `id` ended, printing the error when it failed.
    fn record(&mut self, id: &str, result: anyhow::Result<()>) {
        if let Err(err) = result {
            println!("  {id} FAILED: {err:#}");
            self.failed.push(id.to_owned());
        }
        println!();
    }

    /// Success when no scenario failed; otherwise the list of those that did, and failure.
    fn exit_code(&self) -> std::process::ExitCode {
        if self.failed.is_empty() {
            std::process::ExitCode::SUCCESS
        } else {
            println!("failed: {}", self.failed.join(", "));
            std::process::ExitCode::FAILURE
        }
    }
}

/// P1 and/or P2, on one seeded product.
async fn p1_and_p2(settings: &Settings, p1: bool, p2: bool, outcomes: &mut Outcomes) {
    match check_access::seed(settings).await {
        Ok(world) => {
            if p1 {
                outcomes.record("P1", check_access::p1(settings, &world).await);
            }
            if p2 {
                outcomes.record("P2", check_access::p2(settings, &world).await);
            }
            world.product.stop().await;
        }
        Err(err) => outcomes.record("P1/P2 seeding", Err(err)),
    }
}

/// P3 on SQLite, then on PostgreSQL + RabbitMQ when they are given.
async fn p3_on_each_backend(
    settings: &Settings,
    external: Option<&Backend>,
    outcomes: &mut Outcomes,
) {
    outcomes.record(
        "P3 (SQLite)",
        offboarding::p3(settings, &Backend::Embedded).await,
    );
    match external {
        Some(backend) => outcomes.record(
            "P3 (PostgreSQL + RabbitMQ)",
            offboarding::p3(settings, backend).await,
        ),
        None => println!(
            "P3 on PostgreSQL + RabbitMQ skipped: set --postgres-url and --amqp-url (or PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL)\n"
        ),
    }
}

/// P4, which needs PostgreSQL + RabbitMQ: without them it is skipped, and fails when it
/// was the only scenario `asked` for.
async fn p4_if_configured(
    settings: &Settings,
    external: Option<&Backend>,
    asked: bool,
    outcomes: &mut Outcomes,
) {
    match external {
        Some(backend) => outcomes.record("P4", invites::p4(settings, backend).await),
        None => {
            println!(
                "P4 needs PostgreSQL + RabbitMQ: set --postgres-url and --amqp-url (or PS_TEST_POSTGRES_URL and PS_TEST_AMQP_URL)\n"
            );
            if asked {
                outcomes.record(
                    "P4",
                    Err(anyhow::anyhow!("no PostgreSQL + RabbitMQ configured")),
                );
            }
        }
    }
}
