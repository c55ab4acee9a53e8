//! The one task behind each connection: reads frames, runs the pull loop, resolves sends by
//! their acks, writes what the handles ask for, sends heartbeats, and logs out at the end.
//!
//! One task owns the socket, the pending sends and the pull state, so nothing here is locked.
//! It never panics on what the server sends: an undecodable frame or meta is counted and
//! skipped.
//!
//! The pull loop is the SDK's: a NOTICE (or an UNREAD entry) queues its queue; one queue is
//! pulled at a time, FIFO; each batch with metas is acknowledged by pulling again with
//! `key = nextKey`, until a batch says `isLast`. A batch is acknowledged only after its items
//! were handed to the application's channel.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use qun_proto::msync::{
    self, CommNotice, CommSyncDl, CommUnreadDl, Command as MsyncCommand, Jid, Meta, StatusCode, pb,
};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::connection::{ConnectOptions, Counters, Sent, Shared};
use crate::error::{Error, Result};
use crate::frames;
use crate::incoming::{self, Incoming, ReceiveMode};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How often the task looks at its timers (heartbeat due, pull stalled, abandoned sends), at
/// most; a shorter heartbeat interval shortens it.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(5);
/// A pull without an answer for this long is given up (the next notice or heartbeat retries).
const PULL_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a closing connection waits for the server to close after LOGOUT.
const CLOSE_WAIT: Duration = Duration::from_secs(2);
/// Commands written before one flush.
const WRITE_BATCH: usize = 32;

/// What a [`crate::Connection`] handle asks of the task.
pub(crate) enum Command {
    Send {
        meta_id: u64,
        frame: Bytes,
        reply: oneshot::Sender<Result<Sent>>,
    },
    /// An uplink meta whose whole ack the caller wants (a chat room join's carries metas).
    Request {
        meta_id: u64,
        frame: Bytes,
        reply: oneshot::Sender<Result<CommSyncDl>>,
    },
    Heartbeat,
    Close {
        done: oneshot::Sender<()>,
    },
}

/// Who waits for an ack.
enum Waiter {
    Send(oneshot::Sender<Result<Sent>>),
    Request(oneshot::Sender<Result<CommSyncDl>>),
}

impl Waiter {
    fn is_closed(&self) -> bool {
        match self {
            Waiter::Send(reply) => reply.is_closed(),
            Waiter::Request(reply) => reply.is_closed(),
        }
    }
}

/// The socket failed (write error): the connection is over.
struct SocketGone;

/// How the connection ends.
enum End {
    /// The server closed it, kicked it (which ends it as the SDK does: the connection is
    /// over once the server said why), or the socket failed: nothing to say any more.
    Lost,
    /// The application closed it (`close()`, whose waiter is released at the end, or by
    /// dropping every handle): log out first.
    Logout(Option<oneshot::Sender<()>>),
}

struct Driver {
    socket: Socket,
    shared: Arc<Shared>,
    incoming: mpsc::Sender<Incoming>,
    mode: ReceiveMode,
    /// Sends waiting for their ack, by meta id (a resend of the same id waits behind the first).
    pending: HashMap<u64, VecDeque<Waiter>>,
    pulls: Pulls,
    /// Whether the application asked to close (see `Shared::closing`).
    closing: watch::Receiver<bool>,
    heartbeat_interval: Duration,
    last_inbound: Instant,
    last_heartbeat: Instant,
    /// The server said why it closes this connection (a kick): nothing more will come.
    kicked: bool,
}

/// Runs the connection until the server closes it, the socket fails, or the application
/// closes it (explicitly or by dropping every handle).
pub(crate) async fn run(
    socket: Socket,
    shared: Arc<Shared>,
    mut commands: mpsc::Receiver<Command>,
    incoming: mpsc::Sender<Incoming>,
    options: ConnectOptions,
) {
    let now = Instant::now();
    let mut driver = Driver {
        socket,
        closing: shared.closing.subscribe(),
        shared,
        incoming,
        mode: options.receive_mode,
        pending: HashMap::new(),
        pulls: Pulls::default(),
        heartbeat_interval: options.heartbeat_interval,
        last_inbound: now,
        last_heartbeat: now,
        kicked: false,
    };
    let period = HOUSEKEEPING_EVERY.min(driver.heartbeat_interval).max(Duration::from_millis(10));
    let mut housekeeping = tokio::time::interval_at(now + period, period);
    housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    let end = loop {
        tokio::select! {
            message = driver.socket.next() => match message {
                Some(Ok(WsMessage::Binary(frame))) => {
                    driver.last_inbound = Instant::now();
                    if driver.on_frame(frame).await.is_err() || driver.kicked {
                        break End::Lost;
                    }
                }
                Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break End::Lost,
                // Text is not msync; pings are answered by the websocket layer.
                Some(Ok(_)) => {}
            },
            received = commands.recv_many(&mut batch, WRITE_BATCH) => {
                if received == 0 {
                    // Every handle is gone: log out.
                    break End::Logout(None);
                }
                match driver.on_commands(&mut batch).await {
                    Ok(None) => {}
                    Ok(Some(done)) => break End::Logout(Some(done)),
                    Err(SocketGone) => break End::Lost,
                }
            }
            _ = housekeeping.tick() => {
                if driver.housekeeping().await.is_err() {
                    break End::Lost;
                }
            }
        }
    };
    // Stop taking commands first, so that sends queued from now on fail at once.
    drop(commands);
    driver.finish(end).await;
}

impl Driver {
    async fn write(&mut self, frame: Bytes) -> Result<(), SocketGone> {
        Counters::bump(&self.shared.counters.frames_out);
        self.socket.send(WsMessage::Binary(frame)).await.map_err(|_| SocketGone)
    }

    /// Writes what the handles asked for, one flush for the lot. Returns the close waiter if
    /// one of them was a close (commands after it are dropped; their callers see `Closed`).
    async fn on_commands(&mut self, batch: &mut Vec<Command>) -> Result<Option<oneshot::Sender<()>>, SocketGone> {
        let mut close = None;
        for command in batch.drain(..) {
            if close.is_some() {
                continue;
            }
            let frame = match command {
                Command::Send { meta_id, frame, reply } => {
                    self.pending.entry(meta_id).or_default().push_back(Waiter::Send(reply));
                    frame
                }
                Command::Request { meta_id, frame, reply } => {
                    self.pending.entry(meta_id).or_default().push_back(Waiter::Request(reply));
                    frame
                }
                Command::Heartbeat => {
                    self.last_heartbeat = Instant::now();
                    frames::unread()
                }
                Command::Close { done } => {
                    close = Some(done);
                    continue;
                }
            };
            Counters::bump(&self.shared.counters.frames_out);
            self.socket.feed(WsMessage::Binary(frame)).await.map_err(|_| SocketGone)?;
        }
        self.socket.flush().await.map_err(|_| SocketGone)?;
        Ok(close)
    }

    /// One downlink frame. Only a failed write ends the connection from here.
    async fn on_frame(&mut self, frame: Bytes) -> Result<(), SocketGone> {
        let counters = &self.shared.counters;
        Counters::bump(&counters.frames_in);
        let Ok(frame) = msync::decode_msync(frame) else {
            Counters::bump(&counters.bad_frames);
            return Ok(());
        };
        match frame.known_command() {
            Some(MsyncCommand::Sync) => match frame.decode_payload::<CommSyncDl>() {
                Ok(sync) => self.on_sync(sync).await,
                Err(_) => {
                    Counters::bump(&counters.bad_frames);
                    Ok(())
                }
            },
            Some(MsyncCommand::Notice) => match frame.decode_payload::<CommNotice>() {
                Ok(CommNotice { queue: Some(queue) }) if !self.is_own_resource(&queue) => self.want(queue).await,
                Ok(_) => Ok(()),
                Err(_) => {
                    Counters::bump(&counters.bad_frames);
                    Ok(())
                }
            },
            Some(MsyncCommand::Unread) => match frame.decode_payload::<CommUnreadDl>() {
                Ok(unread) => {
                    for entry in unread.unread {
                        if let Some(queue) = entry.queue.filter(|_| entry.n.unwrap_or(1) > 0) {
                            self.want(queue).await?;
                        }
                    }
                    Ok(())
                }
                Err(_) => {
                    Counters::bump(&counters.bad_frames);
                    Ok(())
                }
            },
            // A late login reply, an uplink-only command or an unknown one: nothing to do.
            _ => Ok(()),
        }
    }

    /// The SDK ignores a notice naming its own user and resource.
    fn is_own_resource(&self, queue: &Jid) -> bool {
        let login = &self.shared.login;
        queue.name() == login.user && queue.client_resource() == login.resource
    }

    /// Queues `queue` for pulling, and starts pulling it if nothing else is being pulled.
    async fn want(&mut self, queue: Jid) -> Result<(), SocketGone> {
        match self.pulls.request(queue) {
            Some(frame) => self.write(frame).await,
            None => Ok(()),
        }
    }

    /// SYNC: an ack (`metaId > 0`, as the SDK tells them apart), a pull batch (`queue` set), or
    /// metas the server pushed (a kick).
    async fn on_sync(&mut self, sync: CommSyncDl) -> Result<(), SocketGone> {
        if sync.meta_id.unwrap_or(0) > 0 {
            self.on_ack(&sync);
            return Ok(());
        }
        for meta in &sync.metas {
            self.deliver(meta).await;
        }
        let Some(queue) = &sync.queue else { return Ok(()) };
        Counters::bump(&self.shared.counters.batches);
        // Acknowledge what was just handed out (key = nextKey), or move to the next queue.
        match self.pulls.answered(queue, sync.next_key, sync.is_last.unwrap_or(false)) {
            Some(frame) => self.write(frame).await,
            None => Ok(()),
        }
    }

    fn on_ack(&mut self, ack: &CommSyncDl) {
        let meta_id = ack.meta_id.unwrap_or(0);
        let status = ack.status.clone().unwrap_or_else(msync::Status::ok);
        let code = status.error_code.unwrap_or(StatusCode::Ok as i32);
        let counters = &self.shared.counters;
        let result = if code == StatusCode::Ok as i32 {
            Counters::bump(&counters.acks_ok);
            Ok(Sent { server_id: ack.server_id.unwrap_or(0), meta_id, timestamp: ack.timestamp.unwrap_or(0) })
        } else {
            Counters::bump(&counters.acks_refused);
            Err(Error::SendRefused { code, reason: status.reason.unwrap_or_default(), meta_id })
        };
        let Some(waiters) = self.pending.get_mut(&meta_id) else { return };
        let waiter = waiters.pop_front();
        if waiters.is_empty() {
            self.pending.remove(&meta_id);
        }
        match waiter {
            Some(Waiter::Send(reply)) => {
                let _ = reply.send(result);
            }
            Some(Waiter::Request(reply)) => {
                let _ = reply.send(result.map(|_| ack.clone()));
            }
            None => {}
        }
    }

    /// Hands one meta to the application. Waits while the channel is full (backpressure);
    /// does nothing but count once the application dropped its receiver.
    async fn deliver(&mut self, meta: &Meta) {
        let counters = &self.shared.counters;
        match meta.ns.and_then(|ns| pb::meta::NameSpace::try_from(ns).ok()) {
            Some(pb::meta::NameSpace::Chat) if self.is_own_echo(meta) => {
                Counters::bump(&counters.own_echoes);
                return;
            }
            Some(pb::meta::NameSpace::Chat) => Counters::bump(&counters.messages),
            Some(pb::meta::NameSpace::Muc) => Counters::bump(&counters.group_events),
            _ => {}
        }
        if self.incoming.is_closed() {
            return;
        }
        if let Some(item) = incoming::from_meta(meta, self.mode) {
            self.kicked |= matches!(item, Incoming::Kicked { .. });
            // A closing connection does not wait for an application that stopped reading.
            tokio::select! {
                biased;
                _ = self.incoming.send(item) => {}
                _ = self.closing.wait_for(|closing| *closing) => {}
            }
        }
    }

    /// A message this very connection sent, pulled back because the sender is a member of
    /// the group (or a party to the chat): the application has its ack already, and the SDK
    /// drops ids it has seen.
    fn is_own_echo(&self, meta: &Meta) -> bool {
        let login = &self.shared.login;
        meta.from.as_ref().is_some_and(|from| from.name() == login.user && from.client_resource() == login.resource)
    }

    /// Heartbeat when the server has been silent for the interval (as the SDK), give up a
    /// stalled pull, forget sends whose caller stopped waiting.
    async fn housekeeping(&mut self) -> Result<(), SocketGone> {
        let interval = self.heartbeat_interval;
        if self.last_inbound.elapsed() >= interval && self.last_heartbeat.elapsed() >= interval {
            self.last_heartbeat = Instant::now();
            self.write(frames::unread()).await?;
        }
        if let Some(frame) = self.pulls.give_up_if_stalled(PULL_TIMEOUT) {
            self.write(frame).await?;
        }
        self.pending.retain(|_, waiters| {
            waiters.retain(|waiter| !waiter.is_closed());
            !waiters.is_empty()
        });
        Ok(())
    }

    /// Logs out if the application asked to close, fails the pending sends, then says
    /// `Closed` (after releasing the closer, who may not be reading the channel).
    async fn finish(mut self, end: End) {
        let done = match end {
            End::Logout(done) => {
                let _ = self.write(frames::logout(&self.shared.login)).await;
                let _ = self.socket.close(None).await;
                // Wait for the server's side of the close, briefly.
                let _ = tokio::time::timeout(CLOSE_WAIT, async { while let Some(Ok(_)) = self.socket.next().await {} })
                    .await;
                done
            }
            End::Lost => None,
        };
        let Driver { socket, pending, incoming, mut closing, .. } = self;
        drop(socket);
        // Dropping the reply senders fails every waiting send with `Closed`.
        drop(pending);
        if let Some(done) = done {
            let _ = done.send(());
        }
        // The last item: wait for room as long as the application reads; after a close, only
        // briefly (the closer may have stopped reading).
        let closed = incoming.send(Incoming::Closed);
        if *closing.borrow() {
            let _ = tokio::time::timeout(CLOSE_WAIT, closed).await;
        } else {
            tokio::select! {
                biased;
                _ = closed => {}
                _ = closing.wait_for(|closing| *closing) => {}
            }
        }
    }
}

/// The pull loop's state: the queue being pulled, and the queues waiting their turn.
#[derive(Debug, Default)]
struct Pulls {
    current: Option<Jid>,
    started: Option<Instant>,
    waiting: VecDeque<Jid>,
}

impl Pulls {
    /// Queues `queue` unless it is waiting already. Returns the pull to send if nothing was
    /// being pulled. A queue being pulled right now goes to the back again: the notice may be
    /// for data after the batch under way.
    fn request(&mut self, queue: Jid) -> Option<Bytes> {
        if self.waiting.iter().any(|waiting| same_queue(waiting, &queue)) {
            return None;
        }
        self.waiting.push_back(queue);
        if self.current.is_none() { self.start_next() } else { None }
    }

    /// A batch of `queue` arrived and was delivered. Returns the next pull: the same queue
    /// acknowledged up to `next_key` while it is not drained, else the next waiting queue.
    ///
    /// A batch of a queue not being pulled was pushed (group messages to a caught-up
    /// session): with `isLast: false` and a `nextKey` the server asks for an acknowledgement,
    /// which the SDK gives with a pull of that queue up to the key, leaving its pull loop as it
    /// is.
    fn answered(&mut self, queue: &Jid, next_key: Option<u64>, is_last: bool) -> Option<Bytes> {
        let Some(current) = self.current.as_ref().filter(|current| same_queue(current, queue)) else {
            return (!is_last && next_key.is_some()).then(|| frames::pull(queue, next_key));
        };
        // As the SDK (and the public Java client): stop on isLast, or when there is no key.
        if !is_last && next_key.is_some() {
            let frame = frames::pull(current, next_key);
            self.started = Some(Instant::now());
            return Some(frame);
        }
        self.current = None;
        self.start_next()
    }

    fn start_next(&mut self) -> Option<Bytes> {
        let queue = self.waiting.pop_front()?;
        let frame = frames::pull(&queue, None);
        self.current = Some(queue);
        self.started = Some(Instant::now());
        Some(frame)
    }

    /// Gives up the current pull if it has waited `timeout` for an answer; returns the pull of
    /// the next queue, if any.
    fn give_up_if_stalled(&mut self, timeout: Duration) -> Option<Bytes> {
        let stalled = self.current.is_some() && self.started.is_some_and(|started| started.elapsed() >= timeout);
        if !stalled {
            return None;
        }
        self.current = None;
        self.start_next()
    }
}

/// Queues are named by JID; the app key and resource do not tell two queues apart.
fn same_queue(a: &Jid, b: &Jid) -> bool {
    a.name() == b.name() && a.domain() == b.domain()
}

#[cfg(test)]
mod tests {
    use qun_proto::msync::{CommSyncUl, decode_msync};

    use super::*;

    fn pulled(frame: Option<Bytes>) -> Option<(String, Option<u64>)> {
        let sync: CommSyncUl = decode_msync(frame?).unwrap().decode_payload().unwrap();
        Some((sync.queue.unwrap().name().to_owned(), sync.key))
    }

    #[test]
    fn one_queue_at_a_time_fifo_until_is_last() {
        let (g1, g2, bob) = (Jid::group("o#a", "1"), Jid::group("o#a", "2"), Jid::user("o#a", "bob"));
        let mut pulls = Pulls::default();
        assert_eq!(pulled(pulls.request(g1.clone())), Some(("1".into(), None)), "idle: pull at once");
        assert_eq!(pulls.request(g2.clone()), None, "busy: wait");
        assert_eq!(pulls.request(bob.clone()), None);
        assert_eq!(pulls.request(g2.clone()), None, "already waiting: once is enough");
        // A batch with metas: ack it by pulling again with its nextKey.
        assert_eq!(pulled(pulls.answered(&g1, Some(77), false)), Some(("1".into(), Some(77))));
        // A batch of another queue pushed with `isLast: false` and a key asks for an
        // acknowledgement: a pull of it up to the key, and the loop stays where it is.
        assert_eq!(pulled(pulls.answered(&bob, Some(5), false)), Some(("bob".into(), Some(5))));
        assert_eq!(pulls.answered(&bob, None, true), None, "a pushed last batch changes nothing");
        // Drained: the next queue, in arrival order.
        assert_eq!(pulled(pulls.answered(&g1, None, true)), Some(("2".into(), None)));
        // A notice for the queue being pulled: it is pulled again after the others.
        assert_eq!(pulls.request(g2.clone()), None);
        assert_eq!(pulled(pulls.answered(&g2, None, true)), Some(("bob".into(), None)));
        // No key and not last: the loop ends too.
        assert_eq!(pulled(pulls.answered(&bob, None, false)), Some(("2".into(), None)));
        assert_eq!(pulls.answered(&g2, None, true), None);
        assert!(pulls.current.is_none() && pulls.waiting.is_empty());
    }

    #[test]
    fn a_stalled_pull_is_given_up() {
        let mut pulls = Pulls::default();
        pulls.request(Jid::group("o#a", "1"));
        pulls.request(Jid::group("o#a", "2"));
        assert_eq!(pulls.give_up_if_stalled(Duration::from_secs(60)), None);
        assert_eq!(pulled(pulls.give_up_if_stalled(Duration::ZERO)), Some(("2".into(), None)));
    }
}
