//! The server's metrics, in one registry that `GET /metrics` encodes (Prometheus text format
//! 0.0.4, `prometheus-client`).
//!
//! What is counted, and where:
//! - messages accepted from senders, by kind (`group`, `chat` for 1:1, `room`): group and 1:1
//!   messages once stored (`services::messages`), room messages once offered to the room;
//! - messages delivered, by kind: items handed to a connection — in a pull answer (groups, 1:1)
//!   or a pushed room frame (one per member it was queued to);
//! - delivery latency, by kind: from the message's id (made just before its commit) to the
//!   moment its batch is queued to a connection; one observation per batch, for its newest
//!   message (a member catching up on old messages would otherwise fill the histogram with
//!   their age);
//! - pulls answered, group and 1:1 messages pushed (one per session) and notices sent, logins by result, REST requests by route template, method
//!   and status with their latency (`http::observe`), the message writer's commit latency and
//!   queue depth, how long a client's send waits for its ack (by kind), the cursor writer's transactions (how long each held the writer) and the
//!   positions it saved, build info;
//! - sessions online and the chat rooms' counters, read when scraped ([`LiveCollector`]).
//!
//! Label sets are bounded: kinds, results and route templates are fixed sets; per-room series
//! are kept for the [`ROOMS_SHOWN`] rooms with the most members online (the totals cover all).
//!
//! Counting costs an atomic add on a handle made at start-up (no map lookup, no lock), so the
//! hot paths may count; histograms take a short lock, so they are observed per batch, not per
//! recipient.

use std::sync::Arc;

use parking_lot::RwLock;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::ids::{id_time_ms, now_ms};

/// Per-room series are written for this many rooms at most: those with the most members online.
pub const ROOMS_SHOWN: usize = 100;

/// Seconds, from 1 ms to 10 s.
const LATENCY_BUCKETS: [f64; 13] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The kinds of message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Group,
    Chat,
    Room,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Group, Kind::Chat, Kind::Room];

    fn label(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::Chat => "chat",
            Kind::Room => "room",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

/// How a login ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginResult {
    Ok,
    /// Wrong credentials, unknown user, expired token, bad request.
    Refused,
    /// Too many failures, or no hashing capacity left.
    Throttled,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LoginLabels {
    /// `rest` (the token grant) or `msync` (the websocket login).
    via: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct HttpLabels {
    pub(crate) method: &'static str,
    /// The route template (`/{org}/{app}/chatgroups/{group}`), or `unmatched`.
    pub(crate) route: String,
    pub(crate) status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RouteLabels {
    pub(crate) method: &'static str,
    pub(crate) route: String,
}

/// One handle per kind, made at start-up.
#[derive(Debug, Clone)]
pub struct ByKind<M> {
    group: M,
    chat: M,
    room: M,
}

impl<M> ByKind<M> {
    pub fn of(&self, kind: Kind) -> &M {
        match kind {
            Kind::Group => &self.group,
            Kind::Chat => &self.chat,
            Kind::Room => &self.room,
        }
    }
}

fn by_kind<M>(family: &Family<KindLabels, M, impl Fn() -> M>) -> ByKind<M>
where
    M: Clone + prometheus_client::metrics::TypedMetric + EncodeMetric,
{
    let handle = |kind: Kind| family.get_or_create(&KindLabels { kind: kind.label() }).clone();
    ByKind { group: handle(Kind::Group), chat: handle(Kind::Chat), room: handle(Kind::Room) }
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// See the module docs. One per server, shared behind an `Arc`.
#[derive(Debug)]
pub struct Metrics {
    registry: RwLock<Registry>,
    pub messages_accepted: ByKind<Counter>,
    pub messages_delivered: ByKind<Counter>,
    pub delivery_latency: ByKind<Histogram>,
    pub pulls: Counter,
    pub group_pushes: Counter,
    pub chat_pushes: Counter,
    pub notices: Counter,
    logins: Family<LoginLabels, Counter>,
    pub(crate) http_requests: Family<HttpLabels, Counter>,
    pub(crate) http_latency: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub store_commit_latency: Histogram,
    /// From a client's message frame read to its ack queued, by kind.
    pub send_ack_latency: ByKind<Histogram>,
    pub writer_queue: Gauge,
    /// The cursor writer's transactions, each a chunk of delivery cursors.
    pub cursor_commit_latency: Histogram,
    /// Delivery cursor positions the cursor writer saved.
    pub cursors_saved: Counter,
}

impl Metrics {
    /// `backend` is the store's (`sqlite`, `postgres`), for the build info.
    pub fn new(backend: &str) -> Metrics {
        let mut registry = Registry::default();
        registry.register(
            "qun_build",
            "Qun's version and store backend",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION").to_owned()), ("backend", backend.to_owned())]),
        );
        let accepted = Family::<KindLabels, Counter>::default();
        registry.register(
            "qun_messages_accepted",
            "Messages accepted from senders (group and 1:1: stored; room: offered to the room)",
            accepted.clone(),
        );
        let delivered = Family::<KindLabels, Counter>::default();
        registry.register(
            "qun_messages_delivered",
            "Messages handed to connections (pull answers, pushed room frames)",
            delivered.clone(),
        );
        let latency = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "qun_delivery_latency_seconds",
            "From a message's id to its batch queued to a connection (newest message of each batch)",
            latency.clone(),
        );
        let pulls = Counter::default();
        registry.register("qun_pulls", "Pulls answered (SYNC with a queue)", pulls.clone());
        let group_pushes = Counter::default();
        registry.register(
            "qun_group_pushes",
            "Group messages pushed to members' sessions that had read everything before them",
            group_pushes.clone(),
        );
        let chat_pushes = Counter::default();
        registry.register(
            "qun_chat_pushes",
            "1:1 messages pushed to sessions that had read everything before them",
            chat_pushes.clone(),
        );
        let notices = Counter::default();
        registry.register("qun_notices", "NOTICE frames queued (a queue has news)", notices.clone());
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register(
            "qun_logins",
            "Logins by way (rest, msync) and result (ok, refused, throttled)",
            logins.clone(),
        );
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "qun_http_requests",
            "REST requests by method, route template and status",
            http_requests.clone(),
        );
        let http_latency = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "qun_http_request_duration_seconds",
            "REST request latency by method and route template",
            http_latency.clone(),
        );
        let store_commit_latency = latency_histogram();
        registry.register(
            "qun_message_commit_seconds",
            "The message writer's commits (one transaction per batch of sends)",
            store_commit_latency.clone(),
        );
        let send_ack = Family::<KindLabels, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram);
        registry.register(
            "qun_message_ack_seconds",
            "From a client's message frame read to its ack queued (the sender checks, the wait for the writer, the commit)",
            send_ack.clone(),
        );
        let writer_queue = Gauge::default();
        registry.register("qun_message_writer_queue", "Sends waiting for the message writer", writer_queue.clone());
        let cursor_commit_latency = latency_histogram();
        registry.register(
            "qun_cursor_commit_seconds",
            "The cursor writer's transactions (a chunk of delivery cursors of every session)",
            cursor_commit_latency.clone(),
        );
        let cursors_saved = Counter::default();
        registry.register(
            "qun_cursors_saved",
            "Delivery cursor positions saved by the cursor writer",
            cursors_saved.clone(),
        );
        for kind in Kind::ALL {
            // Every kind shows, at zero, from the start.
            let labels = KindLabels { kind: kind.label() };
            let _ = (accepted.get_or_create(&labels), delivered.get_or_create(&labels), latency.get_or_create(&labels));
            let _ = send_ack.get_or_create(&labels);
        }
        Metrics {
            messages_accepted: by_kind(&accepted),
            messages_delivered: by_kind(&delivered),
            delivery_latency: by_kind(&latency),
            registry: RwLock::new(registry),
            pulls,
            group_pushes,
            chat_pushes,
            notices,
            logins,
            http_requests,
            http_latency,
            store_commit_latency,
            send_ack_latency: by_kind(&send_ack),
            writer_queue,
            cursor_commit_latency,
            cursors_saved,
        }
    }

    /// Adds what is read when scraped (sessions, rooms).
    pub fn add_collector(&self, collector: impl Collector) {
        self.registry.write().register_collector(Box::new(collector));
    }

    /// A batch of `kind` messages, the newest with id `newest_id`, was queued to `connections`
    /// connections (`count` messages each).
    pub fn delivered(&self, kind: Kind, count: u64, newest_id: Option<u64>) {
        self.messages_delivered.of(kind).inc_by(count);
        if let Some(id) = newest_id {
            let age_ms = now_ms().saturating_sub(id_time_ms(id));
            self.delivery_latency.of(kind).observe(age_ms as f64 / 1000.0);
        }
    }

    pub fn login(&self, via: &'static str, result: LoginResult) {
        let result = match result {
            LoginResult::Ok => "ok",
            LoginResult::Refused => "refused",
            LoginResult::Throttled => "throttled",
        };
        self.logins.get_or_create(&LoginLabels { via, result }).inc();
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(16 * 1024);
        if let Err(error) = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry.read()) {
            tracing::error!(%error, "encoding the metrics failed");
        }
        text
    }
}

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Counters of one chat room, as the room runtime reports them.
#[derive(Debug, Clone)]
pub struct RoomStats {
    pub app_key: String,
    pub room_id: qun_core::RoomId,
    pub members_online: u64,
    /// By priority: high, normal, low.
    pub delivered: [u64; 3],
    pub dropped: [u64; 3],
    pub events_dropped: u64,
    pub frames: u64,
    pub frames_refused: u64,
    pub history: u64,
}

impl RoomStats {
    /// Messages offered to the room: delivered and dropped.
    pub fn offered(&self) -> u64 {
        self.delivered.iter().sum::<u64>() + self.dropped.iter().sum::<u64>()
    }
}

/// What the live parts of the server report when scraped.
pub trait LiveSource: Send + Sync + 'static {
    fn sessions_online(&self) -> u64;
    fn room_members_away(&self) -> u64;
    fn rooms(&self) -> Vec<RoomStats>;
}

/// Reads sessions and chat rooms at each scrape.
pub struct LiveCollector(pub Arc<dyn LiveSource>);

impl std::fmt::Debug for LiveCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveCollector")
    }
}

const PRIORITIES: [&str; 3] = ["high", "normal", "low"];

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> std::fmt::Result {
    let gauge = ConstGauge::new(value as i64);
    gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)
}

/// A per-room series: `value` of each shown room (with `priority` labels when `by_priority`).
fn room_series<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rooms: &[RoomStats],
    metric_type: prometheus_client::metrics::MetricType,
    values: impl Fn(&RoomStats) -> Vec<(Option<&'static str>, M)>,
) -> std::fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, metric_type)?;
    for room in rooms {
        for (priority, metric) in values(room) {
            let mut labels = vec![("app", room.app_key.clone()), ("room", room.room_id.to_string())];
            if let Some(priority) = priority {
                labels.push(("priority", priority.to_owned()));
            }
            metric.encode(family.encode_family(&labels)?)?;
        }
    }
    Ok(())
}

impl Collector for LiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        use prometheus_client::metrics::MetricType::{Counter as CounterType, Gauge as GaugeType};
        let source = &self.0;
        gauge(&mut encoder, "qun_sessions_online", "Logged-in websocket connections", source.sessions_online())?;
        gauge(
            &mut encoder,
            "qun_room_members_away",
            "Chat room members in their grace period after disconnecting",
            source.room_members_away(),
        )?;
        let mut rooms = source.rooms();
        gauge(&mut encoder, "qun_rooms_awake", "Chat rooms held in memory", rooms.len() as u64)?;
        // The largest rooms, by members online; then by app and room for a stable order.
        rooms.sort_by(|a, b| b.members_online.cmp(&a.members_online).then(a.room_id.cmp(&b.room_id)));
        rooms.truncate(ROOMS_SHOWN);
        rooms.sort_by(|a, b| (&a.app_key, a.room_id).cmp(&(&b.app_key, b.room_id)));
        let counter = |value: u64| ConstCounter::new(value);
        let by_priority = |values: [u64; 3]| -> Vec<(Option<&'static str>, ConstCounter)> {
            PRIORITIES.iter().zip(values).map(|(p, v)| (Some(*p), counter(v))).collect()
        };
        room_series(
            &mut encoder,
            "qun_room_messages_offered",
            "Messages offered to a chat room (delivered + dropped)",
            &rooms,
            CounterType,
            |room| vec![(None, counter(room.offered()))],
        )?;
        room_series(
            &mut encoder,
            "qun_room_messages_delivered",
            "Chat room messages sent to the members online",
            &rooms,
            CounterType,
            |room| by_priority(room.delivered),
        )?;
        room_series(
            &mut encoder,
            "qun_room_messages_dropped",
            "Chat room messages dropped above the room's rate limit (never high priority)",
            &rooms,
            CounterType,
            |room| by_priority(room.dropped),
        )?;
        room_series(
            &mut encoder,
            "qun_room_presence_notices_dropped",
            "memberPresence/memberAbsence notices dropped above the room's rate limit",
            &rooms,
            CounterType,
            |room| vec![(None, counter(room.events_dropped))],
        )?;
        room_series(
            &mut encoder,
            "qun_room_frames",
            "Frames queued to chat room members",
            &rooms,
            CounterType,
            |room| vec![(None, counter(room.frames))],
        )?;
        room_series(
            &mut encoder,
            "qun_room_frames_refused",
            "Frames a member's full or closed queue refused (a full queue disconnects the member)",
            &rooms,
            CounterType,
            |room| vec![(None, counter(room.frames_refused))],
        )?;
        let gauge_of = |value: u64| vec![(None, ConstGauge::new(value as i64))];
        room_series(&mut encoder, "qun_room_members_online", "Chat room members online", &rooms, GaugeType, |room| {
            gauge_of(room.members_online)
        })?;
        room_series(
            &mut encoder,
            "qun_room_history_messages",
            "Recent messages a chat room holds for joiners",
            &rooms,
            GaugeType,
            |room| gauge_of(room.history),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use qun_core::RoomId;

    use super::*;

    struct Fixed(Vec<RoomStats>);

    impl LiveSource for Fixed {
        fn sessions_online(&self) -> u64 {
            2
        }

        fn room_members_away(&self) -> u64 {
            1
        }

        fn rooms(&self) -> Vec<RoomStats> {
            self.0.clone()
        }
    }

    fn room(id: u64, members_online: u64) -> RoomStats {
        RoomStats {
            app_key: "o#a\"x".into(),
            room_id: RoomId(id),
            members_online,
            delivered: [1, 2, 3],
            dropped: [0, 4, 5],
            events_dropped: 6,
            frames: 7,
            frames_refused: 8,
            history: 9,
        }
    }

    #[test]
    fn exposition_is_prometheus_text() {
        let metrics = Metrics::new("sqlite");
        metrics.add_collector(LiveCollector(Arc::new(Fixed(vec![room(7, 3)]))));
        metrics.messages_accepted.of(Kind::Group).inc_by(5);
        metrics.login("rest", LoginResult::Throttled);
        let text = metrics.encode();
        assert!(text.contains("qun_sessions_online 2\n"), "{text}");
        assert!(text.contains("qun_messages_accepted_total{kind=\"group\"} 5\n"), "{text}");
        assert!(text.contains("qun_messages_accepted_total{kind=\"room\"} 0\n"), "{text}");
        assert!(text.contains("qun_logins_total{via=\"rest\",result=\"throttled\"} 1\n"), "{text}");
        assert!(text.contains("qun_build_info{version=\""), "{text}");
        assert!(text.contains("qun_room_messages_offered_total{app=\"o#a\\\"x\",room=\"7\"} 15\n"), "{text}");
        assert!(text.contains("qun_room_messages_dropped_total{app=\"o#a\\\"x\",room=\"7\",priority=\"low\"} 5\n"));
        assert!(text.contains("# TYPE qun_room_messages_delivered_total counter\n"), "{text}");
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<f64>().is_ok(), "{line}");
        }
    }

    #[test]
    fn only_the_largest_rooms_have_series_of_their_own() {
        let metrics = Metrics::new("sqlite");
        let rooms = (1..=ROOMS_SHOWN as u64 + 20).map(|id| room(id, id)).collect();
        metrics.add_collector(LiveCollector(Arc::new(Fixed(rooms))));
        let text = metrics.encode();
        let shown = text.lines().filter(|l| l.starts_with("qun_room_members_online{")).count();
        assert_eq!(shown, ROOMS_SHOWN);
        assert!(!text.contains("room=\"20\""), "the smallest rooms are left out");
        assert!(text.contains(&format!("room=\"{}\"", ROOMS_SHOWN + 20)));
        assert!(text.contains(&format!("qun_rooms_awake {}\n", ROOMS_SHOWN + 20)));
    }

    #[test]
    fn a_delivered_batch_counts_its_messages_and_the_age_of_its_newest() {
        let metrics = Metrics::new("sqlite");
        let id = crate::ids::IdGenerator::new(0).next();
        metrics.delivered(Kind::Chat, 3, Some(id));
        metrics.delivered(Kind::Chat, 2, None);
        assert_eq!(metrics.messages_delivered.of(Kind::Chat).get(), 5);
        let text = metrics.encode();
        assert!(text.contains("qun_delivery_latency_seconds_count{kind=\"chat\"} 1\n"), "{text}");
    }
}
