//! The cursor writer: the one task that saves the delivery positions sessions acknowledged.
//!
//! Sessions acknowledge in memory (`cursors.rs`); nothing on the message path writes a cursor.
//! This task writes what they have not saved yet, in batches
//! ([`CursorStore::advance_cursors`](qun_store::CursorStore::advance_cursors)):
//! - every `cursor_flush` (`Config::cursor_flush`, 10 s by default), the unsaved positions of
//!   every online session, found through [`Hub::sessions`];
//! - when sessions close, theirs, before they leave the hub ([`CursorWriter::save_at_close`]),
//!   so a new connection of the device, which no longer finds the old one there, reads them
//!   from the store. Closes that come together (a network drop, a restart of a proxy: thousands
//!   at once) are saved together, not one transaction each;
//! - when the server stops, every online session's, once; the closes that follow find nothing
//!   left, or save the little that is (the writer has ended by then) themselves.
//!
//! **Bounded transactions.** A save is cut into transactions of at most [`CHUNK`] positions,
//! and the writer yields between them. On SQLite the one writer connection is shared with the
//! message writer (`services::messages`), and the pool hands it out first come, first served:
//! a message commit, and so a sender's ack, waits at most for one chunk, never for a whole save.
//! `tests::a_5000_position_save_lets_a_message_commit_between_chunks` prints it: in a release
//! build on the 2-core development machine, 5,000 positions are 20 transactions of 1.6 to 2.8 ms
//! (32 to 57 ms in all), and a message commit asked during the save waited 0.8 to 5 ms.
//! `/metrics` shows each transaction (`qun_cursor_commit_seconds`) and the positions saved
//! (`qun_cursors_saved`).
//!
//! **Crash window.** A crash forgets what was acknowledged since the last save: at most one
//! interval (plus the save's own time). Those items are delivered again at the next login, with
//! the same ids (the SDK drops repeats by id) — never lost. A save that fails is logged and
//! tried again at the next interval (the positions stay unsaved in the sessions).
//!
//! Must not: write anything on a session's or a sender's path, or make a closing session wait
//! for more than the save of its own positions (and those queued with them).

use std::sync::Arc;
use std::time::{Duration, Instant};

use qun_store::{CursorAdvance, Store};
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::hub::Hub;
use super::session::Session;
use crate::lifecycle::Lifecycle;
use crate::telemetry::Metrics;

/// Positions per transaction: a few hundred rows hold SQLite's writer for about a millisecond.
pub(crate) const CHUNK: usize = 256;
/// Closing sessions waiting for their save at most; more wait to be queued.
const CLOSE_QUEUE: usize = 4096;
/// Closing sessions saved together at most.
const CLOSES_PER_ROUND: usize = 1024;

/// The handle to the cursor writer (see the module docs). Cheap to clone.
#[derive(Clone)]
pub struct CursorWriter {
    closing: mpsc::Sender<Closing>,
    /// For a session that closes after the writer ended (the server is stopping).
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl std::fmt::Debug for CursorWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CursorWriter").finish_non_exhaustive()
    }
}

/// A closing session, and how it learns that its positions are saved.
struct Closing {
    session: Arc<Session>,
    saved: oneshot::Sender<()>,
}

impl CursorWriter {
    /// Starts the writer: it saves every `interval` what the sessions in `hub` acknowledged,
    /// and on request the positions of closing sessions. When the server stops, it saves every
    /// online session's positions once, serves the closes already queued, and ends.
    pub fn start(
        store: Arc<dyn Store>,
        hub: Arc<Hub>,
        lifecycle: &Lifecycle,
        metrics: Arc<Metrics>,
        interval: Duration,
    ) -> CursorWriter {
        let (closing, requests) = mpsc::channel(CLOSE_QUEUE);
        let writer = CursorWriter { closing, store, metrics };
        lifecycle.spawn(write_loop(writer.clone(), requests, hub, lifecycle.clone(), interval));
        writer
    }

    /// Saves what `session` acknowledged and has not saved yet; returns once it is in the
    /// store (or its save failed, which is logged). Nothing to save: returns at once.
    pub(crate) async fn save_at_close(&self, session: &Arc<Session>) {
        if session.cursors.unsaved().is_empty() {
            return;
        }
        let (saved, done) = oneshot::channel();
        let queued = self.closing.send(Closing { session: session.clone(), saved }).await.is_ok();
        if queued && done.await.is_ok() {
            return;
        }
        // The writer has ended (the server is stopping): the session saves itself.
        self.save(std::slice::from_ref(session)).await;
    }

    /// Saves the unsaved positions of `sessions`, [`CHUNK`] per transaction, yielding between
    /// transactions so that other writers (message commits) get the connection.
    async fn save(&self, sessions: &[Arc<Session>]) {
        let mut advances = Vec::new();
        let mut owners = Vec::new();
        for session in sessions {
            for (queue, seq) in session.cursors.unsaved() {
                let (user, device) = (session.user.clone(), session.device.clone());
                advances.push(CursorAdvance { app_id: session.app_id, user, device, queue, seq });
                owners.push(session);
            }
        }
        for (chunk, owners) in advances.chunks(CHUNK).zip(owners.chunks(CHUNK)) {
            let started = Instant::now();
            let saved = self.store.advance_cursors(chunk).await;
            self.metrics.cursor_commit_latency.observe(started.elapsed().as_secs_f64());
            match saved {
                Ok(()) => {
                    self.metrics.cursors_saved.inc_by(chunk.len() as u64);
                    for (advance, owner) in chunk.iter().zip(owners) {
                        owner.cursors.saved(&advance.queue, advance.seq);
                    }
                }
                Err(error) => tracing::warn!(%error, positions = chunk.len(), "saving delivery cursors failed"),
            }
            tokio::task::yield_now().await;
        }
    }
}

async fn write_loop(
    writer: CursorWriter,
    mut requests: mpsc::Receiver<Closing>,
    hub: Arc<Hub>,
    lifecycle: Lifecycle,
    interval: Duration,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut closing = Vec::with_capacity(CLOSES_PER_ROUND);
    loop {
        tokio::select! {
            _ = tick.tick() => writer.save(&hub.sessions()).await,
            received = requests.recv_many(&mut closing, CLOSES_PER_ROUND) => {
                if received == 0 {
                    // Stopping, and every close queued before is served.
                    break;
                }
                let sessions: Vec<Arc<Session>> = closing.iter().map(|close| close.session.clone()).collect();
                writer.save(&sessions).await;
                for close in closing.drain(..) {
                    let _ = close.saved.send(());
                }
            }
            () = lifecycle.stopping(), if !requests.is_closed() => {
                // Every session's positions at once; a session that closes from now on saves
                // whatever it acknowledged since, itself.
                requests.close();
                writer.save(&hub.sessions()).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qun_core::{GroupId, UserName};
    use qun_store::{Conversation, NewApp, NewMessage, QueueKey};

    struct Fixture {
        _directory: tempfile::TempDir,
        store: Arc<dyn Store>,
        app: qun_store::AppRecord,
        hub: Arc<Hub>,
        lifecycle: Lifecycle,
        metrics: Arc<Metrics>,
    }

    async fn fixture() -> Fixture {
        let directory = tempfile::tempdir().expect("temporary directory");
        let url = qun_store::testing::fresh_sqlite_url(directory.path()).await;
        let store = qun_store::open(&url).await.expect("open");
        let app = store
            .ensure_app(&NewApp {
                uuid: "uuid".into(),
                org: "qun".into(),
                name: "test".into(),
                client_id: "client".into(),
                client_secret_hash: vec![1],
                settings: Default::default(),
                created_ms: 1,
            })
            .await
            .expect("ensure_app");
        Fixture {
            _directory: directory,
            store,
            app,
            hub: Arc::new(Hub::default()),
            lifecycle: Lifecycle::default(),
            metrics: Arc::new(Metrics::new("sqlite")),
        }
    }

    impl Fixture {
        fn writer(&self, interval: Duration) -> CursorWriter {
            CursorWriter::start(self.store.clone(), self.hub.clone(), &self.lifecycle, self.metrics.clone(), interval)
        }

        /// `count` online sessions (users `u0`, `u1`, …, device `d`), each having
        /// acknowledged `seq` in group 7.
        fn sessions(&self, count: usize, seq: i64) -> Vec<Arc<Session>> {
            (0..count)
                .map(|i| {
                    let user = UserName::parse(&format!("u{i}")).expect("user name");
                    let (session, _outbound) = Session::new(self.app.clone(), user, "d".into(), format!("r{i}"));
                    let session = Arc::new(session);
                    self.hub.register(session.clone(), &[]);
                    session.cursors.acknowledge(&GROUP, seq);
                    session
                })
                .collect()
        }

        /// A series of `/metrics`, as scraped.
        fn metric(&self, series: &str) -> f64 {
            let text = self.metrics.encode();
            let line = text.lines().find(|line| line.split(' ').next() == Some(series));
            line.and_then(|line| line.split(' ').nth(1)).and_then(|value| value.parse().ok()).expect(series)
        }

        async fn stored(&self, session: &Session) -> Option<i64> {
            self.store.cursor(self.app.id, &session.user, &session.device, &GROUP).await.expect("cursor")
        }
    }

    const GROUP: QueueKey = QueueKey::Group(GroupId(7));

    #[tokio::test]
    async fn the_interval_saves_every_session_without_a_close() {
        let fixture = fixture().await;
        let _writer = fixture.writer(Duration::from_millis(50));
        let sessions = fixture.sessions(40, 3);
        let deadline = Instant::now() + Duration::from_secs(10);
        for session in &sessions {
            while fixture.stored(session).await != Some(3) {
                assert!(Instant::now() < deadline, "{} was never saved", session.user);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(session.cursors.unsaved().is_empty());
        }
        // Later acknowledgements too, and only what moved is written again.
        let saved = fixture.metrics.cursors_saved.get();
        sessions[0].cursors.acknowledge(&GROUP, 9);
        while fixture.stored(&sessions[0]).await != Some(9) {
            assert!(Instant::now() < deadline, "the second acknowledgement was never saved");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(fixture.metrics.cursors_saved.get(), saved + 1);
    }

    #[tokio::test]
    async fn closing_sessions_are_saved_together_and_stopping_saves_everyone() {
        let fixture = fixture().await;
        // An interval that never comes: only closes and the stop save.
        let writer = fixture.writer(Duration::from_secs(3600));
        let closing = fixture.sessions(300, 5);
        futures_util::future::join_all(closing.iter().map(|session| writer.save_at_close(session))).await;
        for session in &closing {
            assert_eq!(fixture.stored(session).await, Some(5), "{}", session.user);
        }
        // 300 closes at once: a few transactions of up to CHUNK positions, not 300.
        assert_eq!(fixture.metrics.cursors_saved.get(), 300);
        let transactions = fixture.metric("qun_cursor_commit_seconds_count") as u64;
        assert!((2..10).contains(&transactions), "{transactions} transactions for 300 closes");
        // A close with nothing unsaved asks nothing of the writer.
        writer.save_at_close(&closing[0]).await;
        assert_eq!(fixture.metrics.cursors_saved.get(), 300);

        // Stopping saves every online session's positions (none of these closed) and ends
        // the writer.
        let online = fixture.sessions(50, 8);
        fixture.lifecycle.stop();
        assert_eq!(fixture.lifecycle.wait(Duration::from_secs(10)).await, 0, "the writer ended");
        for session in &online {
            assert_eq!(fixture.stored(session).await, Some(8), "{}", session.user);
        }
        // A session that closes after the writer ended saves itself.
        online[0].cursors.acknowledge(&GROUP, 11);
        writer.save_at_close(&online[0]).await;
        assert_eq!(fixture.stored(&online[0]).await, Some(11));
    }

    /// Prints how long a save of 5,000 positions (every member of a full group) holds SQLite's
    /// one writer, per chunk and in all, and how long a message commit that arrives during it
    /// waits. Asserts only that the message does not wait for the whole save.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_5000_position_save_lets_a_message_commit_between_chunks() {
        let fixture = fixture().await;
        let writer = CursorWriter {
            closing: mpsc::channel(1).0,
            store: fixture.store.clone(),
            metrics: fixture.metrics.clone(),
        };
        let sessions = fixture.sessions(5_000, 42);
        let saving = tokio::spawn({
            let writer = writer.clone();
            let sessions = sessions.clone();
            async move {
                let started = Instant::now();
                writer.save(&sessions).await;
                (started, Instant::now())
            }
        });
        // The message arrives once the save holds the writer.
        while fixture.metrics.cursors_saved.get() == 0 {
            tokio::task::yield_now().await;
        }
        let message = NewMessage {
            id: 1,
            conversation: Conversation::chat(UserName::parse("u0").unwrap(), UserName::parse("u1").unwrap()),
            sender: UserName::parse("u0").unwrap(),
            client_id: None,
            payload: b"hello".to_vec(),
            created_ms: 1,
        };
        let asked = Instant::now();
        fixture.store.append_messages(fixture.app.id, &[message]).await.expect("append")[0].as_ref().expect("stored");
        let committed = Instant::now();
        let (started, finished) = saving.await.expect("the save");
        for session in sessions.iter().step_by(499) {
            assert_eq!(fixture.stored(session).await, Some(42));
        }
        assert_eq!(fixture.metrics.cursors_saved.get(), 5_000);
        let transactions = fixture.metric("qun_cursor_commit_seconds_count") as u64;
        assert_eq!(transactions, 5_000_u64.div_ceil(CHUNK as u64));
        let holding = Duration::from_secs_f64(fixture.metric("qun_cursor_commit_seconds_sum"));
        println!(
            "5,000 positions in {transactions} transactions of at most {CHUNK}: the writer held {holding:?} in all \
             ({:?} per transaction on average), the save took {:?}; a message commit asked during the save \
             waited {:?}",
            holding / transactions as u32,
            finished - started,
            committed - asked
        );
        assert!(committed < finished, "the message commit waited for the whole save");
    }
}
