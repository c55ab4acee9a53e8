//! Sending messages: the one path every message takes, from the websocket or from REST.
//!
//! Check who may send (the rules, on every message), build the downlink `Meta` once, store it
//! once per conversation through the [`MessageWriter`] (which commits many sends in one
//! transaction), acknowledge only after the commit. The writer itself hands every commit's
//! messages to their readers, in commit order, before their senders hear of them: a group's go
//! to its outbox (`Delivery::group_messages`: pushed in paced batches to members who have read
//! everything before them), a 1:1 conversation's to both users' sessions at once
//! (`Delivery::chat_messages`: pushed the same way). Sessions behind are told to pull.

use std::sync::Arc;

use bytes::Bytes;
use qun_core::rules::GroupAction;
use qun_core::{GroupId, UserName};
use qun_proto::msync::{self, Jid, Message, MessageBody, Meta, pb};
use qun_proto::{ApiError, ErrorCode};
use qun_store::{AppRecord, AppendOutcome, Conversation, NewMessage, QueueKey, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

use crate::ids::now_ms;
use crate::lifecycle::Lifecycle;
use crate::services::Caller;
use crate::services::Services;
use crate::services::contacts;
use crate::services::delivery::{CommittedMessage, Delivery, Origin, SessionId};
use crate::services::groups::{group_not_found, load_scene, parse_group_id};
use crate::services::recall;
use crate::services::receipts;
use crate::services::recent::{RecentEntry, RecentTimelines};
use crate::services::store_error;
use crate::services::user_not_found;
use crate::telemetry::{Kind, Metrics};

/// Body plus ext of one message, in bytes (Agora: 5 KB).
pub const MESSAGE_MAX_BYTES: usize = 5 * 1024;
/// Sends waiting for the writer before senders wait (backpressure, not buffering).
const WRITER_QUEUE: usize = 8192;
/// Messages committed in one transaction at most.
const WRITER_BATCH: usize = 512;

/// A stored message: its server id and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub id: u64,
    pub timestamp_ms: u64,
}

/// Where a message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Group(GroupId),
    User(UserName),
}

/// What a client's `Meta{ns: CHAT}` is acknowledged with.
#[derive(Debug, Clone)]
pub enum Acked {
    /// The usual ack: the server id and time of what was stored (or offered to a room).
    Sent(Sent),
    /// An edit's ack, which also carries the edit's `edit_msg` (`msync::edit_ack`).
    Edited(recall::Edited),
}

/// A message from a logged-in client (`Meta{ns: CHAT}`) of `user`, sent over the connection
/// `origin`: checked, stored and fanned out (or, for a chat room, offered to the room).
/// Receipts, recalls and edits come the same way and branch off to their services.
pub async fn send_from_client(
    state: &Services,
    app: &AppRecord,
    user: &UserName,
    origin: &dyn Origin,
    meta: Meta,
) -> Result<Acked, ApiError> {
    let body: MessageBody =
        meta.decode_payload().map_err(|_| ApiError::new(ErrorCode::JsonParse, "the message body cannot be read"))?;
    let size = meta.payload.as_ref().map_or(0, Bytes::len) + meta.ext.iter().map(Message::encoded_len).sum::<usize>();
    if size > MESSAGE_MAX_BYTES {
        return Err(ApiError::new(ErrorCode::MessageTooLarge, "message is too large"));
    }
    let body_type = body.r#type();
    if let Some(kind) = receipts::receipt_kind(body_type) {
        return receipts::send_from_client(state, app, user, origin, &meta, &body, kind).await.map(Acked::Sent);
    }
    match body_type {
        pb::message_body::Type::Recall => {
            recall::recall_from_client(state, app, user, origin, &meta, &body).await.map(Acked::Sent)
        }
        pb::message_body::Type::Edit => {
            recall::edit_from_client(state, app, user, origin, &meta, &body).await.map(Acked::Edited)
        }
        _ => send_message_from_client(state, app, user, origin, meta, body).await.map(Acked::Sent),
    }
}

/// A client's message proper (not a receipt, recall or edit).
async fn send_message_from_client(
    state: &Services,
    app: &AppRecord,
    user: &UserName,
    origin: &dyn Origin,
    meta: Meta,
    body: MessageBody,
) -> Result<Sent, ApiError> {
    let started = std::time::Instant::now();
    let body_type = body.r#type();
    let to = meta.to.clone().unwrap_or_default();
    let target = match (to.is_conference(), body_type) {
        (true, pb::message_body::Type::Groupchat) => Target::Group(parse_group_id(to.name())?),
        // Chat rooms store nothing: their own path (services::room_delivery).
        (true, pb::message_body::Type::Chatroom) => {
            let offered = crate::services::room_delivery::send_from_client(state, app, user, origin, meta, body).await;
            state.metrics.send_ack_latency.of(Kind::Room).observe(started.elapsed().as_secs_f64());
            return offered;
        }
        (false, pb::message_body::Type::Chat) => Target::User(
            UserName::parse(to.name()).map_err(|_| ApiError::new(ErrorCode::UserNotFound, "user not found"))?,
        ),
        (_, pb::message_body::Type::Chat | pb::message_body::Type::Groupchat | pb::message_body::Type::Chatroom) => {
            return Err(ApiError::new(ErrorCode::IllegalArgument, "message type does not match its target"));
        }
        // NORMAL, or a type this server does not know (prost reads unknown values as NORMAL).
        _ => return Err(ApiError::new(ErrorCode::NotSupported, "this message type is not supported")),
    };
    let sender = Caller::User(user.clone());
    let kind = if matches!(target, Target::Group(_)) { Kind::Group } else { Kind::Chat };
    let sent = send(state, app, &sender, Some(origin), target, body, meta.ext, meta.id, meta.routetype).await;
    state.metrics.send_ack_latency.of(kind).observe(started.elapsed().as_secs_f64());
    sent
}

/// Checks, stores and fans out one message. `origin` is the sending connection (none for
/// REST): its resource goes into the message, and it is not told about its own message.
pub async fn send(
    state: &Services,
    app: &AppRecord,
    sender: &Caller,
    origin: Option<&dyn Origin>,
    target: Target,
    mut body: MessageBody,
    ext: Vec<msync::KeyValue>,
    client_id: Option<u64>,
    routetype: Option<i32>,
) -> Result<Sent, ApiError> {
    let sender_name = match sender {
        Caller::User(name) => name.clone(),
        // REST sends by the app administrator carry the sender in the body.
        Caller::AppAdmin => UserName::parse(body.from.as_ref().and_then(|j| j.name.as_deref()).unwrap_or("admin"))
            .map_err(|_| ApiError::new(ErrorCode::IllegalArgument, "from is not a legal username"))?,
    };
    let (app_id, app_key) = (app.id, &msync::app_key(&app.org, &app.name));
    let conversation = match &target {
        Target::Group(group) => {
            let scene = load_scene(state, app, sender, *group, &[]).await?;
            scene.authorize(GroupAction::SendMessage, None)?;
            body.set_type(pb::message_body::Type::Groupchat);
            Conversation::Group(*group)
        }
        Target::User(peer) => {
            match sender {
                // The peer exists, their blocklist and the app's contacts-only setting: one read.
                Caller::User(_) => contacts::check_chat(state, app, &sender_name, peer).await?,
                Caller::AppAdmin => {
                    if state.store.user(app_id, peer).await.map_err(store_error)?.is_none() {
                        return Err(user_not_found(peer));
                    }
                }
            }
            body.set_type(pb::message_body::Type::Chat);
            Conversation::chat(sender_name.clone(), peer.clone())
        }
    };
    let id = state.ids.next();
    let timestamp_ms = now_ms();
    let to_jid = match &target {
        Target::Group(group) => Jid::group(app_key, group.to_string()),
        Target::User(peer) => Jid::user(app_key, peer.as_str()),
    };
    // The sender is who the token says, whatever the client wrote.
    body.from = Some(Jid { name: Some(sender_name.to_string()), ..Default::default() });
    body.to = Some(Jid { name: to_jid.name.clone(), ..Default::default() });
    let meta = Meta {
        id: Some(id),
        from: Some(Jid {
            client_resource: origin.map(|origin| origin.resource().to_owned()),
            ..Jid::user(app_key, sender_name.as_str())
        }),
        to: Some(to_jid),
        timestamp: Some(timestamp_ms),
        ns: Some(pb::meta::NameSpace::Chat as i32),
        payload: Some(body.encode_to_vec().into()),
        routetype,
        ext,
        ..Default::default()
    };
    let message = NewMessage {
        id,
        conversation: conversation.clone(),
        sender: sender_name.clone(),
        client_id,
        payload: meta.encode_to_vec(),
        created_ms: timestamp_ms as i64,
    };
    // The sending connection has its message once the ack carries the id: its pulls leave it
    // out from now on (remembered before the commit, since the writer's fan-out may already
    // tell it to pull).
    if let Some(origin) = origin {
        origin.sent(id);
    }
    let stored = state.writer.append(app_id, message, origin.map(|origin| origin.session_id())).await;
    match stored {
        // The writer has fanned it out (and moved a caught-up sender past it).
        Ok(AppendOutcome::Stored { .. }) => {
            let kind = if matches!(conversation, Conversation::Group(_)) { Kind::Group } else { Kind::Chat };
            state.metrics.messages_accepted.of(kind).inc();
            Ok(Sent { id, timestamp_ms })
        }
        // A resend of a message we have: the same id again, and nobody is told twice.
        Ok(AppendOutcome::Duplicate { id, .. }) => Ok(Sent { id, timestamp_ms }),
        Err(StoreError::NotFound) => Err(match &target {
            Target::Group(group) => group_not_found(*group),
            Target::User(peer) => user_not_found(peer),
        }),
        Err(other) => Err(store_error(other)),
    }
}

/// The sending connection has its own message already (the ack carries the id). If it had
/// read everything before it, its cursor moves past the message and it needs no notice:
/// returns its id to leave out of the fan-out. Otherwise its next pull skips the message.
pub(super) fn caught_up_with_own_send(
    origin: &dyn Origin,
    sender: &UserName,
    conversation: &Conversation,
    seq: i64,
    id: u64,
) -> Option<SessionId> {
    origin.sent(id);
    let queue = match conversation {
        Conversation::Group(group) => QueueKey::Group(*group),
        Conversation::Chat { low, high } => QueueKey::Chat(if low == sender { high.clone() } else { low.clone() }),
    };
    origin.caught_up_with_own(&queue, seq).then(|| origin.session_id())
}

/// Hints the sessions that can read the new message (but `quiet_session`).
pub(super) fn notify(
    state: &Services,
    app_id: i64,
    conversation: &Conversation,
    sender: &UserName,
    quiet_session: Option<u64>,
) {
    match conversation {
        Conversation::Group(group) => state.delivery.group_updated(app_id, *group, quiet_session),
        Conversation::Chat { low, high } => {
            let peer = if low == sender { high } else { low };
            state.delivery.queue_updated(app_id, peer, &QueueKey::Chat(sender.clone()), None);
            state.delivery.queue_updated(app_id, sender, &QueueKey::Chat(peer.clone()), quiet_session);
        }
    }
}

/// Commits messages in batches: every send waiting when a commit starts goes into the next
/// transaction, so throughput does not depend on one commit per message.
///
/// After each commit, and before any sender is answered, the writer hands the group messages
/// it stored to the recent timelines and to [`Delivery::group_messages`] (their group's
/// outbox), in sequence order: one task sees every commit in order.
#[derive(Debug, Clone)]
pub struct MessageWriter {
    requests: mpsc::Sender<WriteRequest>,
    metrics: Arc<Metrics>,
}

#[derive(Debug)]
struct WriteRequest {
    app_id: i64,
    message: NewMessage,
    /// The connection that sent it.
    origin: Option<SessionId>,
    reply: oneshot::Sender<StoreResult<AppendOutcome>>,
}

/// What the writer needs besides the store: where committed group messages go (the recent
/// timelines and the delivery seam), and the metrics it reports to.
pub struct Fanout {
    pub recent: Arc<RecentTimelines>,
    pub delivery: Arc<dyn Delivery>,
    pub metrics: Arc<Metrics>,
}

impl MessageWriter {
    /// Starts the writer task on `store`. When the server stops it takes no more sends and
    /// commits those already queued, then ends.
    pub fn start(store: Arc<dyn qun_store::Store>, lifecycle: &Lifecycle, fanout: Fanout) -> MessageWriter {
        let (requests, receiver) = mpsc::channel(WRITER_QUEUE);
        let metrics = fanout.metrics.clone();
        lifecycle.spawn(write_loop(store, receiver, lifecycle.clone(), fanout));
        MessageWriter { requests, metrics }
    }

    /// Stores one message sent over the connection `origin` (none for REST); resolves after
    /// its transaction committed and, for a group message, after its fan-out.
    pub async fn append(
        &self,
        app_id: i64,
        message: NewMessage,
        origin: Option<SessionId>,
    ) -> StoreResult<AppendOutcome> {
        let (reply, outcome) = oneshot::channel();
        self.metrics.writer_queue.inc();
        let queued = self.requests.send(WriteRequest { app_id, message, origin, reply }).await;
        if queued.is_err() {
            self.metrics.writer_queue.dec();
        }
        queued.map_err(|_| StoreError::Corrupt("the message writer stopped".to_owned()))?;
        outcome.await.map_err(|_| StoreError::Corrupt("the message writer stopped".to_owned()))?
    }
}

async fn write_loop(
    store: Arc<dyn qun_store::Store>,
    mut receiver: mpsc::Receiver<WriteRequest>,
    lifecycle: Lifecycle,
    fanout: Fanout,
) {
    let metrics = &fanout.metrics;
    let mut batch: Vec<WriteRequest> = Vec::with_capacity(WRITER_BATCH);
    loop {
        let received = tokio::select! {
            received = receiver.recv_many(&mut batch, WRITER_BATCH) => received,
            () = lifecycle.stopping(), if !receiver.is_closed() => {
                // No new sends from now on (they fail at once); what is queued still commits.
                receiver.close();
                continue;
            }
        };
        if received == 0 {
            break;
        }
        metrics.writer_queue.dec_by(received as i64);
        // One transaction per app in the batch (nearly always one).
        batch.sort_by_key(|request| request.app_id);
        while !batch.is_empty() {
            let app_id = batch[0].app_id;
            let split = batch.iter().position(|r| r.app_id != app_id).unwrap_or(batch.len());
            let (replies, messages): (Vec<_>, Vec<_>) =
                batch.drain(..split).map(|r| (r.reply, (r.message, r.origin))).unzip();
            let (mut messages, origins): (Vec<NewMessage>, Vec<Option<SessionId>>) = messages.into_iter().unzip();
            let started = std::time::Instant::now();
            let appended = store.append_messages(app_id, &messages).await;
            metrics.store_commit_latency.observe(started.elapsed().as_secs_f64());
            match appended {
                Ok(outcomes) => {
                    fan_out(&fanout, app_id, &mut messages, &origins, &outcomes);
                    for (reply, outcome) in replies.into_iter().zip(outcomes) {
                        let _ = reply.send(outcome);
                    }
                }
                Err(error) => {
                    tracing::error!(%error, messages = messages.len(), "storing messages failed");
                    for reply in replies {
                        let _ = reply.send(Err(StoreError::Corrupt("storing the message failed".to_owned())));
                    }
                }
            }
        }
    }
}

/// The messages of one commit go to their readers, conversation by conversation, in sequence
/// order (the store numbers a batch in order): a group's to the recent timelines and to the
/// group's outbox (pushed at the group's pace), a 1:1 conversation's to both users' sessions at
/// once.
fn fan_out(
    fanout: &Fanout,
    app_id: i64,
    messages: &mut [NewMessage],
    origins: &[Option<SessionId>],
    outcomes: &[StoreResult<AppendOutcome>],
) {
    let mut committed: Vec<(&Conversation, CommittedMessage)> = Vec::new();
    for ((message, origin), outcome) in messages.iter_mut().zip(origins).zip(outcomes) {
        let Ok(AppendOutcome::Stored { seq }) = outcome else { continue };
        let meta = Bytes::from(std::mem::take(&mut message.payload));
        if let Conversation::Group(group) = &message.conversation {
            let entry = RecentEntry { seq: *seq, id: message.id, except: None, is_message: true, meta: meta.clone() };
            fanout.recent.insert(app_id, *group, entry);
        }
        committed.push((&message.conversation, CommittedMessage { seq: *seq, id: message.id, meta, origin: *origin }));
    }
    // Each conversation's messages together, in sequence order.
    committed.sort_by(|(a, x), (b, y)| a.cmp(b).then(x.seq.cmp(&y.seq)));
    for run in committed.chunk_by(|(a, _), (b, _)| a == b) {
        let messages: Vec<CommittedMessage> = run.iter().map(|(_, message)| message.clone()).collect();
        match run[0].0 {
            Conversation::Group(group) => fanout.delivery.group_messages(app_id, *group, &messages),
            Conversation::Chat { low, high } => {
                let pushed = fanout.delivery.chat_messages(app_id, (low, high), &messages);
                if pushed > 0 {
                    fanout.metrics.chat_pushes.inc_by(pushed);
                    fanout.metrics.delivered(Kind::Chat, pushed, messages.last().map(|message| message.id));
                }
            }
        }
    }
}
