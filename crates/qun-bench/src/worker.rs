//! `qun-bench worker`: one load-generator process. It reads [`Command`]s from stdin, one JSON
//! object per line, holds up to ~19,000 connections, runs the open-loop senders and the
//! counting receivers, and answers each command with one [`Event`] line on stdout.
//!
//! Receivers do as little as they can: parse the stamp, update the per-sender bitset, and —
//! for the sampled few — record a latency. Everything runs on one current-thread runtime
//! (the process is pinned to one core anyway), so the shared state is uncontended.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use qun_client::{ConnectOptions, Connection, Incoming, Target};
use tokio::io::AsyncBufReadExt;
use tokio::net::TcpSocket;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::lean::Counts;
use crate::protocol::{
    Command, ConnectionSpec, Destination, Event, Expectation, HistogramData, HttpLoad, InboxTotal, SendPlan,
    SenderReport, Transport, Verification, micros_histogram, record_micros,
};
use crate::stamp::{SequenceCheck, Stamp, now_unix_us};
use crate::{group_counter, room_counter};

/// Messages a raw (calibration) connection may have queued for writing.
const RAW_SEND_QUEUE: usize = 1024;
/// The SDK's `chatroom_msg_tag` for normal priority.
const ROOM_PRIORITY_NORMAL: i64 = 1;
/// How often a verification looks whether every receiver has caught up.
const VERIFY_POLL: Duration = Duration::from_millis(50);

/// Runs the worker until stdin closes.
pub fn run() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(async {
        let mut worker = Worker::default();
        let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
        while let Some(line) = lines.next_line().await? {
            let event = match serde_json::from_str::<Command>(&line) {
                Ok(command) => worker.handle(command).await,
                Err(error) => Event::Failed { error: format!("bad command: {error}") },
            };
            let mut stdout = std::io::stdout().lock();
            serde_json::to_writer(&mut stdout, &event)?;
            stdout.write_all(b"\n")?;
            stdout.flush()?;
        }
        worker.disconnect().await;
        Ok(())
    })
}

/// What a receiver has seen; shared between its reading task and the verifier.
#[derive(Debug, Default)]
struct ReceiverState {
    check: SequenceCheck,
    closed: bool,
}

/// One open connection.
struct Live {
    spec: ConnectionSpec,
    sender: Sender,
    state: Arc<Mutex<ReceiverState>>,
    /// A count-only receiver's message counter when the current step began.
    counted_before: u64,
}

impl Live {
    /// Messages a counting member counted since the step began (0 for the others).
    fn counted(&self) -> u64 {
        match &self.sender {
            Sender::Counter(counts, _) => counts.messages.load(Ordering::Relaxed).saturating_sub(self.counted_before),
            Sender::Qun(_) | Sender::Raw(_) => 0,
        }
    }

    /// Whether the connection ended before the verification.
    fn closed_early(&self, state: &ReceiverState) -> bool {
        state.closed || matches!(&self.sender, Sender::Counter(counts, _) if counts.closed.load(Ordering::Relaxed))
    }
}

/// How a connection sends (or, for a counting member, that it does not).
#[derive(Clone)]
enum Sender {
    Qun(Connection),
    Raw(mpsc::Sender<Bytes>),
    Counter(Arc<Counts>, tokio::task::AbortHandle),
}

#[derive(Default)]
struct Worker {
    /// Open connections by the coordinator's number (their position in `Connect`).
    connections: BTreeMap<usize, Live>,
    /// Latencies of the sampled receivers. `std` mutex: never held across an `.await`.
    latency: Arc<Mutex<Option<Histogram<u64>>>>,
    /// The sender numbers each connection sent with in the last `Send`.
    sending_as: HashMap<usize, Vec<u32>>,
}

impl Worker {
    async fn handle(&mut self, command: Command) -> Event {
        match command {
            Command::Connect { transport, connections, source_addresses, connects_per_s, concurrency } => {
                self.disconnect().await;
                self.connect(transport, connections, source_addresses, connects_per_s, concurrency).await
            }
            Command::Send { plans, start_unix_us, duration_s } => self.send(plans, start_unix_us, duration_s).await,
            Command::Verify { expected, since_unix_us, deadline_s, inbox_totals } => {
                Event::Verified(self.verify(&expected, &inbox_totals, since_unix_us, deadline_s).await)
            }
            Command::HttpLoad(load) => http_load(load).await,
            Command::Disconnect => {
                self.disconnect().await;
                Event::Disconnected
            }
        }
    }

    async fn connect(
        &mut self,
        transport: Transport,
        specs: Vec<ConnectionSpec>,
        sources: Vec<IpAddr>,
        connects_per_s: f64,
        concurrency: usize,
    ) -> Event {
        *self.latency.lock().expect("latency lock") = Some(micros_histogram());
        let started = Instant::now();
        let permits = Arc::new(Semaphore::new(concurrency.max(1)));
        let mut attempts = JoinSet::new();
        for (number, spec) in specs.into_iter().enumerate() {
            if connects_per_s > 0.0 {
                tokio::time::sleep_until(started + Duration::from_secs_f64(number as f64 / connects_per_s)).await;
            }
            let permit = permits.clone().acquire_owned().await.expect("semaphore open");
            let source = (!sources.is_empty()).then(|| sources[number % sources.len()]);
            let transport = transport.clone();
            let latency = self.latency.clone();
            attempts.spawn(async move {
                let began = Instant::now();
                let opened = open(&transport, spec, source, latency).await;
                drop(permit);
                (number, opened, began.elapsed())
            });
        }
        let mut opened = Vec::new();
        let mut login_us = micros_histogram();
        let (mut ok, mut failed, mut first_errors) = (0, 0, Vec::new());
        while let Some(result) = attempts.join_next().await {
            match result {
                Ok((number, Ok(live), took)) => {
                    record_micros(&mut login_us, took.as_micros() as u64);
                    opened.push((number, live));
                    ok += 1;
                }
                Ok((_, Err(error), _)) => {
                    failed += 1;
                    if first_errors.len() < 5 {
                        first_errors.push(format!("{error:#}"));
                    }
                }
                Err(error) => {
                    failed += 1;
                    if first_errors.len() < 5 {
                        first_errors.push(format!("connect task: {error}"));
                    }
                }
            }
        }
        // Keep the coordinator's numbering: send plans name connections by their position.
        self.connections = opened.into_iter().collect();
        self.sending_as.clear();
        Event::Connected {
            ok,
            failed,
            first_errors,
            elapsed_s: started.elapsed().as_secs_f64(),
            login_us: HistogramData::of(&login_us),
        }
    }

    async fn send(&mut self, plans: Vec<SendPlan>, start_unix_us: u64, duration_s: f64) -> Event {
        let lag = Arc::new(Mutex::new(micros_histogram()));
        let ack = Arc::new(Mutex::new(micros_histogram()));
        let mut senders = JoinSet::new();
        self.sending_as.clear();
        // Receivers count this step from here: what arrived since the last verification (the
        // room's recent messages that came with a join, say) is not this step's.
        for live in self.connections.values_mut() {
            live.counted_before += live.counted();
            live.state.lock().expect("receiver lock").check = SequenceCheck::default();
        }
        if let Some(histogram) = self.latency.lock().expect("latency lock").as_mut() {
            histogram.reset();
        }
        for plan in plans {
            self.sending_as.entry(plan.connection).or_default().push(plan.index);
            let Some(live) = self.connections.get(&plan.connection) else {
                return Event::Failed { error: format!("no connection number {}", plan.connection) };
            };
            let own_user = live.spec.user.clone();
            senders.spawn(open_loop_sender(
                live.sender.clone(),
                own_user,
                plan,
                start_unix_us,
                duration_s,
                lag.clone(),
                ack.clone(),
            ));
        }
        let mut reports = Vec::new();
        while let Some(report) = senders.join_next().await {
            match report {
                Ok(report) => reports.push(report),
                Err(error) => return Event::Failed { error: format!("sender task: {error}") },
            }
        }
        reports.sort_by_key(|r| r.index);
        let send_lag_us = HistogramData::of(&lag.lock().expect("lag lock"));
        let ack_us = HistogramData::of(&ack.lock().expect("ack lock"));
        Event::Sent { senders: reports, send_lag_us, ack_us }
    }

    async fn verify(
        &mut self,
        expected: &[Expectation],
        inbox_totals: &[InboxTotal],
        since_unix_us: u64,
        deadline_s: f64,
    ) -> Verification {
        let mut by_inbox: HashMap<&str, Vec<(u32, u64)>> = HashMap::new();
        for expectation in expected {
            by_inbox.entry(expectation.inbox.as_str()).or_default().push((expectation.sender, expectation.accepted));
        }
        // An inbox with a server total: each receiver expects that many over all senders, less
        // what it sent itself (a lower bound when some of its own were dropped).
        let own_accepted = |number: usize, live: &Live| -> u64 {
            let own = self.sending_as.get(&number);
            by_inbox
                .get(live.spec.inbox.as_str())
                .map(|senders| {
                    senders.iter().filter(|(sender, _)| own.is_some_and(|own| own.contains(sender))).map(|s| s.1).sum()
                })
                .unwrap_or(0)
        };
        // (at least, at most): a sender's own dropped messages are not known here.
        let total_of = |number: usize, live: &Live| -> Option<(u64, u64)> {
            inbox_totals
                .iter()
                .find(|total| total.inbox == live.spec.inbox)
                .map(|total| (total.delivered.saturating_sub(own_accepted(number, live)), total.delivered))
        };
        let deadline = Instant::now() + Duration::from_secs_f64(deadline_s);
        // A connection never receives its own sends, so it does not expect them.
        let sending_as = &self.sending_as;
        let expected_of = |number: usize, live: &Live| -> Vec<(u32, u64)> {
            let own = sending_as.get(&number);
            by_inbox
                .get(live.spec.inbox.as_str())
                .map(|senders| {
                    senders.iter().copied().filter(|(sender, _)| !own.is_some_and(|own| own.contains(sender))).collect()
                })
                .unwrap_or_default()
        };
        let total = |wanted: &[(u32, u64)]| wanted.iter().map(|&(_, n)| n).sum::<u64>();
        loop {
            let all_caught_up = self.connections.iter().all(|(&number, live)| {
                let state = live.state.lock().expect("receiver lock");
                let wanted = expected_of(number, live);
                live.closed_early(&state)
                    || match (total_of(number, live), live.spec.count_only) {
                        (Some((total, _)), true) => live.counted() >= total,
                        (Some((total, _)), false) => state.check.distinct() >= total,
                        (None, true) => live.counted() >= total(&wanted),
                        (None, false) => wanted.iter().all(|&(sender, n)| state.check.distinct_from(sender) >= n),
                    }
            });
            if all_caught_up || Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(VERIFY_POLL).await;
        }
        let mut report = Verification::default();
        let mut caught_up = micros_histogram();
        for (&number, live) in self.connections.iter_mut() {
            let mut state = live.state.lock().expect("receiver lock");
            let wanted = expected_of(number, live);
            report.receivers += 1;
            report.closed_early += u64::from(live.closed_early(&state));
            let server_total = total_of(number, live);
            if live.spec.count_only {
                let (expected, at_most) = server_total.unwrap_or_else(|| (total(&wanted), total(&wanted)));
                let got = live.counted();
                report.expected += expected;
                report.delivered += got;
                report.missing += expected.saturating_sub(got);
                report.extra += got.saturating_sub(at_most);
                report.complete += u64::from(got >= expected);
                report.counted_only += 1;
                if got > 0
                    && let Sender::Counter(counts, _) = &live.sender
                {
                    let last = counts.last_counted_unix_us.load(Ordering::Relaxed);
                    record_micros(&mut caught_up, last.saturating_sub(since_unix_us));
                }
                drop(state);
                live.counted_before += got;
                continue;
            }
            let complete = if let Some((expected, at_most)) = server_total {
                // Which messages were dropped is not known here, only how many: the total counts.
                let got = state.check.distinct();
                report.expected += expected;
                report.missing += expected.saturating_sub(got);
                report.extra += got.saturating_sub(at_most);
                got >= expected
            } else {
                let mut complete = true;
                for &(sender, n) in &wanted {
                    let got = state.check.distinct_from(sender);
                    report.expected += n;
                    report.missing += n.saturating_sub(got);
                    report.extra += got.saturating_sub(n);
                    complete &= got >= n;
                }
                let named: Vec<u32> = wanted.iter().map(|(sender, _)| *sender).collect();
                let strangers: Vec<u32> = state.check.senders().filter(|s| !named.contains(s)).collect();
                for sender in strangers {
                    report.extra += state.check.distinct_from(sender);
                }
                complete
            };
            report.complete += u64::from(complete);
            report.delivered += state.check.distinct();
            report.duplicates += state.check.duplicates;
            report.reorders += state.check.reorders;
            report.unstamped += state.check.unstamped;
            if state.check.last_new_unix_us > 0 {
                record_micros(&mut caught_up, state.check.last_new_unix_us.saturating_sub(since_unix_us));
            }
            // The next step starts from nothing.
            state.check = SequenceCheck::default();
        }
        let mut latency = self.latency.lock().expect("latency lock");
        if let Some(histogram) = latency.as_mut() {
            report.latency_us = HistogramData::of(histogram);
            histogram.reset();
        }
        report.caught_up_us = HistogramData::of(&caught_up);
        report
    }

    async fn disconnect(&mut self) {
        let mut closing = JoinSet::new();
        for (_, live) in std::mem::take(&mut self.connections) {
            match live.sender {
                Sender::Qun(connection) => {
                    closing.spawn(async move { connection.close().await });
                }
                Sender::Counter(_, task) => task.abort(),
                Sender::Raw(_) => {}
            }
        }
        while closing.join_next().await.is_some() {}
    }
}

/// Opens one connection and starts its receiver task.
async fn open(
    transport: &Transport,
    spec: ConnectionSpec,
    source: Option<IpAddr>,
    latency: Arc<Mutex<Option<Histogram<u64>>>>,
) -> anyhow::Result<Live> {
    let state = Arc::new(Mutex::new(ReceiverState::default()));
    let sample = spec.sample;
    let sender = match transport {
        // A member that only counts: its own lean websocket (see `room_counter`, `group_counter`).
        Transport::Qun { ws_url, app_key } if spec.count_only => {
            let started_ms = qun_client::frames::now_ms();
            let login = qun_client::frames::LoginFrame {
                app_key: app_key.clone(),
                user: spec.user.clone(),
                token: spec.token.clone(),
                device_uuid: spec.device.clone(),
                device_name: "qun-bench".to_owned(),
                resource: format!("qun_{}_{started_ms}", spec.device),
                version: ConnectOptions::default().version,
                session_id: format!("{started_ms}:"),
            };
            let (counts, task) = match spec.inbox.split_once(':') {
                Some(("r", room)) => room_counter::join(ws_url, source, login, room).await?,
                Some(("g", group)) => group_counter::start(ws_url, source, login, group).await?,
                _ => anyhow::bail!("only room and group members can count without decoding ({})", spec.inbox),
            };
            Sender::Counter(counts, task)
        }
        Transport::Qun { ws_url, app_key } => {
            let options = ConnectOptions {
                receive_mode: qun_client::ReceiveMode::Full,
                local_address: source,
                device_name: "qun-bench".to_owned(),
                ..ConnectOptions::default()
            };
            let (connection, mut incoming) =
                Connection::connect_with(ws_url, app_key, &spec.user, &spec.token, &spec.device, options).await?;
            // A room member is one who joined over msync (MUC JOIN), as the SDK does.
            if let Some(room) = spec.inbox.strip_prefix("r:") {
                connection.join_room(room, false).await.map_err(|e| anyhow::anyhow!("joining room {room}: {e}"))?;
            }
            let receiver_state = state.clone();
            tokio::spawn(async move {
                while let Some(item) = incoming.recv().await {
                    match item {
                        Incoming::Message { text, .. } => receive(&receiver_state, &latency, sample, &text),
                        Incoming::Closed => break,
                        _ => {}
                    }
                }
                receiver_state.lock().expect("receiver lock").closed = true;
            });
            Sender::Qun(connection)
        }
        Transport::Raw { ws_url } => {
            let socket = raw_connect(ws_url, source).await?;
            let (mut sink, mut stream) = socket.split();
            let (queue, mut outbound) = mpsc::channel::<Bytes>(RAW_SEND_QUEUE);
            tokio::spawn(async move {
                let mut batch = Vec::with_capacity(64);
                while outbound.recv_many(&mut batch, 64).await > 0 {
                    for frame in batch.drain(..) {
                        if sink.feed(WsMessage::Binary(frame)).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
                let _ = sink.close().await;
            });
            let receiver_state = state.clone();
            tokio::spawn(async move {
                while let Some(Ok(message)) = stream.next().await {
                    if let WsMessage::Binary(frame) = message
                        && let Ok(text) = std::str::from_utf8(&frame)
                    {
                        receive(&receiver_state, &latency, sample, text);
                    }
                }
                receiver_state.lock().expect("receiver lock").closed = true;
            });
            Sender::Raw(queue)
        }
    };
    Ok(Live { spec, sender, state, counted_before: 0 })
}

/// One received message text.
fn receive(state: &Mutex<ReceiverState>, latency: &Mutex<Option<Histogram<u64>>>, sample: bool, text: &str) {
    let now = now_unix_us();
    let Some(stamp) = Stamp::parse(text) else {
        state.lock().expect("receiver lock").check.unstamped += 1;
        return;
    };
    let receipt = state.lock().expect("receiver lock").check.record(&stamp, now);
    if sample
        && receipt != crate::stamp::Receipt::Duplicate
        && let Some(histogram) = latency.lock().expect("latency lock").as_mut()
    {
        record_micros(histogram, now.saturating_sub(stamp.intended_unix_us));
    }
}

type RawSocket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

/// A plain websocket to the calibration server, from `source` when given.
async fn raw_connect(ws_url: &str, source: Option<IpAddr>) -> anyhow::Result<RawSocket> {
    let request = ws_url.into_client_request()?;
    let host = request.uri().host().unwrap_or("127.0.0.1").to_owned();
    let port = request.uri().port_u16().unwrap_or(80);
    let remote: SocketAddr = format!("{host}:{port}").parse()?;
    let socket = TcpSocket::new_v4()?;
    if let Some(source) = source {
        socket.bind(SocketAddr::new(source, 0))?;
    }
    let stream = socket.connect(remote).await?;
    stream.set_nodelay(true)?;
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024);
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config)).await?;
    Ok(socket)
}

/// Sends `plan.rate_per_s` messages per second on the schedule `start + k / rate`, never
/// waiting for an ack before the next send (open loop), and reports what became of each.
async fn open_loop_sender(
    sender: Sender,
    own_user: String,
    plan: SendPlan,
    start_unix_us: u64,
    duration_s: f64,
    lag: Arc<Mutex<Histogram<u64>>>,
    ack: Arc<Mutex<Histogram<u64>>>,
) -> SenderReport {
    let count = (duration_s * plan.rate_per_s).floor() as u64;
    let period_us = if plan.rate_per_s > 0.0 { 1e6 / plan.rate_per_s } else { 0.0 };
    let report = Arc::new(Mutex::new(SenderReport {
        index: plan.index,
        inbox: plan.destination.inbox(),
        offered: count,
        ..SenderReport::default()
    }));
    let target = match &plan.destination {
        Destination::Group { id } => Some(Target::Group(id.clone())),
        Destination::Room { id } => Some(Target::Room(id.clone())),
        Destination::User { name } => Some(Target::User(name.clone())),
        Destination::Raw => None,
    };
    let mut in_flight = JoinSet::new();
    for seq in 0..count {
        let intended = start_unix_us + ((seq as f64 + plan.phase) * period_us) as u64;
        let now = now_unix_us();
        if intended > now {
            tokio::time::sleep(Duration::from_micros(intended - now)).await;
        }
        record_micros(&mut lag.lock().expect("lag lock"), now_unix_us().saturating_sub(intended));
        let text = Stamp { sender: plan.index, seq, intended_unix_us: intended }.text();
        match &sender {
            Sender::Counter(..) => {
                // A counting member cannot send (the coordinator never plans it to).
                report.lock().expect("report lock").failed += 1;
            }
            Sender::Raw(queue) => {
                let accepted = queue.try_send(Bytes::from(text)).is_ok();
                let mut report = report.lock().expect("report lock");
                if accepted {
                    report.accepted += 1;
                } else {
                    report.failed += 1;
                }
            }
            Sender::Qun(connection) => {
                let (connection, report, ack, target) =
                    (connection.clone(), report.clone(), ack.clone(), target.clone().expect("a qun destination"));
                let own_user = own_user.clone();
                in_flight.spawn(async move {
                    let outcome = match &target {
                        // Normal priority: the class a room drops first under its threshold.
                        Target::Room(room) => connection.send_room_text(room, &text, Some(ROOM_PRIORITY_NORMAL)).await,
                        _ => {
                            let body = qun_client::frames::text_body(&own_user, &target, &text, Vec::new());
                            connection.send(&target, body).await
                        }
                    };
                    let mut report = report.lock().expect("report lock");
                    match outcome {
                        Ok(_) => {
                            report.accepted += 1;
                            record_micros(&mut ack.lock().expect("ack lock"), now_unix_us().saturating_sub(intended));
                        }
                        Err(error @ qun_client::Error::SendRefused { .. }) => {
                            report.refused += 1;
                            report.first_refusal.get_or_insert_with(|| error.to_string());
                        }
                        Err(qun_client::Error::Timeout { .. }) => report.timed_out += 1,
                        Err(error) => {
                            report.failed += 1;
                            report.first_refusal.get_or_insert_with(|| error.to_string());
                        }
                    }
                });
                // Reap finished sends as we go, so the set stays small.
                while in_flight.try_join_next().is_some() {}
            }
        }
    }
    while in_flight.join_next().await.is_some() {}
    report.lock().expect("report lock").clone()
}

/// Closed-loop HTTP requests from `concurrency` tasks for `duration_s`.
async fn http_load(load: HttpLoad) -> Event {
    let client = match reqwest::Client::builder().pool_max_idle_per_host(load.concurrency).build() {
        Ok(client) => client,
        Err(error) => return Event::Failed { error: format!("http client: {error}") },
    };
    let method = match reqwest::Method::from_bytes(load.method.as_bytes()) {
        Ok(method) => method,
        Err(error) => return Event::Failed { error: format!("method {:?}: {error}", load.method) },
    };
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(load.duration_s);
    let load = Arc::new(load);
    let mut tasks = JoinSet::new();
    for task in 0..load.concurrency {
        let (client, method, load) = (client.clone(), method.clone(), load.clone());
        tasks.spawn(async move {
            let mut latency = micros_histogram();
            let (mut requests, mut ok, mut first_error) = (0u64, 0u64, None);
            let mut number = task as u64;
            while Instant::now() < deadline {
                // Five digits, as the fixture's user names (`b00042`).
                let i = format!("{:05}", number % load.vary.max(1));
                number += load.concurrency as u64;
                let url = format!("{}{}", load.base_url, load.path.replace("{i}", &i));
                let mut request = client.request(method.clone(), url);
                if let Some(token) = &load.token {
                    request = request.bearer_auth(token);
                }
                if let Some(body) = &load.body {
                    request = request.header("content-type", "application/json").body(body.replace("{i}", &i));
                }
                let began = Instant::now();
                let outcome = request.send().await;
                requests += 1;
                match outcome {
                    Ok(response) => {
                        let status = response.status();
                        let _ = response.bytes().await;
                        if status.is_success() {
                            ok += 1;
                            record_micros(&mut latency, began.elapsed().as_micros() as u64);
                        } else if first_error.is_none() {
                            first_error = Some(format!("HTTP {status}"));
                        }
                    }
                    Err(error) => {
                        first_error.get_or_insert_with(|| error.to_string());
                    }
                }
            }
            (requests, ok, first_error, latency)
        });
    }
    let mut latency = micros_histogram();
    let (mut requests, mut ok, mut first_error) = (0, 0, None);
    while let Some(Ok((task_requests, task_ok, task_error, task_latency))) = tasks.join_next().await {
        requests += task_requests;
        ok += task_ok;
        first_error = first_error.or(task_error);
        let _ = latency.add(&task_latency);
    }
    Event::HttpLoaded {
        requests,
        ok,
        first_error,
        elapsed_s: started.elapsed().as_secs_f64(),
        latency_us: HistogramData::of(&latency),
    }
}
