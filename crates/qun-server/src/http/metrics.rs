//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by hand: a few counters
//! and gauges need no metrics library.
//!
//! Per chat room (labels `app`, `room`): messages delivered and dropped by priority
//! (`delivered + dropped` is exactly what the room was offered), presence notices dropped,
//! frames pushed and refused, members online, messages held for joiners.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::services::room_delivery::RoomStats;
use crate::state::AppState;

const PRIORITIES: [&str; 3] = ["high", "normal", "low"];

pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = render(state.hub.session_count(), state.rooms.absent_count(), &state.rooms.stats());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body)
}

/// Escapes a label value (backslash, double quote, newline).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn render(sessions: usize, absent: usize, rooms: &[RoomStats]) -> String {
    let mut out = String::with_capacity(256 + rooms.len() * 1024);
    header(&mut out, "qun_sessions_online", "gauge", "Logged-in websocket connections.");
    let _ = writeln!(out, "qun_sessions_online {sessions}");
    header(&mut out, "qun_room_members_away", "gauge", "Chat room members in their grace period after disconnecting.");
    let _ = writeln!(out, "qun_room_members_away {absent}");

    let labels = |room: &RoomStats| format!("app=\"{}\",room=\"{}\"", label(&room.app_key), room.room_id);
    header(
        &mut out,
        "qun_room_messages_offered_total",
        "counter",
        "Messages offered to a chat room (delivered + dropped).",
    );
    for room in rooms {
        let _ = writeln!(out, "qun_room_messages_offered_total{{{}}} {}", labels(room), room.offered());
    }
    header(&mut out, "qun_room_messages_delivered_total", "counter", "Chat room messages sent to the members online.");
    for room in rooms {
        for (i, priority) in PRIORITIES.iter().enumerate() {
            let _ = writeln!(
                out,
                "qun_room_messages_delivered_total{{{},priority=\"{priority}\"}} {}",
                labels(room),
                room.delivered[i]
            );
        }
    }
    header(
        &mut out,
        "qun_room_messages_dropped_total",
        "counter",
        "Chat room messages dropped above the room's rate limit (never high priority).",
    );
    for room in rooms {
        for (i, priority) in PRIORITIES.iter().enumerate() {
            let _ = writeln!(
                out,
                "qun_room_messages_dropped_total{{{},priority=\"{priority}\"}} {}",
                labels(room),
                room.dropped[i]
            );
        }
    }
    header(
        &mut out,
        "qun_room_presence_notices_dropped_total",
        "counter",
        "memberPresence/memberAbsence notices dropped above the room's rate limit.",
    );
    for room in rooms {
        let _ = writeln!(out, "qun_room_presence_notices_dropped_total{{{}}} {}", labels(room), room.events_dropped);
    }
    header(&mut out, "qun_room_frames_total", "counter", "Frames queued to chat room members.");
    for room in rooms {
        let _ = writeln!(out, "qun_room_frames_total{{{}}} {}", labels(room), room.frames);
    }
    header(
        &mut out,
        "qun_room_frames_refused_total",
        "counter",
        "Frames a member's full or closed queue refused (a full queue disconnects the member).",
    );
    for room in rooms {
        let _ = writeln!(out, "qun_room_frames_refused_total{{{}}} {}", labels(room), room.frames_refused);
    }
    header(&mut out, "qun_room_members_online", "gauge", "Chat room members online.");
    for room in rooms {
        let _ = writeln!(out, "qun_room_members_online{{{}}} {}", labels(room), room.members_online);
    }
    header(&mut out, "qun_room_history_messages", "gauge", "Recent messages a chat room holds for joiners.");
    for room in rooms {
        let _ = writeln!(out, "qun_room_history_messages{{{}}} {}", labels(room), room.history);
    }
    out
}

#[cfg(test)]
mod tests {
    use qun_core::RoomId;

    use super::*;

    #[test]
    fn exposition_is_prometheus_text() {
        let room = RoomStats {
            app_key: "o#a\"x".into(),
            room_id: RoomId(7),
            members_online: 3,
            delivered: [1, 2, 3],
            dropped: [0, 4, 5],
            events_dropped: 6,
            frames: 7,
            frames_refused: 8,
            history: 9,
        };
        let text = render(2, 1, &[room]);
        assert!(text.contains("qun_sessions_online 2\n"));
        assert!(text.contains("qun_room_messages_offered_total{app=\"o#a\\\"x\",room=\"7\"} 15\n"), "{text}");
        assert!(text.contains("qun_room_messages_dropped_total{app=\"o#a\\\"x\",room=\"7\",priority=\"low\"} 5\n"));
        assert!(text.contains("# TYPE qun_room_messages_delivered_total counter\n"));
        // Every sample line is `name{labels} value` or `name value`.
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let value = line.rsplit(' ').next().unwrap();
            assert!(value.parse::<u64>().is_ok(), "{line}");
        }
    }
}
