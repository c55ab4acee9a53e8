//! `qun-bench`: the benchmark instrument of Qun.
//!
//! - `qun-bench run S3 --members 5000 --rate 100`: one scenario (S1–S6, or `calibration`);
//! - `qun-bench suite`: the calibration baseline and every scenario, one after the other;
//! - `qun-bench smoke`: small S1/S2/S3 runs that fail only on correctness (CI);
//! - `worker`, `baseline-ws`, `baseline-http`: the processes the bench starts itself.
//!
//! Performance is reported, never asserted: only `smoke` fails, and only on losses,
//! duplicates, reorders or sends unaccounted for. BENCHMARKS.md has the method.
//!
//! Receivers come in two kinds. Full receivers (qun-client) decode every message and check
//! each sender's sequence (duplicates, order) and, in the sample, latency. Lean receivers
//! count messages in place without decoding them, so that one generator core can show a
//! million deliveries a second: `room_counter` members in S4, `group_counter` members in S3
//! (which pull and acknowledge exactly as the official SDK does). S3 keeps `--full-receivers`
//! full ones (200 by default, plus the senders) and makes the other members lean; every
//! member's total is checked against what the server accepted.

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};

use qun_bench::report::ScenarioResult;
use qun_bench::scenarios::{self, Bench, Common, Knobs};
use qun_bench::{calibrate, stamp, sysinfo, worker};

#[derive(Parser)]
#[command(name = "qun-bench", about = "Qun's benchmark instrument: scenarios S1-S6, calibration, smoke")]
struct Cli {
    #[command(subcommand)]
    command: CliCommand,
}

#[derive(Subcommand)]
enum CliCommand {
    /// Run one scenario.
    Run {
        scenario: Scenario,
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        knobs: Knobs,
    },
    /// The calibration baseline, then S1 to S6 with their default sizes.
    Suite {
        #[command(flatten)]
        common: Common,
    },
    /// Small S1/S2/S3 runs (under a minute) that fail only on correctness.
    Smoke {
        #[command(flatten)]
        common: Common,
    },
    /// A load-generator process (started by the bench itself).
    #[command(hide = true)]
    Worker,
    /// The calibration broadcast websocket server.
    #[command(hide = true)]
    BaselineWs {
        #[arg(long)]
        listen: SocketAddr,
    },
    /// The empty-handler HTTP server S6 compares with.
    #[command(hide = true)]
    BaselineHttp {
        #[arg(long)]
        listen: SocketAddr,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    #[value(name = "S1", alias = "s1")]
    S1,
    #[value(name = "S2", alias = "s2")]
    S2,
    #[value(name = "S3", alias = "s3")]
    S3,
    #[value(name = "S4", alias = "s4")]
    S4,
    #[value(name = "S5", alias = "s5")]
    S5,
    #[value(name = "S6", alias = "s6")]
    S6,
    Calibration,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let open_file_limit = sysinfo::raise_open_file_limit();
    match cli.command {
        CliCommand::Worker => worker::run(),
        CliCommand::BaselineWs { listen } => calibrate::run_broadcast_server(listen),
        CliCommand::BaselineHttp { listen } => calibrate::run_empty_http_server(listen),
        CliCommand::Run { scenario, common, knobs } => coordinate(common, open_file_limit, |mut bench| async move {
            let result = run_scenario(&mut bench, scenario, &knobs).await?;
            report(&bench, &result)?;
            // A scenario that could not run (S4 before chatrooms are served) exits with 1.
            anyhow::Ok(result.failure.is_none())
        }),
        CliCommand::Suite { common } => coordinate(common, open_file_limit, |mut bench| async move {
            let knobs = Knobs::default();
            let mut summary = String::new();
            for scenario in [
                Scenario::Calibration,
                Scenario::S1,
                Scenario::S2,
                Scenario::S3,
                Scenario::S4,
                Scenario::S5,
                Scenario::S6,
            ] {
                let result = match run_scenario(&mut bench, scenario, &knobs).await {
                    Ok(result) => result,
                    Err(error) => {
                        eprintln!("{scenario:?} failed: {error:#}");
                        summary += &format!("== {scenario:?} — FAILED: {error:#}\n\n");
                        continue;
                    }
                };
                report(&bench, &result)?;
                summary += &result.summary();
                summary += "\n";
            }
            let path = bench.common.out.join(format!("suite-{}.txt", stamp::now_unix_us() / 1_000_000));
            std::fs::write(&path, &summary)?;
            println!("suite summary written to {}", path.display());
            anyhow::Ok(true)
        }),
        CliCommand::Smoke { common } => coordinate(common, open_file_limit, |mut bench| async move {
            let started = std::time::Instant::now();
            let problems = scenarios::smoke(&mut bench).await?;
            for problem in &problems {
                eprintln!("smoke problem: {problem}");
            }
            println!("smoke took {:.1} s", started.elapsed().as_secs_f64());
            let failed = usize::from(!problems.is_empty());
            println!("smoke: {} passed, {failed} failed", 1 - failed);
            anyhow::Ok(problems.is_empty())
        }),
    }
}

/// Runs a coordinator body on a multi-threaded runtime; a `false` outcome exits with 1.
fn coordinate<F, Fut>(common: Common, open_file_limit: u64, body: F) -> anyhow::Result<()>
where
    F: FnOnce(Bench) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let passed = runtime.block_on(async move { body(Bench::new(common, open_file_limit)?).await })?;
    if !passed {
        std::process::exit(1);
    }
    Ok(())
}

async fn run_scenario(bench: &mut Bench, scenario: Scenario, knobs: &Knobs) -> anyhow::Result<ScenarioResult> {
    match scenario {
        Scenario::S1 => scenarios::s1_idle(bench, knobs).await,
        Scenario::S2 => scenarios::s2_pairs(bench, knobs).await,
        Scenario::S3 => scenarios::s3_group(bench, knobs).await,
        Scenario::S4 => scenarios::s4_room(bench, knobs).await,
        Scenario::S5 => scenarios::s5_storm(bench, knobs).await,
        Scenario::S6 => scenarios::s6_rest(bench, knobs).await,
        Scenario::Calibration => scenarios::calibration(bench, knobs).await,
    }
}

fn report(bench: &Bench, result: &ScenarioResult) -> anyhow::Result<()> {
    let path = result.write(&bench.common.out)?;
    println!("{}", result.summary());
    println!("results: {}", path.display());
    Ok(())
}
