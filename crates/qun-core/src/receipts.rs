//! Receipts: a user telling a 1:1 peer that a message was delivered or read, or that the whole
//! conversation was read. A receipt is not a message: it is stored once, for the peer, among
//! their personal items (never in a conversation's history, offline store or unread count),
//! and the peer's devices show it as the SDK's receipt callback.

use serde::{Deserialize, Serialize};

use crate::{ContactEvent, GroupEvent, UserName};

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

/// One receipt, from the reader to the peer whose message (or conversation) it is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub kind: ReceiptKind,
    /// The reader: who sends the receipt.
    pub from: UserName,
    /// The peer: who receives it.
    pub to: UserName,
    /// The server id of the message it is about (none for a conversation receipt).
    pub message_id: Option<u64>,
    /// Server time of the receipt, ms since the Unix epoch.
    pub timestamp_ms: i64,
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
        };
        let contact = crate::ContactEvent {
            contact_change: crate::ContactChange::Invited,
            from: name("bob"),
            to: name("alice"),
            reason: "hi".into(),
            timestamp_ms: 7,
        };
        for item in
            [PersonalItem::GroupEvent(event.clone()), PersonalItem::Receipt(receipt), PersonalItem::Contact(contact)]
        {
            let json = serde_json::to_string(&item).unwrap();
            assert_eq!(serde_json::from_str::<PersonalItem>(&json).unwrap(), item, "{json}");
        }
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
