//! The scenarios S1–S6, the calibration run, the suite and the smoke run.
//!
//! Each scenario starts its own server on a fresh copy of the fixture (or uses `--server`),
//! pins it to one core and the workers to the other (unless `--no-pin`), and returns a
//! [`ScenarioResult`]. Every load loop is bounded by a count and a deadline.

use std::path::PathBuf;
use std::time::Duration;

use qun_client::RestClient;
use serde_json::json;

use crate::fleet::{CONNECTIONS_PER_WORKER, Fleet, SourceAddresses, split_evenly};
use crate::protocol::{
    Command, ConnectionSpec, Destination, Event, Expectation, HistogramData, HttpLoad, InboxTotal, SendPlan,
    SenderReport, Transport, Verification,
};
use crate::report::{Latency, ScenarioResult, SendTotals, Step, merge_verifications};
use crate::server::{self, APP, CLIENT_ID, CLIENT_SECRET, Fixture, ORG, Process};
use crate::stamp::now_unix_us;
use crate::sysinfo::{self, CpuUse, CpuWindow, Machine, SyscallCounter};
use crate::{calibrate, setup};

/// The stamp sender number of S4's probe message.
const PROBE_SENDER: u32 = 999_999;

/// Why S4 fails while the server refuses every chatroom message.
const NO_ROOM_SENDS: &str =
    "chatrooms not served yet: the server refused a chatroom member's join (msync MUC JOIN) or message";

/// Options every scenario shares.
#[derive(Debug, Clone, clap::Args)]
pub struct Common {
    /// Use this running server (its REST base, e.g. http://127.0.0.1:8080) instead of
    /// starting one; its CPU and memory are read when --server-pid is given too.
    #[arg(long)]
    pub server: Option<String>,
    #[arg(long, requires = "server")]
    pub server_pid: Option<u32>,
    /// App credentials of --server's default app.
    #[arg(long, default_value = CLIENT_ID)]
    pub client_id: String,
    #[arg(long, default_value = CLIENT_SECRET)]
    pub client_secret: String,
    /// The qun binary to start (default: next to qun-bench).
    #[arg(long)]
    pub qun_bin: Option<PathBuf>,
    /// Where results (and the cached user fixture) go.
    #[arg(long, default_value = "target/bench-results")]
    pub out: PathBuf,
    /// Do not pin the server to CPU 0 and the generator to CPU 1.
    #[arg(long)]
    pub no_pin: bool,
    /// Seconds each measured step sends for.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Share of receivers that record latency, in percent (2-5 recommended).
    #[arg(long, default_value_t = 3.0)]
    pub sample_percent: f64,
    /// Seconds receivers get after the last send to receive everything.
    #[arg(long, default_value_t = 30.0)]
    pub drain: f64,
}

/// Per-scenario knobs (the defaults are the issue's).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Knobs {
    /// Connections (S1), members (S3, S5), room members (S4).
    #[arg(long)]
    pub members: Option<usize>,
    /// 1:1 pairs (S2).
    #[arg(long)]
    pub pairs: Option<usize>,
    /// Offered rate(s), msgs/s, comma-separated (S2, S3, S4, calibration).
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,
    /// Seconds to hold the connections (S1).
    #[arg(long)]
    pub hold: Option<f64>,
    /// Messages missed while offline (S5).
    #[arg(long)]
    pub missed: Option<u64>,
    /// HTTP requests in flight (S6).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Group members that are full checking receivers (S3 and S5; default 200): they record
    /// latency and check each sender's order and duplicates. The others are lean receivers that
    /// count their messages without decoding them; the senders are always full. A value of at
    /// least --members makes everyone full (latency then from the --sample-percent sample).
    #[arg(long)]
    pub full_receivers: Option<usize>,
}

/// CPU lists for taskset.
const SERVER_CPUS: &str = "0";
const GENERATOR_CPUS: &str = "1";

/// A run's shared context.
pub struct Bench {
    pub common: Common,
    pub machine: Machine,
    sources: SourceAddresses,
}

impl Bench {
    pub fn new(common: Common, open_file_limit: u64) -> anyhow::Result<Bench> {
        std::fs::create_dir_all(&common.out)?;
        let sources = SourceAddresses::load(&common.out.join(".next-source-address"));
        Ok(Bench { machine: sysinfo::machine(open_file_limit), common, sources })
    }

    fn pinned(&self) -> bool {
        !self.common.no_pin && self.machine.cpus >= 2
    }

    fn server_cpus(&self) -> Option<&'static str> {
        self.pinned().then_some(SERVER_CPUS)
    }

    fn generator_cpus(&self) -> Option<&'static str> {
        self.pinned().then_some(GENERATOR_CPUS)
    }

    fn generator_cores(&self) -> f64 {
        if self.pinned() { 1.0 } else { self.machine.cpus as f64 }
    }

    fn qun_binary(&self) -> PathBuf {
        self.common.qun_bin.clone().unwrap_or_else(server::default_qun_binary)
    }

    fn result(&self, scenario: &str, title: &str, parameters: serde_json::Value) -> ScenarioResult {
        ScenarioResult {
            scenario: scenario.to_owned(),
            title: title.to_owned(),
            started_unix_s: now_unix_us() / 1_000_000,
            machine: self.machine.clone(),
            parameters,
            steps: Vec::new(),
            failure: None,
            notes: Vec::new(),
        }
    }

    /// The Qun server for one scenario with `users` users ready.
    async fn target(&mut self, scenario: &str, users: usize) -> anyhow::Result<Target> {
        if let Some(url) = self.common.server.clone() {
            let rest = RestClient::new(&url, ORG, APP);
            let admin = rest.with_token(rest.app_token(&self.common.client_id, &self.common.client_secret).await?);
            let names: Vec<String> = (0..users).map(server::user_name).collect();
            setup::register_users(&admin, &names).await?;
            let tokens = setup::user_tokens(&admin, &names).await?;
            let fixture = Fixture { data_dir: PathBuf::new(), users: names, tokens };
            return Ok(Target { process: None, pid: self.common.server_pid, base_url: url, admin, fixture });
        }
        let fixture_users = users.max(100);
        let fixture = server::fixture(&self.qun_binary(), &self.common.out, fixture_users).await?;
        let data_dir = self.common.out.join("runs").join(scenario);
        server::copy_data_dir(&fixture, &data_dir)?;
        progress(&format!("{scenario}: starting the server"));
        let process = server::start_qun(&self.qun_binary(), &data_dir, self.server_cpus()).await?;
        let rest = RestClient::new(&process.base_url, ORG, APP);
        let admin = rest.with_token(rest.app_token(CLIENT_ID, CLIENT_SECRET).await?);
        Ok(Target {
            pid: Some(process.pid),
            base_url: process.base_url.clone(),
            process: Some(process),
            admin,
            fixture,
        })
    }
}

/// The server under test and its users.
struct Target {
    process: Option<Process>,
    pid: Option<u32>,
    base_url: String,
    admin: RestClient,
    fixture: Fixture,
}

impl Target {
    fn transport(&self) -> Transport {
        Transport::Qun { ws_url: qun_client::websocket_url(&self.base_url), app_key: format!("{ORG}#{APP}") }
    }

    fn connection(&self, user: usize, device: &str, inbox: String, sample: bool) -> ConnectionSpec {
        ConnectionSpec {
            user: self.fixture.users[user].clone(),
            token: self.fixture.tokens[user].clone(),
            device: device.to_owned(),
            inbox,
            sample,
            count_only: false,
        }
    }

    async fn stop(self) {
        progress("stopping the server");
        if let Some(process) = self.process {
            process.stop(Duration::from_secs(15)).await;
        }
    }
}

/// A progress line on stderr, with the seconds since the bench started.
pub fn progress(what: &str) {
    static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let started = STARTED.get_or_init(std::time::Instant::now);
    eprintln!("[{:6.1} s] {what}", started.elapsed().as_secs_f64());
}

/// Whether receiver `number` is in the latency sample.
fn sampled(number: usize, percent: f64) -> bool {
    let every = (100.0 / percent.clamp(0.1, 100.0)).round().max(1.0) as usize;
    number.is_multiple_of(every)
}

/// Where each of a run's connections lives: worker and position there.
struct Placement {
    /// The first global connection number of each worker.
    starts: Vec<usize>,
}

impl Placement {
    fn locate(&self, global: usize) -> (usize, usize) {
        let worker = self.starts.partition_point(|&start| start <= global) - 1;
        (worker, global - self.starts[worker])
    }
}

/// The outcome of connecting a whole fleet.
struct Connected {
    ok: u64,
    failed: u64,
    first_errors: Vec<String>,
    elapsed_s: f64,
    login: Latency,
    placement: Placement,
}

fn workers_for(connections: usize) -> usize {
    connections.div_ceil(CONNECTIONS_PER_WORKER).max(1)
}

/// Connects `specs` spread evenly over the fleet, at most `connects_per_s` (0: as fast as
/// possible) in total.
async fn connect(
    bench: &mut Bench,
    fleet: &mut Fleet,
    transport: &Transport,
    specs: &[ConnectionSpec],
    connects_per_s: f64,
    concurrency: usize,
) -> anyhow::Result<Connected> {
    let parts = split_evenly(specs, fleet.size());
    let mut starts = Vec::new();
    let mut commands = Vec::new();
    let mut start = 0;
    let workers = fleet.size() as f64;
    for part in parts {
        starts.push(start);
        start += part.len();
        let source_addresses = bench.sources.for_connections(part.len());
        commands.push(Some(Command::Connect {
            transport: transport.clone(),
            connections: part,
            source_addresses,
            connects_per_s: connects_per_s / workers,
            concurrency: (concurrency as f64 / workers).ceil() as usize,
        }));
    }
    progress(&format!("connecting {} connections", specs.len()));
    let began = std::time::Instant::now();
    let events = fleet.exchange(commands).await?;
    let elapsed_s = began.elapsed().as_secs_f64();
    let (mut ok, mut failed, mut first_errors, mut logins) = (0, 0, Vec::new(), Vec::new());
    for event in events.into_iter().flatten() {
        if let Event::Connected { ok: o, failed: f, first_errors: e, login_us, .. } = event {
            ok += o;
            failed += f;
            first_errors.extend(e);
            logins.push(login_us);
        }
    }
    Ok(Connected {
        ok,
        failed,
        first_errors,
        elapsed_s,
        login: Latency::merged(&logins),
        placement: Placement { starts },
    })
}

/// One sender: global connection number, stamp number, destination, rate.
struct Plan {
    connection: usize,
    index: u32,
    destination: Destination,
    rate_per_s: f64,
}

/// A room whose counters tell a step's receivers what to expect (see [`InboxTotal`]): the
/// server's REST base, the room, and its counters before the step.
struct RoomTotals<'a> {
    base_url: &'a str,
    room: &'a str,
    before: &'a setup::RoomCounters,
}

/// Sends the plans open-loop for `duration_s`, verifies every receiver, and measures the
/// server and the generator over the whole step (sending and draining).
#[allow(clippy::too_many_arguments)]
async fn run_step(
    bench: &Bench,
    fleet: &mut Fleet,
    placement: &Placement,
    server_pid: Option<u32>,
    label: String,
    plans: Vec<Plan>,
    duration_s: f64,
    room_totals: Option<RoomTotals<'_>>,
) -> anyhow::Result<Step> {
    let offered_per_s: f64 = plans.iter().map(|p| p.rate_per_s).sum();
    let mut per_worker: Vec<Vec<SendPlan>> = vec![Vec::new(); fleet.size()];
    let senders = plans.len();
    for (number, plan) in plans.into_iter().enumerate() {
        let (worker, local) = placement.locate(plan.connection);
        per_worker[worker].push(SendPlan {
            connection: local,
            index: plan.index,
            destination: plan.destination,
            rate_per_s: plan.rate_per_s,
            phase: number as f64 / senders as f64,
        });
    }
    progress(&format!("step {label}: sending for {duration_s} s"));
    let server_window = server_pid.map(|pid| CpuWindow::start(&[pid]));
    let syscalls = server_pid.and_then(SyscallCounter::start);
    let generator_window = CpuWindow::start(&fleet.pids());
    let start_unix_us = now_unix_us() + 200_000;
    let commands =
        per_worker.into_iter().map(|plans| Some(Command::Send { plans, start_unix_us, duration_s })).collect();
    let mut senders: Vec<SenderReport> = Vec::new();
    let (mut lags, mut acks) = (Vec::<HistogramData>::new(), Vec::<HistogramData>::new());
    for event in fleet.exchange(commands).await?.into_iter().flatten() {
        if let Event::Sent { senders: reports, send_lag_us, ack_us } = event {
            senders.extend(reports);
            lags.push(send_lag_us);
            acks.push(ack_us);
        }
    }
    let expected: Vec<Expectation> =
        senders.iter().map(|s| Expectation { sender: s.index, inbox: s.inbox.clone(), accepted: s.accepted }).collect();
    let inbox_totals = match room_totals {
        Some(totals) => {
            // Decided (delivered or dropped) before the ack, so complete once every send is acked.
            let counted = setup::room_counters(totals.base_url, totals.room).await?.since(totals.before);
            vec![InboxTotal { inbox: format!("r:{}", totals.room), delivered: counted.delivered() }]
        }
        None => Vec::new(),
    };
    progress("verifying the receivers");
    let verifications = verify(fleet, expected, inbox_totals, start_unix_us, bench.common.drain).await?;
    let server = server_window.map(|w| w.finish());
    let generator = generator_window.finish();
    let syscalls = syscalls.and_then(SyscallCounter::finish);
    let mut step =
        build_step(bench, label, offered_per_s, duration_s, &senders, &verifications, &lags, &acks, server, generator);
    step.server_syscalls_per_delivery =
        syscalls.filter(|_| step.delivered > 0).map(|count| count as f64 / step.delivered as f64);
    if syscalls.is_none() {
        step.notes.push("syscalls not counted: perf stat -e raw_syscalls:sys_enter is not available".to_owned());
    }
    Ok(step)
}

async fn verify(
    fleet: &mut Fleet,
    expected: Vec<Expectation>,
    inbox_totals: Vec<InboxTotal>,
    since_unix_us: u64,
    deadline_s: f64,
) -> anyhow::Result<Vec<Verification>> {
    let events = fleet.broadcast(Command::Verify { expected, since_unix_us, deadline_s, inbox_totals }).await?;
    Ok(events
        .into_iter()
        .filter_map(|event| match event {
            Event::Verified(verification) => Some(verification),
            _ => None,
        })
        .collect())
}

fn build_step(
    bench: &Bench,
    label: String,
    offered_per_s: f64,
    duration_s: f64,
    senders: &[SenderReport],
    verifications: &[Verification],
    lags: &[HistogramData],
    acks: &[HistogramData],
    server: Option<CpuUse>,
    generator: CpuUse,
) -> Step {
    let (received, latency, caught_up) = merge_verifications(verifications);
    // Deliveries spread over the sending time, or longer if the last ones came later.
    let window_s = duration_s.max(caught_up.max_ms / 1000.0).max(1e-3);
    let deliveries_per_s = received.delivered as f64 / window_s;
    let per_delivery = |value: f64| (received.delivered > 0).then(|| value / received.delivered as f64);
    let mut step = Step {
        label,
        offered_per_s,
        duration_s,
        sends: SendTotals::of(senders),
        receivers: received.receivers,
        expected: received.expected,
        delivered: received.delivered,
        missing: received.missing,
        extra: received.extra,
        duplicates: received.duplicates,
        reorders: received.reorders,
        closed_early: received.closed_early,
        latency,
        ack_latency: Latency::merged(acks),
        send_lag: Latency::merged(lags),
        caught_up,
        deliveries_per_s,
        server_cpu_us_per_delivery: server.and_then(|s| per_delivery(s.cpu_s * 1e6)),
        server_syscalls_per_delivery: None,
        other_cores: 0.0,
        server,
        generator,
        generator_cores: bench.generator_cores(),
        valid: true,
        notes: Vec::new(),
        extra_figures: serde_json::Value::Null,
    };
    if received.unstamped > 0 {
        step.notes.push(format!("{} messages without a stamp", received.unstamped));
    }
    if received.counted_only > 0 {
        step.notes.push(format!(
            "{} of {} receivers counted their messages without decoding them (totals checked; sequences, \
             duplicates and order checked at the other {})",
            received.counted_only,
            received.receivers,
            received.receivers - received.counted_only
        ));
    }
    step.judge_generator();
    step.judge_interference();
    step
}

fn connection_step(bench: &Bench, label: &str, connected: &Connected, generator: CpuUse) -> Step {
    let mut step = build_step(bench, label.to_owned(), 0.0, connected.elapsed_s, &[], &[], &[], &[], None, generator);
    step.latency = connected.login;
    step.extra_figures = json!({
        "connected": connected.ok, "failed": connected.failed, "first_errors": connected.first_errors,
        "logins_per_s": connected.ok as f64 / connected.elapsed_s.max(1e-3), "ramp_s": connected.elapsed_s,
    });
    step.notes.push("latency here = websocket handshake + token login".to_owned());
    step
}

// ---------------------------------------------------------------------------------------------
// S1 idle

pub async fn s1_idle(bench: &mut Bench, knobs: &Knobs) -> anyhow::Result<ScenarioResult> {
    let members = knobs.members.unwrap_or(19_000);
    let hold_s = knobs.hold.unwrap_or(60.0);
    let mut result = bench.result(
        "S1",
        "idle: ramp to N logged-in connections, hold",
        json!({"connections": members, "hold_s": hold_s}),
    );
    let target = bench.target("S1", members).await?;
    let mut fleet = Fleet::spawn(workers_for(members), bench.generator_cpus()).await?;
    let outcome = async {
        // Let the server settle after start before the "before" reading.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let before = target.pid.map(sysinfo::sample_process);
        let kernel_before = sysinfo::tcp_socket_memory_kb();
        let specs: Vec<ConnectionSpec> =
            (0..members).map(|u| target.connection(u, "idle", format!("u:{}", server::user_name(u)), false)).collect();
        let generator = CpuWindow::start(&fleet.pids());
        let server_window = target.pid.map(|pid| CpuWindow::start(&[pid]));
        let connected = connect(bench, &mut fleet, &target.transport(), &specs, 0.0, 512).await?;
        let mut ramp = connection_step(bench, "ramp", &connected, generator.finish());
        ramp.server = server_window.map(|w| w.finish());
        result.steps.push(ramp);
        progress(&format!("holding {} connections for {hold_s} s", connected.ok));

        let server_window = target.pid.map(|pid| CpuWindow::start(&[pid]));
        let generator = CpuWindow::start(&fleet.pids());
        tokio::time::sleep(Duration::from_secs_f64(hold_s)).await;
        let server = server_window.map(|w| w.finish());
        let after = target.pid.map(sysinfo::sample_process);
        let kernel_after = sysinfo::tcp_socket_memory_kb();
        let mut hold = build_step(bench, "hold".to_owned(), 0.0, hold_s, &[], &[], &[], &[], server, generator.finish());
        let per_connection_kb = match (before, after) {
            (Some(before), Some(after)) if connected.ok > 0 => {
                Some((after.rss_kb as f64 - before.rss_kb as f64) / connected.ok as f64)
            }
            _ => None,
        };
        hold.extra_figures = json!({
            "connections": connected.ok,
            "server_rss_before_kb": before.map(|b| b.rss_kb),
            "server_rss_after_kb": after.map(|a| a.rss_kb),
            "server_kb_per_connection": per_connection_kb,
            "kernel_tcp_kb_per_connection_both_ends": (kernel_after.saturating_sub(kernel_before)) as f64 / connected.ok.max(1) as f64,
            "idle_server_cpu_percent": server.map(|s| s.cores * 100.0),
            "server_threads": after.map(|a| a.threads),
        });
        result.steps.push(hold);
        anyhow::Ok(())
    }
    .await;
    fleet.shutdown().await;
    target.stop().await;
    outcome?;
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// S2 1:1

pub async fn s2_pairs(bench: &mut Bench, knobs: &Knobs) -> anyhow::Result<ScenarioResult> {
    let pairs = knobs.pairs.unwrap_or(2_000);
    let rates = if knobs.rate.is_empty() { vec![2_000.0, 5_000.0, 10_000.0, 20_000.0] } else { knobs.rate.clone() };
    let users = pairs * 2;
    let mut result = bench.result(
        "S2",
        "1:1: pairs sending to each other at fixed total rates",
        json!({"pairs": pairs, "rates_per_s": rates, "duration_s": bench.common.duration}),
    );
    let target = bench.target("S2", users).await?;
    let mut fleet = Fleet::spawn(workers_for(users), bench.generator_cpus()).await?;
    let outcome = async {
        let specs: Vec<ConnectionSpec> = (0..users)
            .map(|u| {
                target.connection(
                    u,
                    "pair",
                    format!("u:{}", server::user_name(u)),
                    sampled(u, bench.common.sample_percent),
                )
            })
            .collect();
        let generator = CpuWindow::start(&fleet.pids());
        let connected = connect(bench, &mut fleet, &target.transport(), &specs, 0.0, 512).await?;
        result.steps.push(connection_step(bench, "connect", &connected, generator.finish()));
        require_connected(&connected)?;
        settle().await;
        for (step_number, &rate) in rates.iter().enumerate() {
            let plans = (0..users)
                .map(|u| Plan {
                    connection: u,
                    index: (step_number * users + u) as u32,
                    destination: Destination::User { name: server::user_name(u ^ 1) },
                    rate_per_s: rate / users as f64,
                })
                .collect();
            let label = format!("{rate:.0} msgs/s");
            let step = run_step(
                bench,
                &mut fleet,
                &connected.placement,
                target.pid,
                label,
                plans,
                bench.common.duration,
                None,
            )
            .await?;
            println!("{}", step.summary());
            result.steps.push(step);
        }
        let best = result
            .steps
            .iter()
            .filter(|s| s.offered_per_s > 0.0 && s.valid && s.missing == 0 && s.latency.p99_ms < 50.0)
            .map(|s| s.sends.accepted as f64 / s.duration_s)
            .fold(0.0, f64::max);
        result.notes.push(format!("highest rate with every message delivered and p99 < 50 ms: {best:.0} msgs/s"));
        anyhow::Ok(())
    }
    .await;
    fleet.shutdown().await;
    target.stop().await;
    outcome?;
    Ok(result)
}

fn require_connected(connected: &Connected) -> anyhow::Result<()> {
    if connected.failed > 0 {
        anyhow::bail!("{} connections failed: {:?}", connected.failed, connected.first_errors);
    }
    Ok(())
}

/// Lets fresh logins finish their first UNREAD and pulls before measuring.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

// ---------------------------------------------------------------------------------------------
// S3 group

/// Senders in a group step: enough that no one connection's serial acks limit the rate.
fn group_senders(rate: f64, members: usize) -> usize {
    (rate.ceil() as usize).clamp(1, 10).min(members)
}

/// S3's and S5's full checking receivers unless `--full-receivers` says otherwise: a 4 %
/// latency sample of 5,000 members, and a small share of one generator core.
const GROUP_FULL_RECEIVERS: usize = 200;

/// Member `number`'s connection in a group of `members` of which `full` are full receivers
/// (spread evenly, plus the first `senders`, which must be full): the others lean. Decoding
/// every delivery costs a generator core 3–4 µs (about 250,000 a second), so beyond `full`
/// members the others pull as the SDK does and count in place (`group_counter`): the full ones
/// are the latency, order and duplicate sample, every member's total is checked.
fn group_member(spec: ConnectionSpec, number: usize, members: usize, full: usize, senders: usize) -> ConnectionSpec {
    if members <= full {
        return spec;
    }
    let full_receiver = number < senders || spread_evenly(number, members, full);
    ConnectionSpec { count_only: !full_receiver, sample: full_receiver, ..spec }
}

/// Whether member `number` of `members` is one of `full` full receivers spread evenly over
/// the members (exactly `full` of them when `full <= members`).
fn spread_evenly(number: usize, members: usize, full: usize) -> bool {
    (number + 1) * full / members > number * full / members
}

pub async fn s3_group(bench: &mut Bench, knobs: &Knobs) -> anyhow::Result<ScenarioResult> {
    let members = knobs.members.unwrap_or(5_000);
    let rates = if knobs.rate.is_empty() { vec![1.0, 10.0, 50.0, 100.0, 200.0] } else { knobs.rate.clone() };
    let mut result = bench.result(
        "S3",
        "group: all members online, messages at fixed rates",
        json!({"members": members, "rates_per_s": rates, "duration_s": bench.common.duration}),
    );
    let target = bench.target("S3", members).await?;
    let mut fleet = Fleet::spawn(workers_for(members), bench.generator_cpus()).await?;
    let outcome = async {
        let names: Vec<String> = (0..members).map(server::user_name).collect();
        progress(&format!("creating a group of {members}"));
        let group = setup::create_group(&target.admin, &names).await?;
        // Senders (connections 0..) must be full.
        let full = knobs.full_receivers.unwrap_or(GROUP_FULL_RECEIVERS);
        let senders = rates.iter().map(|&rate| group_senders(rate, members)).max().unwrap_or(1);
        let specs: Vec<ConnectionSpec> = (0..members)
            .map(|u| {
                let spec =
                    target.connection(u, "member", format!("g:{group}"), sampled(u, bench.common.sample_percent));
                group_member(spec, u, members, full, senders)
            })
            .collect();
        let lean = specs.iter().filter(|spec| spec.count_only).count();
        result.parameters["full_receivers"] = json!(members - lean);
        result.parameters["lean_receivers"] = json!(lean);
        let generator = CpuWindow::start(&fleet.pids());
        let connected = connect(bench, &mut fleet, &target.transport(), &specs, 0.0, 512).await?;
        result.steps.push(connection_step(bench, "connect", &connected, generator.finish()));
        require_connected(&connected)?;
        settle().await;
        let steps = group_rates(
            bench,
            &mut fleet,
            &connected.placement,
            target.pid,
            &rates,
            members,
            &Destination::Group { id: group.clone() },
        )
        .await?;
        result.steps.extend(steps);
        anyhow::Ok(())
    }
    .await;
    fleet.shutdown().await;
    target.stop().await;
    outcome?;
    Ok(result)
}

/// One step per rate: the first few members send into `destination`, everyone receives.
async fn group_rates(
    bench: &Bench,
    fleet: &mut Fleet,
    placement: &Placement,
    server_pid: Option<u32>,
    rates: &[f64],
    members: usize,
    destination: &Destination,
) -> anyhow::Result<Vec<Step>> {
    let mut steps = Vec::new();
    for (step_number, &rate) in rates.iter().enumerate() {
        let senders = group_senders(rate, members);
        let plans = (0..senders)
            .map(|s| Plan {
                connection: s,
                index: (step_number * 100 + s) as u32,
                destination: destination.clone(),
                rate_per_s: rate / senders as f64,
            })
            .collect();
        let label = format!("{rate:.0} msgs/s into {members}");
        let step = run_step(bench, fleet, placement, server_pid, label, plans, bench.common.duration, None).await?;
        println!("{}", step.summary());
        steps.push(step);
    }
    Ok(steps)
}

// ---------------------------------------------------------------------------------------------
// S4 chatroom

pub async fn s4_room(bench: &mut Bench, knobs: &Knobs) -> anyhow::Result<ScenarioResult> {
    let members = knobs.members.unwrap_or(19_000);
    let rates = if knobs.rate.is_empty() { vec![20.0, 100.0, 300.0] } else { knobs.rate.clone() };
    let mut result = bench.result(
        "S4",
        "chatroom: members online, offered rates below and above the room's threshold",
        json!({"members": members, "rates_per_s": rates, "duration_s": bench.common.duration}),
    );
    let target = bench.target("S4", members).await?;
    let names: Vec<String> = (0..members).map(server::user_name).collect();
    let room = match setup::create_room(&target.admin, &names[0], members).await {
        Ok(room) => room,
        Err(error) => {
            target.stop().await;
            result.failure = Some(format!("{error:#}"));
            return Ok(result);
        }
    };
    // One probe message first: a server that refuses room messages fails the scenario before
    // 19,000 connections are opened for nothing.
    let probe = async {
        let mut probe_fleet = Fleet::spawn(1, bench.generator_cpus()).await?;
        let owner = vec![target.connection(0, "roomie", format!("r:{room}"), false)];
        let sent = async {
            let connected = connect(bench, &mut probe_fleet, &target.transport(), &owner, 0.0, 1).await?;
            require_connected(&connected)?;
            // A sender number no step uses: joiners get the probe from the room's history.
            let plan = vec![Plan {
                connection: 0,
                index: PROBE_SENDER,
                destination: Destination::Room { id: room.clone() },
                rate_per_s: 1.0,
            }];
            run_step(bench, &mut probe_fleet, &connected.placement, target.pid, "probe".to_owned(), plan, 1.0, None)
                .await
        }
        .await;
        probe_fleet.shutdown().await;
        sent
    }
    .await;
    match probe {
        Ok(step) if step.sends.accepted == 0 => {
            let reason = step.sends.first_refusal.clone().unwrap_or_default();
            result.failure = Some(format!("{NO_ROOM_SENDS}; the server answered: {reason}"));
            result.steps.push(step);
            target.stop().await;
            return Ok(result);
        }
        Ok(_) => {}
        Err(error) => {
            target.stop().await;
            result.failure = Some(format!("{NO_ROOM_SENDS}; {error:#}"));
            return Ok(result);
        }
    }
    let max_senders =
        rates.iter().map(|&rate| group_senders(rate, members.saturating_sub(1)).max(1)).max().unwrap_or(1);
    let mut fleet = Fleet::spawn(workers_for(members), bench.generator_cpus()).await?;
    let outcome = async {
        let specs: Vec<ConnectionSpec> = (0..members)
            .map(|u| {
                let sample = sampled(u, bench.common.sample_percent);
                // Decoding every delivery of a 19,000-member room is more than one generator
                // core can do (~270k/s): the unsampled receivers only count (and cannot send,
                // so the senders, connections 1.., are full clients).
                let count_only = !sample && u > max_senders;
                ConnectionSpec { count_only, ..target.connection(u, "roomie", format!("r:{room}"), sample) }
            })
            .collect();
        let generator = CpuWindow::start(&fleet.pids());
        let connected = connect(bench, &mut fleet, &target.transport(), &specs, 0.0, 512).await?;
        result.steps.push(connection_step(bench, "connect", &connected, generator.finish()));
        require_connected(&connected)?;
        settle().await;
        // A room drops above its rate (100 msgs/s by default) and still acks the dropped
        // messages OK (ARCHITECTURE.md, "Chat rooms live"), so what was dropped is read from
        // the server's /metrics around each step, not from the acks. The owner (connection 0,
        // whose messages are high priority and never dropped) does not send.
        let mut steps = Vec::new();
        for (step_number, &rate) in rates.iter().enumerate() {
            let senders = group_senders(rate, members.saturating_sub(1)).max(1);
            let plans = (0..senders)
                .map(|s| Plan {
                    connection: (s + 1).min(members - 1),
                    index: (step_number * 100 + s) as u32,
                    destination: Destination::Room { id: room.clone() },
                    rate_per_s: rate / senders as f64,
                })
                .collect();
            let before = setup::room_counters(&target.base_url, &room).await?;
            let label = format!("{rate:.0} msgs/s into {members}");
            // Receivers expect what the server delivered (its counters), not what it acked.
            let totals = RoomTotals { base_url: &target.base_url, room: &room, before: &before };
            let duration = bench.common.duration;
            let mut step =
                run_step(bench, &mut fleet, &connected.placement, target.pid, label, plans, duration, Some(totals))
                    .await?;
            let counted = setup::room_counters(&target.base_url, &room).await?.since(&before);
            step.notes.push(format!(
                "server: offered {}, delivered {}, dropped {} (normal {}, low {}); receivers missing any delivered: {}",
                counted.offered(),
                counted.delivered(),
                counted.dropped(),
                counted.dropped[1],
                counted.dropped[2],
                step.missing,
            ));
            step.extra_figures = json!({
                "server_offered": counted.offered(),
                "server_delivered_by_priority": counted.delivered,
                "server_dropped_by_priority": counted.dropped,
                "server_frames": counted.frames,
                "server_frames_refused": counted.frames_refused,
            });
            println!("{}", step.summary());
            result.notes.push(format!(
                "{}: acked {}, server delivered {}, dropped {} ({:.0} delivered/s)",
                step.label,
                step.sends.accepted,
                counted.delivered(),
                counted.dropped(),
                counted.delivered() as f64 / step.duration_s
            ));
            steps.push(step);
        }
        if steps.iter().all(|step| step.sends.accepted == 0) {
            let reason = steps.iter().find_map(|step| step.sends.first_refusal.clone()).unwrap_or_default();
            result.failure = Some(format!("{NO_ROOM_SENDS}; the server answered: {reason}"));
        }
        result.steps.extend(steps);
        anyhow::Ok(())
    }
    .await;
    fleet.shutdown().await;
    target.stop().await;
    outcome?;
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// S5 offline storm

pub async fn s5_storm(bench: &mut Bench, knobs: &Knobs) -> anyhow::Result<ScenarioResult> {
    let members = knobs.members.unwrap_or(5_000);
    let missed = knobs.missed.unwrap_or(200);
    let mut result = bench.result(
        "S5",
        "offline storm: members who missed messages reconnect within 1 s",
        json!({"members": members, "missed": missed}),
    );
    let target = bench.target("S5", members).await?;
    let mut fleet = Fleet::spawn(workers_for(members), bench.generator_cpus()).await?;
    let outcome = async {
        let names: Vec<String> = (0..members).map(server::user_name).collect();
        let group = setup::create_group(&target.admin, &names).await?;
        let inbox = format!("g:{group}");
        // Lean receivers beyond the full ones, as in S3 (the sender is another device).
        let full = knobs.full_receivers.unwrap_or(GROUP_FULL_RECEIVERS);
        let specs: Vec<ConnectionSpec> = (0..members)
            .map(|u| {
                let spec = target.connection(u, "storm", inbox.clone(), sampled(u, bench.common.sample_percent));
                group_member(spec, u, members, full, 0)
            })
            .collect();
        let lean = specs.iter().filter(|spec| spec.count_only).count();
        result.parameters["full_receivers"] = json!(members - lean);
        result.parameters["lean_receivers"] = json!(lean);
        // Everyone online once (their devices sync the group), then offline.
        let first = connect(bench, &mut fleet, &target.transport(), &specs, 0.0, 512).await?;
        require_connected(&first)?;
        settle().await;
        fleet.broadcast(Command::Disconnect).await?;

        // The owner's other device sends while the members are away.
        let sender = vec![target.connection(0, "sender", "sender".to_owned(), false)];
        let mut sender_fleet = Fleet::spawn(1, bench.generator_cpus()).await?;
        let sent = async {
            let connected = connect(bench, &mut sender_fleet, &target.transport(), &sender, 0.0, 1).await?;
            require_connected(&connected)?;
            let rate = (missed as f64 / 2.0).max(1.0);
            let plan = vec![Plan {
                connection: 0,
                index: 0,
                destination: Destination::Group { id: group.clone() },
                rate_per_s: rate,
            }];
            let step = run_step(
                bench,
                &mut sender_fleet,
                &connected.placement,
                target.pid,
                "sending while away".to_owned(),
                plan,
                missed as f64 / rate,
                None,
            )
            .await?;
            anyhow::Ok(step)
        }
        .await;
        sender_fleet.shutdown().await;
        let sent = sent?;
        let accepted = sent.sends.accepted;
        result.steps.push(sent);

        // The storm: all reconnect within one second, from fresh source addresses.
        let server_window = target.pid.map(|pid| CpuWindow::start(&[pid]));
        let generator_window = CpuWindow::start(&fleet.pids());
        let storm_start = now_unix_us();
        let storm = connect(bench, &mut fleet, &target.transport(), &specs, members as f64, members).await?;
        let expected = vec![Expectation { sender: 0, inbox: inbox.clone(), accepted }];
        let verifications = verify(&mut fleet, expected, Vec::new(), storm_start, bench.common.drain.max(30.0)).await?;
        let server = server_window.map(|w| w.finish());
        let mut step = build_step(
            bench,
            "reconnect storm".to_owned(),
            0.0,
            storm.elapsed_s,
            &[],
            &verifications,
            &[],
            &[],
            server,
            generator_window.finish(),
        );
        step.extra_figures = json!({
            "reconnected": storm.ok, "failed": storm.failed, "first_errors": storm.first_errors,
            "reconnect_s": storm.elapsed_s, "login": storm.login,
            "all_synced_s": step.caught_up.max_ms / 1000.0,
            "synced_p50_s": step.caught_up.p50_ms / 1000.0,
            "synced_p99_s": step.caught_up.p99_ms / 1000.0,
        });
        step.notes.push("latency = intended send time → receipt, so it includes the time offline".to_owned());
        result.steps.push(step);
        anyhow::Ok(())
    }
    .await;
    fleet.shutdown().await;
    target.stop().await;
    outcome?;
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// S6 REST

pub async fn s6_rest(bench: &mut Bench, knobs: &Knobs) -> anyhow::Result<ScenarioResult> {
    let concurrency = knobs.concurrency.unwrap_or(32);
    let users = 1_000;
    let duration_s = bench.common.duration;
    let mut result = bench.result(
        "S6",
        "REST: reads and durable writes, against an empty-handler baseline",
        json!({"concurrency": concurrency, "duration_s": duration_s, "users": users}),
    );
    let read = |base_url: &str, token: Option<String>| HttpLoad {
        base_url: base_url.to_owned(),
        method: "GET".to_owned(),
        path: format!("/{ORG}/{APP}/users/b{{i}}"),
        body: None,
        token,
        vary: users as u64,
        concurrency,
        duration_s,
    };
    let write = |base_url: &str, token: Option<String>| HttpLoad {
        base_url: base_url.to_owned(),
        method: "POST".to_owned(),
        path: format!("/{ORG}/{APP}/messages/users"),
        body: Some(r#"{"from":"b00000","to":["b{i}"],"type":"txt","body":{"msg":"qun-bench"}}"#.to_owned()),
        token,
        vary: users as u64,
        concurrency,
        duration_s,
    };
    let mut fleet = Fleet::spawn(1, bench.generator_cpus()).await?;
    let outcome = async {
        let baseline = server::start_baseline(&["baseline-http"], bench.server_cpus()).await?;
        let base_read =
            http_step(bench, &mut fleet, Some(baseline.pid), "empty handler: GET", read(&baseline.base_url, None))
                .await;
        let base_write =
            http_step(bench, &mut fleet, Some(baseline.pid), "empty handler: POST", write(&baseline.base_url, None))
                .await;
        baseline.stop(Duration::from_secs(5)).await;
        let (base_read, base_write) = (base_read?, base_write?);

        let target = bench.target("S6", users).await?;
        let token = target.admin.token().map(str::to_owned);
        let qun_read =
            http_step(bench, &mut fleet, target.pid, "qun: GET /users/{u}", read(&target.base_url, token.clone()))
                .await;
        let qun_write = http_step(
            bench,
            &mut fleet,
            target.pid,
            "qun: POST /messages/users (durable)",
            write(&target.base_url, token),
        )
        .await;
        target.stop().await;
        let (qun_read, qun_write) = (qun_read?, qun_write?);
        let rps = |step: &Step| step.extra_figures["requests_per_s"].as_f64().unwrap_or(0.0);
        result.notes.push(format!(
            "reads: {:.0}/s = {:.0} % of the empty handler's {:.0}/s; durable writes: {:.0}/s ({:.0} % of {:.0}/s)",
            rps(&qun_read),
            100.0 * rps(&qun_read) / rps(&base_read).max(1.0),
            rps(&base_read),
            rps(&qun_write),
            100.0 * rps(&qun_write) / rps(&base_write).max(1.0),
            rps(&base_write),
        ));
        result.steps.extend([base_read, base_write, qun_read, qun_write]);
        anyhow::Ok(())
    }
    .await;
    fleet.shutdown().await;
    outcome?;
    Ok(result)
}

async fn http_step(
    bench: &Bench,
    fleet: &mut Fleet,
    server_pid: Option<u32>,
    label: &str,
    load: HttpLoad,
) -> anyhow::Result<Step> {
    let server_window = server_pid.map(|pid| CpuWindow::start(&[pid]));
    let generator_window = CpuWindow::start(&fleet.pids());
    let events = fleet.broadcast(Command::HttpLoad(load)).await?;
    let server = server_window.map(|w| w.finish());
    let mut step = build_step(
        bench,
        label.to_owned(),
        0.0,
        bench.common.duration,
        &[],
        &[],
        &[],
        &[],
        server,
        generator_window.finish(),
    );
    if let Some(Event::HttpLoaded { requests, ok, first_error, elapsed_s, latency_us }) = events.into_iter().next() {
        step.latency = Latency::merged([&latency_us]);
        step.server_cpu_us_per_delivery = server.filter(|_| ok > 0).map(|s| s.cpu_s * 1e6 / ok as f64);
        step.extra_figures = json!({
            "requests": requests, "ok": ok, "first_error": first_error,
            "requests_per_s": ok as f64 / elapsed_s,
        });
        if ok < requests {
            step.notes.push(format!("{} requests failed: {first_error:?}", requests - ok));
        }
    }
    println!("{}", step.summary());
    Ok(step)
}

// ---------------------------------------------------------------------------------------------
// Calibration

pub async fn calibration(bench: &mut Bench, knobs: &Knobs) -> anyhow::Result<ScenarioResult> {
    let members = knobs.members.unwrap_or(5_000);
    let rates = if knobs.rate.is_empty() { vec![1.0, 10.0, 50.0, 100.0, 200.0, 400.0] } else { knobs.rate.clone() };
    let mut result = bench.result(
        "calibration",
        "what this machine does without Qun: loopback writes, a bare batched broadcast server",
        json!({"members": members, "rates_per_s": rates, "duration_s": bench.common.duration}),
    );
    let probe = tokio::task::spawn_blocking(calibrate::loopback_probe).await??;
    result.notes.push(format!(
        "loopback: one send() of {} B = {:.2} µs; one writev() of {} frames = {:.2} µs ({:.3} µs per frame)",
        probe.frame_bytes, probe.send_us, probe.frames_per_writev, probe.writev_us, probe.writev_us_per_frame
    ));
    result.parameters["loopback_probe"] = serde_json::to_value(probe)?;
    let server = server::start_baseline(&["baseline-ws"], bench.server_cpus()).await?;
    let mut fleet = Fleet::spawn(workers_for(members), bench.generator_cpus()).await?;
    let outcome = async {
        let transport = Transport::Raw { ws_url: format!("{}/", server.base_url.replace("http://", "ws://")) };
        let specs: Vec<ConnectionSpec> = (0..members)
            .map(|u| ConnectionSpec {
                user: format!("raw{u}"),
                token: String::new(),
                device: "raw".to_owned(),
                inbox: "raw".to_owned(),
                sample: sampled(u, bench.common.sample_percent),
                count_only: false,
            })
            .collect();
        let generator = CpuWindow::start(&fleet.pids());
        let connected = connect(bench, &mut fleet, &transport, &specs, 0.0, 512).await?;
        result.steps.push(connection_step(bench, "connect", &connected, generator.finish()));
        require_connected(&connected)?;
        settle().await;
        let steps =
            group_rates(bench, &mut fleet, &connected.placement, Some(server.pid), &rates, members, &Destination::Raw)
                .await?;
        result.steps.extend(steps);
        anyhow::Ok(())
    }
    .await;
    fleet.shutdown().await;
    server.stop(Duration::from_secs(5)).await;
    outcome?;
    Ok(result)
}

// ---------------------------------------------------------------------------------------------
// Smoke

/// Small S1/S2/S3 runs that fail only on correctness. Returns the problems found.
pub async fn smoke(bench: &mut Bench) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let duration = bench.common.duration;
    // One fixture for the three runs.
    server::fixture(&bench.qun_binary(), &bench.common.out, 300).await?;
    let checks: [(&str, Knobs); 3] = [
        ("S1", Knobs { members: Some(300), hold: Some(2.0), ..Knobs::default() }),
        ("S2", Knobs { pairs: Some(100), rate: vec![400.0], ..Knobs::default() }),
        // Lean group receivers too (150 of the 200), so CI keeps them pulling as the SDK does.
        ("S3", Knobs { members: Some(200), rate: vec![20.0], full_receivers: Some(50), ..Knobs::default() }),
    ];
    bench.common.duration = duration.min(3.0);
    for (scenario, knobs) in checks {
        let result = match scenario {
            "S1" => s1_idle(bench, &knobs).await?,
            "S2" => s2_pairs(bench, &knobs).await?,
            _ => s3_group(bench, &knobs).await?,
        };
        println!("{}", result.summary());
        let mut found = Vec::new();
        for step in &result.steps {
            found.extend(step.correctness_problems().into_iter().map(|p| format!("{scenario} [{}]: {p}", step.label)));
        }
        if let Some(ramp) = result.steps.first() {
            let failed = ramp.extra_figures["failed"].as_u64().unwrap_or(0);
            if failed > 0 {
                found.push(format!("{scenario}: {failed} connections failed"));
            }
        }
        println!("smoke {scenario}: {}", if found.is_empty() { "ok" } else { "FAILED" });
        problems.extend(found);
    }
    bench.common.duration = duration;
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_receivers_are_spread_evenly_and_exactly_as_many_as_asked() {
        for (members, full) in [(5_000, 200), (200, 50), (7, 3), (5_000, 0), (10, 10), (3, 1)] {
            let chosen: Vec<usize> = (0..members).filter(|&u| spread_evenly(u, members, full)).collect();
            assert_eq!(chosen.len(), full, "{full} of {members}");
            if full > 1 {
                let gaps: Vec<usize> = chosen.windows(2).map(|pair| pair[1] - pair[0]).collect();
                let (least, most) = (gaps.iter().min().unwrap(), gaps.iter().max().unwrap());
                assert!(most - least <= 1, "{full} of {members}: gaps {least}..{most}");
            }
        }
    }
}
