//! [`CursorStore`]: each user's queues with their heads, and where each device is in each.
//! A cursor only moves forward.

use std::collections::HashMap;

use async_trait::async_trait;
use qun_core::UserName;

use super::SqlStore;
use super::dialect::Dialect;
use super::rows::{chat_name, group_id_from_sql, sql_id};
use crate::{CursorStore, QueueHead, QueueKey, StoreResult};

#[async_trait]
impl<D: Dialect> CursorStore for SqlStore<D> {
    async fn user_queues(&self, app_id: i64, user: &UserName, device: &str) -> StoreResult<Vec<QueueHead>> {
        // One read transaction: heads and cursors of the same moment.
        let mut tx = self.begin_read().await?;
        let cursors: Vec<(String, i64)> =
            D::query("SELECT queue, seq FROM delivery_cursors WHERE app_id = $1 AND user_name = $2 AND device = $3")
                .bind(app_id)
                .bind(user.as_str())
                .bind(device)
                .fetch_all(&mut tx)
                .await?;
        let cursors: HashMap<String, i64> = cursors.into_iter().collect();
        let groups: Vec<(i64, i64, i64, bool)> = D::query(
            "SELECT g.id, g.last_seq, m.cursor_seq, m.shielded \
             FROM group_members m JOIN groups g ON g.app_id = m.app_id AND g.id = m.group_id \
             WHERE m.app_id = $1 AND m.user_name = $2",
        )
        .bind(app_id)
        .bind(user.as_str())
        .fetch_all(&mut tx)
        .await?;
        // Either side, each by its index; a conversation with oneself once.
        let chats: Vec<(String, String, i64)> = D::query(
            "SELECT low, high, last_seq FROM chats WHERE app_id = $1 AND low = $2 \
             UNION ALL \
             SELECT low, high, last_seq FROM chats WHERE app_id = $1 AND high = $2 AND low <> $2",
        )
        .bind(app_id)
        .bind(user.as_str())
        .fetch_all(&mut tx)
        .await?;
        let newest_event: Option<i64> =
            D::query("SELECT MAX(id) FROM user_events WHERE app_id = $1 AND user_name = $2")
                .bind(app_id)
                .bind(user.as_str())
                .fetch_scalar(&mut tx)
                .await?;
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
        // The conditional update keeps the larger: an old acknowledgement arriving late never
        // moves the cursor back.
        D::query(
            "INSERT INTO delivery_cursors (app_id, user_name, device, queue, seq) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (app_id, user_name, device, queue) DO UPDATE SET seq = excluded.seq \
             WHERE excluded.seq > delivery_cursors.seq",
        )
        .bind(app_id)
        .bind(user.as_str())
        .bind(device)
        .bind(queue.as_storage_key())
        .bind(seq)
        .execute(&mut *self.write_conn().await?)
        .await?;
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
            // wins, as in `advance_cursor`. (SQLite needs the SELECT's WHERE before ON CONFLICT.)
            D::query(
                "INSERT INTO delivery_cursors (app_id, user_name, device, queue, seq) \
                 SELECT DISTINCT app_id, user_name, device, $3, $4 FROM delivery_cursors \
                 WHERE app_id = $1 AND user_name = $2 \
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
