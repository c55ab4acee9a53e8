//! The chat at work: starts (login, checks, websocket), then runs the [`Core`] — feeds it the
//! typed lines, what the server delivers, the answers of the network calls it asked for and
//! its timers, and carries out the effects it returns.

use std::sync::Arc;

use qun_client::{Connection, Error, Incoming, Target};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Screen;
use super::core::{Core, Effect, Event, SendOutcome};
use super::network::{Failure, Link, Network, refusal};
use super::outbox::Outgoing;

/// How long leaving a chat room and logging out may take at the end.
const GOODBYE: std::time::Duration = std::time::Duration::from_secs(3);

/// Logs in, checks `target`, connects (joining it if it is a chat room), then chats until
/// the core finishes. Errors at start say what to fix; an error later says why the chat ended.
pub(crate) async fn run(
    network: Network,
    target: Target,
    input: mpsc::Receiver<String>,
    screen: Arc<dyn Screen>,
    stop: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let start_failure = |failure: Failure| anyhow::anyhow!("{}", failure.reason());
    network.log_in().await.map_err(start_failure)?;
    let conversation = network.open(&target).await.map_err(anyhow::Error::msg)?;
    let link = network.connect(conversation.room()).await.map_err(start_failure)?;
    if let Some(Err(reason)) = &link.room {
        link.connection.close().await;
        anyhow::bail!("cannot join {}: {reason}", conversation.describe());
    }
    let names = network.names().await;
    let jitter = Box::new(rand::random::<f64>);
    let mut core = Core::new(network.user(), &network.server().to_string(), conversation, names, jitter);
    let effects = core.take_effects();
    let mut session = Session {
        network: Arc::new(network),
        screen,
        core,
        connection: Some(link.connection),
        incoming: Some(link.incoming),
        tasks: JoinSet::new(),
        retry_at: None,
        quit_at: None,
        reading: false,
    };
    session.chat(effects, input, stop).await
}

/// What a network task brings back.
enum Done {
    Connected(Result<Link, Failure>),
    Event(Event),
}

struct Session {
    network: Arc<Network>,
    screen: Arc<dyn Screen>,
    core: Core,
    connection: Option<Connection>,
    incoming: Option<mpsc::Receiver<Incoming>>,
    /// The network calls under way; dropped (so cancelled) when the chat ends.
    tasks: JoinSet<Done>,
    retry_at: Option<Instant>,
    quit_at: Option<Instant>,
    /// The core asked for a line and has not had it yet.
    reading: bool,
}

impl Session {
    async fn chat(
        &mut self,
        mut effects: Vec<Effect>,
        mut input: mpsc::Receiver<String>,
        stop: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        tokio::pin!(stop);
        loop {
            for effect in effects.drain(..) {
                if let Effect::Finish { leave_room, error } = effect {
                    self.goodbye(leave_room).await;
                    return match error {
                        Some(error) => Err(anyhow::Error::msg(error)),
                        None => Ok(()),
                    };
                }
                self.perform(effect);
            }
            let event = tokio::select! {
                line = input.recv(), if self.reading => {
                    self.reading = false;
                    line.map_or(Event::InputEnded, Event::Typed)
                }
                item = next_item(&mut self.incoming) => match item {
                    Some(Incoming::Closed) | None => {
                        self.connection = None;
                        self.incoming = None;
                        Event::Dropped
                    }
                    Some(item) => Event::Received(item),
                },
                Some(done) = self.tasks.join_next(), if !self.tasks.is_empty() => match done {
                    Ok(Done::Connected(Ok(link))) => {
                        self.connection = Some(link.connection);
                        self.incoming = Some(link.incoming);
                        Event::Connected { room: link.room }
                    }
                    Ok(Done::Connected(Err(Failure::Retry(reason)))) => Event::ConnectFailed { reason, fatal: false },
                    Ok(Done::Connected(Err(Failure::Fatal(reason)))) => Event::ConnectFailed { reason, fatal: true },
                    Ok(Done::Event(event)) => event,
                    // A task that panicked has nothing to report: a bug, shown rather than hidden.
                    Err(error) => anyhow::bail!("internal error: {error}"),
                },
                () = sleep_until(self.retry_at), if self.retry_at.is_some() => {
                    self.retry_at = None;
                    Event::RetryDue
                }
                () = sleep_until(self.quit_at), if self.quit_at.is_some() => Event::QuitDeadline,
                () = &mut stop => Event::Stopped,
            };
            effects = self.core.handle(event);
        }
    }

    /// Carries out every effect but the last one, [`Effect::Finish`].
    fn perform(&mut self, effect: Effect) {
        let network = self.network.clone();
        match effect {
            Effect::Print(text) => self.screen.print(&text),
            Effect::Ready(prompt) => {
                self.reading = true;
                self.screen.ready(&prompt);
            }
            Effect::Connect { room } => {
                self.tasks.spawn(async move { Done::Connected(network.connect(room.as_deref()).await) });
            }
            Effect::Disconnect => {
                if let Some(connection) = self.connection.clone() {
                    // Its `Closed` arrives on the incoming channel: the core hears `Dropped`.
                    tokio::spawn(async move { connection.close().await });
                }
            }
            Effect::RetryAfter(wait) => self.retry_at = Some(Instant::now() + wait),
            Effect::QuitAfter(wait) => self.quit_at = Some(Instant::now() + wait),
            Effect::Send(line) => {
                let connection = self.connection.clone();
                self.tasks.spawn(async move { Done::Event(send(connection, line).await) });
            }
            Effect::List(listing) => {
                self.tasks
                    .spawn(async move { Done::Event(Event::Listed { listing, result: network.list(listing).await }) });
            }
            Effect::Open { target, leaving } => {
                let connection = self.connection.clone();
                self.tasks.spawn(async move {
                    Done::Event(Event::Opened(open(&network, connection, target, leaving).await))
                });
            }
            Effect::Finish { .. } => unreachable!("handled by the loop"),
        }
    }

    /// Leaves the chat room (if still in one) and logs out, within [`GOODBYE`].
    async fn goodbye(&mut self, leave_room: Option<String>) {
        let Some(connection) = self.connection.take() else { return };
        let _ = tokio::time::timeout(GOODBYE, async {
            if let Some(room) = leave_room {
                let _ = connection.leave_room(&room).await;
            }
            connection.close().await;
        })
        .await;
    }
}

/// Sends one line under its meta id (a resend keeps it, so the server stores it once).
async fn send(connection: Option<Connection>, line: Outgoing) -> Event {
    let Outgoing { meta_id, to, text } = line;
    let outcome = match connection {
        None => SendOutcome::Unconfirmed("not connected".to_owned()),
        Some(connection) => {
            let body = qun_client::frames::text_body(connection.user(), &to, &text, Vec::new());
            match connection.resend_with_meta_id(meta_id, &to, body).await {
                Ok(sent) => SendOutcome::Accepted { server_id: sent.server_id },
                Err(error @ Error::SendRefused { .. }) => SendOutcome::Refused(refusal(&error)),
                Err(error) => SendOutcome::Unconfirmed(error.to_string()),
            }
        }
    };
    Event::SendFinished { meta_id, outcome }
}

/// `/switch`: checks and names the new conversation, joins it if it is a chat room, and only
/// then leaves the room the user was in.
async fn open(
    network: &Network,
    connection: Option<Connection>,
    target: Target,
    leaving: Option<String>,
) -> Result<super::format::Conversation, String> {
    let conversation = network.open(&target).await?;
    let Some(connection) = connection else { return Err("not connected".to_owned()) };
    if let Some(room) = conversation.room() {
        connection
            .join_room(room, false)
            .await
            .map_err(|error| format!("cannot join {}: {}", conversation.describe(), refusal(&error)))?;
    }
    if let Some(room) = leaving {
        // Not fatal: a room the user could not leave is left by the server after its grace.
        let _ = connection.leave_room(&room).await;
    }
    Ok(conversation)
}

async fn next_item(incoming: &mut Option<mpsc::Receiver<Incoming>>) -> Option<Incoming> {
    match incoming {
        Some(incoming) => incoming.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
