//! The seam through which services say "something new for these users": the one place where a
//! committed change or message turns into live delivery. The gateway's hub implements it for
//! the sessions of this process; a cluster bus and the offline-push dispatcher will implement
//! or wrap it, without the services changing.
//!
//! Every call is a hint: the database is the truth, and a session that misses one gets
//! everything at its next pull or login. So no call blocks, fails or waits.

use std::sync::Arc;

use bytes::Bytes;
use qun_core::{GroupId, UserName};
use qun_proto::msync::KickReason;
use qun_store::QueueKey;

/// A connection, as services may name one: to leave it out of a fan-out (it has the news).
pub type SessionId = u64;

/// A live connection as the chat room runtime holds one (the gateway's session implements
/// it): pushed frames go out in order, and a connection that cannot keep up refuses them (the
/// gateway cuts it off as a slow consumer).
pub trait Connection: Send + Sync {
    fn session_id(&self) -> SessionId;
    /// Queues a frame; false when the connection refused it (full, or closed).
    fn push(&self, frame: Bytes) -> bool;
    /// Whether this connection sent message `id` (a room joiner is not sent its own again).
    fn has_sent(&self, id: u64) -> bool;
}

/// The connection a client's message came from, as the send paths need it (the gateway's
/// session implements it): it has its own message already, since the ack carries the id.
pub trait Origin: Connection {
    /// The connection's resource, written into the message's `from`.
    fn resource(&self) -> &str;
    /// It sent message `id`: its pulls leave the message out.
    fn sent(&self, id: u64);
    /// Its own message was stored at `seq` in its `queue`. True when it had read everything
    /// before it: its position moves past the message and it needs no notice for it.
    fn caught_up_with_own(&self, queue: &QueueKey, seq: i64) -> bool;
}

/// A message just committed to a conversation (a group's timeline or a 1:1 conversation), as
/// the fan-out needs it.
#[derive(Debug, Clone)]
pub struct CommittedMessage {
    pub seq: i64,
    pub id: u64,
    /// The serialized msync `Meta`, as stored.
    pub meta: Bytes,
    /// The connection that sent it (it has the message already); none for REST sends.
    pub origin: Option<SessionId>,
}

/// See the module docs.
pub trait Delivery: Send + Sync {
    /// The connections `user` has right now (the chat room runtime pushes to them).
    fn connections_of(&self, app_id: i64, user: &UserName) -> Vec<Arc<dyn Connection>>;
    /// The group's timeline has new entries: tell every online member's sessions but `except`.
    fn group_updated(&self, app_id: i64, group: GroupId, except: Option<SessionId>);
    /// Messages were committed to `group`'s timeline: `messages` in sequence order, called in
    /// commit order by the one message writer, before their senders hear of them (so it must
    /// not take long). Sessions that had read everything before a message get it pushed; the
    /// others are told to pull.
    fn group_messages(&self, app_id: i64, group: GroupId, messages: &[CommittedMessage]);
    /// Messages were committed to the 1:1 conversation of `low` and `high`: `messages` in
    /// sequence order, called in commit order by the one message writer, before their senders
    /// hear of them (so it must not take long). Sessions of either user that had read
    /// everything before a message get it pushed; the others are told to pull. Returns how many
    /// messages were pushed, counted per session (for the metrics).
    fn chat_messages(&self, app_id: i64, conversation: (&UserName, &UserName), messages: &[CommittedMessage]) -> u64;
    /// One of `user`'s queues has new items: tell their sessions but `except`.
    fn queue_updated(&self, app_id: i64, user: &UserName, queue: &QueueKey, except: Option<SessionId>);
    /// Users joined or left a group: who hears of its timeline changes.
    fn membership_changed(&self, app_id: i64, group: GroupId, joined: &[UserName], left: &[UserName]);
    /// A member's standing changed without joining or leaving (shield): their sessions read it
    /// again.
    fn standing_changed(&self, app_id: i64, group: GroupId, user: &UserName);
    /// The group is gone.
    fn group_dissolved(&self, app_id: i64, group: GroupId);
    /// Closes every connection of `user`, telling the SDK why.
    fn kick_user(&self, app_id: i64, user: &UserName, reason: KickReason);
}
