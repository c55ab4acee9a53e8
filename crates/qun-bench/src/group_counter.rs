//! A group member that counts its group's messages without decoding them, pulling and
//! acknowledging exactly as the official SDK does, on a lean websocket (`lean::Socket`).
//!
//! S3 wants a million group deliveries a second shown by one generator core; full qun-client
//! receivers take 200,000–270,000 a second there. This member logs in (PROVISION with its
//! token), asks for the unread summary (UNREAD, as the SDK after its login), and from then on
//! answers every frame as the SDK's pull loop does ([`SdkPulls`]), counting the chat metas of
//! its group's batches in place (`msync::scan_sync`): pulled batches after a NOTICE and batches
//! the server pushes without one, with or without a `nextKey` to acknowledge, whether or not a
//! pull of the queue is in flight. It heartbeats (UNREAD) after 30 s without inbound frames.
//!
//! It never sends a message, so it never has an own echo to leave out, and it checks totals
//! only: sequences, duplicates and order are the full receivers' job.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use qun_client::frames::{self, LoginFrame};
use qun_proto::msync::{self, CommUnreadDl, Command, Jid, Message};
use tokio::time::Instant;

use crate::lean::{self, Counts, Socket};

/// The SDK's heartbeat: an UNREAD after this long without inbound frames.
const HEARTBEAT: Duration = Duration::from_secs(30);
/// How often the receiver looks whether a heartbeat is due.
const HEARTBEAT_CHECK: Duration = Duration::from_secs(5);

/// Logs in as `login` and counts the messages of `group` from then on (until the connection
/// ends or the returned handle aborts the task). Returns once the login was accepted.
pub async fn start(
    ws_url: &str,
    source: Option<IpAddr>,
    login: LoginFrame,
    group: &str,
) -> anyhow::Result<(Arc<Counts>, tokio::task::AbortHandle)> {
    let mut socket = lean::login(ws_url, source, &login).await?;
    // As the SDK once logged in: the unread summary, whose queues it pulls.
    socket.send(&frames::unread()).await?;
    let counts = Arc::new(Counts::default());
    let task = tokio::spawn(receive(socket, counts.clone(), GroupReceiver::new(group)));
    Ok((counts, task.abort_handle()))
}

/// Answers and counts until the connection ends.
async fn receive(mut socket: Socket, counts: Arc<Counts>, mut receiver: GroupReceiver) {
    let mut pulls = Vec::new();
    let mut housekeeping = tokio::time::interval_at(Instant::now() + HEARTBEAT_CHECK, HEARTBEAT_CHECK);
    let (mut last_inbound, mut last_heartbeat) = (Instant::now(), Instant::now());
    loop {
        // Frames buffered with the login reply first, then each read's frames, in order; their
        // pulls go out together, in the order decided.
        let mut messages = 0;
        socket.for_each_frame(|frame| messages += u64::from(receiver.on_frame(frame, &mut pulls)));
        counts.add(messages);
        for pull in pulls.drain(..) {
            if let Some(frame) = pull.frame() {
                socket.queue(&frame);
            }
        }
        if socket.flush().await.is_err() {
            break;
        }
        tokio::select! {
            read = socket.read_more() => match read {
                Ok(()) => last_inbound = Instant::now(),
                Err(_) => break,
            },
            _ = housekeeping.tick() => {
                if last_inbound.elapsed() >= HEARTBEAT && last_heartbeat.elapsed() >= HEARTBEAT {
                    last_heartbeat = Instant::now();
                    if socket.send(&frames::unread()).await.is_err() {
                        break;
                    }
                }
            }
        }
    }
    counts.closed.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// What one group member does with each downlink frame: which messages it counts, which pulls
/// it sends. No IO, so every decision can be checked on its own.
#[derive(Debug)]
pub struct GroupReceiver {
    /// The group's id: only the chat metas of its queue are counted.
    group: Vec<u8>,
    pulls: SdkPulls,
}

impl GroupReceiver {
    pub fn new(group: &str) -> GroupReceiver {
        GroupReceiver { group: group.as_bytes().to_vec(), pulls: SdkPulls::default() }
    }

    /// Reads one downlink frame (a serialized `MSync`): appends the pulls it calls for to
    /// `pulls` and returns how many messages of the group it delivered. A frame it cannot
    /// read changes nothing.
    pub fn on_frame(&mut self, frame: &[u8], pulls: &mut Vec<Pull>) -> u32 {
        let Some((command, payload)) = msync::scan_msync(frame) else { return 0 };
        match Command::try_from(command) {
            Ok(Command::Notice) => {
                if let Some(queue) = msync::scan_notice(payload) {
                    self.pulls.on_notice(queue, pulls);
                }
                0
            }
            // Rare (the login's summary, heartbeats): decoded in full.
            Ok(Command::Unread) => {
                if let Ok(unread) = CommUnreadDl::decode(payload) {
                    for queue in unread.unread.into_iter().filter_map(|entry| entry.queue) {
                        pulls.push(SdkPulls::on_unread(Queue(queue.encode_to_vec())));
                    }
                }
                0
            }
            Ok(Command::Sync) => match msync::scan_sync(payload) {
                // An ack answers an uplink meta, and this member sends none.
                Some(batch) if !batch.is_ack() => {
                    // The server names the queue of every batch; one without is left alone.
                    let Some(queue) = batch.queue else { return 0 };
                    self.pulls.on_batch(queue, batch.metas(), batch.next_key, batch.is_last, pulls);
                    if msync::scan_jid_name(queue) == Some(&self.group[..]) { batch.chat } else { 0 }
                }
                _ => 0,
            },
            _ => 0,
        }
    }
}

/// A queue as the server named it: its serialized JID, sent back as it is in pulls. Queues
/// are told apart by name only, as the SDK does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue(pub Vec<u8>);

impl Queue {
    fn is(&self, queue: &[u8]) -> bool {
        msync::scan_jid_name(&self.0) == msync::scan_jid_name(queue)
    }
}

/// `CommSyncUL{queue[, key]}`: pulls the queue; with `key` (a batch's `nextKey`) it also
/// acknowledges that batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    pub queue: Queue,
    pub key: Option<u64>,
}

impl Pull {
    /// The uplink frame, as qun-client writes it; `None` for a queue that is no JID.
    pub fn frame(&self) -> Option<Bytes> {
        Jid::decode(&self.queue.0[..]).ok().map(|jid| frames::pull(&jid, self.key))
    }
}

/// The official SDK's pull loop: agora-chat 1.4.0 and easemob-websdk 4.21.1 run the same code
/// (their bundles' NOTICE and `CommSyncDL` handlers), including its quirks, so that the server
/// meets from the bench what it meets from real clients.
///
/// - A NOTICE queues its queue unless it is queued already (the SDK keeps it in `_queues`);
///   the head of that list is the queue being pulled, so a NOTICE pulls at once only when
///   nothing was queued.
/// - The UNREAD reply's queues are pulled at once, each, outside that list.
/// - A batch (pulled or pushed alike: the SDK cannot tell them apart) with `isLast: false` is
///   acknowledged by pulling its queue with `key = nextKey` (an absent `nextKey` reads as 0, a
///   protobufjs Long, which is truthy) — unless that key and queue are the very last ones
///   pulled with: the SDK never pulls one queue twice in a row with the same key, and drops
///   the queue from its list instead (then pulls the next head).
/// - A batch with `isLast: true` ends the queue's pull: without metas, the queue leaves the
///   list (wherever it is); with metas, the SDK looks the queue up by a name the batch does not
///   have, so nothing leaves. Either way the list's head, if any, is pulled (again) without a
///   key. So a pushed `isLast` batch sends nothing when no pull is under way, and repeats the
///   current pull when one is.
///
/// A NOTICE for the SDK's own user and resource is ignored by the SDK; the server sends none
/// to a member that never sends, so that check is left out.
#[derive(Debug, Default)]
pub struct SdkPulls {
    /// Queues learned from NOTICEs, in arrival order; the first is being pulled.
    noticed: VecDeque<Queue>,
    /// The last key pulled with and its queue's name (the SDK's `nexKey`, `currentQueue`).
    last_key: Option<(Vec<u8>, u64)>,
}

impl SdkPulls {
    /// A NOTICE for `queue` (serialized JID).
    pub fn on_notice(&mut self, queue: &[u8], pulls: &mut Vec<Pull>) {
        if self.noticed.iter().any(|noticed| noticed.is(queue)) {
            return;
        }
        self.noticed.push_back(Queue(queue.to_vec()));
        if self.noticed.len() == 1 {
            pulls.push(Pull { queue: Queue(queue.to_vec()), key: None });
        }
    }

    /// A queue listed by an UNREAD reply: pulled at once.
    pub fn on_unread(queue: Queue) -> Pull {
        Pull { queue, key: None }
    }

    /// A batch of `queue` with `metas` metas (any namespace).
    pub fn on_batch(&mut self, queue: &[u8], metas: u32, next_key: Option<u64>, is_last: bool, pulls: &mut Vec<Pull>) {
        if is_last {
            if metas == 0 {
                self.forget(queue);
            }
            self.pull_head(pulls);
            return;
        }
        let key = next_key.unwrap_or(0);
        let name = msync::scan_jid_name(queue).unwrap_or_default();
        if self.last_key.as_ref().is_some_and(|(last_name, last_key)| *last_key == key && last_name == name) {
            self.forget(queue);
            self.pull_head(pulls);
            return;
        }
        self.last_key = Some((name.to_vec(), key));
        pulls.push(Pull { queue: Queue(queue.to_vec()), key: Some(key) });
    }

    fn forget(&mut self, queue: &[u8]) {
        if let Some(at) = self.noticed.iter().position(|noticed| noticed.is(queue)) {
            self.noticed.remove(at);
        }
    }

    fn pull_head(&self, pulls: &mut Vec<Pull>) {
        if let Some(head) = self.noticed.front() {
            pulls.push(Pull { queue: head.clone(), key: None });
        }
    }
}

#[cfg(test)]
mod tests {
    use qun_proto::msync::{CommSyncUl, EncodedMeta, Meta, MetaQueue, Status, decode_msync, pb};

    use super::*;

    const APP: &str = "o#a";

    fn group() -> Jid {
        Jid::group(APP, "g1")
    }

    fn other_group() -> Jid {
        Jid::group(APP, "g2")
    }

    fn events() -> Jid {
        Jid::user(APP, "~events")
    }

    fn meta(id: u64, ns: pb::meta::NameSpace) -> EncodedMeta {
        EncodedMeta::new(&Meta {
            id: Some(id),
            ns: Some(ns as i32),
            payload: Some(vec![1].into()),
            ..Default::default()
        })
    }

    fn messages(n: u64) -> Vec<EncodedMeta> {
        (1..=n).map(|id| meta(id, pb::meta::NameSpace::Chat)).collect()
    }

    fn pull(queue: &Jid, key: Option<u64>) -> Pull {
        Pull { queue: Queue(queue.encode_to_vec()), key }
    }

    /// A batch as the server writes it, pulled or pushed (they are the same bytes).
    fn batch(queue: &Jid, metas: &[EncodedMeta], next_key: Option<u64>, is_last: bool) -> Bytes {
        msync::pull_batch(queue.clone(), metas, next_key, is_last, 5)
    }

    /// The receiver's answer to one frame: (messages counted, pulls sent).
    fn answer(receiver: &mut GroupReceiver, frame: &[u8]) -> (u32, Vec<Pull>) {
        let mut pulls = Vec::new();
        let counted = receiver.on_frame(frame, &mut pulls);
        (counted, pulls)
    }

    #[test]
    fn a_notice_is_pulled_each_batch_acknowledged_by_its_key_until_the_empty_last_one() {
        let mut receiver = GroupReceiver::new("g1");
        let g1 = group();
        assert_eq!(answer(&mut receiver, &msync::notice(g1.clone())), (0, vec![pull(&g1, None)]));
        assert_eq!(answer(&mut receiver, &batch(&g1, &messages(3), Some(103), false)), (3, vec![pull(&g1, Some(103))]));
        assert_eq!(answer(&mut receiver, &batch(&g1, &messages(2), Some(105), false)), (2, vec![pull(&g1, Some(105))]));
        assert_eq!(answer(&mut receiver, &batch(&g1, &[], None, true)), (0, vec![]), "drained");
        // Drained means idle: the next notice is pulled at once.
        assert_eq!(answer(&mut receiver, &msync::notice(g1.clone())), (0, vec![pull(&g1, None)]));
    }

    #[test]
    fn notices_queue_up_one_pull_at_a_time_in_arrival_order() {
        let mut receiver = GroupReceiver::new("g1");
        let (g1, g2, me) = (group(), other_group(), events());
        assert_eq!(answer(&mut receiver, &msync::notice(g1.clone())).1, vec![pull(&g1, None)]);
        assert_eq!(answer(&mut receiver, &msync::notice(g1.clone())).1, vec![], "being pulled: ignored");
        assert_eq!(answer(&mut receiver, &msync::notice(g2.clone())).1, vec![], "waits its turn");
        assert_eq!(answer(&mut receiver, &msync::notice(me.clone())).1, vec![]);
        assert_eq!(answer(&mut receiver, &msync::notice(g2.clone())).1, vec![], "queued once");
        assert_eq!(answer(&mut receiver, &batch(&g1, &[], None, true)).1, vec![pull(&g2, None)]);
        // Another group's messages are answered as the SDK does, and not counted.
        assert_eq!(answer(&mut receiver, &batch(&g2, &messages(4), Some(9), false)), (0, vec![pull(&g2, Some(9))]));
        assert_eq!(answer(&mut receiver, &batch(&g2, &[], None, true)).1, vec![pull(&me, None)]);
        assert_eq!(answer(&mut receiver, &batch(&me, &[], None, true)).1, vec![]);
    }

    #[test]
    fn a_pushed_last_batch_is_counted_and_answered_only_by_repeating_a_pull_under_way() {
        let mut receiver = GroupReceiver::new("g1");
        let g1 = group();
        let pushed = msync::push_batch(g1.clone(), &messages(5), 5);
        assert_eq!(answer(&mut receiver, &pushed), (5, vec![]), "nothing pulled: nothing sent");
        // A pull of the group under way: the SDK pulls the head of its list again, keyless.
        answer(&mut receiver, &msync::notice(g1.clone()));
        assert_eq!(answer(&mut receiver, &pushed), (5, vec![pull(&g1, None)]));
        // The pull's own answers go on as before.
        assert_eq!(answer(&mut receiver, &batch(&g1, &messages(1), Some(7), false)), (1, vec![pull(&g1, Some(7))]));
        assert_eq!(answer(&mut receiver, &batch(&g1, &[], None, true)), (0, vec![]));
        assert_eq!(answer(&mut receiver, &pushed), (5, vec![]), "idle again");
    }

    #[test]
    fn a_pushed_batch_with_a_key_is_acknowledged_by_a_pull_with_that_key_pulled_or_not() {
        let mut receiver = GroupReceiver::new("g1");
        let g1 = group();
        // Idle: acknowledged; the answer to that pull ends it and sends nothing more.
        assert_eq!(answer(&mut receiver, &batch(&g1, &messages(2), Some(20), false)), (2, vec![pull(&g1, Some(20))]));
        assert_eq!(answer(&mut receiver, &batch(&g1, &[], None, true)), (0, vec![]));
        // During a pull of the same queue: acknowledged at once, and the pull goes on.
        assert_eq!(answer(&mut receiver, &msync::notice(g1.clone())).1, vec![pull(&g1, None)]);
        assert_eq!(answer(&mut receiver, &batch(&g1, &messages(3), Some(30), false)), (3, vec![pull(&g1, Some(30))]));
        assert_eq!(answer(&mut receiver, &batch(&g1, &messages(1), Some(31), false)), (1, vec![pull(&g1, Some(31))]));
        assert_eq!(answer(&mut receiver, &batch(&g1, &[], None, true)), (0, vec![]));
    }

    #[test]
    fn one_queue_is_never_pulled_twice_in_a_row_with_the_same_key() {
        let mut receiver = GroupReceiver::new("g1");
        let (g1, g2) = (group(), other_group());
        answer(&mut receiver, &msync::notice(g1.clone()));
        answer(&mut receiver, &msync::notice(g2.clone()));
        assert_eq!(answer(&mut receiver, &batch(&g1, &messages(1), Some(40), false)).1, vec![pull(&g1, Some(40))]);
        // The same key again (a push crossing the pull's answer, say): the SDK drops the queue
        // from its list and pulls the next one instead.
        assert_eq!(answer(&mut receiver, &batch(&g1, &messages(1), Some(40), false)), (1, vec![pull(&g2, None)]));
        // The same key on another queue is another pull.
        assert_eq!(answer(&mut receiver, &batch(&g2, &messages(1), Some(40), false)).1, vec![pull(&g2, Some(40))]);
        // An absent nextKey on a batch that is not the last reads as key 0.
        assert_eq!(answer(&mut receiver, &batch(&g1, &messages(1), None, false)).1, vec![pull(&g1, Some(0))]);
    }

    #[test]
    fn the_unread_summary_is_pulled_at_once_outside_the_notice_list() {
        let mut receiver = GroupReceiver::new("g1");
        let (g1, me) = (group(), events());
        let summary = msync::unread(vec![MetaQueue::new(g1.clone(), 3), MetaQueue::new(me.clone(), 1)], 5);
        assert_eq!(answer(&mut receiver, &summary), (0, vec![pull(&g1, None), pull(&me, None)]));
        // Not in the notice list: a notice now is pulled at once, as by the SDK.
        assert_eq!(answer(&mut receiver, &msync::notice(g1.clone())).1, vec![pull(&g1, None)]);
        assert_eq!(answer(&mut receiver, &msync::unread(vec![], 5)).1, vec![], "an empty summary");
    }

    #[test]
    fn only_the_groups_chat_metas_count_and_acks_and_garbage_are_left_alone() {
        let mut receiver = GroupReceiver::new("g1");
        let g1 = group();
        let mixed =
            [meta(1, pb::meta::NameSpace::Chat), meta(2, pb::meta::NameSpace::Muc), meta(3, pb::meta::NameSpace::Chat)];
        assert_eq!(answer(&mut receiver, &batch(&g1, &mixed, Some(3), false)), (2, vec![pull(&g1, Some(3))]));
        let ack = msync::sync_ack(77, Some(5), Status::ok(), 5);
        assert_eq!(answer(&mut receiver, &ack), (0, vec![]));
        for garbage in [&b""[..], &[0x4a, 0x09], &[0xff; 12]] {
            assert_eq!(answer(&mut receiver, garbage), (0, vec![]));
        }
        let unnamed =
            msync::encode_frame(Command::Sync, &msync::CommSyncDl { is_last: Some(true), ..Default::default() });
        assert_eq!(answer(&mut receiver, &unnamed), (0, vec![]), "a batch without a queue");
    }

    #[test]
    fn a_pull_is_written_as_qun_client_writes_it() {
        let frame = pull(&group(), Some(42)).frame().unwrap();
        let sync: CommSyncUl = decode_msync(frame.clone()).unwrap().decode_payload().unwrap();
        assert_eq!((sync.queue, sync.key), (Some(group()), Some(42)));
        assert_eq!(frame, frames::pull(&group(), Some(42)));
        assert_eq!(Pull { queue: Queue(vec![0xff]), key: None }.frame(), None);
    }
}
