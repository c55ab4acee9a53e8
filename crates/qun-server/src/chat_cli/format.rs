//! How conversations and incoming items are shown: names where the server gave them, ids
//! only where it did not.

use std::collections::HashMap;

use qun_client::{ChatType, Incoming, Target, operation_name};

/// A conversation: where typed lines go, with the name the server gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Conversation {
    pub(crate) target: Target,
    /// The group's or room's name (none for 1:1: the peer's user name is its name).
    pub(crate) name: Option<String>,
}

impl Conversation {
    /// How the prompt and notices name it: `Team chat`, `Lobby (room)`, `bob (1:1)`.
    pub(crate) fn label(&self) -> String {
        match (&self.target, self.name.as_deref().filter(|name| !name.is_empty())) {
            (Target::Group(_), Some(name)) => name.to_owned(),
            (Target::Group(id), None) => format!("group {id}"),
            (Target::Room(_), Some(name)) => format!("{name} (room)"),
            (Target::Room(id), None) => format!("room {id}"),
            (Target::User(peer), _) => format!("{peer} (1:1)"),
        }
    }

    /// The label with the id too, for the notice that names where the user is now.
    pub(crate) fn describe(&self) -> String {
        match (&self.target, self.name.as_deref().filter(|name| !name.is_empty())) {
            (Target::Group(id), Some(name)) => format!("group {name} ({id})"),
            (Target::Room(id), Some(name)) => format!("room {name} ({id})"),
            _ => self.label(),
        }
    }

    /// The chat room it is, if it is one.
    pub(crate) fn room(&self) -> Option<&str> {
        match &self.target {
            Target::Room(id) => Some(id),
            Target::Group(_) | Target::User(_) => None,
        }
    }
}

/// Group and room names by id, as far as the server told them.
#[derive(Debug, Default, Clone)]
pub(crate) struct Names(HashMap<String, String>);

impl Names {
    pub(crate) fn insert(&mut self, id: &str, name: &str) {
        if !name.is_empty() {
            self.0.insert(id.to_owned(), name.to_owned());
        }
    }

    /// The name of a group or room, else its id.
    fn of<'a>(&'a self, id: &'a str) -> &'a str {
        self.0.get(id).map_or(id, String::as_str)
    }
}

/// One printed line for an incoming item: `[HH:MM:SS] from: text` for messages (UTC),
/// `* operation by from` for group and room events; where it belongs is added when that is
/// not the current conversation.
pub(crate) fn incoming_line(item: &Incoming, conversation: &Conversation, names: &Names) -> Option<String> {
    match item {
        Incoming::Message { from, to, chat_type, text, timestamp, .. } => {
            let here = match (&conversation.target, chat_type) {
                (Target::Group(group), ChatType::GroupChat) | (Target::Room(group), ChatType::ChatRoom) => group == to,
                (Target::User(peer), ChatType::Chat) => peer == from || peer == to,
                _ => false,
            };
            let place = match chat_type {
                _ if here => String::new(),
                ChatType::Chat => " (private)".to_owned(),
                ChatType::GroupChat | ChatType::ChatRoom => format!(" (in {})", names.of(to)),
            };
            Some(format!("[{}]{place} {from}: {text}", clock(*timestamp)))
        }
        Incoming::GroupEvent { group, operation, from, to, reason, .. } => {
            let mut line = format!("* {} by {from}", operation_name(*operation));
            if !to.is_empty() {
                line.push_str(&format!(" ({})", to.join(", ")));
            }
            if let Some(reason) = reason.as_deref().filter(|r| !r.is_empty()) {
                line.push_str(&format!(": {reason}"));
            }
            let here = matches!(&conversation.target, Target::Group(id) | Target::Room(id) if id == group);
            if !here {
                line.push_str(&format!(" (in {})", names.of(group)));
            }
            Some(line)
        }
        Incoming::Kicked { operation } => Some(format!("* disconnected by the server: {}", kick_reason(*operation))),
        // The connection's end is the session's business (it reconnects), not a line.
        Incoming::Closed => None,
        // `qun chat` sends no receipts, so none come back to it; a peer's are not shown.
        Incoming::MessageId { .. } | Incoming::Receipt { .. } => None,
    }
}

pub(crate) fn kick_reason(operation: i32) -> &'static str {
    use qun_client::pb::statistics_body::Operation;
    match Operation::try_from(operation) {
        Ok(Operation::UserRemoved) => "the user was removed",
        Ok(Operation::UserLoginAnotherDevice) => "logged in on another device",
        Ok(Operation::UserKickedByChangePassword) => "the password was changed",
        Ok(Operation::UserKickedByOtherDevice) => "kicked by another device",
        _ => "no reason given",
    }
}

/// `HH:MM:SS` (UTC) of a time in ms since the Unix epoch.
fn clock(timestamp_ms: u64) -> String {
    let seconds = timestamp_ms / 1000 % 86_400;
    format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(from: &str, to: &str, chat_type: ChatType) -> Incoming {
        Incoming::Message {
            id: 1,
            from: from.into(),
            to: to.into(),
            chat_type,
            text: "hi".into(),
            contents: Vec::new(),
            ext: Vec::new(),
            // 2023-11-14T22:13:20.5Z
            timestamp: 1_700_000_000_500,
        }
    }

    fn event(group: &str, operation: i32, to: &[&str], reason: Option<&str>) -> Incoming {
        Incoming::GroupEvent {
            id: 1,
            group: group.into(),
            operation,
            from: "alice".into(),
            to: to.iter().map(|&user| user.to_owned()).collect(),
            reason: reason.map(str::to_owned),
            ext: None,
        }
    }

    fn conversation(target: Target, name: Option<&str>) -> Conversation {
        Conversation { target, name: name.map(str::to_owned) }
    }

    #[test]
    fn lines_as_the_terminal_shows_them() {
        let group = conversation(Target::Group("42".into()), Some("Team"));
        let room = conversation(Target::Room("9".into()), Some("Lobby"));
        let peer = conversation(Target::User("bob".into()), None);
        let mut names = Names::default();
        names.insert("7", "Book club");
        names.insert("9", "Lobby");
        let cases = [
            (message("bob", "42", ChatType::GroupChat), &group, "[22:13:20] bob: hi"),
            (message("bob", "7", ChatType::GroupChat), &group, "[22:13:20] (in Book club) bob: hi"),
            (message("bob", "8", ChatType::GroupChat), &group, "[22:13:20] (in 8) bob: hi"),
            (message("bob", "alice", ChatType::Chat), &group, "[22:13:20] (private) bob: hi"),
            (message("bob", "alice", ChatType::Chat), &peer, "[22:13:20] bob: hi"),
            (message("carol", "alice", ChatType::Chat), &peer, "[22:13:20] (private) carol: hi"),
            (message("carol", "9", ChatType::ChatRoom), &room, "[22:13:20] carol: hi"),
            (message("carol", "9", ChatType::ChatRoom), &group, "[22:13:20] (in Lobby) carol: hi"),
            (event("42", 21, &["bob"], None), &group, "* setAdmin by alice (bob)"),
            (event("7", 25, &[], Some("Meet at 8")), &group, "* updateAnnouncement by alice: Meet at 8 (in Book club)"),
            (event("9", 21, &["bob"], None), &room, "* setAdmin by alice (bob)"),
            (Incoming::Kicked { operation: 3 }, &group, "* disconnected by the server: the password was changed"),
        ];
        for (item, conversation, expected) in cases {
            assert_eq!(incoming_line(&item, conversation, &names).as_deref(), Some(expected), "{item:?}");
        }
        assert_eq!(incoming_line(&Incoming::MessageId { id: 1, timestamp: 2 }, &group, &names), None);
        assert_eq!(incoming_line(&Incoming::Closed, &group, &names), None);
    }

    #[test]
    fn conversations_are_named_by_what_the_server_said() {
        let cases = [
            (conversation(Target::Group("42".into()), Some("Team")), "Team", "group Team (42)"),
            (conversation(Target::Group("42".into()), None), "group 42", "group 42"),
            (conversation(Target::Room("9".into()), Some("Lobby")), "Lobby (room)", "room Lobby (9)"),
            (conversation(Target::Room("9".into()), None), "room 9", "room 9"),
            (conversation(Target::User("bob".into()), None), "bob (1:1)", "bob (1:1)"),
        ];
        for (conversation, label, description) in cases {
            assert_eq!((conversation.label().as_str(), conversation.describe().as_str()), (label, description));
        }
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(86_399_999), "23:59:59");
        assert_eq!(clock(86_400_000 + 3_661_000), "01:01:01");
    }
}
