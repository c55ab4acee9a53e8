//! What a typed line means: text to send, or one of the slash commands.

use qun_client::Target;
use qun_core::{GroupId, RoomId, UserName};

/// One typed line, understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    /// Nothing to do (an empty line).
    Nothing,
    /// Text for the current conversation.
    Text(String),
    Command(Command),
}

/// The slash commands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `/groups`: the user's groups.
    Groups,
    /// `/rooms`: the chat rooms the user is in.
    Rooms,
    /// `/switch group ID`, `/switch room ID`, `/switch user NAME`.
    Switch(Target),
    Help,
    Quit,
}

/// What `/help` prints.
pub(crate) const HELP: &str = "\
/groups              list your groups
/rooms               list the chat rooms you are in
/switch group ID     chat in a group
/switch room ID      chat in a chat room (joins it, and leaves the room you were in)
/switch user NAME    chat with one user
/help                this list
/quit                leave (Ctrl-D too); lines still waiting are sent first
//text               send a line that starts with /";

const SWITCH_USAGE: &str = "usage: /switch group ID | /switch room ID | /switch user NAME";

/// Reads one typed line. A line starting with `/` is a command, except `//…`, which sends the
/// line without its first `/`. The error says what is wrong, for the user.
pub(crate) fn parse(line: &str) -> Result<Input, String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.trim().is_empty() {
        return Ok(Input::Nothing);
    }
    if let Some(escaped) = line.strip_prefix("//") {
        return Ok(Input::Text(format!("/{escaped}")));
    }
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Input::Text(line.to_owned()));
    };
    let words: Vec<&str> = command.split_whitespace().collect();
    let command = match words.as_slice() {
        ["groups"] => Command::Groups,
        ["rooms"] => Command::Rooms,
        ["help"] | ["?"] => Command::Help,
        ["quit"] | ["exit"] => Command::Quit,
        ["switch", kind, id] => Command::Switch(switch_target(kind, id)?),
        ["switch", ..] => return Err(SWITCH_USAGE.to_owned()),
        [name, ..] if matches!(*name, "groups" | "rooms" | "help" | "quit" | "exit") => {
            return Err(format!("/{name} takes no arguments"));
        }
        _ => return Err(format!("unknown command {line:?}; /help lists them (// sends a line starting with /)")),
    };
    Ok(Input::Command(command))
}

/// The conversation `/switch KIND ID` names, its id in the form the server uses.
fn switch_target(kind: &str, id: &str) -> Result<Target, String> {
    match kind {
        "group" => GroupId::parse(id).map(|id| Target::Group(id.to_string())).map_err(|e| e.to_string()),
        "room" => RoomId::parse(id).map(|id| Target::Room(id.to_string())).map_err(|e| e.to_string()),
        "user" => UserName::parse(id).map(|name| Target::User(name.to_string())).map_err(|e| e.to_string()),
        _ => Err(SWITCH_USAGE.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_commands() {
        let text = |t: &str| Ok(Input::Text(t.to_owned()));
        let command = |c: Command| Ok(Input::Command(c));
        let cases = [
            ("", Ok(Input::Nothing)),
            ("   \r\n", Ok(Input::Nothing)),
            ("hello there\n", text("hello there")),
            ("  indented", text("  indented")),
            ("//not a command", text("/not a command")),
            ("/groups", command(Command::Groups)),
            ("/rooms ", command(Command::Rooms)),
            ("/help", command(Command::Help)),
            ("/quit", command(Command::Quit)),
            ("/exit", command(Command::Quit)),
            ("/switch group 42", command(Command::Switch(Target::Group("42".into())))),
            ("/switch  room   7", command(Command::Switch(Target::Room("7".into())))),
            ("/switch user Bob", command(Command::Switch(Target::User("bob".into())))),
        ];
        for (line, expected) in cases {
            assert_eq!(parse(line), expected, "{line:?}");
        }
    }

    #[test]
    fn mistakes_are_explained() {
        let cases = [
            ("/switch", "usage: /switch"),
            ("/switch group", "usage: /switch"),
            ("/switch channel 4", "usage: /switch"),
            ("/switch group 4 5", "usage: /switch"),
            ("/switch group abc", "group id must be a decimal number"),
            ("/switch room -1", "chatroom id must be a decimal number"),
            ("/switch user bob!", "username must be"),
            ("/groups all", "/groups takes no arguments"),
            ("/nick bob", "unknown command \"/nick bob\""),
            ("/", "unknown command"),
        ];
        for (line, reason) in cases {
            let error = parse(line).expect_err(line);
            assert!(error.contains(reason), "{line}: {error}");
        }
    }
}
