//! [`CursorStore`]: each user's queues with their heads, and where each device is in each.
//! A cursor only moves forward.
//!
//! A login reads a user's queues ([`CursorStore::user_queues`]) with one statement, each of its
//! parts an index search on the user's own rows, on a reader: no write transaction, no scan
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

/// Everything [`CursorStore::user_queues`] reads, in one statement, so one snapshot on both
/// backends without a transaction around it (on SQLite each statement is its own read
/// transaction; on PostgreSQL each statement sees one snapshot) and one trip to the database's
/// connection (on SQLite a hand-off to its thread and back; BEGIN and COMMIT were two more).
/// One branch per kind of row ([`QueueRow`]), each an index search on the user's own rows:
/// - [`CURSOR_ROW`]: the device's cursors (the primary key's prefix): queue, seq;
/// - [`GROUP_ROW`]: the user's groups with their heads and the user's join point
///   (`group_members_by_user`, then each group by its key): id, last_seq, join point, shielded;
/// - [`CHAT_ROW`]: the user's 1:1 conversations, either side, each by its index (a conversation
///   with oneself once): low, high, last_seq;
/// - [`PERSONAL_ROW`]: the newest personal item (the primary key's end), NULL when none.
///
/// The first branch names the columns and their types (PostgreSQL types a union by it).
pub(super) const USER_QUEUES: &str = "\
SELECT CAST(0 AS BIGINT) AS kind, queue AS name, CAST(NULL AS TEXT) AS other_name, seq AS number, \
       CAST(NULL AS BIGINT) AS head, CAST(NULL AS BIGINT) AS floor, FALSE AS shielded \
  FROM delivery_cursors WHERE app_id = $1 AND user_name = $2 AND device = $3 \
UNION ALL \
SELECT 1, NULL, NULL, g.id, g.last_seq, m.cursor_seq, m.shielded \
  FROM group_members m JOIN groups g ON g.app_id = m.app_id AND g.id = m.group_id \
 WHERE m.app_id = $1 AND m.user_name = $2 \
UNION ALL \
SELECT 2, low, high, last_seq, NULL, NULL, FALSE FROM chats WHERE app_id = $1 AND low = $2 \
UNION ALL \
SELECT 2, low, high, last_seq, NULL, NULL, FALSE FROM chats WHERE app_id = $1 AND high = $2 AND low <> $2 \
UNION ALL \
SELECT 3, NULL, NULL, MAX(id), NULL, NULL, FALSE FROM user_events WHERE app_id = $1 AND user_name = $2";

/// The `kind` of a [`USER_QUEUES`] row.
const CURSOR_ROW: i64 = 0;
const GROUP_ROW: i64 = 1;
const CHAT_ROW: i64 = 2;
const PERSONAL_ROW: i64 = 3;

/// A row of [`USER_QUEUES`]; which columns are set depends on `kind`.
#[derive(sqlx::FromRow)]
struct QueueRow {
    kind: i64,
    /// Cursor: its queue. Chat: `low`.
    name: Option<String>,
    /// Chat: `high`.
    other_name: Option<String>,
    /// Cursor: its seq. Group: its id. Chat: its last_seq. Personal: the newest item's id.
    number: Option<i64>,
    /// Group: its last_seq.
    head: Option<i64>,
    /// Group: the user's join point.
    floor: Option<i64>,
    shielded: bool,
}

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
        let rows: Vec<QueueRow> = D::query(USER_QUEUES)
            .bind(app_id)
            .bind(user.as_str())
            .bind(device)
            .fetch_all(&mut *self.read_conn().await?)
            .await?;
        let mut cursors: HashMap<String, i64> = HashMap::new();
        let mut heads = Vec::with_capacity(rows.len());
        let mut newest_personal_item = 0;
        for row in rows {
            let number = row.number.unwrap_or(0);
            match (row.kind, row.name, row.other_name) {
                (CURSOR_ROW, Some(queue), _) => {
                    cursors.insert(queue, number);
                }
                (GROUP_ROW, _, _) => heads.push((
                    QueueKey::Group(group_id_from_sql(number)),
                    row.head.unwrap_or(0),
                    row.floor.unwrap_or(0),
                    row.shielded,
                )),
                (CHAT_ROW, Some(low), Some(high)) => {
                    let peer = if low == user.as_str() { high } else { low };
                    heads.push((QueueKey::Chat(UserName::from_trusted(peer)), number, 0, false));
                }
                (PERSONAL_ROW, _, _) => newest_personal_item = number,
                (kind, _, _) => return Err(crate::StoreError::Corrupt(format!("user_queues: a row of kind {kind}"))),
            }
        }
        heads.push((QueueKey::Personal, newest_personal_item, 0, false));
        let mut queues: Vec<QueueHead> = heads
            .into_iter()
            .map(|(queue, last_seq, floor_seq, shielded)| {
                let cursor = cursors.get(&queue.as_storage_key()).copied();
                QueueHead { queue, last_seq, floor_seq, cursor, shielded }
            })
            .collect();
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
        advance_statement::<D>(ADVANCE_CURSORS.one_row(), std::iter::once(position))
            .execute(&mut *self.write_conn().await?)
            .await?;
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
