//! [`CursorStore`]: each user's queues with their heads, and where each device is in each.
//! A cursor only moves forward.
//!
//! A login reads a user's queues ([`CursorStore::user_queues`]) with the statements below, each
//! an index search on the user's own rows, on a reader: no write transaction, no scan
//! (`login_test.rs` keeps it so).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use qun_core::UserName;
use sqlx::AssertSqlSafe;

use super::SqlStore;
use super::dialect::Dialect;
use super::multi_row::MultiRow;
use super::rows::{chat_name, group_id_from_sql, sql_id};
use crate::{CursorAdvance, CursorStore, QueueHead, QueueKey, StoreResult};

/// The device's cursors (the primary key's prefix).
pub(super) const DEVICE_CURSORS: &str =
    "SELECT queue, seq FROM delivery_cursors WHERE app_id = $1 AND user_name = $2 AND device = $3";
/// The user's groups with their heads and the user's join point (`group_members_by_user`, then
/// each group by its key).
pub(super) const GROUP_HEADS: &str = "SELECT g.id, g.last_seq, m.cursor_seq, m.shielded \
     FROM group_members m JOIN groups g ON g.app_id = m.app_id AND g.id = m.group_id \
     WHERE m.app_id = $1 AND m.user_name = $2";
/// The user's 1:1 conversations: either side, each by its index; a conversation with oneself
/// once.
pub(super) const CHAT_HEADS: &str = "SELECT low, high, last_seq FROM chats WHERE app_id = $1 AND low = $2 \
     UNION ALL \
     SELECT low, high, last_seq FROM chats WHERE app_id = $1 AND high = $2 AND low <> $2";
/// The newest personal item (the primary key's end).
pub(super) const NEWEST_PERSONAL_ITEM: &str = "SELECT MAX(id) FROM user_events WHERE app_id = $1 AND user_name = $2";

/// The upsert of many positions ([`MultiRow`]). The conditional update keeps the larger: an old
/// acknowledgement arriving late never moves a cursor back.
static ADVANCE_CURSORS: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(
        "INSERT INTO delivery_cursors (app_id, user_name, device, queue, seq)",
        "(?, ?, ?, ?, ?)",
        "ON CONFLICT (app_id, user_name, device, queue) DO UPDATE SET seq = excluded.seq \
         WHERE excluded.seq > delivery_cursors.seq",
    )
});

#[async_trait]
impl<D: Dialect> CursorStore for SqlStore<D> {
    async fn user_queues(&self, app_id: i64, user: &UserName, device: &str) -> StoreResult<Vec<QueueHead>> {
        // One read transaction: heads and cursors of the same moment.
        let mut tx = self.begin_read().await?;
        let cursors: Vec<(String, i64)> =
            D::query(DEVICE_CURSORS).bind(app_id).bind(user.as_str()).bind(device).fetch_all(&mut tx).await?;
        let cursors: HashMap<String, i64> = cursors.into_iter().collect();
        let groups: Vec<(i64, i64, i64, bool)> =
            D::query(GROUP_HEADS).bind(app_id).bind(user.as_str()).fetch_all(&mut tx).await?;
        let chats: Vec<(String, String, i64)> =
            D::query(CHAT_HEADS).bind(app_id).bind(user.as_str()).fetch_all(&mut tx).await?;
        let newest_event: Option<i64> =
            D::query(NEWEST_PERSONAL_ITEM).bind(app_id).bind(user.as_str()).fetch_scalar(&mut tx).await?;
        tx.commit().await?;

        let head = |queue: QueueKey, last_seq, floor_seq, shielded| {
            let cursor = cursors.get(&queue.as_storage_key()).copied();
            QueueHead { queue, last_seq, floor_seq, cursor, shielded }
        };
        let mut queues = Vec::with_capacity(groups.len() + chats.len() + 1);
        for (group_id, last_seq, join_seq, shielded) in groups {
            queues.push(head(QueueKey::Group(group_id_from_sql(group_id)), last_seq, join_seq, shielded));
        }
        for (low, high, last_seq) in chats {
            let peer = if low == user.as_str() { high } else { low };
            queues.push(head(QueueKey::Chat(UserName::from_trusted(peer)), last_seq, 0, false));
        }
        queues.push(head(QueueKey::Personal, newest_event.unwrap_or(0), 0, false));
        queues.sort_by(|a, b| a.queue.cmp(&b.queue));
        Ok(queues)
    }

    async fn cursor(&self, app_id: i64, user: &UserName, device: &str, queue: &QueueKey) -> StoreResult<Option<i64>> {
        D::query("SELECT seq FROM delivery_cursors WHERE app_id = $1 AND user_name = $2 AND device = $3 AND queue = $4")
            .bind(app_id)
            .bind(user.as_str())
            .bind(device)
            .bind(queue.as_storage_key())
            .fetch_optional_scalar(&mut *self.read_conn().await?)
            .await
    }

    async fn advance_cursor(
        &self,
        app_id: i64,
        user: &UserName,
        device: &str,
        queue: &QueueKey,
        seq: i64,
    ) -> StoreResult<()> {
        let position = ((app_id, user.to_string(), device.to_owned(), queue.as_storage_key()), seq);
        let mut conn = self.write_conn().await?;
        for (text, _) in ADVANCE_CURSORS.split(1) {
            advance_statement::<D>(text, std::iter::once(position.clone())).execute(&mut conn).await?;
        }
        Ok(())
    }

    async fn advance_cursors(&self, advances: &[CursorAdvance]) -> StoreResult<()> {
        // Each position once, at its largest seq (PostgreSQL refuses an upsert that meets one
        // row twice), in key order: every batch locks rows in the same order, so two batches
        // never wait on each other in a cycle.
        let mut positions: BTreeMap<CursorKey, i64> = BTreeMap::new();
        for advance in advances {
            let key =
                (advance.app_id, advance.user.to_string(), advance.device.clone(), advance.queue.as_storage_key());
            let seq = positions.entry(key).or_insert(advance.seq);
            *seq = (*seq).max(advance.seq);
        }
        if positions.is_empty() {
            return Ok(());
        }
        let statements = ADVANCE_CURSORS.split(positions.len());
        let mut positions = positions.into_iter();
        let mut tx = self.begin_write().await?;
        for (text, rows) in statements {
            advance_statement::<D>(text, positions.by_ref().take(rows)).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn mark_queue_read(&self, app_id: i64, user: &UserName, queue: &QueueKey) -> StoreResult<Option<i64>> {
        let mut tx = self.begin_write().await?;
        let head: Option<i64> = match queue {
            QueueKey::Group(group_id) => {
                D::query("SELECT last_seq FROM groups WHERE app_id = $1 AND id = $2")
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .fetch_optional_scalar(&mut tx)
                    .await?
            }
            QueueKey::Chat(peer) => {
                let (_, _, conv) = chat_name(user, peer);
                D::query("SELECT last_seq FROM chats WHERE app_id = $1 AND conv = $2")
                    .bind(app_id)
                    .bind(conv.as_str())
                    .fetch_optional_scalar(&mut tx)
                    .await?
            }
            // Personal items are not counted as unread by number: nothing to mark.
            QueueKey::Personal => None,
        };
        if let Some(head) = head {
            // Every device the user has a cursor for (so every device that ever read
            // anything), whether it has read this queue before or not; the larger position
            // wins, as in `advance_cursor`; by device, the key order a batch of cursors locks
            // rows in. (SQLite needs the SELECT's WHERE before ON CONFLICT.)
            D::query(
                "INSERT INTO delivery_cursors (app_id, user_name, device, queue, seq) \
                 SELECT DISTINCT app_id, user_name, device, $3, $4 FROM delivery_cursors \
                 WHERE app_id = $1 AND user_name = $2 ORDER BY device \
                 ON CONFLICT (app_id, user_name, device, queue) DO UPDATE SET seq = excluded.seq \
                 WHERE excluded.seq > delivery_cursors.seq",
            )
            .bind(app_id)
            .bind(user.as_str())
            .bind(queue.as_storage_key())
            .bind(head)
            .execute(&mut tx)
            .await?;
        }
        tx.commit().await?;
        Ok(head)
    }
}

/// A cursor's key: app, user, device, queue (as stored).
type CursorKey = (i64, String, String, String);

/// The upsert `text` of [`ADVANCE_CURSORS`] with `positions` (as many as it has rows) bound.
fn advance_statement<D: Dialect>(
    text: Arc<str>,
    positions: impl Iterator<Item = (CursorKey, i64)>,
) -> super::dialect::Statement<D> {
    let mut statement = D::query(AssertSqlSafe(text));
    for ((app_id, user, device, queue), seq) in positions {
        statement = statement.bind(app_id).bind(user).bind(device).bind(queue).bind(seq);
    }
    statement
}
