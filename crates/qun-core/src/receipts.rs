//! Receipts: a user telling a 1:1 peer that a message was delivered or read, or that the whole
//! conversation was read; a group member telling the sender of a group message (sent with
//! `allowGroupAck`) that they read it; a user's other devices learning that one of them read a
//! conversation. A receipt is not a message: it is stored once, for whoever it is for, among
//! their personal items (never in a conversation's history, offline store or unread count),
//! and their devices show it as the SDK's receipt callback.

use serde::{Deserialize, Serialize};

use crate::{ContactEvent, GroupEvent, GroupId, UserName};

/// Group read receipts are served for groups of at most this many members (Agora: 200).
pub const GROUP_ACK_MAX_MEMBERS: u32 = 200;
/// A group message can be acknowledged as read, and its readers listed, for this long after it
/// was sent (Agora: 3 days); its receipts are then dropped.
pub const GROUP_ACK_WINDOW_MS: i64 = 3 * 24 * 3600 * 1000;
/// The text a reader may attach to a group read receipt (`ackContent`), in bytes.
pub const GROUP_ACK_CONTENT_MAX_BYTES: usize = 1024;

/// What a receipt says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReceiptKind {
    /// The message reached one of the reader's devices (the SDK's `delivery` ack).
    Delivered,
    /// The reader read the message (`read` ack).
    Read,
    /// The reader read the whole conversation (`channel` ack).
    ConversationRead,
}

impl ReceiptKind {
    /// Whether the receipt names one message (a conversation receipt names none).
    pub fn names_a_message(self) -> bool {
        !matches!(self, ReceiptKind::ConversationRead)
    }
}

/// One receipt, from the reader to whoever it is for: the 1:1 peer whose message (or
/// conversation) it is about, the sender of a group message, or the reader's own other devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub kind: ReceiptKind,
    /// The reader: who sends the receipt.
    pub from: UserName,
    /// Who receives it: the peer of a 1:1 conversation (also when the reader's own devices get
    /// it), or the sender of the group message.
    pub to: UserName,
    /// The server id of the message it is about (none for a conversation receipt).
    pub message_id: Option<u64>,
    /// Server time of the receipt, ms since the Unix epoch.
    pub timestamp_ms: i64,
    /// A group's receipt: the group whose message or conversation was read (the SDK shows the
    /// group as the receipt's `to`). Absent in rows written before group receipts existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupReceipt>,
}

/// What a group's receipt carries besides a 1:1 receipt's fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupReceipt {
    pub group_id: GroupId,
    /// How many members had read the message once this receipt was counted (the SDK's
    /// `groupReadCount`); none for a conversation receipt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_count: Option<u32>,
    /// What the reader attached (`ackContent`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub content: String,
}

/// One item of a user's personal queue: a group event addressed to them, a receipt, or a
/// contact event.
///
/// Stored as JSON without a tag, so that group events stored before receipts existed read
/// back unchanged: a group event has fields the others lack (`operation`, `group_id`, …), a
/// receipt has `kind` and a contact event `contact_change`, which no other variant has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PersonalItem {
    GroupEvent(GroupEvent),
    Receipt(Receipt),
    Contact(ContactEvent),
}

impl PersonalItem {
    /// The group event, if this item is one.
    pub fn group_event(&self) -> Option<&GroupEvent> {
        match self {
            PersonalItem::GroupEvent(event) => Some(event),
            PersonalItem::Receipt(_) | PersonalItem::Contact(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{GroupId, GroupOperation};

    fn name(raw: &str) -> UserName {
        UserName::parse(raw).unwrap()
    }

    #[test]
    fn personal_items_round_trip_and_old_group_events_still_read() {
        let event = GroupEvent {
            operation: GroupOperation::Invite,
            group_id: GroupId(7),
            group_name: "g".into(),
            from: "alice".into(),
            to: vec![name("bob")],
            reason: "join us".into(),
            member_count: 2,
            timestamp_ms: 5,
        };
        let receipt = Receipt {
            kind: ReceiptKind::Read,
            from: name("bob"),
            to: name("alice"),
            message_id: Some(u64::MAX - 1),
            timestamp_ms: 6,
            group: None,
        };
        let contact = crate::ContactEvent {
            contact_change: crate::ContactChange::Invited,
            from: name("bob"),
            to: name("alice"),
            reason: "hi".into(),
            timestamp_ms: 7,
        };
        let group_receipt = Receipt {
            group: Some(GroupReceipt { group_id: GroupId(7), read_count: Some(3), content: "seen".into() }),
            ..receipt.clone()
        };
        for item in [
            PersonalItem::GroupEvent(event.clone()),
            PersonalItem::Receipt(receipt.clone()),
            PersonalItem::Receipt(group_receipt),
            PersonalItem::Contact(contact),
        ] {
            let json = serde_json::to_string(&item).unwrap();
            assert_eq!(serde_json::from_str::<PersonalItem>(&json).unwrap(), item, "{json}");
        }
        // A receipt written before group receipts existed reads as a 1:1 receipt.
        let old_receipt =
            r#"{"kind":"read","from":"bob","to":"alice","message_id":18446744073709551614,"timestamp_ms":6}"#;
        assert_eq!(serde_json::from_str::<PersonalItem>(old_receipt).unwrap(), PersonalItem::Receipt(receipt));
        // A row written as a bare GroupEvent (before receipts) reads as a group event.
        let old = serde_json::to_string(&event).unwrap();
        assert_eq!(serde_json::from_str::<PersonalItem>(&old).unwrap().group_event(), Some(&event));
        // Something that is neither is an error, not a silent default.
        assert!(serde_json::from_str::<PersonalItem>(r#"{"kind":"read"}"#).is_err());
    }

    #[test]
    fn only_conversation_receipts_name_no_message() {
        assert!(ReceiptKind::Read.names_a_message());
        assert!(ReceiptKind::Delivered.names_a_message());
        assert!(!ReceiptKind::ConversationRead.names_a_message());
    }
}
