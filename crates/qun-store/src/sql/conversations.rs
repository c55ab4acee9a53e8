//! [`ConversationStore`]: the conversation list, derived from what is stored anyway (group
//! memberships with their timeline heads, 1:1 conversations with theirs), and the few things a
//! user changed of their conversations (`conversation_states`, `history_removals`). A message
//! sent writes nothing here.

use async_trait::async_trait;
use qun_core::UserName;

use super::SqlStore;
use super::dialect::Dialect;
use super::rows::{ChatTimelineRow, TIMELINE_MESSAGE, TimelineRow, group_id_from_sql, id_from_sql, sql_id};
use crate::{
    ConversationChange, ConversationHead, ConversationState, ConversationStore, QueueKey, StoreError, StoreResult,
    TimelineEntry,
};

/// `SET column = the greater of the stored and the new value` in an upsert (SQLite's `MAX(a, b)`
/// is PostgreSQL's `GREATEST`: spelled out, both read it alike).
macro_rules! keep_greater {
    ($column:literal) => {
        concat!(
            $column,
            " = CASE WHEN excluded.",
            $column,
            " > conversation_states.",
            $column,
            " THEN excluded.",
            $column,
            " ELSE conversation_states.",
            $column,
            " END"
        )
    };
}

/// The upsert of each change: `$1` app, `$2` user, `$3` conversation, then the change's values.
const PIN_SQL: &str = "INSERT INTO conversation_states (app_id, user_name, conv, pinned_ms) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (app_id, user_name, conv) DO UPDATE SET pinned_ms = excluded.pinned_ms";
const MARK_SQL: &str = "INSERT INTO conversation_states (app_id, user_name, conv, marks) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (app_id, user_name, conv) DO UPDATE SET marks = conversation_states.marks | excluded.marks";
const UNMARK_SQL: &str = "INSERT INTO conversation_states (app_id, user_name, conv) VALUES ($1, $2, $3) \
     ON CONFLICT (app_id, user_name, conv) DO UPDATE SET marks = conversation_states.marks & $4";
const DELETE_SQL: &str = concat!(
    "INSERT INTO conversation_states (app_id, user_name, conv, hidden_through_seq, cleared_through_seq, read_seq) \
     VALUES ($1, $2, $3, $4, $5, $4) \
     ON CONFLICT (app_id, user_name, conv) DO UPDATE SET pinned_ms = NULL, marks = 0, ",
    keep_greater!("hidden_through_seq"),
    ", ",
    keep_greater!("cleared_through_seq"),
    ", ",
    keep_greater!("read_seq")
);
const CLEAR_BEFORE_SQL: &str = concat!(
    "INSERT INTO conversation_states (app_id, user_name, conv, cleared_before_ms) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (app_id, user_name, conv) DO UPDATE SET ",
    keep_greater!("cleared_before_ms")
);
const READ_SQL: &str = concat!(
    "INSERT INTO conversation_states (app_id, user_name, conv, read_seq) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (app_id, user_name, conv) DO UPDATE SET ",
    keep_greater!("read_seq")
);

#[derive(sqlx::FromRow)]
struct StateRow {
    conv: String,
    pinned_ms: Option<i64>,
    marks: i64,
    hidden_through_seq: i64,
    cleared_through_seq: i64,
    cleared_before_ms: i64,
    read_seq: i64,
}

impl TryFrom<StateRow> for ConversationState {
    type Error = StoreError;

    fn try_from(row: StateRow) -> StoreResult<ConversationState> {
        let conversation = conversation_key(&row.conv)?;
        Ok(ConversationState {
            conversation,
            pinned_ms: row.pinned_ms,
            marks: u32::try_from(row.marks).map_err(|_| StoreError::Corrupt(format!("marks = {}", row.marks)))?,
            hidden_through_seq: row.hidden_through_seq,
            cleared_through_seq: row.cleared_through_seq,
            cleared_before_ms: row.cleared_before_ms,
            read_seq: row.read_seq,
        })
    }
}

/// A group the user is a member of, with its newest message.
#[derive(sqlx::FromRow)]
struct GroupHeadRow {
    group_id: i64,
    cursor_seq: i64,
    #[sqlx(flatten)]
    newest: TimelineRow,
}

/// A 1:1 conversation, with its newest message.
#[derive(sqlx::FromRow)]
struct ChatHeadRow {
    low: String,
    high: String,
    #[sqlx(flatten)]
    newest: ChatTimelineRow,
}

/// A stored conversation key: a group's or a peer's, never the personal queue.
fn conversation_key(key: &str) -> StoreResult<QueueKey> {
    match QueueKey::parse_storage_key(key) {
        Some(key @ (QueueKey::Group(_) | QueueKey::Chat(_))) => Ok(key),
        _ => Err(StoreError::Corrupt(format!("conversation key {key:?}"))),
    }
}

/// What is stored for a key: a group's or a peer's conversation.
fn stored_key(conversation: &QueueKey) -> StoreResult<String> {
    match conversation {
        QueueKey::Group(_) | QueueKey::Chat(_) => Ok(conversation.as_storage_key()),
        QueueKey::Personal => Err(StoreError::NotFound),
    }
}

#[async_trait]
impl<D: Dialect> ConversationStore for SqlStore<D> {
    async fn conversation_heads(&self, app_id: i64, user: &UserName) -> StoreResult<Vec<ConversationHead>> {
        // One snapshot: the groups and the chats of the same moment.
        let mut tx = self.begin_read().await?;
        // Each group's newest message: a walk down its timeline's key to the first message.
        let groups: Vec<GroupHeadRow> = D::query(
            "SELECT m.group_id, m.cursor_seq, \
                    t.seq, t.id, t.kind, t.except_user, t.payload, t.created_ms \
             FROM group_members m JOIN group_timeline t ON t.app_id = m.app_id AND t.group_id = m.group_id \
             WHERE m.app_id = $1 AND m.user_name = $2 \
               AND t.seq = (SELECT n.seq FROM group_timeline n \
                            WHERE n.app_id = m.app_id AND n.group_id = m.group_id AND n.kind = $3 \
                            ORDER BY n.seq DESC LIMIT 1)",
        )
        .bind(app_id)
        .bind(user.as_str())
        .bind(TIMELINE_MESSAGE)
        .fetch_all(&mut tx)
        .await?;
        // Either side, each by its index; a conversation with oneself once.
        let chats: Vec<ChatHeadRow> = D::query(
            "SELECT c.low, c.high, t.seq, t.id, t.payload, t.created_ms \
             FROM chats c JOIN chat_timeline t ON t.app_id = c.app_id AND t.conv = c.conv \
             WHERE c.app_id = $1 AND (c.low = $2 OR (c.high = $2 AND c.low <> $2)) \
               AND t.seq = (SELECT n.seq FROM chat_timeline n WHERE n.app_id = c.app_id AND n.conv = c.conv \
                            AND n.kind = $3 ORDER BY n.seq DESC LIMIT 1)",
        )
        .bind(app_id)
        .bind(user.as_str())
        .bind(TIMELINE_MESSAGE)
        .fetch_all(&mut tx)
        .await?;
        tx.commit().await?;

        let mut heads = Vec::with_capacity(groups.len() + chats.len());
        for row in groups {
            heads.push(ConversationHead {
                conversation: QueueKey::Group(group_id_from_sql(row.group_id)),
                floor_seq: row.cursor_seq,
                newest: TimelineEntry::try_from(row.newest)?,
            });
        }
        for row in chats {
            let peer = if row.low == user.as_str() { row.high } else { row.low };
            heads.push(ConversationHead {
                conversation: QueueKey::Chat(UserName::from_trusted(peer)),
                floor_seq: 0,
                newest: TimelineEntry::from(row.newest),
            });
        }
        heads.sort_by(|a, b| a.conversation.cmp(&b.conversation));
        Ok(heads)
    }

    async fn conversation_states(&self, app_id: i64, user: &UserName) -> StoreResult<Vec<ConversationState>> {
        let rows: Vec<StateRow> = D::query(
            "SELECT conv, pinned_ms, marks, hidden_through_seq, cleared_through_seq, cleared_before_ms, read_seq \
             FROM conversation_states WHERE app_id = $1 AND user_name = $2",
        )
        .bind(app_id)
        .bind(user.as_str())
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        let mut states = rows.into_iter().map(ConversationState::try_from).collect::<StoreResult<Vec<_>>>()?;
        states.sort_by(|a, b| a.conversation.cmp(&b.conversation));
        Ok(states)
    }

    async fn conversation_state(
        &self,
        app_id: i64,
        user: &UserName,
        conversation: &QueueKey,
    ) -> StoreResult<ConversationState> {
        let row: Option<StateRow> = D::query(
            "SELECT conv, pinned_ms, marks, hidden_through_seq, cleared_through_seq, cleared_before_ms, read_seq \
             FROM conversation_states WHERE app_id = $1 AND user_name = $2 AND conv = $3",
        )
        .bind(app_id)
        .bind(user.as_str())
        .bind(stored_key(conversation)?)
        .fetch_optional(&mut *self.read_conn().await?)
        .await?;
        match row {
            Some(row) => row.try_into(),
            None => Ok(ConversationState::untouched(conversation.clone())),
        }
    }

    async fn change_conversations(
        &self,
        app_id: i64,
        user: &UserName,
        conversations: &[QueueKey],
        change: ConversationChange,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        for conversation in conversations {
            let statement = D::query(match change {
                ConversationChange::Pin(_) => PIN_SQL,
                ConversationChange::Mark { marked: true, .. } => MARK_SQL,
                ConversationChange::Mark { marked: false, .. } => UNMARK_SQL,
                ConversationChange::Delete { .. } => DELETE_SQL,
                ConversationChange::ClearHistoryBefore(_) => CLEAR_BEFORE_SQL,
                ConversationChange::Read(_) => READ_SQL,
            })
            .bind(app_id)
            .bind(user.as_str())
            .bind(stored_key(conversation)?);
            let statement = match change {
                ConversationChange::Pin(pinned_ms) => statement.bind(pinned_ms),
                ConversationChange::Mark { mark, marked } => {
                    let bit = 1_i64 << u32::from(mark.min(31));
                    statement.bind(if marked { bit } else { !bit })
                }
                ConversationChange::Delete { through_seq, clear_history } => {
                    statement.bind(through_seq).bind(if clear_history { through_seq } else { 0 })
                }
                ConversationChange::ClearHistoryBefore(before_ms) => statement.bind(before_ms),
                ConversationChange::Read(seq) => statement.bind(seq),
            };
            statement.execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_history_messages(
        &self,
        app_id: i64,
        user: &UserName,
        conversation: &QueueKey,
        message_ids: &[u64],
        max: u32,
    ) -> StoreResult<bool> {
        let conv = stored_key(conversation)?;
        let mut tx = self.begin_write().await?;
        for &message_id in message_ids {
            D::query(
                "INSERT INTO history_removals (app_id, user_name, conv, message_id) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(app_id)
            .bind(user.as_str())
            .bind(conv.as_str())
            .bind(sql_id(message_id))
            .execute(&mut tx)
            .await?;
        }
        let count: i64 =
            D::query("SELECT COUNT(*) FROM history_removals WHERE app_id = $1 AND user_name = $2 AND conv = $3")
                .bind(app_id)
                .bind(user.as_str())
                .bind(conv.as_str())
                .fetch_scalar(&mut tx)
                .await?;
        if count > i64::from(max) {
            // Dropping the transaction rolls it back.
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn removed_history_messages(
        &self,
        app_id: i64,
        user: &UserName,
        conversation: &QueueKey,
    ) -> StoreResult<Vec<u64>> {
        let ids: Vec<i64> = D::query(
            "SELECT message_id FROM history_removals WHERE app_id = $1 AND user_name = $2 AND conv = $3 \
             ORDER BY message_id",
        )
        .bind(app_id)
        .bind(user.as_str())
        .bind(stored_key(conversation)?)
        .fetch_column(&mut *self.read_conn().await?)
        .await?;
        Ok(ids.into_iter().map(id_from_sql).collect())
    }
}
