//! The chat's state machine: [`Event`]s in (a typed line, an item from the server, a
//! connection lost or back, a send answered, a timer), [`Effect`]s out (lines to print, the
//! prompt, what to ask the network). No IO, no clock, no task: `session` performs the effects
//! and feeds back what came of them, and the tests drive it by hand.
//!
//! What it decides:
//! - **Reconnection.** A lost connection is retried with [`Backoff`] until it is back; a kick
//!   (logged in elsewhere, password changed, user removed) or a refused login ends the chat,
//!   as the web SDK stops there too.
//! - **Nothing shown twice.** Messages and events are shown once per id ([`RecentIds`]), so
//!   what the server delivers again after a reconnection, and the user's own lines coming
//!   back on a new connection, are not shown again.
//! - **No line lost or sent twice.** Typed lines go through the [`Outbox`], one on the wire
//!   at a time. A line typed while disconnected waits and is sent after the reconnection (the
//!   user is told). A group or 1:1 line whose ack was lost is resent under its meta id, which
//!   the server stores once. A chat room stores nothing, so it cannot tell a resend: a room
//!   line whose ack was lost is reported as perhaps not sent, never sent again.
//! - **Leaving.** At the end of input or `/quit` the waiting lines are sent first (for up to
//!   [`QUIT_GRACE`]); whatever is still unsent then is printed, so the user has it.

use std::time::Duration;

use qun_client::{Incoming, Target};

use super::backoff::Backoff;
use super::command::{self, Command, Input};
use super::format::{self, Conversation, Names};
use super::outbox::{Outbox, Outgoing};
use super::recent::RecentIds;

/// Lines that may wait for a connection: beyond this, typing is refused with a notice.
const OUTBOX_CAPACITY: usize = 100;
/// Message and event ids remembered against repeats (a reconnection redelivers at most the
/// 200 newest of a group, 500 of a 1:1 conversation).
const RECENT_IDS: usize = 4_096;
/// How long a leaving chat keeps trying to send the lines still waiting.
pub(crate) const QUIT_GRACE: Duration = Duration::from_secs(10);

/// What happened.
#[derive(Debug)]
pub(crate) enum Event {
    /// The user typed a line (after a [`Effect::Ready`]).
    Typed(String),
    /// End of input (Ctrl-D, the pipe's end): leave once the waiting lines are sent.
    InputEnded,
    /// Stop now (a signal).
    Stopped,
    /// Logged in again; `room` says how rejoining the conversation's chat room went.
    Connected { room: Option<Result<(), String>> },
    /// The reconnection failed: tried again later unless `fatal` (the password was refused).
    ConnectFailed { reason: String, fatal: bool },
    /// The server delivered something.
    Received(Incoming),
    /// The connection ended.
    Dropped,
    /// The server answered the line sent under `meta_id` (or did not).
    SendFinished { meta_id: u64, outcome: SendOutcome },
    /// The wait of an [`Effect::RetryAfter`] is over.
    RetryDue,
    /// The grace of an [`Effect::QuitAfter`] is over.
    QuitDeadline,
    /// What an [`Effect::List`] found: `(id, name)` pairs, or why it could not.
    Listed { listing: Listing, result: Result<Vec<(String, String)>, String> },
    /// What an [`Effect::Open`] found: the new conversation, named, or why not.
    Opened(Result<Conversation, String>),
}

/// How a send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SendOutcome {
    /// Stored (or, for a room, accepted) under this server id.
    Accepted { server_id: u64 },
    /// Refused by the server, with its reason (muted, not a member, ...).
    Refused(String),
    /// No answer: the connection dropped or the ack did not come in time.
    Unconfirmed(String),
}

/// What to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listing {
    Groups,
    Rooms,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Effect {
    Print(String),
    /// Ready for the next line, shown after this prompt.
    Ready(String),
    /// Log in again, and join `room` (the conversation's chat room) once logged in.
    Connect {
        room: Option<String>,
    },
    /// Drop the connection (a send went unanswered on it): [`Event::Dropped`] follows.
    Disconnect,
    /// Send [`Event::RetryDue`] after this long.
    RetryAfter(Duration),
    /// Send this line on the current connection and report [`Event::SendFinished`].
    Send(Outgoing),
    /// List the user's groups or rooms and report [`Event::Listed`].
    List(Listing),
    /// Check and name `target` (joining it, if it is a chat room), then leave the chat room
    /// `leaving`, and report [`Event::Opened`].
    Open {
        target: Target,
        leaving: Option<String>,
    },
    /// Send [`Event::QuitDeadline`] after this long.
    QuitAfter(Duration),
    /// The chat is over: leave `leave_room` (the conversation's chat room, if connected), log
    /// out, and end with `error` if there is one.
    Finish {
        leave_room: Option<String>,
        error: Option<String>,
    },
}

/// The state of the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Link {
    Up,
    /// Waiting for the next attempt.
    Down,
    /// An attempt is under way.
    Connecting,
    /// The server ended the session for good (a kick), for this reason.
    Over(String),
}

/// Where the dialogue with the user stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for a line.
    Reading,
    /// A command awaits the network's answer: the next line waits too.
    Busy,
    /// Leaving once the waiting lines are sent.
    Leaving,
    /// Finished: nothing more happens.
    Done,
}

/// The chat client's state.
pub(crate) struct Core {
    conversation: Conversation,
    names: Names,
    link: Link,
    /// Counts connections, so that a late answer from an old one is told apart.
    generation: u64,
    backoff: Backoff,
    /// Randomness in `[0, 1)` for the backoff's jitter (fixed in tests).
    jitter: Box<dyn FnMut() -> f64 + Send>,
    /// Why the last reconnection failed, said once until the reason changes.
    last_failure: Option<String>,
    outbox: Outbox,
    recent: RecentIds,
    phase: Phase,
    effects: Vec<Effect>,
}

impl Core {
    /// A chat that has just connected as `user` to `server`, in `conversation`.
    pub(crate) fn new(
        user: &str,
        server: &str,
        conversation: Conversation,
        names: Names,
        jitter: Box<dyn FnMut() -> f64 + Send>,
    ) -> Core {
        let mut core = Core {
            conversation,
            names,
            link: Link::Up,
            generation: 1,
            backoff: Backoff::new(),
            jitter,
            last_failure: None,
            outbox: Outbox::new(OUTBOX_CAPACITY),
            recent: RecentIds::new(RECENT_IDS),
            phase: Phase::Reading,
            effects: Vec::new(),
        };
        core.print(format!(
            "* connected to {server} as {user}, in {}; /help lists the commands",
            core.conversation.describe()
        ));
        core.ready();
        core
    }

    /// What to do so far (the greeting, after [`Core::new`]).
    pub(crate) fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    /// Takes in one event; returns what to do, in order.
    pub(crate) fn handle(&mut self, event: Event) -> Vec<Effect> {
        if self.phase != Phase::Done {
            match event {
                Event::Typed(line) => self.typed(&line),
                Event::InputEnded => self.leave(),
                Event::Stopped | Event::QuitDeadline => self.finish(None),
                Event::Connected { room } => self.connected(room),
                Event::ConnectFailed { reason, fatal } => self.connect_failed(reason, fatal),
                Event::Received(item) => self.received(item),
                Event::Dropped => self.dropped(),
                Event::SendFinished { meta_id, outcome } => self.send_finished(meta_id, outcome),
                Event::RetryDue => self.retry_due(),
                Event::Listed { listing, result } => self.listed(listing, result),
                Event::Opened(result) => self.opened(result),
            }
        }
        self.take_effects()
    }

    /// The prompt: the conversation's name. Not its connection state: a prompt stays on the
    /// screen while a line is typed, and would go on saying "offline" after a reconnection
    /// (the notices say it as it happens).
    fn prompt(&self) -> String {
        format!("{}> ", self.conversation.label())
    }

    fn print(&mut self, line: String) {
        self.effects.push(Effect::Print(line));
    }

    fn ready(&mut self) {
        self.phase = Phase::Reading;
        self.effects.push(Effect::Ready(self.prompt()));
    }

    fn typed(&mut self, line: &str) {
        if self.phase != Phase::Reading {
            return;
        }
        match command::parse(line) {
            Ok(Input::Nothing) => {}
            Ok(Input::Text(text)) => self.queue(text),
            Ok(Input::Command(Command::Help)) => self.print(command::HELP.to_owned()),
            Ok(Input::Command(Command::Quit)) => return self.leave(),
            Ok(Input::Command(Command::Groups)) => return self.busy(Effect::List(Listing::Groups)),
            Ok(Input::Command(Command::Rooms)) => return self.busy(Effect::List(Listing::Rooms)),
            Ok(Input::Command(Command::Switch(target))) => {
                if target == self.conversation.target {
                    self.print(format!("* already in {}", self.conversation.label()));
                } else if self.link != Link::Up {
                    self.print("! not connected: /switch works once the connection is back".to_owned());
                } else {
                    let leaving = self.conversation.room().map(str::to_owned);
                    return self.busy(Effect::Open { target, leaving });
                }
            }
            Err(reason) => self.print(format!("! {reason}")),
        }
        self.ready();
    }

    fn busy(&mut self, effect: Effect) {
        self.phase = Phase::Busy;
        self.effects.push(effect);
    }

    /// A typed line for the current conversation: sent at once if connected, else queued.
    fn queue(&mut self, text: String) {
        let line = Outgoing { meta_id: qun_client::frames::next_meta_id(), to: self.conversation.target.clone(), text };
        if let Err(refused) = self.outbox.push(line) {
            self.print(format!("! not sent, {OUTBOX_CAPACITY} lines are waiting already: {}", refused.text));
            return;
        }
        if self.link == Link::Up {
            self.send_next();
        } else {
            let waiting = self.outbox.len();
            self.print(format!("* offline: sent when the connection is back ({waiting} waiting)"));
        }
    }

    fn send_next(&mut self) {
        if self.link == Link::Up
            && let Some(line) = self.outbox.start_next(self.generation)
        {
            self.effects.push(Effect::Send(line));
        }
    }

    fn send_finished(&mut self, meta_id: u64, outcome: SendOutcome) {
        let Some((line, generation)) = self.outbox.answered(meta_id) else { return };
        match outcome {
            SendOutcome::Accepted { server_id } => {
                // The user saw it typed; it must not come back as a message.
                self.recent.first_time(server_id);
            }
            SendOutcome::Refused(reason) => self.print(format!("! not sent ({reason}): {}", line.text)),
            SendOutcome::Unconfirmed(reason) => {
                if matches!(line.to, Target::Room(_)) {
                    self.print(format!("! perhaps not sent ({reason}; a room cannot take it twice): {}", line.text));
                } else {
                    self.outbox.retry_first(line);
                }
                // An unanswered send on a live connection means the connection is stuck.
                if generation == self.generation && self.link == Link::Up {
                    self.effects.push(Effect::Disconnect);
                    return;
                }
            }
        }
        self.send_next();
        self.leave_when_sent();
    }

    fn received(&mut self, item: Incoming) {
        match &item {
            Incoming::Closed => return self.dropped(),
            Incoming::Kicked { operation } => self.link = Link::Over(format::kick_reason(*operation).to_owned()),
            Incoming::Message { id, .. } | Incoming::GroupEvent { id, .. } if !self.recent.first_time(*id) => return,
            _ => {}
        }
        if let Some(line) = format::incoming_line(&item, &self.conversation, &self.names) {
            self.print(line);
        }
    }

    fn dropped(&mut self) {
        match &self.link {
            Link::Over(reason) => {
                let reason = format!("disconnected by the server: {reason}");
                self.finish(Some(reason));
            }
            Link::Up => self.retry_later(Some("* connection lost; reconnecting in".to_owned())),
            // Not connected: nothing was up to drop.
            Link::Down | Link::Connecting => {}
        }
    }

    /// Schedules the next attempt, saying so with `notice` and the wait, if there is a notice.
    fn retry_later(&mut self, notice: Option<String>) {
        self.link = Link::Down;
        let wait = self.backoff.next_wait((self.jitter)());
        if let Some(notice) = notice {
            self.print(format!("{notice} {:.1} s", wait.as_secs_f64()));
        }
        self.effects.push(Effect::RetryAfter(wait));
    }

    fn retry_due(&mut self) {
        if self.link == Link::Down {
            self.link = Link::Connecting;
            self.effects.push(Effect::Connect { room: self.conversation.room().map(str::to_owned) });
        }
    }

    fn connected(&mut self, room: Option<Result<(), String>>) {
        self.link = Link::Up;
        self.generation += 1;
        self.backoff.reset();
        self.last_failure = None;
        let waiting = self.outbox.len();
        let sending = if waiting > 0 { format!("; sending {waiting} waiting line(s)") } else { String::new() };
        self.print(format!("* reconnected{sending}"));
        if let Some(Err(reason)) = room {
            self.print(format!("! could not rejoin {}: {reason}", self.conversation.label()));
        }
        self.send_next();
    }

    fn connect_failed(&mut self, reason: String, fatal: bool) {
        if fatal {
            self.link = Link::Over(reason.clone());
            return self.finish(Some(reason));
        }
        // A long outage is said once, not at every attempt.
        let notice = (self.last_failure.as_ref() != Some(&reason))
            .then(|| format!("* still offline: {reason}; trying again, next in"));
        self.last_failure = Some(reason);
        self.retry_later(notice);
    }

    fn listed(&mut self, listing: Listing, result: Result<Vec<(String, String)>, String>) {
        if self.phase != Phase::Busy {
            return;
        }
        let what = match listing {
            Listing::Groups => "groups",
            Listing::Rooms => "chat rooms",
        };
        match result {
            Ok(venues) if venues.is_empty() => self.print(format!("* you are in no {what}")),
            Ok(venues) => {
                let mut lines = vec![format!("* your {what} ({}):", venues.len())];
                for (id, name) in &venues {
                    self.names.insert(id, name);
                    let here = matches!(&self.conversation.target, Target::Group(i) | Target::Room(i) if i == id);
                    lines.push(format!("  {id}  {name}{}", if here { "  (here)" } else { "" }));
                }
                self.print(lines.join("\n"));
            }
            Err(reason) => self.print(format!("! cannot list your {what}: {reason}")),
        }
        self.ready();
    }

    fn opened(&mut self, result: Result<Conversation, String>) {
        if self.phase != Phase::Busy {
            return;
        }
        match result {
            Ok(conversation) => {
                if let (Target::Group(id) | Target::Room(id), Some(name)) = (&conversation.target, &conversation.name) {
                    self.names.insert(id, name);
                }
                self.conversation = conversation;
                self.print(format!("* now in {}", self.conversation.describe()));
            }
            Err(reason) => self.print(format!("! {reason}")),
        }
        self.ready();
    }

    /// End of input or `/quit`: leave once the waiting lines are sent, within the grace.
    fn leave(&mut self) {
        if self.phase == Phase::Leaving {
            return;
        }
        if self.outbox.is_empty() {
            return self.finish(None);
        }
        self.phase = Phase::Leaving;
        let waiting = self.outbox.len();
        self.print(format!("* sending {waiting} waiting line(s) before leaving"));
        self.effects.push(Effect::QuitAfter(QUIT_GRACE));
    }

    fn leave_when_sent(&mut self) {
        if self.phase == Phase::Leaving && self.outbox.is_empty() {
            self.finish(None);
        }
    }

    fn finish(&mut self, error: Option<String>) {
        let (on_the_wire, waiting) = self.outbox.take_all();
        if let Some(line) = on_the_wire {
            self.print(format!("! perhaps not sent (no answer yet): {}", line.text));
        }
        for line in waiting {
            self.print(format!("! not sent: {}", line.text));
        }
        self.phase = Phase::Done;
        let leave_room = if self.link == Link::Up { self.conversation.room().map(str::to_owned) } else { None };
        self.effects.push(Effect::Finish { leave_room, error });
    }
}

#[cfg(test)]
mod tests {
    use qun_client::ChatType;

    use super::*;

    fn group() -> Conversation {
        Conversation { target: Target::Group("42".into()), name: Some("Team".into()) }
    }

    /// A chat in group Team (42), connected, without jitter; its greeting taken.
    fn chat() -> Core {
        let mut core = Core::new("bob", "http://127.0.0.1:8080", group(), Names::default(), Box::new(|| 0.0));
        let greeting = core.take_effects();
        assert_eq!(
            greeting,
            [
                Effect::Print(
                    "* connected to http://127.0.0.1:8080 as bob, in group Team (42); /help lists the commands".into()
                ),
                Effect::Ready("Team> ".into()),
            ]
        );
        core
    }

    fn prints(effects: &[Effect]) -> Vec<&str> {
        effects.iter().filter_map(|e| if let Effect::Print(line) = e { Some(line.as_str()) } else { None }).collect()
    }

    /// The one line sent among `effects`.
    fn sent(effects: &[Effect]) -> Outgoing {
        let sends: Vec<&Outgoing> =
            effects.iter().filter_map(|e| if let Effect::Send(line) = e { Some(line) } else { None }).collect();
        assert_eq!(sends.len(), 1, "{effects:?}");
        sends[0].clone()
    }

    fn message(id: u64, from: &str, text: &str) -> Incoming {
        Incoming::Message {
            id,
            from: from.into(),
            to: "42".into(),
            chat_type: ChatType::GroupChat,
            text: text.into(),
            contents: Vec::new(),
            ext: Vec::new(),
            timestamp: 0,
        }
    }

    fn accepted(line: &Outgoing, server_id: u64) -> Event {
        Event::SendFinished { meta_id: line.meta_id, outcome: SendOutcome::Accepted { server_id } }
    }

    fn unconfirmed(line: &Outgoing) -> Event {
        Event::SendFinished { meta_id: line.meta_id, outcome: SendOutcome::Unconfirmed("connection closed".into()) }
    }

    #[test]
    fn a_typed_line_is_sent_and_never_shown_back() {
        let mut core = chat();
        let effects = core.handle(Event::Typed("hello".into()));
        let line = sent(&effects);
        assert_eq!((line.to.clone(), line.text.as_str()), (Target::Group("42".into()), "hello"));
        assert_eq!(effects.last(), Some(&Effect::Ready("Team> ".into())));
        assert!(core.handle(accepted(&line, 900)).is_empty());
        // The same message arriving on a new connection (the server's own-message filter is
        // per connection) is not shown.
        assert!(core.handle(Event::Received(message(900, "bob", "hello"))).is_empty());
    }

    #[test]
    fn what_is_delivered_again_is_shown_once() {
        let mut core = chat();
        let first = core.handle(Event::Received(message(7, "alice", "hi")));
        assert_eq!(prints(&first), ["[00:00:00] alice: hi"]);
        assert!(core.handle(Event::Received(message(7, "alice", "hi"))).is_empty());
        let event = Incoming::GroupEvent {
            id: 8,
            group: "42".into(),
            operation: 21,
            from: "alice".into(),
            to: vec!["bob".into()],
            reason: None,
            ext: None,
        };
        assert_eq!(prints(&core.handle(Event::Received(event.clone()))), ["* setAdmin by alice (bob)"]);
        assert!(core.handle(Event::Received(event)).is_empty());
    }

    #[test]
    fn a_lost_connection_is_retried_with_growing_waits_and_queued_lines_go_after() {
        let mut core = chat();
        let effects = core.handle(Event::Dropped);
        assert_eq!(
            effects,
            [
                Effect::Print("* connection lost; reconnecting in 0.5 s".into()),
                Effect::RetryAfter(Duration::from_millis(500))
            ]
        );
        let effects = core.handle(Event::Typed("typed offline".into()));
        assert_eq!(
            effects,
            [
                Effect::Print("* offline: sent when the connection is back (1 waiting)".into()),
                Effect::Ready("Team> ".into())
            ]
        );
        assert_eq!(core.handle(Event::RetryDue), [Effect::Connect { room: None }]);
        let refused = Event::ConnectFailed { reason: "cannot reach the server".into(), fatal: false };
        assert_eq!(
            core.handle(refused),
            [
                Effect::Print("* still offline: cannot reach the server; trying again, next in 1.0 s".into()),
                Effect::RetryAfter(Duration::from_secs(1))
            ]
        );
        core.handle(Event::RetryDue);
        let same_again = Event::ConnectFailed { reason: "cannot reach the server".into(), fatal: false };
        assert_eq!(core.handle(same_again), [Effect::RetryAfter(Duration::from_secs(2))], "said once");
        core.handle(Event::RetryDue);
        let effects = core.handle(Event::Connected { room: None });
        assert_eq!(prints(&effects), ["* reconnected; sending 1 waiting line(s)"]);
        assert_eq!(sent(&effects).text, "typed offline");
        // The next loss starts again from the first wait.
        assert_eq!(core.handle(Event::Dropped)[1], Effect::RetryAfter(Duration::from_millis(500)));
    }

    #[test]
    fn a_line_whose_ack_was_lost_goes_again_under_the_same_meta_id() {
        let mut core = chat();
        let line = sent(&core.handle(Event::Typed("in flight".into())));
        core.handle(Event::Typed("next".into()));
        core.handle(Event::Dropped);
        assert!(core.handle(unconfirmed(&line)).is_empty(), "kept, not reported");
        core.handle(Event::RetryDue);
        let again = sent(&core.handle(Event::Connected { room: None }));
        assert_eq!(again, line, "same meta id, first in line");
        let next = sent(&core.handle(accepted(&again, 901)));
        assert_eq!(next.text, "next");
    }

    #[test]
    fn an_unanswered_send_on_a_live_connection_drops_it() {
        let mut core = chat();
        let line = sent(&core.handle(Event::Typed("stuck".into())));
        assert_eq!(core.handle(unconfirmed(&line)), [Effect::Disconnect]);
        core.handle(Event::Dropped);
        core.handle(Event::RetryDue);
        assert_eq!(sent(&core.handle(Event::Connected { room: None })), line);
    }

    #[test]
    fn a_late_answer_from_an_old_connection_does_not_drop_the_new_one() {
        let mut core = chat();
        let line = sent(&core.handle(Event::Typed("late".into())));
        core.handle(Event::Dropped);
        core.handle(Event::RetryDue);
        // Reconnected before the old connection's send gave up: the line is still on the wire.
        assert!(core.handle(Event::Connected { room: None }).iter().all(|e| !matches!(e, Effect::Send(_))));
        let effects = core.handle(unconfirmed(&line));
        assert!(!effects.contains(&Effect::Disconnect), "{effects:?}");
        assert_eq!(sent(&effects), line);
    }

    #[test]
    fn refusals_are_shown_with_the_line() {
        let mut core = chat();
        let line = sent(&core.handle(Event::Typed("am I muted?".into())));
        let refused =
            Event::SendFinished { meta_id: line.meta_id, outcome: SendOutcome::Refused("user is mute".into()) };
        assert_eq!(prints(&core.handle(refused)), ["! not sent (user is mute): am I muted?"]);
    }

    #[test]
    fn rooms_are_joined_left_and_never_sent_to_twice() {
        let mut core = chat();
        let effects = core.handle(Event::Typed("/switch room 9".into()));
        assert_eq!(effects, [Effect::Open { target: Target::Room("9".into()), leaving: None }]);
        assert!(core.handle(Event::Typed("ignored while busy".into())).is_empty());
        let lobby = Conversation { target: Target::Room("9".into()), name: Some("Lobby".into()) };
        assert_eq!(
            core.handle(Event::Opened(Ok(lobby))),
            [Effect::Print("* now in room Lobby (9)".into()), Effect::Ready("Lobby (room)> ".into())]
        );
        let line = sent(&core.handle(Event::Typed("hi room".into())));
        assert_eq!(line.to, Target::Room("9".into()));
        core.handle(Event::Dropped);
        let effects = core.handle(unconfirmed(&line));
        assert_eq!(prints(&effects), ["! perhaps not sent (connection closed; a room cannot take it twice): hi room"]);
        assert_eq!(core.handle(Event::RetryDue), [Effect::Connect { room: Some("9".into()) }]);
        let effects = core.handle(Event::Connected { room: Some(Err("blocked".into())) });
        assert_eq!(prints(&effects), ["* reconnected", "! could not rejoin Lobby (room): blocked"]);
        assert!(!effects.iter().any(|e| matches!(e, Effect::Send(_))), "not sent again");

        let effects = core.handle(Event::Typed("/switch group 42".into()));
        assert_eq!(effects, [Effect::Open { target: Target::Group("42".into()), leaving: Some("9".into()) }]);
        assert_eq!(prints(&core.handle(Event::Opened(Err("group 42 not found".into())))), ["! group 42 not found"]);
        assert_eq!(
            core.handle(Event::InputEnded),
            [Effect::Finish { leave_room: Some("9".into()), error: None }],
            "still in the room: leave it"
        );
    }

    #[test]
    fn switching_needs_the_connection_and_a_new_place() {
        let mut core = chat();
        assert_eq!(prints(&core.handle(Event::Typed("/switch group 42".into()))), ["* already in Team"]);
        core.handle(Event::Dropped);
        let effects = core.handle(Event::Typed("/switch user carol".into()));
        assert_eq!(prints(&effects), ["! not connected: /switch works once the connection is back"]);
        assert_eq!(prints(&core.handle(Event::Typed("/switch".into())))[0].split(':').next(), Some("! usage"));
    }

    #[test]
    fn lists_name_the_current_place_and_teach_names() {
        let mut core = chat();
        assert_eq!(core.handle(Event::Typed("/groups".into())), [Effect::List(Listing::Groups)]);
        let found = vec![("42".to_owned(), "Team".to_owned()), ("7".to_owned(), "Book club".to_owned())];
        let effects = core.handle(Event::Listed { listing: Listing::Groups, result: Ok(found) });
        assert_eq!(prints(&effects), ["* your groups (2):\n  42  Team  (here)\n  7  Book club"]);
        assert_eq!(effects.last(), Some(&Effect::Ready("Team> ".into())));
        let elsewhere = Incoming::Message {
            id: 3,
            from: "carol".into(),
            to: "7".into(),
            chat_type: ChatType::GroupChat,
            text: "hi".into(),
            contents: Vec::new(),
            ext: Vec::new(),
            timestamp: 0,
        };
        assert_eq!(prints(&core.handle(Event::Received(elsewhere))), ["[00:00:00] (in Book club) carol: hi"]);
        core.handle(Event::Typed("/rooms".into()));
        let effects = core.handle(Event::Listed { listing: Listing::Rooms, result: Ok(Vec::new()) });
        assert_eq!(prints(&effects), ["* you are in no chat rooms"]);
        core.handle(Event::Typed("/rooms".into()));
        let effects = core.handle(Event::Listed { listing: Listing::Rooms, result: Err("cannot reach".into()) });
        assert_eq!(prints(&effects), ["! cannot list your chat rooms: cannot reach"]);
    }

    #[test]
    fn leaving_sends_the_waiting_lines_first() {
        let mut core = chat();
        let line = sent(&core.handle(Event::Typed("last words".into())));
        let effects = core.handle(Event::InputEnded);
        assert_eq!(
            effects,
            [Effect::Print("* sending 1 waiting line(s) before leaving".into()), Effect::QuitAfter(QUIT_GRACE)]
        );
        assert_eq!(core.handle(accepted(&line, 5)), [Effect::Finish { leave_room: None, error: None }]);
        assert!(core.handle(Event::Typed("too late".into())).is_empty(), "done");
    }

    #[test]
    fn leaving_late_prints_what_was_not_sent() {
        let mut core = chat();
        core.handle(Event::Dropped);
        core.handle(Event::Typed("one".into()));
        core.handle(Event::Typed("/quit".into()));
        assert_eq!(
            core.handle(Event::QuitDeadline),
            [Effect::Print("! not sent: one".into()), Effect::Finish { leave_room: None, error: None }]
        );
    }

    #[test]
    fn leaving_with_a_line_unanswered_says_it_is_perhaps_not_sent() {
        let mut core = chat();
        sent(&core.handle(Event::Typed("on the wire".into())));
        core.handle(Event::InputEnded);
        assert_eq!(
            core.handle(Event::Stopped),
            [
                Effect::Print("! perhaps not sent (no answer yet): on the wire".into()),
                Effect::Finish { leave_room: None, error: None }
            ]
        );
    }

    #[test]
    fn a_kick_or_a_refused_login_ends_the_chat() {
        let mut core = chat();
        let effects = core.handle(Event::Received(Incoming::Kicked { operation: 2 }));
        assert_eq!(prints(&effects), ["* disconnected by the server: logged in on another device"]);
        let error = Some("disconnected by the server: logged in on another device".to_owned());
        assert_eq!(core.handle(Event::Received(Incoming::Closed)), [Effect::Finish { leave_room: None, error }]);

        let mut core = chat();
        core.handle(Event::Dropped);
        core.handle(Event::Typed("pending".into()));
        core.handle(Event::RetryDue);
        let effects = core.handle(Event::ConnectFailed { reason: "wrong password for bob".into(), fatal: true });
        assert_eq!(
            effects,
            [
                Effect::Print("! not sent: pending".into()),
                Effect::Finish { leave_room: None, error: Some("wrong password for bob".into()) }
            ]
        );
    }
}
