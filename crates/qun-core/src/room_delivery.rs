//! How a chat room delivers: message priority, the per-room rate limit that decides which
//! messages are dropped under load, and the recent-message ring's settings (per app, per room).
//!
//! Rooms are best-effort by design (mission: "under heavy traffic messages beyond a threshold
//! are dropped"): a room admits at most its rate of messages per second on average; above it,
//! low-priority messages are dropped first, then normal ones; high-priority messages (the
//! sender's `chatroom_msg_tag` 0, and everything from the owner, admins and allowlisted
//! members) are never dropped. Pure: the caller passes the time in.

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

    /// The priority a message is treated with: the sender's tag, raised to high for the owner,
    /// admins and allowlisted members (mission: they "are high priority").
    pub fn effective(tagged: RoomPriority, privileged_sender: bool) -> RoomPriority {
        if privileged_sender { RoomPriority::High } else { tagged }
    }
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
/// So over any stretch of time, normal and low deliveries stay within `rate` per second plus
/// one second's burst, and nothing queues: the decision is immediate.
#[derive(Debug, Clone)]
pub struct RoomRateLimiter {
    rate_per_second: u32,
    /// Tokens in millionths, so that the arithmetic is exact integer arithmetic.
    micro_tokens: u64,
    last_us: u64,
}

const MICRO: u64 = 1_000_000;

impl RoomRateLimiter {
    /// A full bucket for `rate_per_second` at time `now_us` (any monotonic microsecond clock).
    pub fn new(rate_per_second: u32, now_us: u64) -> RoomRateLimiter {
        let rate_per_second = rate_per_second.max(1);
        RoomRateLimiter { rate_per_second, micro_tokens: u64::from(rate_per_second) * MICRO, last_us: now_us }
    }

    pub fn rate_per_second(&self) -> u32 {
        self.rate_per_second
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

    /// Decides one message of `priority` offered at `now_us`.
    pub fn offer(&mut self, priority: RoomPriority, now_us: u64) -> Admission {
        self.refill(now_us);
        let needed = match priority {
            RoomPriority::High => {
                self.micro_tokens = self.micro_tokens.saturating_sub(MICRO);
                return Admission::Deliver;
            }
            RoomPriority::Normal => MICRO,
            RoomPriority::Low => MICRO + self.capacity() / 2,
        };
        if self.micro_tokens >= needed {
            self.micro_tokens -= MICRO;
            Admission::Deliver
        } else {
            Admission::Drop
        }
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
        assert_eq!(RoomPriority::effective(RoomPriority::Low, true), RoomPriority::High);
        assert_eq!(RoomPriority::effective(RoomPriority::Low, false), RoomPriority::Low);
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
