//! The msync websocket gateway at `/websocket`: login (PROVISION), UNREAD, sends and pulls
//! (SYNC), LOGOUT, with one task per connection and one writer task that batches frames.
//!
//! Protocol facts come from `shared/reference/msync-schema.md` and `sdk-behaviour.md`; what
//! we learned from running the official SDK against this gateway is in ARCHITECTURE.md.

mod cursor_writer;
mod cursors;
mod group_flusher;
mod hub;
mod login;
mod queues;
mod rooms;
mod session;
mod uplink;

pub use cursor_writer::CursorWriter;
pub use hub::Hub;

/// The group flusher's task (see `group_flusher.rs`); started once, by `AppState::open`.
pub async fn run_group_flusher(
    hub: Arc<Hub>,
    metrics: Arc<crate::telemetry::Metrics>,
    lifecycle: crate::lifecycle::Lifecycle,
) {
    group_flusher::run(hub, metrics, lifecycle).await;
}
pub use session::{CloseReason, Session};

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use qun_proto::msync::{self, Command};
use tokio::sync::mpsc;

use crate::state::AppState;
use crate::telemetry::LoginResult;

/// The SDK gives up on a login reply after 10 s; we give the client as long to send it.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// The SDK sends a heartbeat (UNREAD) after 30 s without inbound frames; a connection silent
/// for much longer than that is dead.
const IDLE_TIMEOUT: Duration = Duration::from_secs(95);
/// How long a kicked connection stays open after its kick frame (see `connection`).
const KICK_CLOSE_DELAY: Duration = Duration::from_secs(1);
/// How long a session waits, when the server stops, for the acknowledgement of group messages
/// it was pushed (well inside the shutdown grace).
const ACK_WAIT_AT_STOP: Duration = Duration::from_secs(1);
/// How long a closing connection may take to flush its last frames.
const FLUSH_AT_CLOSE: Duration = Duration::from_secs(5);
/// Frames the writer sends before one flush (one write syscall for a burst).
const WRITE_BATCH: usize = 64;
/// ...and bytes: the websocket's write buffer keeps the capacity it once reached, so a member
/// of a busy chat room behind by 64 large frames would hold that much for good. 32 KB per
/// flush still makes one syscall of a burst of small frames.
const WRITE_BATCH_BYTES: usize = 32 * 1024;
/// The websocket's read buffer per connection, all of it resident (the library zero-fills it
/// before each read). Uplink frames are small: an UNREAD or a pull is tens of bytes, a
/// message with its 5 KB of body and ext at most two reads (the largest frame, 64 KB, is read
/// in chunks of this size). The library's default of 128 KB, then 8 KB, were most of an idle
/// connection's memory.
const READ_BUFFER_BYTES: usize = 4 * 1024;
/// The largest websocket message we read: a message may have 5 KB of body and ext, plus
/// the envelope.
const MAX_FRAME_BYTES: usize = 64 * 1024;

/// `GET /websocket`: upgrades to the msync protocol.
pub async fn upgrade(State(state): State<AppState>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.max_message_size(MAX_FRAME_BYTES).read_buffer_size(READ_BUFFER_BYTES).on_upgrade(move |socket| {
        let lifecycle = state.lifecycle.clone();
        lifecycle.track(connection(socket, state))
    })
}

async fn connection(socket: WebSocket, state: AppState) {
    let (mut sink, mut stream) = socket.split();
    let first = tokio::select! {
        first = tokio::time::timeout(LOGIN_TIMEOUT, next_binary(&mut stream)) => match first {
            Ok(Some(frame)) => frame,
            _ => return,
        },
        () = state.lifecycle.stopping() => return,
    };
    // The login, the frames' handling and the close are boxed: a future lives as long as the
    // connection at the size of its largest state, and these states are many times the size of
    // the idle loop's (an idle connection's task was 9.5 KB with them inline).
    let logged_in = Box::pin(login::login(&state, &first)).await;
    let result = if logged_in.is_ok() { LoginResult::Ok } else { LoginResult::Refused };
    state.metrics.login("msync", result);
    let (session, outbound, reply) = match logged_in {
        Ok(login::LoggedIn { session: (session, outbound), reply }) => (Arc::new(session), outbound, reply),
        Err(reply) => {
            if let Some(reply) = reply {
                let _ = sink.send(WsMessage::Binary(reply)).await;
            }
            let _ = sink.close().await;
            return;
        }
    };
    // The login reply is the session's first frame, and the session is registered (with the
    // hub, its groups and chat rooms) before anything is written: whatever happens once the
    // client knows it is logged in (a kick, an event, a notice) finds the session and queues
    // behind the reply.
    session.send(reply);
    Box::pin(login::register(&state, &session)).await;
    let writer = state.lifecycle.spawn(write_frames(sink, outbound));
    // Pushed group messages not asked about yet are asked about once quiet (or an interval on).
    let ask_acks = tokio::time::sleep(cursors::ACK_QUIET);
    tokio::pin!(ask_acks);
    let mut asking = false;
    // When the server stops, sessions that were pushed messages ask for their acknowledgement
    // and wait for it a moment before closing, so a planned restart sends nothing again.
    let mut stop_after_acks: Option<tokio::time::Instant> = None;

    loop {
        tokio::select! {
            () = session.ask_later(), if !asking => {
                asking = true;
                ask_acks.as_mut().reset(tokio::time::Instant::now() + cursors::ACK_QUIET);
            }
            () = &mut ask_acks, if asking => {
                let again = session.ask_for_acknowledgements(std::time::Instant::now(), false);
                asking = again.is_some();
                if let Some(again) = again {
                    ask_acks.as_mut().reset(again.into());
                }
            }
            () = tokio::time::sleep_until(stop_after_acks.unwrap_or_else(tokio::time::Instant::now)), if stop_after_acks.is_some() => {
                session.close(CloseReason::Shutdown);
                break;
            }
            frame = tokio::time::timeout(IDLE_TIMEOUT, next_binary(&mut stream)) => {
                let Ok(Some(frame)) = frame else { break };
                match msync::decode_msync(frame) {
                    Ok(frame) => match frame.known_command() {
                        Some(Command::Logout) => break,
                        Some(command) => {
                            Box::pin(uplink::handle(&state, &session, command, &frame)).await;
                            if stop_after_acks.is_some() && !session.cursors.awaiting_acknowledgement() {
                                session.close(CloseReason::Shutdown);
                                break;
                            }
                        }
                        None => {
                            tracing::debug!(session = session.id, "unknown msync command");
                        }
                    },
                    Err(error) => {
                        // A client that sends garbage is closed; it cannot be answered by id.
                        tracing::debug!(session = session.id, %error, "undecodable frame");
                        break;
                    }
                }
            }
            _ = session.closed() => break,
            // The server is stopping: ask for the acknowledgement of what was pushed, wait for
            // it a moment, then say goodbye with a close frame (the writer sends one after the
            // queued frames), and go (the cursor writer saves what was acknowledged).
            () = state.lifecycle.stopping(), if stop_after_acks.is_none() => {
                session.ask_for_acknowledgements(std::time::Instant::now(), true);
                if !session.cursors.awaiting_acknowledgement() {
                    session.close(CloseReason::Shutdown);
                    break;
                }
                stop_after_acks = Some(tokio::time::Instant::now() + ACK_WAIT_AT_STOP);
            }
        }
    }

    // Save before leaving the hub: a new connection of this device that no longer finds this
    // one there reads the cursors from the store, so they must be there already. (While the
    // session is online, the cursor writer saves its positions with everyone's.)
    Box::pin(state.cursor_writer.save_at_close(&session)).await;
    state.hub.unregister(&session);
    // The user's chat rooms stop delivering here; their last connection starts their absence.
    state.rooms.session_offline(session.app_id, &session.user, session.id);
    if let Some(reason) = session.close_reason() {
        tracing::info!(user = %session.user, session = session.id, ?reason, "session closed by the server");
        if reason.is_kick() {
            // The SDK handles a pushed batch asynchronously but the socket's close at once:
            // a close that overtakes the kick makes it reconnect (and the kick then comes too
            // late to stop that). So the socket stays open a moment after the kick frame.
            tokio::time::sleep(KICK_CLOSE_DELAY).await;
        }
    }
    // Dropping the last sender ends the writer after it has flushed what is queued; a client
    // that does not read is not waited for long.
    drop(session);
    let abort = writer.abort_handle();
    if tokio::time::timeout(FLUSH_AT_CLOSE, writer).await.is_err() {
        abort.abort();
    }
}

/// The next binary websocket message; `None` when the connection ends. Pings are answered
/// by the websocket layer; text messages are not part of msync and are skipped.
async fn next_binary(stream: &mut futures_util::stream::SplitStream<WebSocket>) -> Option<Bytes> {
    while let Some(message) = stream.next().await {
        match message {
            Ok(WsMessage::Binary(bytes)) => return Some(bytes),
            Ok(WsMessage::Close(_)) | Err(_) => return None,
            Ok(_) => continue,
        }
    }
    None
}

/// Writes queued frames, many per flush: after the frame that woke it, the writer takes what
/// else is queued (up to a batch) before it flushes. It keeps no buffer of its own between
/// bursts (an idle connection's writer holds nothing but the channel).
async fn write_frames(
    mut sink: futures_util::stream::SplitSink<WebSocket, WsMessage>,
    mut outbound: mpsc::Receiver<Bytes>,
) {
    while let Some(first) = outbound.recv().await {
        let (mut next, mut taken, mut unflushed) = (Some(first), 1, 0);
        while let Some(frame) = next.take() {
            unflushed += frame.len();
            if sink.feed(WsMessage::Binary(frame)).await.is_err() {
                return;
            }
            if unflushed >= WRITE_BATCH_BYTES {
                if sink.flush().await.is_err() {
                    return;
                }
                unflushed = 0;
            }
            if taken < WRITE_BATCH {
                next = outbound.try_recv().ok();
                taken += 1;
            }
        }
        if unflushed > 0 && sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}
