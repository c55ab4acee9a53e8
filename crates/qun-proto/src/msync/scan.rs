//! Counting the metas of a downlink batch straight from the wire, without decoding them.
//!
//! A load generator holding 19,000 room members receives millions of metas per second; decoding
//! each into a [`super::Meta`] (strings, vectors) costs more than the server spends sending
//! it. [`scan_sync`] walks the protobuf fields of a `CommSyncDL` and of each meta's top level
//! only, reading varints and skipping lengths: no allocation, nothing copied. The same walk
//! reads what a receiver needs to pull as the SDK does: a batch's `nextKey` and `isLast`, a
//! NOTICE's queue ([`scan_notice`]) and a queue's name ([`scan_jid_name`]).

/// What [`scan_pushed_batch`] found in a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PushedBatch<'a> {
    /// The serialized `queue` JID, if the batch names one (decode it with `Jid::decode`).
    pub queue: Option<&'a [u8]>,
    /// Metas in the CHAT namespace (messages).
    pub chat: u32,
    /// Metas in the MUC namespace (group and room events).
    pub muc: u32,
    /// Metas of any other namespace.
    pub other: u32,
}

/// What [`scan_sync`] found in a `CommSyncDL` payload: an ack of an uplink meta
/// ([`SyncBatch::is_ack`]), a pull batch or a pushed one (they look alike on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SyncBatch<'a> {
    /// `metaId`, 0 when absent; above 0 the frame is the ack of that uplink meta.
    pub meta_id: u64,
    /// The serialized `queue` JID, if the batch names one.
    pub queue: Option<&'a [u8]>,
    /// Metas in the CHAT namespace (messages).
    pub chat: u32,
    /// Metas in the MUC namespace (group and room events).
    pub muc: u32,
    /// Metas of any other namespace.
    pub other: u32,
    /// `nextKey`, the key a pull acknowledges this batch with.
    pub next_key: Option<u64>,
    /// `isLast` (absent reads as false, the proto2 default).
    pub is_last: bool,
}

impl SyncBatch<'_> {
    /// Whether this is the ack of an uplink meta (`metaId > 0`, as the SDK tells them apart).
    pub fn is_ack(&self) -> bool {
        self.meta_id > 0
    }

    /// Metas of every namespace.
    pub fn metas(&self) -> u32 {
        self.chat + self.muc + self.other
    }
}

// Field numbers (proto/msync.proto).
const MSYNC_COMMAND: u64 = 8;
const MSYNC_PAYLOAD: u64 = 9;
const SYNC_DL_META_ID: u64 = 2;
const SYNC_DL_METAS: u64 = 4;
const SYNC_DL_NEXT_KEY: u64 = 5;
const SYNC_DL_QUEUE: u64 = 6;
const SYNC_DL_IS_LAST: u64 = 7;
const NOTICE_QUEUE: u64 = 1;
const JID_NAME: u64 = 2;
const META_NS: u64 = 5;
// `Meta.NameSpace` values.
const NS_CHAT: u64 = 1;
const NS_MUC: u64 = 2;

/// The `command` (absent: SYNC, the proto2 default) and the `payload` of a serialized `MSync`,
/// without copying the payload; `None` if malformed.
pub fn scan_msync(frame: &[u8]) -> Option<(i32, &[u8])> {
    let (mut command, mut payload) = (0, &[][..]);
    let mut fields = Fields(frame);
    while let Some(field) = fields.next_field()? {
        match (field.number, field.value) {
            (MSYNC_COMMAND, Value::Varint(value)) => command = i32::try_from(value).ok()?,
            (MSYNC_PAYLOAD, Value::Bytes(bytes)) => payload = bytes,
            _ => {}
        }
    }
    Some((command, payload))
}

/// Counts the metas of a `CommSyncDL` payload that asks nothing back: not an ack (no
/// `metaId` above 0) and nothing to acknowledge (no `nextKey`) — a pushed batch, or the last
/// batch of a pull. Returns `None` for any other payload and for malformed input: decode
/// those fully.
pub fn scan_pushed_batch(payload: &[u8]) -> Option<PushedBatch<'_>> {
    let batch = scan_sync(payload)?;
    if batch.is_ack() || batch.next_key.is_some() {
        return None;
    }
    Some(PushedBatch { queue: batch.queue, chat: batch.chat, muc: batch.muc, other: batch.other })
}

/// Reads any `CommSyncDL` payload: its metas counted by namespace, and what says how to
/// answer it (`metaId`, `queue`, `nextKey`, `isLast`). `None` for malformed input.
pub fn scan_sync(payload: &[u8]) -> Option<SyncBatch<'_>> {
    let mut batch = SyncBatch::default();
    let mut fields = Fields(payload);
    while let Some(field) = fields.next_field()? {
        match (field.number, field.value) {
            (SYNC_DL_META_ID, Value::Varint(id)) => batch.meta_id = id,
            (SYNC_DL_NEXT_KEY, Value::Varint(key)) => batch.next_key = Some(key),
            (SYNC_DL_IS_LAST, Value::Varint(last)) => batch.is_last = last != 0,
            (SYNC_DL_QUEUE, Value::Bytes(queue)) => batch.queue = Some(queue),
            (SYNC_DL_METAS, Value::Bytes(meta)) => match namespace(meta)? {
                NS_CHAT => batch.chat += 1,
                NS_MUC => batch.muc += 1,
                _ => batch.other += 1,
            },
            // A field read above with another wire type: prost would refuse the frame too.
            (SYNC_DL_META_ID | SYNC_DL_NEXT_KEY | SYNC_DL_IS_LAST | SYNC_DL_QUEUE | SYNC_DL_METAS, _) => return None,
            _ => {}
        }
    }
    Some(batch)
}

/// The serialized `queue` JID of a `CommNotice` payload; `None` if it names none or is
/// malformed.
pub fn scan_notice(payload: &[u8]) -> Option<&[u8]> {
    bytes_field(payload, NOTICE_QUEUE)
}

/// The `name` of a serialized JID (a user, group or room id), as its UTF-8 bytes; `None`
/// without one or when malformed. Queues are told apart by name, as the SDK does.
pub fn scan_jid_name(jid: &[u8]) -> Option<&[u8]> {
    bytes_field(jid, JID_NAME)
}

/// The last value of the length-delimited field `number` of a message (protobuf's rule for a
/// repeated singular field); `None` without one or when the message is malformed.
fn bytes_field(message: &[u8], number: u64) -> Option<&[u8]> {
    let mut found = None;
    let mut fields = Fields(message);
    while let Some(field) = fields.next_field()? {
        if field.number == number
            && let Value::Bytes(bytes) = field.value
        {
            found = Some(bytes);
        }
    }
    found
}

/// A meta's `ns` (proto2 default: the first value, STATISTIC = 0); `None` if malformed up to
/// there. Encoders write fields in number order, so the walk stops at `ns` (field 5): the
/// payload and what follows are not even skipped through.
fn namespace(meta: &[u8]) -> Option<u64> {
    let mut fields = Fields(meta);
    while let Some(field) = fields.next_field()? {
        match (field.number, field.value) {
            (META_NS, Value::Varint(value)) => return Some(value),
            (number, _) if number > META_NS => return Some(0),
            _ => {}
        }
    }
    Some(0)
}

struct Field<'a> {
    number: u64,
    value: Value<'a>,
}

enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one message, in wire order.
struct Fields<'a>(&'a [u8]);

impl<'a> Fields<'a> {
    /// `Some(None)` at the end, `None` on malformed input.
    fn next_field(&mut self) -> Option<Option<Field<'a>>> {
        if self.0.is_empty() {
            return Some(None);
        }
        let key = self.varint()?;
        let number = key >> 3;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => self.skip(8)?,
            2 => {
                let len = usize::try_from(self.varint()?).ok()?;
                let bytes = self.0.get(..len)?;
                self.0 = &self.0[len..];
                Value::Bytes(bytes)
            }
            5 => self.skip(4)?,
            // Groups (3, 4) are not used by this schema; 6 and 7 do not exist.
            _ => return None,
        };
        Some(Some(Field { number, value }))
    }

    fn varint(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for (i, &byte) in self.0.iter().enumerate().take(10) {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.0 = &self.0[i + 1..];
                return Some(value);
            }
        }
        None
    }

    fn skip(&mut self, n: usize) -> Option<Value<'a>> {
        self.0 = self.0.get(n..)?;
        Some(Value::Fixed)
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::super::{CommSyncDl, EncodedMeta, Jid, Meta, decode_msync, pb, pull_batch, push_batch};
    use super::*;

    fn meta(id: u64, ns: pb::meta::NameSpace) -> EncodedMeta {
        EncodedMeta::new(&Meta {
            id: Some(id),
            from: Some(Jid::user("o#a", "alice")),
            ns: Some(ns as i32),
            payload: Some(vec![1, 2, 3].into()),
            ..Default::default()
        })
    }

    fn payload(frame: bytes::Bytes) -> bytes::Bytes {
        decode_msync(frame).unwrap().payload.unwrap()
    }

    #[test]
    fn a_push_is_counted_by_namespace_and_names_its_queue() {
        use pb::meta::NameSpace::{Chat, Muc, Statistic};
        let room = Jid::group("o#a", "r1");
        let metas = [meta(1, Chat), meta(2, Muc), meta(3, Chat), meta(4, Statistic)];
        let payload = payload(push_batch(room.clone(), &metas, 5));
        let batch = scan_pushed_batch(&payload).unwrap();
        assert_eq!((batch.chat, batch.muc, batch.other), (2, 1, 1));
        assert_eq!(Jid::decode(batch.queue.unwrap()).unwrap(), room);
    }

    #[test]
    fn the_last_pull_batch_counts_but_one_to_acknowledge_or_an_ack_does_not() {
        let group = Jid::group("o#a", "g1");
        let metas = [meta(1, pb::meta::NameSpace::Chat)];
        let last = payload(pull_batch(group.clone(), &metas, None, true, 5));
        assert_eq!(scan_pushed_batch(&last).map(|b| b.chat), Some(1));
        let more = payload(pull_batch(group, &metas, Some(9), false, 5));
        assert_eq!(scan_pushed_batch(&more), None, "nextKey: the client must acknowledge");
        let ack = CommSyncDl { meta_id: Some(7), server_id: Some(8), ..Default::default() }.encode_to_vec();
        assert_eq!(scan_pushed_batch(&ack), None, "an ack is decoded in full");
        let zero = CommSyncDl { meta_id: Some(0), ..Default::default() }.encode_to_vec();
        assert_eq!(scan_pushed_batch(&zero).map(|b| b.chat), Some(0), "metaId 0 is no ack (as the SDK reads it)");
    }

    #[test]
    fn any_sync_payload_reads_as_prost_decodes_it() {
        use pb::meta::NameSpace::{Chat, Muc};
        let group = Jid::group("o#a", "g1");
        let metas = [meta(1, Chat), meta(2, Chat), meta(3, Muc)];
        let frames = [
            pull_batch(group.clone(), &metas, Some(3), false, 5),
            pull_batch(group.clone(), &[], None, true, 5),
            pull_batch(group.clone(), &metas[..1], Some(0), false, 5),
            push_batch(group.clone(), &metas, 5),
        ];
        for frame in frames {
            let payload = payload(frame);
            let decoded = CommSyncDl::decode(&payload[..]).unwrap();
            let scanned = scan_sync(&payload).unwrap();
            assert_eq!(scanned.next_key, decoded.next_key);
            assert_eq!(scanned.is_last, decoded.is_last.unwrap_or(false));
            assert_eq!(scanned.metas() as usize, decoded.metas.len());
            assert_eq!(Jid::decode(scanned.queue.unwrap()).unwrap(), group);
            assert!(!scanned.is_ack());
        }
        let more = payload(pull_batch(group.clone(), &metas, Some(3), false, 5));
        let more = scan_sync(&more).unwrap();
        assert_eq!((more.chat, more.muc, more.other), (2, 1, 0));
        let ack = CommSyncDl { meta_id: Some(7), server_id: Some(8), ..Default::default() }.encode_to_vec();
        let ack = scan_sync(&ack).unwrap();
        assert!(ack.is_ack() && ack.queue.is_none() && ack.metas() == 0);
        // A field the scan reads, with another wire type: refused, as prost refuses it.
        let bad_next_key = [0x2a, 0x01, 0x05];
        assert!(CommSyncDl::decode(&bad_next_key[..]).is_err());
        assert_eq!(scan_sync(&bad_next_key), None);
    }

    #[test]
    fn a_notice_names_its_queue_and_a_queue_its_name() {
        let group = Jid::group("o#a", "g1");
        let notice = crate::msync::notice(group.clone());
        let (command, payload) = scan_msync(&notice).unwrap();
        assert_eq!(command, crate::msync::Command::Notice as i32);
        let queue = scan_notice(payload).unwrap();
        assert_eq!(Jid::decode(queue).unwrap(), group);
        assert_eq!(scan_jid_name(queue), Some(&b"g1"[..]));
        assert_eq!(scan_jid_name(&Jid::user("o#a", "bob").encode_to_vec()), Some(&b"bob"[..]));
        assert_eq!(scan_jid_name(&Jid::default().encode_to_vec()), None, "no name");
        assert_eq!(scan_notice(&[]), None, "no queue");
        assert_eq!(scan_notice(&[0x0a, 0x05, 0x12]), None, "queue beyond the end");
    }

    #[test]
    fn the_envelope_gives_its_command_and_payload_as_they_are() {
        let frame = push_batch(Jid::group("o#a", "r1"), &[meta(1, pb::meta::NameSpace::Chat)], 5);
        let decoded = decode_msync(frame.clone()).unwrap();
        let (command, payload) = scan_msync(&frame).unwrap();
        assert_eq!(command, decoded.command.unwrap_or_default());
        assert_eq!(payload, &decoded.payload.unwrap()[..]);
        let notice = crate::msync::notice(Jid::group("o#a", "r1"));
        assert_eq!(scan_msync(&notice).unwrap().0, crate::msync::Command::Notice as i32);
        assert_eq!(scan_msync(&[0x4a, 0x09]), None, "payload beyond the end");
    }

    #[test]
    fn malformed_input_is_refused_not_miscounted() {
        let room = Jid::group("o#a", "r1");
        let payload = payload(push_batch(room, &[meta(1, pb::meta::NameSpace::Chat)], 5));
        for cut in 1..payload.len() {
            // Every truncation either fails or (cut after a whole field) counts no more than was sent.
            if let Some(batch) = scan_pushed_batch(&payload[..cut]) {
                assert!(batch.chat <= 1);
            }
        }
        assert_eq!(scan_pushed_batch(&[0x22, 0x05, 0x28]), None, "length beyond the end");
        assert_eq!(scan_pushed_batch(&[0xff; 11]), None, "varint longer than ten bytes");
        assert_eq!(scan_pushed_batch(&[0x0b]), None, "group wire type");
    }
}
