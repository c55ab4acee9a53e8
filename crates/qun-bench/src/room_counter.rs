//! A chat room member that only counts what the room pushes to it, on a lean websocket
//! (`lean::Socket`).
//!
//! S4 holds 19,000 members on one generator core; through qun-client the core runs out near
//! 1.5 M room deliveries a second. This member logs in (PROVISION), joins the room (MUC JOIN,
//! as the SDK) and stays (a heartbeat UNREAD every 30 s); the pushed batches' metas are
//! counted by namespace without decoding (`msync::scan_msync`, `msync::scan_pushed_batch`).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use qun_client::frames::{self, LoginFrame, RoomPresence};
use qun_proto::msync::{self, CommSyncDl, Command, Message};

use crate::lean::{self, Counts, Socket};

/// Heartbeat (UNREAD) interval: the server closes a connection silent for 95 s.
const HEARTBEAT: Duration = Duration::from_secs(30);

/// Logs in as `login`, joins `room`, and counts from then on (until the connection ends or the
/// returned handle aborts the counting task). Returns once the join was acknowledged OK.
pub async fn join(
    ws_url: &str,
    source: Option<IpAddr>,
    login: LoginFrame,
    room: &str,
) -> anyhow::Result<(Arc<Counts>, tokio::task::AbortHandle)> {
    let mut socket = lean::login(ws_url, source, &login).await?;
    let meta_id = frames::next_meta_id();
    let presence = RoomPresence::Join { leave_others: false, ext: "" };
    socket
        .send(&frames::send_meta(frames::room_presence_meta(&login.app_key, &login.user, meta_id, room, presence)))
        .await?;
    socket
        .await_answer("join ack", |command, payload| {
            if command != Command::Sync as i32 || msync::scan_pushed_batch(payload).is_some() {
                return None;
            }
            match CommSyncDl::decode(payload) {
                Err(error) => Some(Err(error.into())),
                Ok(ack) if ack.meta_id == Some(meta_id) => Some(lean::accepted("join", ack.status)),
                Ok(_) => None,
            }
        })
        .await?;

    let counts = Arc::new(Counts::default());
    let task = tokio::spawn(count(socket, counts.clone()));
    Ok((counts, task.abort_handle()))
}

/// Counts until the connection ends, sending a heartbeat now and then.
async fn count(mut socket: Socket, counts: Arc<Counts>) {
    let mut heartbeat = tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    loop {
        // What is buffered first: frames that came in the same read as the join ack (the room's
        // recent messages) belong to the time of the join, not to the next read.
        let mut messages = 0;
        socket.for_each_frame(|frame| {
            if let Some((command, payload)) = msync::scan_msync(frame)
                && command == Command::Sync as i32
                && let Some(batch) = msync::scan_pushed_batch(payload)
            {
                messages += u64::from(batch.chat);
            }
        });
        counts.add(messages);
        tokio::select! {
            read = socket.read_more() => if read.is_err() {
                break;
            },
            _ = heartbeat.tick() => {
                if socket.send(&frames::unread()).await.is_err() {
                    break;
                }
            }
        }
    }
    counts.closed.store(true, std::sync::atomic::Ordering::Relaxed);
}
