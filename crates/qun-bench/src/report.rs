//! Results: one JSON file per scenario run (under `--out`, by default
//! `target/bench-results/`) and a readable summary printed as the run goes.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use crate::protocol::{HistogramData, SenderReport, Verification, micros_histogram};
use crate::sysinfo::{CpuUse, Machine};

/// Generator CPU above this share of its cores makes a step INVALID: the generator, not the
/// server, may be what limits it.
pub const GENERATOR_BUSY_LIMIT: f64 = 0.90;
/// CPU used by other processes (in cores) above which a step is noted as DISTURBED.
pub const DISTURBANCE_LIMIT_CORES: f64 = 0.15;

/// Percentiles of a latency histogram, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    pub count: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(histogram: &Histogram<u64>) -> Latency {
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        Latency {
            count: histogram.len(),
            p50_ms: ms(0.50),
            p90_ms: ms(0.90),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: histogram.max() as f64 / 1000.0,
        }
    }

    pub fn merged<'a>(parts: impl IntoIterator<Item = &'a HistogramData>) -> Latency {
        let mut histogram = micros_histogram();
        for part in parts {
            part.add_to(&mut histogram);
        }
        Latency::of(&histogram)
    }

    fn line(&self) -> String {
        if self.count == 0 {
            return "no samples".to_owned();
        }
        format!(
            "p50 {:.1} / p90 {:.1} / p99 {:.1} / p99.9 {:.1} / max {:.1} ms (n={})",
            self.p50_ms, self.p90_ms, self.p99_ms, self.p999_ms, self.max_ms, self.count
        )
    }
}

/// What the senders of one step did, added up.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SendTotals {
    pub offered: u64,
    pub accepted: u64,
    pub refused: u64,
    pub timed_out: u64,
    pub failed: u64,
    pub first_refusal: Option<String>,
}

impl SendTotals {
    pub fn of(reports: &[SenderReport]) -> SendTotals {
        let mut totals = SendTotals::default();
        for report in reports {
            totals.offered += report.offered;
            totals.accepted += report.accepted;
            totals.refused += report.refused;
            totals.timed_out += report.timed_out;
            totals.failed += report.failed;
            if totals.first_refusal.is_none() {
                totals.first_refusal.clone_from(&report.first_refusal);
            }
        }
        totals
    }
}

/// The receivers of one step, added up over the workers.
pub fn merge_verifications(parts: &[Verification]) -> (Verification, Latency, Latency) {
    let mut total = Verification::default();
    for part in parts {
        total.receivers += part.receivers;
        total.complete += part.complete;
        total.expected += part.expected;
        total.delivered += part.delivered;
        total.missing += part.missing;
        total.extra += part.extra;
        total.duplicates += part.duplicates;
        total.reorders += part.reorders;
        total.unstamped += part.unstamped;
        total.closed_early += part.closed_early;
        total.counted_only += part.counted_only;
    }
    let latency = Latency::merged(parts.iter().map(|p| &p.latency_us));
    let caught_up = Latency::merged(parts.iter().map(|p| &p.caught_up_us));
    (total, latency, caught_up)
}

/// One measured step of a scenario (one rate, say).
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub label: String,
    pub offered_per_s: f64,
    pub duration_s: f64,
    pub sends: SendTotals,
    pub receivers: u64,
    pub expected: u64,
    pub delivered: u64,
    pub missing: u64,
    pub extra: u64,
    pub duplicates: u64,
    pub reorders: u64,
    pub closed_early: u64,
    /// Intended send time → receipt (sampled receivers).
    pub latency: Latency,
    /// Intended send time → durable ack.
    pub ack_latency: Latency,
    /// Actual − intended send time: the generator's own lateness.
    pub send_lag: Latency,
    /// Start → each receiver's last new message.
    pub caught_up: Latency,
    pub deliveries_per_s: f64,
    pub server: Option<CpuUse>,
    pub generator: CpuUse,
    /// Cores the generator may use (1 when pinned).
    pub generator_cores: f64,
    pub server_cpu_us_per_delivery: Option<f64>,
    /// Every syscall of the server (perf), per delivery.
    pub server_syscalls_per_delivery: Option<f64>,
    /// Cores used by processes other than the server and the generator.
    pub other_cores: f64,
    pub valid: bool,
    pub notes: Vec<String>,
    /// Scenario-specific figures.
    pub extra_figures: Value,
}

impl Step {
    /// Notes how much CPU processes other than the server and the generator took during the
    /// step (builds of other engineers, say): such a step is DISTURBED.
    pub fn judge_interference(&mut self) {
        let ours = self.generator.cores + self.server.map_or(0.0, |s| s.cores);
        let others = (self.generator.machine_busy_cores - ours).max(0.0);
        self.other_cores = others;
        if others > DISTURBANCE_LIMIT_CORES {
            self.notes.push(format!(
                "DISTURBED: other processes used {others:.2} cores during this step (machine busy {:.2} cores)",
                self.generator.machine_busy_cores
            ));
        }
    }

    /// Marks the step INVALID when the generator was too busy to be trusted.
    pub fn judge_generator(&mut self) {
        let busy = self.generator.cores / self.generator_cores.max(1e-9);
        if busy > GENERATOR_BUSY_LIMIT {
            self.valid = false;
            self.notes.push(format!(
                "INVALID: generator at {:.0} % of its {} core(s) (limit {:.0} %)",
                busy * 100.0,
                self.generator_cores,
                GENERATOR_BUSY_LIMIT * 100.0
            ));
        }
    }

    /// Correctness only: nothing lost, duplicated, reordered or unaccounted for.
    pub fn correctness_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let s = &self.sends;
        if s.accepted + s.refused + s.timed_out + s.failed != s.offered {
            problems.push(format!(
                "sends unaccounted for: offered {} ≠ accepted {} + refused {} + timed out {} + failed {}",
                s.offered, s.accepted, s.refused, s.timed_out, s.failed
            ));
        }
        if s.timed_out + s.failed > 0 {
            problems.push(format!("{} sends timed out, {} failed ({:?})", s.timed_out, s.failed, s.first_refusal));
        }
        if self.missing > 0 {
            problems.push(format!("{} of {} expected deliveries missing", self.missing, self.expected));
        }
        if self.extra > 0 {
            problems.push(format!("{} unexpected deliveries", self.extra));
        }
        if self.duplicates > 0 {
            problems.push(format!("{} duplicate deliveries", self.duplicates));
        }
        if self.reorders > 0 {
            problems.push(format!("{} deliveries out of their sender's order", self.reorders));
        }
        if self.closed_early > 0 {
            problems.push(format!("{} receivers were disconnected", self.closed_early));
        }
        problems
    }

    pub fn summary(&self) -> String {
        let mut text = format!(
            "  [{}] {}{}\n",
            self.label,
            if self.valid { "" } else { "INVALID " },
            if self.offered_per_s > 0.0 {
                format!("offered {:.0}/s for {:.0} s", self.offered_per_s, self.duration_s)
            } else {
                String::new()
            }
        );
        if self.sends.offered > 0 {
            text += &format!(
                "    sends: offered {} accepted {} refused {} timed out {} failed {}\n",
                self.sends.offered, self.sends.accepted, self.sends.refused, self.sends.timed_out, self.sends.failed
            );
        }
        if self.receivers > 0 {
            text += &format!(
                "    delivered {}/{} expected ({} receivers; missing by the deadline {}, extra {}, duplicates {}, reorders {}) = {:.0} deliveries/s\n",
                self.delivered,
                self.expected,
                self.receivers,
                self.missing,
                self.extra,
                self.duplicates,
                self.reorders,
                self.deliveries_per_s
            );
        }
        if self.latency.count > 0 {
            text += &format!("    latency  {}\n", self.latency.line());
        }
        if self.ack_latency.count > 0 {
            text += &format!("    ack      {}\n", self.ack_latency.line());
        }
        if self.send_lag.count > 0 {
            text += &format!("    send lag {}\n", self.send_lag.line());
        }
        if let Some(server) = &self.server {
            text += &format!(
                "    server: {:.2} cores, RSS {:.1} MB (peak {:.1} MB){}{}\n",
                server.cores,
                server.rss_kb_end as f64 / 1024.0,
                server.peak_rss_kb as f64 / 1024.0,
                self.server_cpu_us_per_delivery.map_or(String::new(), |us| format!(", {us:.2} µs CPU/delivery")),
                self.server_syscalls_per_delivery
                    .map_or(String::new(), |n| format!(", {n:.3} syscalls/delivery (perf)")),
            );
        }
        text += &format!(
            "    generator: {:.2} of {} core(s); machine busy {:.2} cores, of which other processes {:.2}\n",
            self.generator.cores, self.generator_cores, self.generator.machine_busy_cores, self.other_cores
        );
        if !self.extra_figures.is_null() {
            text += &format!("    figures: {}\n", self.extra_figures);
        }
        for note in &self.notes {
            text += &format!("    note: {note}\n");
        }
        text
    }
}

/// A whole scenario run.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub scenario: String,
    pub title: String,
    pub started_unix_s: u64,
    pub machine: Machine,
    pub parameters: Value,
    pub steps: Vec<Step>,
    /// Why the scenario could not run, if it could not.
    pub failure: Option<String>,
    pub notes: Vec<String>,
}

impl ScenarioResult {
    pub fn summary(&self) -> String {
        let mut text = format!("== {} — {}\n", self.scenario, self.title);
        text += &format!("  parameters: {}\n", self.parameters);
        if let Some(failure) = &self.failure {
            text += &format!("  FAILED: {failure}\n");
        }
        for step in &self.steps {
            text += &step.summary();
        }
        for note in &self.notes {
            text += &format!("  note: {note}\n");
        }
        text
    }

    /// Writes `<out>/<scenario>-<time>.json` and `<out>/latest-<scenario>.json`.
    pub fn write(&self, out: &Path) -> anyhow::Result<PathBuf> {
        std::fs::create_dir_all(out)?;
        let json = serde_json::to_vec_pretty(self)?;
        let path = out.join(format!("{}-{}.json", self.scenario, self.started_unix_s));
        std::fs::write(&path, &json)?;
        std::fs::write(out.join(format!("latest-{}.json", self.scenario)), &json)?;
        Ok(path)
    }
}
