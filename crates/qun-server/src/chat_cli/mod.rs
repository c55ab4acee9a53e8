//! `qun chat`: a terminal chat client on top of `qun-client`. It logs in over REST (password
//! grant), checks the conversation (`--group`, `--room` or `--to`) and names it, connects the
//! websocket, prints what arrives above the line being typed, and sends each typed line; slash
//! commands list the user's groups and rooms and switch between conversations. A lost
//! connection is retried with backoff; nothing is shown twice and no typed line is lost or
//! sent twice (see `core`).
//!
//! It is a client like any other: it talks to a server over the network and knows nothing of
//! this crate's internals.
//!
//! - `core`: the state machine (events in, effects out; no IO), with `outbox`, `recent`
//!   and `backoff`;
//! - `session`: runs the core, carrying out its effects with `network` (REST and websocket);
//! - `command`: what a typed line means; `format`: how items and conversations are shown;
//! - `server_url`: `--server`; `terminal`: line editing, or plain lines when piped.

mod backoff;
mod command;
mod core;
mod format;
mod network;
mod outbox;
mod recent;
mod server_url;
mod session;
mod terminal;

use std::sync::Arc;

use anyhow::Context;
use qun_client::Target;
use qun_core::{GroupId, RoomId, UserName};
use tokio::sync::mpsc;

pub use server_url::ServerUrl;

/// `qun chat` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct ChatArgs {
    /// The server: HOST:PORT or http://HOST:PORT (plain http; the websocket is
    /// ws://HOST:PORT/websocket).
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
    /// The group to chat in (by id; you must be a member).
    #[arg(long, required_unless_present_any = ["room", "to"], conflicts_with_all = ["room", "to"])]
    pub group: Option<String>,
    /// The chat room to chat in (by id): joined at start, left at exit.
    #[arg(long, conflicts_with = "to")]
    pub room: Option<String>,
    /// The user to chat with, 1:1.
    #[arg(long)]
    pub to: Option<String>,
    /// This device's id: the server remembers per device what was delivered, so the same
    /// device sees only what it missed [default: qun-chat-<user>].
    #[arg(long)]
    pub device: Option<String>,
}

impl ChatArgs {
    /// The conversation to start in, its id checked.
    fn target(&self) -> anyhow::Result<Target> {
        match (&self.group, &self.room, &self.to) {
            (Some(group), None, None) => Ok(Target::Group(GroupId::parse(group).context("--group")?.to_string())),
            (None, Some(room), None) => Ok(Target::Room(RoomId::parse(room).context("--room")?.to_string())),
            (None, None, Some(peer)) => Ok(Target::User(UserName::parse(peer).context("--to")?.to_string())),
            _ => anyhow::bail!("give one of --group, --room or --to"),
        }
    }
}

/// Where the chat shows things, and how it asks for the next line.
pub trait Screen: Send + Sync {
    /// Shows a line (or several) above the line being typed.
    fn print(&self, text: &str);
    /// The chat is ready for the next line, typed after `prompt`: the next line sent on the
    /// input channel is taken only after this.
    fn ready(&self, prompt: &str);
}

/// Runs `qun chat` on the terminal. Ends at end of input (Ctrl-D), `/quit`, Ctrl-C or SIGTERM,
/// or when the server ends the session for good (a kick, a refused login).
pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let (terminal, lines) = terminal::open();
    let ended = chat(args, lines, terminal.screen.clone(), crate::shutdown_signal()).await;
    terminal.close();
    ended
}

/// The chat itself, on any input and screen: the lines of `input` are typed lines (its end is
/// the end of input), and `stop` completing ends the chat at once.
pub async fn chat(
    args: ChatArgs,
    input: mpsc::Receiver<String>,
    screen: Arc<dyn Screen>,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let server = ServerUrl::parse(&args.server).map_err(anyhow::Error::msg)?;
    qun_core::AppKey::parse(&args.appkey).context("--appkey")?;
    let target = args.target()?;
    let user = UserName::parse(&args.user).context("--user")?;
    let device = args.device.clone().unwrap_or_else(|| format!("qun-chat-{user}"));
    let network = network::Network::new(server, &args.appkey, user.as_str(), &args.password, &device);
    session::run(network, target, input, screen, stop).await
}
