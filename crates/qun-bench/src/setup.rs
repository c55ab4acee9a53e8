//! Preparing a server for a scenario over REST, with the app token: users (60 per call),
//! never-expiring user tokens, groups of up to 5,000 members, chatrooms.

use anyhow::{Context, bail};
use futures_util::{StreamExt, TryStreamExt};
use qun_client::RestClient;
use reqwest::Method;
use serde_json::{Value, json};

/// Registration calls in flight: each hashes 60 passwords one after the other on the
/// server's blocking pool, so a few keep both cores busy.
const REGISTER_CONCURRENCY: usize = 4;
/// Token calls in flight.
const TOKEN_CONCURRENCY: usize = 32;
/// Users per registration and per member-add call (Agora's batch maximum).
const BATCH: usize = 60;
/// The benchmark users' password.
const PASSWORD: &str = "qun-bench-password";

pub async fn register_users(admin: &RestClient, names: &[String]) -> anyhow::Result<()> {
    futures_util::stream::iter(names.chunks(BATCH))
        .map(|batch| async move {
            let body: Vec<Value> = batch.iter().map(|name| json!({"username": name, "password": PASSWORD})).collect();
            let reply = admin.call_ok(Method::POST, "/users", Some(Value::Array(body))).await?;
            // Users left over from an interrupted build are fine.
            let failed = reply["data"].as_array().map_or(0, Vec::len);
            anyhow::Ok(failed)
        })
        .buffer_unordered(REGISTER_CONCURRENCY)
        .try_collect::<Vec<_>>()
        .await?;
    Ok(())
}

/// A never-expiring token per user (`inherit` grant with the app token: no password hash).
pub async fn user_tokens(admin: &RestClient, names: &[String]) -> anyhow::Result<Vec<String>> {
    futures_util::stream::iter(names)
        .map(|name| async move {
            let body = json!({"grant_type": "inherit", "username": name, "ttl": 0});
            let reply = admin.call_ok(Method::POST, "/token", Some(body)).await?;
            reply["access_token"].as_str().map(str::to_owned).context("token reply without access_token")
        })
        .buffered(TOKEN_CONCURRENCY)
        .try_collect()
        .await
}

/// Creates a group owned by `members[0]` holding all of `members` (up to the 5,000 limit).
pub async fn create_group(admin: &RestClient, members: &[String]) -> anyhow::Result<String> {
    let owner = members.first().context("a group needs an owner")?;
    let body = json!({
        "groupname": "bench",
        "public": false,
        "owner": owner,
        "maxusers": members.len().max(2),
        "members": [],
    });
    let reply = admin.call_ok(Method::POST, "/chatgroups", Some(body)).await?;
    let group = reply["data"]["groupid"].as_str().context("create group: no groupid")?.to_owned();
    for batch in members[1..].chunks(BATCH) {
        admin
            .call_ok(Method::POST, &format!("/chatgroups/{group}/users"), Some(json!({"usernames": batch})))
            .await
            .with_context(|| format!("adding members to group {group}"))?;
    }
    Ok(group)
}

/// The message S4 fails with until the server serves chatrooms.
pub const NO_CHATROOMS: &str = "chatrooms not served yet: the server has no POST /chatrooms";

/// Creates a chatroom owned by `owner` for up to `max_members` (members join it over msync).
/// Fails with [`NO_CHATROOMS`] on a server without chatrooms.
pub async fn create_room(admin: &RestClient, owner: &str, max_members: usize) -> anyhow::Result<String> {
    let body = json!({"name": "bench room", "description": "qun-bench", "maxusers": max_members, "owner": owner});
    let (status, reply) = admin.call(Method::POST, "/chatrooms", Some(body)).await?;
    if status == 404 || status == 405 {
        bail!(NO_CHATROOMS);
    }
    if status != 200 {
        bail!("creating a chatroom: HTTP {status}: {reply}");
    }
    reply["data"]["id"].as_str().map(str::to_owned).context("create chatroom: no data.id")
}

/// One room's counters as the server's `/metrics` shows them (Prometheus text): messages
/// delivered and dropped by priority (high, normal, low), frames pushed and refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomCounters {
    pub delivered: [u64; 3],
    pub dropped: [u64; 3],
    pub frames: u64,
    pub frames_refused: u64,
}

impl RoomCounters {
    /// Messages the room was offered: `delivered + dropped`, exactly.
    pub fn offered(&self) -> u64 {
        self.delivered() + self.dropped()
    }

    pub fn delivered(&self) -> u64 {
        self.delivered.iter().sum()
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.iter().sum()
    }

    /// What changed since `before`.
    pub fn since(&self, before: &RoomCounters) -> RoomCounters {
        let minus = |a: [u64; 3], b: [u64; 3]| [0, 1, 2].map(|i| a[i].saturating_sub(b[i]));
        RoomCounters {
            delivered: minus(self.delivered, before.delivered),
            dropped: minus(self.dropped, before.dropped),
            frames: self.frames.saturating_sub(before.frames),
            frames_refused: self.frames_refused.saturating_sub(before.frames_refused),
        }
    }

    /// Reads the lines of `room` out of a `/metrics` text.
    pub fn parse(metrics: &str, room: &str) -> RoomCounters {
        let mut counters = RoomCounters::default();
        let room_label = format!("room=\"{room}\"");
        for line in metrics.lines().filter(|line| !line.starts_with('#') && line.contains(&room_label)) {
            let Some((series, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.trim().parse::<u64>() else { continue };
            let priority = ["high", "normal", "low"].iter().position(|p| series.contains(&format!("priority=\"{p}\"")));
            let name = series.split('{').next().unwrap_or_default();
            match (name, priority) {
                ("qun_room_messages_delivered_total", Some(p)) => counters.delivered[p] = value,
                ("qun_room_messages_dropped_total", Some(p)) => counters.dropped[p] = value,
                ("qun_room_frames_total", _) => counters.frames = value,
                ("qun_room_frames_refused_total", _) => counters.frames_refused = value,
                _ => {}
            }
        }
        counters
    }
}

/// The counters of `room` from the server's `GET /metrics`.
pub async fn room_counters(base_url: &str, room: &str) -> anyhow::Result<RoomCounters> {
    let text =
        reqwest::get(format!("{}/metrics", base_url.trim_end_matches('/'))).await?.error_for_status()?.text().await?;
    Ok(RoomCounters::parse(&text, room))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_counters_are_read_from_metrics_text() {
        let text = "# TYPE qun_room_messages_delivered_total counter\n\
            qun_room_messages_delivered_total{app=\"qun#demo\",room=\"7\",priority=\"high\"} 3\n\
            qun_room_messages_delivered_total{app=\"qun#demo\",room=\"7\",priority=\"normal\"} 100\n\
            qun_room_messages_dropped_total{app=\"qun#demo\",room=\"7\",priority=\"normal\"} 40\n\
            qun_room_messages_dropped_total{app=\"qun#demo\",room=\"8\",priority=\"normal\"} 99\n\
            qun_room_frames_total{app=\"qun#demo\",room=\"7\"} 1000\n\
            qun_room_frames_refused_total{app=\"qun#demo\",room=\"7\"} 2\n";
        let counters = RoomCounters::parse(text, "7");
        assert_eq!(counters.delivered, [3, 100, 0]);
        assert_eq!(counters.dropped, [0, 40, 0]);
        assert_eq!((counters.frames, counters.frames_refused, counters.offered()), (1000, 2, 143));
        let later = RoomCounters { delivered: [3, 150, 0], dropped: [0, 90, 1], frames: 1500, frames_refused: 2 };
        let step = later.since(&counters);
        assert_eq!((step.delivered(), step.dropped(), step.frames), (50, 51, 500));
    }
}
