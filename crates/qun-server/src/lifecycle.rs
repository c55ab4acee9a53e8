//! The server's tasks and the one signal that stops them.
//!
//! Every task the server starts — websocket connections and their writers, the message
//! writer, the cursor writer, the group flusher, the chat rooms' flushers, presence actors and sweeper — is
//! spawned through [`Lifecycle`], so shutdown can wait for all of them. When the server stops,
//! every task sees [`Lifecycle::stopping`] complete and ends on its own terms: the cursor
//! writer saves every session's acknowledged positions, a connection closes its websocket with
//! a close frame, the message writer commits what was queued before it. [`Lifecycle::wait`] then waits for them, with a deadline.

use std::future::Future;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};
use tokio_util::task::TaskTracker;

/// See the module docs. A cheap clone: every clone tracks into, and stops, the same set.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Lifecycle {
    /// Spawns a tracked task.
    pub fn spawn<F>(&self, task: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.tasks.spawn(task)
    }

    /// Tracks a future that something else spawns (axum spawns each upgraded websocket).
    pub fn track<F: Future>(&self, task: F) -> tokio_util::task::task_tracker::TrackedFuture<F> {
        self.tasks.track_future(task)
    }

    /// Completes once the server is stopping.
    pub fn stopping(&self) -> WaitForCancellationFuture<'_> {
        self.stop.cancelled()
    }

    pub fn is_stopping(&self) -> bool {
        self.stop.is_cancelled()
    }

    /// Tells every task to stop.
    pub fn stop(&self) {
        self.stop.cancel();
    }

    /// Waits until every tracked task has ended, or `deadline` passed. Returns how many were
    /// still running then (0: a clean stop). Tasks spawned after this call are still waited for.
    pub async fn wait(&self, deadline: Duration) -> usize {
        self.tasks.close();
        match tokio::time::timeout(deadline, self.tasks.wait()).await {
            Ok(()) => 0,
            Err(_) => self.tasks.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wait_sees_every_task_end_after_stop_and_reports_stragglers() {
        let lifecycle = Lifecycle::default();
        let polite = lifecycle.clone();
        lifecycle.spawn(async move { polite.stopping().await });
        assert_eq!(lifecycle.track(async { 7 }).await, 7);
        lifecycle.stop();
        assert!(lifecycle.is_stopping());
        assert_eq!(lifecycle.wait(Duration::from_secs(1)).await, 0);

        let stubborn = Lifecycle::default();
        stubborn.spawn(std::future::pending::<()>());
        stubborn.stop();
        assert_eq!(stubborn.wait(Duration::from_millis(50)).await, 1);
    }
}
