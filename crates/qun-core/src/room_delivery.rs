//! How a chat room delivers: message priority, the per-room rate limit that decides which
//! messages are dropped under load, and the recent-message ring's settings (per app, per room).
//!
//! Rooms are best-effort by design (mission: "under heavy traffic messages beyond a threshold
//! are dropped"): a room admits at most its rate of messages per second on average; above it,
//! low-priority messages are dropped first, then normal ones; high-priority messages
//! (everything from the owner, admins and allowlisted members, and REST sends the app asked
//! to be high) are never dropped. A member's own `chatroom_msg_tag` 0 is a claim, not a
//! right: it is treated as normal. Within a priority, the room's budget is shared fairly
//! between its senders, so one flooder loses its own messages, not everyone's. Pure: the
//! caller passes the time in.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher, RandomState};

use serde::{Deserialize, Serialize};

/// The `Meta.ext` key the SDK writes a room message's priority under (0 high, 1 normal,
/// 2 low) and reads it back from received messages.
pub const PRIORITY_EXT_KEY: &str = "chatroom_msg_tag";
/// Messages a room admits per second by default (mission: "default 100 messages/s").
pub const DEFAULT_RATE_PER_SECOND: u32 = 100;
/// Recent messages a room keeps for joiners by default.
pub const DEFAULT_HISTORY: u32 = 10;
/// The most recent messages a room may keep.
pub const MAX_HISTORY: u32 = 200;
/// The highest per-room rate that may be configured.
pub const MAX_RATE_PER_SECOND: u32 = 100_000;

/// A room message's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoomPriority {
    High,
    Normal,
    Low,
}

impl RoomPriority {
    pub const ALL: [RoomPriority; 3] = [RoomPriority::High, RoomPriority::Normal, RoomPriority::Low];

    /// From the SDK's `chatroom_msg_tag` (0 high, 2 low, anything else normal, as the SDK
    /// reads it); `None` (no tag) is normal.
    pub fn from_tag(tag: Option<i64>) -> RoomPriority {
        match tag {
            Some(0) => RoomPriority::High,
            Some(2) => RoomPriority::Low,
            _ => RoomPriority::Normal,
        }
    }

    /// From REST's `chatroom_msg_level` ("high" | "normal" | "low").
    pub fn from_level(level: &str) -> Option<RoomPriority> {
        match level.to_ascii_lowercase().as_str() {
            "high" => Some(RoomPriority::High),
            "normal" => Some(RoomPriority::Normal),
            "low" => Some(RoomPriority::Low),
            _ => None,
        }
    }

    pub fn tag(self) -> i64 {
        match self {
            RoomPriority::High => 0,
            RoomPriority::Normal => 1,
            RoomPriority::Low => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RoomPriority::High => "high",
            RoomPriority::Normal => "normal",
            RoomPriority::Low => "low",
        }
    }

    /// The priority a message is treated with, given what was `claimed` (the sender's tag, or
    /// REST's level) and who claims it: the owner, admins and allowlisted members are always
    /// high (mission: they "are high priority"); the app (a REST send with the app token) gets
    /// the level it asks for; a member gets what it claims but high, which is normal — high
    /// priority skips the room's threshold, so it is not for a member to take.
    pub fn effective(claimed: RoomPriority, sender: RoomSender) -> RoomPriority {
        match (sender, claimed) {
            (RoomSender::Privileged, _) => RoomPriority::High,
            (RoomSender::App, claimed) => claimed,
            (RoomSender::Member, RoomPriority::High) => RoomPriority::Normal,
            (RoomSender::Member, claimed) => claimed,
        }
    }
}

impl RoomPriority {
    /// The priority receivers are told (the `chatroom_msg_tag` relayed): what was claimed, but
    /// a member's refused high, which is normal. A privileged sender's messages are admitted
    /// as high whatever they say, but their tag is theirs.
    pub fn shown(claimed: RoomPriority, sender: RoomSender) -> RoomPriority {
        match sender {
            RoomSender::Member => RoomPriority::effective(claimed, sender),
            RoomSender::Privileged | RoomSender::App => claimed,
        }
    }
}

/// Who claims a room message's priority (see [`RoomPriority::effective`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomSender {
    /// An ordinary member: its claim of high is normal.
    Member,
    /// The room's owner, an admin or an allowlisted member: always high.
    Privileged,
    /// The app itself (REST with the app token): the level it asks for.
    App,
}

// ------------------------------------------------------------------------ settings

/// An app's defaults for its rooms. Stored with the app's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomDeliveryDefaults {
    /// Keep recent messages for joiners at all (the app-wide switch: off here is off in every
    /// room).
    pub history_enabled: bool,
    /// How many recent messages a room keeps (0 to 200).
    pub history_size: u32,
    /// Messages per second a room admits before it drops (see the module docs).
    pub rate_limit_per_second: u32,
}

impl Default for RoomDeliveryDefaults {
    fn default() -> Self {
        RoomDeliveryDefaults {
            history_enabled: true,
            history_size: DEFAULT_HISTORY,
            rate_limit_per_second: DEFAULT_RATE_PER_SECOND,
        }
    }
}

/// One room's overrides of its app's defaults; `None` takes the app's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RoomDelivery {
    /// `Some(false)` switches the room's history off (an app that switched it off keeps it off).
    pub history_enabled: Option<bool>,
    pub history_size: Option<u32>,
    pub rate_limit_per_second: Option<u32>,
}

/// A delivery setting out of range; the message names the field as the REST body does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliverySettingsError {
    #[error("history_size must be between 0 and 200")]
    HistorySize,
    #[error("rate_limit must be between 1 and 100000")]
    RateLimit,
}

fn check_history(size: u32) -> Result<(), DeliverySettingsError> {
    if size <= MAX_HISTORY { Ok(()) } else { Err(DeliverySettingsError::HistorySize) }
}

fn check_rate(rate: u32) -> Result<(), DeliverySettingsError> {
    if (1..=MAX_RATE_PER_SECOND).contains(&rate) { Ok(()) } else { Err(DeliverySettingsError::RateLimit) }
}

impl RoomDeliveryDefaults {
    pub fn validate(&self) -> Result<(), DeliverySettingsError> {
        check_history(self.history_size)?;
        check_rate(self.rate_limit_per_second)
    }
}

impl RoomDelivery {
    pub fn validate(&self) -> Result<(), DeliverySettingsError> {
        if let Some(size) = self.history_size {
            check_history(size)?;
        }
        if let Some(rate) = self.rate_limit_per_second {
            check_rate(rate)?;
        }
        Ok(())
    }

    /// What the room runs with, given its app's defaults.
    pub fn effective(&self, app: &RoomDeliveryDefaults) -> EffectiveDelivery {
        let enabled = app.history_enabled && self.history_enabled.unwrap_or(true);
        let size = self.history_size.unwrap_or(app.history_size).min(MAX_HISTORY);
        EffectiveDelivery {
            history_size: if enabled { size } else { 0 },
            rate_limit_per_second: self.rate_limit_per_second.unwrap_or(app.rate_limit_per_second).max(1),
        }
    }
}

/// The settings a room runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EffectiveDelivery {
    /// Recent messages kept for joiners; 0 = history off.
    pub history_size: u32,
    pub rate_limit_per_second: u32,
}

// ------------------------------------------------------------------------ the rate limit

/// The outcome of offering one message to a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Deliver,
    Drop,
}

/// A room's rate limit: a token bucket refilled at `rate` tokens per second, holding at most
/// one second's worth (`rate` tokens), full at the start.
///
/// - a **high**-priority message is always delivered; it takes a token if there is one, so
///   high traffic uses up the room's budget before the others get any;
/// - a **normal** message is delivered if a whole token is left;
/// - a **low** message only while more than half the bucket is left: as load rises, low
///   messages are the first to go, then normal ones.
///
/// **Fair per sender** ([`RoomRateLimiter::offer_from`]): each recent sender also has a bucket
/// of its fair share, `rate / senders` a second (senders: those seen in about the last second),
/// holding one second's share (at least one token). A normal or low message within its
/// sender's share is decided as above; one beyond it also needs a quarter of the room's bucket
/// left on top (normal: a quarter; low: three quarters). So under overload the room's bucket
/// hovers where the excess stops — a quarter full — and a sender within its share always finds
/// its token there: a flooder loses its own excess, not everyone's messages, while what nobody
/// else uses still goes to it. At most [`MAX_TRACKED_SENDERS`] senders have a share bucket;
/// beyond that, a new sender is treated as beyond its share until the map is pruned (once a
/// second, of senders whose bucket has filled up again, i.e. who fell quiet).
///
/// So over any stretch of time, normal and low deliveries stay within `rate` per second plus
/// one second's burst, and nothing queues: the decision is immediate.
#[derive(Debug, Clone)]
pub struct RoomRateLimiter {
    rate_per_second: u32,
    /// Tokens in millionths, so that the arithmetic is exact integer arithmetic.
    micro_tokens: u64,
    last_us: u64,
    /// Each recent sender's share bucket, by a keyed hash of its name.
    senders: HashMap<u64, ShareBucket, BuildHasherDefault<PrehashedKey>>,
    names: RandomState,
    last_prune_us: u64,
}

/// Senders a room keeps a share bucket for at most (24 bytes each and the map's overhead).
pub const MAX_TRACKED_SENDERS: usize = 4096;

const MICRO: u64 = 1_000_000;
/// How often the senders' map drops those who fell quiet.
const PRUNE_EVERY_US: u64 = 1_000_000;

/// One sender's share of the room's rate (see [`RoomRateLimiter`]).
#[derive(Debug, Clone, Copy)]
struct ShareBucket {
    micro_tokens: u64,
    last_us: u64,
}

impl ShareBucket {
    /// One second's share among `senders`, at least one token.
    fn capacity(rate_per_second: u64, senders: u64) -> u64 {
        (rate_per_second * MICRO / senders.max(1)).max(MICRO)
    }

    fn refill(&mut self, now_us: u64, rate_per_second: u64, senders: u64) {
        let elapsed = now_us.saturating_sub(self.last_us);
        self.last_us = self.last_us.max(now_us);
        let added = elapsed.saturating_mul(rate_per_second) / senders.max(1);
        self.micro_tokens = self.micro_tokens.saturating_add(added).min(Self::capacity(rate_per_second, senders));
    }
}

/// The senders' map is keyed by a hash already (keyed per room by `RandomState`): used as is.
#[derive(Debug, Default)]
struct PrehashedKey(u64);

impl Hasher for PrehashedKey {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }
}

impl RoomRateLimiter {
    /// A full bucket for `rate_per_second` at time `now_us` (any monotonic microsecond clock).
    pub fn new(rate_per_second: u32, now_us: u64) -> RoomRateLimiter {
        let rate_per_second = rate_per_second.max(1);
        RoomRateLimiter {
            rate_per_second,
            micro_tokens: u64::from(rate_per_second) * MICRO,
            last_us: now_us,
            senders: HashMap::default(),
            names: RandomState::new(),
            last_prune_us: now_us,
        }
    }

    pub fn rate_per_second(&self) -> u32 {
        self.rate_per_second
    }

    /// Senders with a share bucket now.
    pub fn senders_tracked(&self) -> usize {
        self.senders.len()
    }

    /// Changes the rate: a higher one adds its extra second's worth at once, a lower one caps
    /// what is held.
    pub fn set_rate(&mut self, rate_per_second: u32) {
        let before = self.capacity();
        self.rate_per_second = rate_per_second.max(1);
        let after = self.capacity();
        self.micro_tokens = self.micro_tokens.saturating_add(after.saturating_sub(before)).min(after);
    }

    fn capacity(&self) -> u64 {
        u64::from(self.rate_per_second) * MICRO
    }

    fn refill(&mut self, now_us: u64) {
        let elapsed = now_us.saturating_sub(self.last_us);
        self.last_us = self.last_us.max(now_us);
        // rate tokens per second = rate micro-tokens per microsecond.
        let added = elapsed.saturating_mul(u64::from(self.rate_per_second));
        self.micro_tokens = self.micro_tokens.saturating_add(added).min(self.capacity());
    }

    /// Decides one message of `priority` offered at `now_us`, its sender unknown (treated as
    /// within its share).
    pub fn offer(&mut self, priority: RoomPriority, now_us: u64) -> Admission {
        self.refill(now_us);
        self.decide(priority, true)
    }

    /// Decides one message of `priority` from `sender` offered at `now_us`: as
    /// [`RoomRateLimiter::offer`], with the sender's fair share (see the type's docs).
    pub fn offer_from(&mut self, priority: RoomPriority, sender: &str, now_us: u64) -> Admission {
        self.refill(now_us);
        if priority == RoomPriority::High {
            return self.decide(priority, true);
        }
        self.prune(now_us);
        let rate = u64::from(self.rate_per_second);
        let key = self.names.hash_one(sender);
        let known = self.senders.len() as u64;
        let tracked = self.senders.len() < MAX_TRACKED_SENDERS || self.senders.contains_key(&key);
        let share = tracked.then(|| {
            self.senders
                .entry(key)
                .and_modify(|bucket| bucket.refill(now_us, rate, known))
                .or_insert(ShareBucket { micro_tokens: ShareBucket::capacity(rate, known + 1), last_us: now_us })
        });
        match share {
            Some(bucket) if bucket.micro_tokens >= MICRO => {
                let admission = Self::decide_on(&mut self.micro_tokens, self.rate_per_second, priority, true);
                if admission == Admission::Deliver {
                    bucket.micro_tokens -= MICRO;
                }
                admission
            }
            _ => Self::decide_on(&mut self.micro_tokens, self.rate_per_second, priority, false),
        }
    }

    fn decide(&mut self, priority: RoomPriority, within_share: bool) -> Admission {
        Self::decide_on(&mut self.micro_tokens, self.rate_per_second, priority, within_share)
    }

    /// The room bucket's decision (on its tokens, so that a sender's bucket may be held
    /// meanwhile).
    fn decide_on(
        micro_tokens: &mut u64,
        rate_per_second: u32,
        priority: RoomPriority,
        within_share: bool,
    ) -> Admission {
        let quarter = u64::from(rate_per_second) * MICRO / 4;
        let reserve = match (priority, within_share) {
            (RoomPriority::High, _) => {
                *micro_tokens = micro_tokens.saturating_sub(MICRO);
                return Admission::Deliver;
            }
            (RoomPriority::Normal, true) => 0,
            (RoomPriority::Normal, false) => quarter,
            (RoomPriority::Low, true) => 2 * quarter,
            (RoomPriority::Low, false) => 3 * quarter,
        };
        if *micro_tokens >= MICRO + reserve {
            *micro_tokens -= MICRO;
            Admission::Deliver
        } else {
            Admission::Drop
        }
    }

    /// Once a second, forgets the senders whose share bucket has filled up again (they fell
    /// quiet: a new bucket would be the same).
    fn prune(&mut self, now_us: u64) {
        if now_us.saturating_sub(self.last_prune_us) < PRUNE_EVERY_US {
            return;
        }
        self.last_prune_us = now_us;
        let rate = u64::from(self.rate_per_second);
        let senders = self.senders.len() as u64;
        let full = ShareBucket::capacity(rate, senders);
        self.senders.retain(|_, bucket| {
            bucket.refill(now_us, rate, senders);
            bucket.micro_tokens < full
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000;

    /// Offers `per_second` messages of each priority, evenly spread, for `seconds`; returns how
    /// many of each were delivered in the last of those seconds (the steady state).
    fn steady(rate: u32, per_second: [u32; 3], seconds: u64) -> [u32; 3] {
        let mut limiter = RoomRateLimiter::new(rate, 0);
        let mut delivered = [0u32; 3];
        let total: u32 = per_second.iter().sum();
        for second in 0..seconds {
            delivered = [0; 3];
            // Interleave the priorities evenly over the second.
            let mut offered = [0u32; 3];
            for step in 0..total {
                let now = second * SECOND + u64::from(step) * SECOND / u64::from(total);
                // Pick the priority whose share is furthest behind.
                let i = (0..3)
                    .filter(|&i| offered[i] < per_second[i])
                    .min_by_key(|&i| (u64::from(offered[i]) * 1000) / u64::from(per_second[i].max(1)))
                    .unwrap();
                offered[i] += 1;
                if limiter.offer(RoomPriority::ALL[i], now) == Admission::Deliver {
                    delivered[i] += 1;
                }
            }
        }
        delivered
    }

    #[test]
    fn below_the_rate_everything_is_delivered() {
        assert_eq!(steady(100, [10, 40, 40], 5), [10, 40, 40]);
    }

    #[test]
    fn above_the_rate_low_goes_first_then_normal_and_high_never() {
        // 80 normal + 80 low into 100/s: all normal, about the remaining 20 low.
        let [h, n, l] = steady(100, [0, 80, 80], 10);
        assert_eq!((h, n), (0, 80));
        assert!((18..=22).contains(&l), "low {l}");
        // 150 normal + 50 low: low is starved, normal gets the rate.
        let [_, n, l] = steady(100, [0, 150, 50], 10);
        assert_eq!(l, 0);
        assert!((99..=101).contains(&n), "normal {n}");
        // High is never dropped, even far above the rate, and takes the budget first.
        let [h, n, l] = steady(100, [300, 50, 50], 10);
        assert_eq!((h, n, l), (300, 0, 0));
        let [h, n, l] = steady(100, [60, 60, 60], 10);
        assert_eq!((h, l), (60, 0));
        assert!((39..=41).contains(&n), "normal {n}");
    }

    #[test]
    fn the_bucket_holds_one_second_and_refills() {
        let mut limiter = RoomRateLimiter::new(10, 0);
        // A full bucket: a burst of 10 at once, the 11th dropped.
        for _ in 0..10 {
            assert_eq!(limiter.offer(RoomPriority::Normal, 0), Admission::Deliver);
        }
        assert_eq!(limiter.offer(RoomPriority::Normal, 0), Admission::Drop);
        // A tenth of a second later one token is back.
        assert_eq!(limiter.offer(RoomPriority::Normal, SECOND / 10), Admission::Deliver);
        assert_eq!(limiter.offer(RoomPriority::Normal, SECOND / 10), Admission::Drop);
        // Low needs more than half the bucket.
        assert_eq!(limiter.offer(RoomPriority::Low, SECOND / 2), Admission::Drop);
        assert_eq!(limiter.offer(RoomPriority::Low, 2 * SECOND), Admission::Deliver);
        // A long pause does not store more than one second's worth.
        let mut delivered = 0;
        for _ in 0..50 {
            if limiter.offer(RoomPriority::Normal, 100 * SECOND) == Admission::Deliver {
                delivered += 1;
            }
        }
        assert_eq!(delivered, 10);
        // Raising the rate adds the difference at once; lowering it caps the bucket.
        limiter.set_rate(20);
        let burst = (0..30).filter(|_| limiter.offer(RoomPriority::Normal, 100 * SECOND) == Admission::Deliver).count();
        assert_eq!(burst, 10, "the 10 tokens the higher rate added");
        limiter.set_rate(2);
        assert_eq!(limiter.rate_per_second(), 2);
        let burst = (0..5).filter(|_| limiter.offer(RoomPriority::Normal, 200 * SECOND) == Admission::Deliver).count();
        assert_eq!(burst, 2);
        // A clock that goes backwards refills nothing and breaks nothing.
        assert_eq!(limiter.offer(RoomPriority::Normal, 0), Admission::Drop);
    }

    #[test]
    fn priorities_from_the_sdk_tag_and_the_rest_level() {
        assert_eq!(RoomPriority::from_tag(Some(0)), RoomPriority::High);
        assert_eq!(RoomPriority::from_tag(Some(1)), RoomPriority::Normal);
        assert_eq!(RoomPriority::from_tag(Some(2)), RoomPriority::Low);
        assert_eq!(RoomPriority::from_tag(Some(7)), RoomPriority::Normal);
        assert_eq!(RoomPriority::from_tag(None), RoomPriority::Normal);
        assert_eq!(RoomPriority::from_level("HIGH"), Some(RoomPriority::High));
        assert_eq!(RoomPriority::from_level("urgent"), None);
        for p in RoomPriority::ALL {
            assert_eq!(RoomPriority::from_tag(Some(p.tag())), p);
        }
        assert_eq!(RoomPriority::effective(RoomPriority::Low, RoomSender::Privileged), RoomPriority::High);
        assert_eq!(RoomPriority::effective(RoomPriority::Low, RoomSender::Member), RoomPriority::Low);
    }

    #[test]
    fn a_members_claim_of_high_is_normal_and_privileged_senders_keep_high() {
        use RoomPriority::{High, Low, Normal};
        // A member: what it claims, but high is normal.
        assert_eq!(RoomPriority::effective(High, RoomSender::Member), Normal);
        assert_eq!(RoomPriority::effective(Normal, RoomSender::Member), Normal);
        assert_eq!(RoomPriority::effective(Low, RoomSender::Member), Low);
        assert_eq!(RoomPriority::effective(RoomPriority::from_tag(Some(0)), RoomSender::Member), Normal);
        // Owner, admins, allowlisted: high whatever they tag.
        for claimed in RoomPriority::ALL {
            assert_eq!(RoomPriority::effective(claimed, RoomSender::Privileged), High);
        }
        // The app over REST: the level it asks for.
        for claimed in RoomPriority::ALL {
            assert_eq!(RoomPriority::effective(claimed, RoomSender::App), claimed);
        }
    }

    /// Each sender: (name, priority, messages a second, evenly spread). Offers them all for
    /// `seconds` through `offer_from`; returns, per sender, (offered, delivered) over the whole
    /// run and delivered in the last second.
    fn senders(rate: u32, senders: &[(&str, RoomPriority, u64)], seconds: u64) -> Vec<(u64, u64, u64)> {
        let mut limiter = RoomRateLimiter::new(rate, 0);
        let mut offers: Vec<(u64, usize)> = Vec::new();
        for (i, &(_, _, per_second)) in senders.iter().enumerate() {
            // Offset each sender a little so that they do not all offer at the same instant.
            let offset = i as u64 * 37;
            for k in 0..per_second * seconds {
                offers.push((offset + k * SECOND / per_second, i));
            }
        }
        offers.sort_unstable();
        let mut counts = vec![(0u64, 0u64, 0u64); senders.len()];
        let last_second = (seconds - 1) * SECOND;
        for (now, i) in offers {
            let (name, priority, _) = senders[i];
            counts[i].0 += 1;
            if limiter.offer_from(priority, name, now) == Admission::Deliver {
                counts[i].1 += 1;
                if now >= last_second {
                    counts[i].2 += 1;
                }
            }
        }
        assert!(limiter.senders_tracked() <= senders.len());
        counts
    }

    #[test]
    fn a_flooder_loses_its_own_excess_not_the_others_messages() {
        use RoomPriority::{High, Low, Normal};
        // A flooder at 2,000/s and a polite member at 20/s, both normal, into 100/s.
        let [flooder, polite] = senders(100, &[("flooder", Normal, 2000), ("polite", Normal, 20)], 10)[..] else {
            unreachable!()
        };
        assert_eq!(polite.0, 200);
        assert!(polite.1 * 100 >= polite.0 * 90, "polite {polite:?}");
        assert_eq!(polite.2, 20, "every polite message in the steady state");
        // The flooder gets what the others leave, not more: the room's rate holds.
        assert!((75..=82).contains(&flooder.2), "flooder {flooder:?}");
        assert!(flooder.1 <= 10 * 100 + 100 - polite.1, "flooder {flooder:?}");
        assert_eq!(flooder.0, 20_000);

        // Several flooders and several polite members: every polite message; each flooder gets at
        // least its share (100 / 5 senders), the room's rate holds.
        let counts = senders(
            100,
            &[("f1", Normal, 3000), ("f2", Normal, 1000), ("p1", Normal, 5), ("p2", Normal, 10), ("p3", Normal, 2)],
            10,
        );
        assert_eq!(counts[2..].iter().map(|c| c.2).collect::<Vec<_>>(), [5, 10, 2], "{counts:?}");
        let (f1, f2) = (counts[0].2, counts[1].2);
        assert!(f1 + f2 <= 84 && f1 >= 19 && f2 >= 19, "{counts:?}");

        // Alone, a flooder gets the whole rate (what nobody else uses is not wasted).
        let [alone] = senders(100, &[("flooder", Normal, 2000)], 5)[..] else { unreachable!() };
        assert!((99..=101).contains(&alone.2), "{alone:?}");

        // Priority comes first: a polite low sender is still dropped under a normal flood...
        let [_, low] = senders(100, &[("flooder", Normal, 2000), ("polite", Low, 10)], 10)[..] else { unreachable!() };
        assert_eq!(low.2, 0, "{low:?}");
        // ... but among low senders, the polite one gets through a low flood, and normal
        // always does.
        let counts = senders(100, &[("flooder", Low, 2000), ("polite", Low, 10), ("talker", Normal, 10)], 10);
        assert_eq!((counts[1].2, counts[2].2), (10, 10), "{counts:?}");
        // High is never dropped and has no share to keep.
        let [flood, high] = senders(100, &[("flooder", Normal, 2000), ("owner", High, 300)], 5)[..] else {
            unreachable!()
        };
        assert_eq!(high.1, high.0);
        assert_eq!(flood.2, 0, "high took the budget");
    }

    #[test]
    fn the_senders_map_is_bounded_and_forgets_the_quiet() {
        let mut limiter = RoomRateLimiter::new(100, 0);
        let names: Vec<String> = (0..MAX_TRACKED_SENDERS + 500).map(|i| format!("user{i}")).collect();
        let mut delivered = 0;
        for (i, name) in names.iter().enumerate() {
            if limiter.offer_from(RoomPriority::Normal, name, i as u64) == Admission::Deliver {
                delivered += 1;
            }
        }
        assert_eq!(limiter.senders_tracked(), MAX_TRACKED_SENDERS);
        assert_eq!(delivered, 100, "the room's bucket still holds");
        // A few seconds later the quiet ones are forgotten at the next offer.
        limiter.offer_from(RoomPriority::Normal, "late", 200 * SECOND);
        assert_eq!(limiter.senders_tracked(), 1);
        // High priority keeps no share.
        limiter.offer_from(RoomPriority::High, "owner", 200 * SECOND);
        assert_eq!(limiter.senders_tracked(), 1);
    }

    #[test]
    fn room_settings_override_the_app_and_the_app_switch_wins() {
        let app = RoomDeliveryDefaults::default();
        assert_eq!(
            RoomDelivery::default().effective(&app),
            EffectiveDelivery { history_size: 10, rate_limit_per_second: 100 }
        );
        let room = RoomDelivery { history_size: Some(200), rate_limit_per_second: Some(5), history_enabled: None };
        assert_eq!(room.effective(&app), EffectiveDelivery { history_size: 200, rate_limit_per_second: 5 });
        let off = RoomDelivery { history_enabled: Some(false), ..room };
        assert_eq!(off.effective(&app).history_size, 0);
        let app_off = RoomDeliveryDefaults { history_enabled: false, ..app };
        let on = RoomDelivery { history_enabled: Some(true), ..room };
        assert_eq!(on.effective(&app_off).history_size, 0);

        assert_eq!(
            RoomDelivery { history_size: Some(201), ..Default::default() }.validate(),
            Err(DeliverySettingsError::HistorySize)
        );
        assert_eq!(
            RoomDelivery { rate_limit_per_second: Some(0), ..Default::default() }.validate(),
            Err(DeliverySettingsError::RateLimit)
        );
        assert_eq!(
            RoomDeliveryDefaults { history_size: 300, ..app }.validate(),
            Err(DeliverySettingsError::HistorySize)
        );
        assert_eq!(app.validate(), Ok(()));
        // Stored as JSON: missing fields take their defaults.
        let parsed: RoomDeliveryDefaults = serde_json::from_str(r#"{"history_size": 50}"#).unwrap();
        assert_eq!(parsed, RoomDeliveryDefaults { history_size: 50, ..app });
        let parsed: RoomDelivery = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, RoomDelivery::default());
    }
}
