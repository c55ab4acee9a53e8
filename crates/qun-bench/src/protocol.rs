//! What the coordinator and its worker processes say to each other: one JSON object per line,
//! commands on the worker's stdin, events on its stdout (logs go to stderr).
//!
//! A worker answers every command with exactly one event, so the coordinator can drive a
//! whole fleet in lock step: send one command to each worker, then read one event from each.

use std::net::IpAddr;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// How the load reaches the server under test.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Transport {
    /// Qun's msync websocket, through qun-client.
    Qun { ws_url: String, app_key: String },
    /// The calibration broadcast server: plain websocket frames carrying only the stamp.
    Raw { ws_url: String },
}

/// One connection a worker opens.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConnectionSpec {
    pub user: String,
    pub token: String,
    pub device: String,
    /// The inbox this connection receives: `g:<group>` for a group member, `u:<user>` for a
    /// user's 1:1 messages, `r:<room>` for a room, `raw` on the calibration server. A
    /// receiver expects every accepted message whose sender targeted its inbox (its own
    /// sends excepted).
    pub inbox: String,
    /// Whether this receiver records latencies (the 2-5 % sample).
    pub sample: bool,
    /// Whether this receiver only counts the messages delivered to it, without decoding them:
    /// a chat room member of `room_counter` or a group member of `group_counter` (room and
    /// group inboxes only). Its total is checked, not each sender's sequence, so duplicates
    /// and reorders show only at the full receivers (and a duplicate as *extra* in the total).
    /// For venues too large for one generator core to decode every delivery (S3, S4); sampled
    /// receivers and senders are always full clients.
    #[serde(default)]
    pub count_only: bool,
}

/// Where a sender sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    Group { id: String },
    User { name: String },
    Room { id: String },
    Raw,
}

impl Destination {
    /// The inbox key of the receivers of this destination (see [`ConnectionSpec::inbox`]).
    pub fn inbox(&self) -> String {
        match self {
            Destination::Group { id } => format!("g:{id}"),
            Destination::User { name } => format!("u:{name}"),
            Destination::Room { id } => format!("r:{id}"),
            Destination::Raw => "raw".to_owned(),
        }
    }
}

/// One open-loop sender: the worker's connection number `connection` sends `rate_per_s`
/// messages per second to `destination`, stamped with sender number `index`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SendPlan {
    pub connection: usize,
    pub index: u32,
    pub destination: Destination,
    pub rate_per_s: f64,
    /// Where in each of its periods this sender sends, as a fraction of the period: a step's
    /// senders are spread evenly over it, so the step offers a steady rate instead of every
    /// sender's message at the same instant (4,000 senders at 0.5 msgs/s would otherwise be
    /// bursts of 4,000 every 2 s).
    pub phase: f64,
}

/// What a receiver should have got from one sender: everything the server accepted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expectation {
    pub sender: u32,
    pub inbox: String,
    pub accepted: u64,
}

/// How many messages the server delivered into an inbox in a step, all senders together. For
/// rooms, which drop above their threshold and still ack a dropped message OK: the acks cannot
/// say what a receiver should get, the room's counters can. A receiver of such an inbox expects
/// that many (less its own sends), counted over all senders.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxTotal {
    pub inbox: String,
    pub delivered: u64,
}

/// Coordinator → worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Command {
    /// Open these connections (closing any open ones first), at most `connects_per_s` new ones
    /// per second and `concurrency` handshakes at a time, spreading them over the source
    /// addresses. Answered by [`Event::Connected`].
    Connect {
        transport: Transport,
        connections: Vec<ConnectionSpec>,
        source_addresses: Vec<IpAddr>,
        connects_per_s: f64,
        concurrency: usize,
    },
    /// Send open-loop from `start_unix_us` for `duration_s`; answered by [`Event::Sent`] once
    /// every send was acknowledged, refused or timed out.
    Send { plans: Vec<SendPlan>, start_unix_us: u64, duration_s: f64 },
    /// Wait (up to `deadline_s`) until every receiver has what it expects, then report and
    /// forget what was received. Answered by [`Event::Verified`].
    Verify {
        expected: Vec<Expectation>,
        since_unix_us: u64,
        deadline_s: f64,
        #[serde(default)]
        inbox_totals: Vec<InboxTotal>,
    },
    /// Closed-loop HTTP load with `concurrency` requests in flight for `duration_s`.
    /// Answered by [`Event::HttpLoaded`].
    HttpLoad(HttpLoad),
    /// Close every connection (the process stays). Answered by [`Event::Disconnected`].
    Disconnect,
}

/// See [`Command::HttpLoad`]. `{i}` in `path` and `body` is replaced by a five-digit number
/// that cycles through `0..vary` (a different fixture user per request, say).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HttpLoad {
    pub base_url: String,
    pub method: String,
    pub path: String,
    pub body: Option<String>,
    pub token: Option<String>,
    pub vary: u64,
    pub concurrency: usize,
    pub duration_s: f64,
}

/// Worker → coordinator.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Connected {
        ok: u64,
        failed: u64,
        first_errors: Vec<String>,
        elapsed_s: f64,
        /// Handshake + login reply, per connection.
        login_us: HistogramData,
    },
    Sent {
        senders: Vec<SenderReport>,
        /// How late each send left against its intended time (the generator's own health).
        send_lag_us: HistogramData,
        /// Intended send time → ack (durable: the server acks after commit).
        ack_us: HistogramData,
    },
    Verified(Verification),
    HttpLoaded {
        requests: u64,
        ok: u64,
        first_error: Option<String>,
        elapsed_s: f64,
        latency_us: HistogramData,
    },
    Disconnected,
    /// The command could not be carried out at all.
    Failed {
        error: String,
    },
}

/// One sender's outcome.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SenderReport {
    pub index: u32,
    pub inbox: String,
    pub offered: u64,
    pub accepted: u64,
    pub refused: u64,
    pub timed_out: u64,
    pub failed: u64,
    pub first_refusal: Option<String>,
}

/// What the receivers of one worker got, against what they should have got.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verification {
    pub receivers: u64,
    /// Receivers that got everything they expected.
    pub complete: u64,
    pub expected: u64,
    /// Distinct stamped messages received (each sender's sequence number counted once).
    pub delivered: u64,
    /// Expected but never received.
    pub missing: u64,
    /// Received but not expected (a send that timed out and still went through, say).
    pub extra: u64,
    pub duplicates: u64,
    /// Received after a later message of the same sender.
    pub reorders: u64,
    /// Messages whose text carries no stamp.
    pub unstamped: u64,
    /// Connections that ended before the verification.
    pub closed_early: u64,
    /// Receivers checked by their count only (see [`ConnectionSpec::count_only`]).
    #[serde(default)]
    pub counted_only: u64,
    /// Intended send time → receipt, sampled receivers only.
    pub latency_us: HistogramData,
    /// Per receiver: `since_unix_us` → its last new message.
    pub caught_up_us: HistogramData,
}

/// A histogram on the wire: its recorded (value, count) pairs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistogramData(pub Vec<(u64, u64)>);

impl HistogramData {
    pub fn of(histogram: &Histogram<u64>) -> HistogramData {
        HistogramData(histogram.iter_recorded().map(|v| (v.value_iterated_to(), v.count_at_value())).collect())
    }

    pub fn add_to(&self, histogram: &mut Histogram<u64>) {
        for &(value, count) in &self.0 {
            // Values beyond the histogram's range are clamped by the histogram itself.
            let _ = histogram.record_n(value, count);
        }
    }
}

/// A histogram of microseconds, from 1 µs to one hour, three significant digits, clamping
/// larger values instead of failing.
pub fn micros_histogram() -> Histogram<u64> {
    let mut histogram = Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid histogram bounds");
    histogram.auto(false);
    histogram
}

/// Records `value` µs, clamped into the histogram's range.
pub fn record_micros(histogram: &mut Histogram<u64>, value: u64) {
    let _ = histogram.record(value.clamp(1, 3_600_000_000));
}
