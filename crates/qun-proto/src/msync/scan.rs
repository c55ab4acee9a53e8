//! Counting the metas of a downlink batch straight from the wire, without decoding them.
//!
//! A load generator holding 19,000 room members receives millions of metas per second; decoding
//! each into a [`super::Meta`] (strings, vectors) costs more than the server spends sending
//! it. [`scan_pushed_batch`] walks the protobuf fields of a `CommSyncDL` and of each meta's
//! top level only, reading varints and skipping lengths: no allocation, nothing copied.

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

// Field numbers (proto/msync.proto).
const MSYNC_COMMAND: u64 = 8;
const MSYNC_PAYLOAD: u64 = 9;
const SYNC_DL_META_ID: u64 = 2;
const SYNC_DL_METAS: u64 = 4;
const SYNC_DL_NEXT_KEY: u64 = 5;
const SYNC_DL_QUEUE: u64 = 6;
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
    let mut batch = PushedBatch::default();
    let mut fields = Fields(payload);
    while let Some(field) = fields.next_field()? {
        match (field.number, field.value) {
            (SYNC_DL_META_ID, Value::Varint(id)) if id > 0 => return None,
            (SYNC_DL_NEXT_KEY, _) => return None,
            (SYNC_DL_QUEUE, Value::Bytes(queue)) => batch.queue = Some(queue),
            (SYNC_DL_METAS, Value::Bytes(meta)) => match namespace(meta)? {
                NS_CHAT => batch.chat += 1,
                NS_MUC => batch.muc += 1,
                _ => batch.other += 1,
            },
            _ => {}
        }
    }
    Some(batch)
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
