//! Contacts (the SDK's roster): friend requests and their answers, and the events that tell
//! the other side. A contact event is a personal item of the user it tells (like a receipt),
//! and the SDK shows it from the msync ROSTER namespace.

use serde::{Deserialize, Serialize};

use crate::UserName;

/// What a contact event tells its recipient, with the `RosterBody.Operation` the SDK maps to
/// its callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactChange {
    /// `from` asks the recipient to be their contact: ADD (2), `onContactInvited`.
    Invited,
    /// `from` removed the recipient from their contacts (both sides lose each other): REMOVE
    /// (3), `onContactDeleted`.
    Removed,
    /// `from` is now the recipient's contact: ACCEPT (4), `onContactAdded`.
    Added,
    /// `from` accepted the recipient's request: REMOTE_ACCEPT (8), `onContactAgreed`.
    Accepted,
    /// `from` declined the recipient's request: REMOTE_DECLINE (9), `onContactRefuse`.
    Declined,
}

impl ContactChange {
    /// The `RosterBody.Operation` number.
    pub fn msync_code(self) -> i32 {
        match self {
            ContactChange::Invited => 2,
            ContactChange::Removed => 3,
            ContactChange::Added => 4,
            ContactChange::Accepted => 8,
            ContactChange::Declined => 9,
        }
    }
}

/// One contact event, from the user who acted to the one it tells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactEvent {
    /// The field that tells a stored contact event from a group event or a receipt.
    pub contact_change: ContactChange,
    pub from: UserName,
    pub to: UserName,
    /// The request's message (invitations only; empty otherwise).
    pub reason: String,
    /// Server time, ms since the Unix epoch.
    pub timestamp_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_sdks_roster_operations() {
        let codes: Vec<i32> = [
            ContactChange::Invited,
            ContactChange::Removed,
            ContactChange::Added,
            ContactChange::Accepted,
            ContactChange::Declined,
        ]
        .into_iter()
        .map(ContactChange::msync_code)
        .collect();
        assert_eq!(codes, [2, 3, 4, 8, 9]);
    }
}
