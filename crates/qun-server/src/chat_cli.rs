//! `qun chat`: a line-based chat client on top of `qun-client`. It logs in over REST
//! (password grant), connects the websocket, prints what arrives and sends each line of its
//! input as a text message to one group (`--group`) or one user (`--to`).
//!
//! It is a client like any other: it talks to a server over the network and knows nothing of
//! this crate's internals.

use std::sync::Arc;

use anyhow::Context;
use qun_client::{ChatType, Connection, Incoming, RestClient, operation_name};
use tokio::sync::mpsc;

/// Lines of input waiting to be sent.
const INPUT_QUEUE: usize = 16;

/// `qun chat` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatArgs {
    /// The server's REST base URL; the websocket is `ws://<host:port>/websocket`.
    #[arg(long, env = "QUN_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The app key, `org#app`.
    #[arg(long, env = "QUN_APPKEY", default_value = "qun#demo")]
    pub appkey: String,
    /// Who to log in as.
    #[arg(long)]
    pub user: String,
    /// The user's password (password grant on `/token`).
    #[arg(long, env = "QUN_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// The group to chat in.
    #[arg(long, required_unless_present = "to", conflicts_with = "to")]
    pub group: Option<String>,
    /// The user to chat with, 1:1.
    #[arg(long)]
    pub to: Option<String>,
    /// This device's id: the server remembers per device what was delivered, so the same
    /// device sees only what it missed [default: qun-chat-<user>].
    #[arg(long)]
    pub device: Option<String>,
}

/// Where printed lines go (stdout for the real command).
pub type Output = Arc<dyn Fn(&str) + Send + Sync>;

/// Runs `qun chat` on the terminal: stdin lines are sent, everything else goes to stdout.
/// Ends at end of input (Ctrl-D), Ctrl-C, or when the server closes the connection.
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let (lines, input) = mpsc::channel(INPUT_QUEUE);
    // A plain thread, not the runtime's blocking pool: a read blocked on the terminal must
    // not hold up the runtime's shutdown.
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if lines.blocking_send(line).is_err() {
                break;
            }
        }
    });
    let output: Output = Arc::new(|line| println!("{line}"));
    let interrupted = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    chat(args, input, output, interrupted).await
}

/// The chat itself, on any input and output: sends each input line, prints what arrives,
/// and logs out at the end of input, when `stop` completes, or when the server closes.
pub async fn chat(
    args: ChatArgs,
    mut input: mpsc::Receiver<String>,
    output: Output,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let (org, app) = args.appkey.split_once('#').context("--appkey must be org#app")?;
    let rest = RestClient::new(&args.server, org, app);
    let token = rest.login(&args.user, &args.password).await.context("login")?;
    let device = args.device.clone().unwrap_or_else(|| format!("qun-chat-{}", args.user));
    let ws_url = qun_client::websocket_url(&args.server);
    let (connection, incoming) =
        Connection::connect(&ws_url, &args.appkey, &args.user, &token, &device).await.context("connecting")?;
    let conversation = match (&args.group, &args.to) {
        (Some(group), _) => Conversation::Group(group.clone()),
        (None, Some(peer)) => Conversation::Peer(peer.clone()),
        (None, None) => anyhow::bail!("--group or --to is required"),
    };
    output(&format!("* connected as {} to {}; Ctrl-D to leave", args.user, conversation.describe()));

    let mut printer = tokio::spawn(print_incoming(incoming, conversation.clone(), output.clone()));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            line = input.recv() => {
                let Some(line) = line else { break };
                let text = line.trim_end_matches(['\r', '\n']);
                if text.is_empty() {
                    continue;
                }
                let sent = match &conversation {
                    Conversation::Group(group) => connection.send_group_text(group, text, Vec::new()).await,
                    Conversation::Peer(peer) => connection.send_user_text(peer, text, Vec::new()).await,
                };
                if let Err(error) = sent {
                    output(&format!("! not sent: {}", error.reason().map_or_else(|| error.to_string(), str::to_owned)));
                }
            }
            _ = &mut stop => break,
            // The server closed the connection: nothing more to do.
            _ = &mut printer => return Ok(()),
        }
    }
    connection.close().await;
    let _ = printer.await;
    Ok(())
}

/// The conversation the input goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Conversation {
    Group(String),
    Peer(String),
}

impl Conversation {
    fn describe(&self) -> String {
        match self {
            Conversation::Group(group) => format!("group {group}"),
            Conversation::Peer(peer) => format!("{peer} (1:1)"),
        }
    }
}

/// Prints what arrives until the connection ends. Items of another conversation than the
/// chosen one are printed too, marked with where they belong.
async fn print_incoming(mut incoming: mpsc::Receiver<Incoming>, conversation: Conversation, output: Output) {
    while let Some(item) = incoming.recv().await {
        if let Some(line) = format_incoming(&item, &conversation) {
            output(&line);
        }
        if item == Incoming::Closed {
            break;
        }
    }
}

/// One printed line for an incoming item: `[HH:MM:SS] from: text` for messages (UTC),
/// `* operation by from` for group events.
fn format_incoming(item: &Incoming, conversation: &Conversation) -> Option<String> {
    match item {
        Incoming::Message { from, to, chat_type, text, timestamp, .. } => {
            let here = match (conversation, chat_type) {
                (Conversation::Group(group), ChatType::GroupChat) => group == to,
                (Conversation::Peer(peer), ChatType::Chat) => peer == from || peer == to,
                _ => false,
            };
            let place = match chat_type {
                _ if here => String::new(),
                ChatType::Chat => " (private)".to_owned(),
                ChatType::GroupChat | ChatType::ChatRoom => format!(" (in {to})"),
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
            if *conversation != Conversation::Group(group.clone()) {
                line.push_str(&format!(" (in {group})"));
            }
            Some(line)
        }
        Incoming::Kicked { operation } => Some(format!("* disconnected by the server: {}", kick_reason(*operation))),
        Incoming::Closed => Some("* connection closed".to_owned()),
        // `qun chat` sends no receipts, so none come back to it; a peer's are not shown.
        Incoming::MessageId { .. } | Incoming::Receipt { .. } => None,
    }
}

fn kick_reason(operation: i32) -> &'static str {
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

    #[test]
    fn lines_as_the_terminal_shows_them() {
        let group = Conversation::Group("42".into());
        let peer = Conversation::Peer("bob".into());
        let cases = [
            (message("bob", "42", ChatType::GroupChat), &group, "[22:13:20] bob: hi"),
            (message("bob", "7", ChatType::GroupChat), &group, "[22:13:20] (in 7) bob: hi"),
            (message("bob", "alice", ChatType::Chat), &group, "[22:13:20] (private) bob: hi"),
            (message("bob", "alice", ChatType::Chat), &peer, "[22:13:20] bob: hi"),
            (message("carol", "alice", ChatType::Chat), &peer, "[22:13:20] (private) carol: hi"),
            (
                Incoming::GroupEvent {
                    id: 1,
                    group: "42".into(),
                    operation: 21,
                    from: "alice".into(),
                    to: vec!["bob".into()],
                    reason: None,
                    ext: None,
                },
                &group,
                "* setAdmin by alice (bob)",
            ),
            (
                Incoming::GroupEvent {
                    id: 1,
                    group: "7".into(),
                    operation: 25,
                    from: "alice".into(),
                    to: Vec::new(),
                    reason: Some("Meet at 8".into()),
                    ext: None,
                },
                &group,
                "* updateAnnouncement by alice: Meet at 8 (in 7)",
            ),
            (Incoming::Kicked { operation: 3 }, &group, "* disconnected by the server: the password was changed"),
            (Incoming::Closed, &peer, "* connection closed"),
        ];
        for (item, conversation, expected) in cases {
            assert_eq!(format_incoming(&item, conversation).as_deref(), Some(expected), "{item:?}");
        }
        assert_eq!(format_incoming(&Incoming::MessageId { id: 1, timestamp: 2 }, &group), None);
    }

    #[test]
    fn clock_is_utc_time_of_day() {
        assert_eq!(clock(0), "00:00:00");
        assert_eq!(clock(86_399_999), "23:59:59");
        assert_eq!(clock(86_400_000 + 3_661_000), "01:01:01");
    }
}
