//! [`MessageStore`]: what the queues hold. Group timelines (events and messages, one sequence per
//! group), 1:1 timelines (one sequence per conversation), and personal items.
//!
//! The write path of messages ([`MessageStore::append_messages`]) is one transaction per batch,
//! with a few statements for the whole batch (`append.rs`).

use async_trait::async_trait;
use qun_core::{GroupId, PersonalItem, UserName};
use sqlx::AssertSqlSafe;

use super::SqlStore;
use super::append;
use super::dialect::{Dialect, Statement};
use super::rows::{
    ChatTimelineRow, EventRow, TIMELINE_MESSAGE, TIMELINE_NOTICE, TIMELINE_RECALLED, TimelineRow, chat_name,
    convert_all, group_id_from_sql, sql_id, to_json,
};
use crate::{
    AppendOutcome, Conversation, HistoryDirection, HistoryQuery, MessageChange, MessageStore, NewMessage, StoreError,
    StoreResult, StoredEvent, StoredMessage, TimelineEntry,
};

#[async_trait]
impl<D: Dialect> MessageStore for SqlStore<D> {
    async fn user_events(&self, app_id: i64, user: &UserName, after: u64, limit: u32) -> StoreResult<Vec<StoredEvent>> {
        let rows: Vec<EventRow> = D::query(
            "SELECT id, payload FROM user_events WHERE app_id = $1 AND user_name = $2 AND id > $3 \
             ORDER BY id LIMIT $4",
        )
        .bind(app_id)
        .bind(user.as_str())
        .bind(sql_id(after))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        convert_all(rows)
    }

    async fn add_personal_item(
        &self,
        app_id: i64,
        user: &UserName,
        id: u64,
        item: &PersonalItem,
        now_ms: i64,
    ) -> StoreResult<()> {
        insert_personal_item::<D>(&mut *self.write_conn().await?, app_id, user, id, &to_json(item)?, now_ms).await
    }

    async fn group_timeline(
        &self,
        app_id: i64,
        group_id: GroupId,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<TimelineEntry>> {
        let rows: Vec<TimelineRow> = D::query(concat!(
            "SELECT ",
            timeline_columns!(),
            " FROM group_timeline WHERE app_id = $1 AND group_id = $2 AND seq > $3 AND kind <> $5 \
             ORDER BY seq LIMIT $4"
        ))
        .bind(app_id)
        .bind(sql_id(group_id.0))
        .bind(after_seq)
        .bind(i64::from(limit))
        .bind(TIMELINE_RECALLED)
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        convert_all(rows)
    }

    async fn append_messages(
        &self,
        app_id: i64,
        messages: &[NewMessage],
    ) -> StoreResult<Vec<StoreResult<AppendOutcome>>> {
        if messages.is_empty() {
            return Ok(Vec::new());
        }
        let batch = append::Batch::new(messages);
        // What an attempt learns (a client id claimed by an earlier batch, an id taken) the next
        // one starts from; each attempt that does not commit learns something, so this ends.
        let mut learned = vec![append::Learned::Nothing; messages.len()];
        loop {
            let mut tx = self.begin_write().await?;
            match append::append_attempt::<D>(&mut tx, app_id, &batch, &mut learned).await? {
                Some(results) => {
                    tx.commit().await?;
                    return Ok(results);
                }
                None => tx.rollback().await?,
            }
        }
    }

    async fn chat_timeline(
        &self,
        app_id: i64,
        conversation: &Conversation,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<TimelineEntry>> {
        let (_, _, conv) = match conversation {
            Conversation::Group(group_id) => return self.group_timeline(app_id, *group_id, after_seq, limit).await,
            Conversation::Chat { low, high } => chat_name(low, high),
        };
        let rows: Vec<ChatTimelineRow> = D::query(concat!(
            "SELECT ",
            chat_timeline_columns!(),
            " FROM chat_timeline WHERE app_id = $1 AND conv = $2 AND seq > $3 AND kind <> $5 \
             ORDER BY seq LIMIT $4"
        ))
        .bind(app_id)
        .bind(conv.as_str())
        .bind(after_seq)
        .bind(i64::from(limit))
        .bind(TIMELINE_RECALLED)
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        Ok(rows.into_iter().map(TimelineEntry::from).collect())
    }

    async fn message_by_id(&self, app_id: i64, id: u64) -> StoreResult<Option<StoredMessage>> {
        let mut conn = self.read_conn().await?;
        // Ids are snowflakes from one generator: a message id is in at most one of the two.
        let chat: Option<(String, String, i64, Vec<u8>, i64, i64)> = D::query(
            "SELECT c.low, c.high, t.seq, t.payload, t.created_ms, t.edits FROM chat_timeline t \
             JOIN chats c ON c.app_id = t.app_id AND c.conv = t.conv \
             WHERE t.app_id = $1 AND t.id = $2 AND t.kind = $3",
        )
        .bind(app_id)
        .bind(sql_id(id))
        .bind(TIMELINE_MESSAGE)
        .fetch_optional(&mut conn)
        .await?;
        if let Some((low, high, seq, payload, created_ms, edits)) = chat {
            let conversation =
                Conversation::Chat { low: UserName::from_trusted(low), high: UserName::from_trusted(high) };
            return Ok(Some(StoredMessage {
                conversation,
                seq,
                id,
                payload,
                created_ms,
                edits: edits_from_sql(edits),
            }));
        }
        let group: Option<(i64, i64, Vec<u8>, i64, i64)> = D::query(
            "SELECT group_id, seq, payload, created_ms, edits FROM group_timeline \
             WHERE app_id = $1 AND id = $2 AND kind = $3",
        )
        .bind(app_id)
        .bind(sql_id(id))
        .bind(TIMELINE_MESSAGE)
        .fetch_optional(&mut conn)
        .await?;
        Ok(group.map(|(group_id, seq, payload, created_ms, edits)| StoredMessage {
            conversation: Conversation::Group(group_id_from_sql(group_id)),
            seq,
            id,
            payload,
            created_ms,
            edits: edits_from_sql(edits),
        }))
    }

    async fn change_message(
        &self,
        app_id: i64,
        message_id: u64,
        change: &MessageChange,
        notice: &NewMessage,
    ) -> StoreResult<i64> {
        let target = Target::of(&notice.conversation);
        let (table, key_column, key): (&str, &str, TargetKey<'_>) = match &target {
            Target::Group(group_id) => ("group_timeline", "group_id", TargetKey::Group(*group_id)),
            Target::Chat { conv, .. } => ("chat_timeline", "conv", TargetKey::Chat(conv.as_str())),
        };
        let mut tx = self.begin_write().await?;
        // The conversation's counter first, as the message writer takes it (it waits on ours).
        let counter = match key {
            TargetKey::Group(group_id) => {
                D::query("UPDATE groups SET last_seq = last_seq + 1 WHERE app_id = $1 AND id = $2 RETURNING last_seq")
                    .bind(app_id)
                    .bind(group_id)
                    .fetch_optional_scalar::<i64>(&mut tx)
                    .await?
            }
            TargetKey::Chat(conv) => {
                D::query("UPDATE chats SET last_seq = last_seq + 1 WHERE app_id = $1 AND conv = $2 RETURNING last_seq")
                    .bind(app_id)
                    .bind(conv)
                    .fetch_optional_scalar::<i64>(&mut tx)
                    .await?
            }
        };
        let Some(seq) = counter else { return Err(StoreError::NotFound) };
        let changed = match change {
            MessageChange::Recall => {
                D::query(AssertSqlSafe(format!(
                    "UPDATE {table} SET kind = $4, payload = $5 \
                     WHERE app_id = $1 AND {key_column} = $2 AND id = $3 AND kind = $6"
                )))
                .bind(app_id)
                .bind_key(key)
                .bind(sql_id(message_id))
                .bind(TIMELINE_RECALLED)
                .bind(Vec::<u8>::new())
                .bind(TIMELINE_MESSAGE)
                .execute(&mut tx)
                .await?
            }
            MessageChange::Edit { payload, expected_edits } => {
                let updated = D::query(AssertSqlSafe(format!(
                    "UPDATE {table} SET payload = $4, edits = edits + 1 \
                     WHERE app_id = $1 AND {key_column} = $2 AND id = $3 AND kind = $5 AND edits = $6"
                )))
                .bind(app_id)
                .bind_key(key)
                .bind(sql_id(message_id))
                .bind(payload.as_slice())
                .bind(TIMELINE_MESSAGE)
                .bind(i64::from(*expected_edits))
                .execute(&mut tx)
                .await?;
                if updated == 0 {
                    let still_there: Option<i64> = D::query(AssertSqlSafe(format!(
                        "SELECT edits FROM {table} WHERE app_id = $1 AND {key_column} = $2 AND id = $3 AND kind = $4"
                    )))
                    .bind(app_id)
                    .bind_key(key)
                    .bind(sql_id(message_id))
                    .bind(TIMELINE_MESSAGE)
                    .fetch_optional_scalar(&mut tx)
                    .await?;
                    if still_there.is_some() {
                        return Err(StoreError::Conflict);
                    }
                }
                updated
            }
        };
        if changed == 0 {
            return Err(StoreError::NotFound);
        }
        match key {
            TargetKey::Group(group_id) => {
                D::query(
                    "INSERT INTO group_timeline (app_id, group_id, seq, id, kind, except_user, payload, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)",
                )
                .bind(app_id)
                .bind(group_id)
                .bind(seq)
                .bind(sql_id(notice.id))
                .bind(TIMELINE_NOTICE)
                .bind(notice.payload.as_slice())
                .bind(notice.created_ms)
                .execute(&mut tx)
                .await?;
            }
            TargetKey::Chat(conv) => {
                D::query(
                    "INSERT INTO chat_timeline (app_id, conv, seq, id, sender, payload, created_ms, kind) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(app_id)
                .bind(conv)
                .bind(seq)
                .bind(sql_id(notice.id))
                .bind(notice.sender.as_str())
                .bind(notice.payload.as_slice())
                .bind(notice.created_ms)
                .bind(TIMELINE_NOTICE)
                .execute(&mut tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(seq)
    }

    async fn history(
        &self,
        app_id: i64,
        conversation: &Conversation,
        before_id: Option<u64>,
        limit: u32,
    ) -> StoreResult<Vec<TimelineEntry>> {
        // Entries before the seq of `before_id`; with no id, before a seq above all (`id = NULL`
        // finds nothing); an id that is not there, before none.
        let before = before_id.map(sql_id);
        let no_entry_bound = if before.is_some() { i64::MIN } else { i64::MAX };
        let mut conn = self.read_conn().await?;
        match conversation {
            Conversation::Group(group_id) => {
                let rows: Vec<TimelineRow> = D::query(concat!(
                    "SELECT ",
                    timeline_columns!(),
                    " FROM group_timeline WHERE app_id = $1 AND group_id = $2 AND kind = $3 \
                     AND seq < COALESCE((SELECT seq FROM group_timeline \
                                         WHERE app_id = $1 AND group_id = $2 AND id = $4), $5) \
                     ORDER BY seq DESC LIMIT $6"
                ))
                .bind(app_id)
                .bind(sql_id(group_id.0))
                .bind(TIMELINE_MESSAGE)
                .bind(before)
                .bind(no_entry_bound)
                .bind(i64::from(limit))
                .fetch_all(&mut conn)
                .await?;
                convert_all(rows)
            }
            Conversation::Chat { low, high } => {
                let (_, _, conv) = chat_name(low, high);
                let rows: Vec<ChatTimelineRow> = D::query(concat!(
                    "SELECT ",
                    chat_timeline_columns!(),
                    " FROM chat_timeline WHERE app_id = $1 AND conv = $2 \
                     AND seq < COALESCE((SELECT seq FROM chat_timeline \
                                         WHERE app_id = $1 AND conv = $2 AND id = $3), $4) \
                     AND kind = $6 ORDER BY seq DESC LIMIT $5"
                ))
                .bind(app_id)
                .bind(conv.as_str())
                .bind(before)
                .bind(no_entry_bound)
                .bind(i64::from(limit))
                .bind(TIMELINE_MESSAGE)
                .fetch_all(&mut conn)
                .await?;
                Ok(rows.into_iter().map(TimelineEntry::from).collect())
            }
        }
    }

    async fn history_page(
        &self,
        app_id: i64,
        conversation: &Conversation,
        query: &HistoryQuery,
    ) -> StoreResult<Vec<TimelineEntry>> {
        history_page::<D>(&mut *self.read_conn().await?, app_id, conversation, query).await
    }
}

/// A history page's statement over `$table` (its conversation in column `$conversation`):
/// `$1` app, `$2` conversation, `$3` after_seq, `$4`/`$5` the time range, `$6` the id to start
/// from, `$7` the bound when there is none (or it is unknown), `$8` limit; `$extra` adds a
/// condition (`$9`, the message kind: history is messages only). `$cmp` and `$order` give the
/// direction.
macro_rules! history_page_sql {
    ($columns:expr, $table:literal, $conversation:literal, $extra:literal, $cmp:literal, $order:literal) => {
        concat!(
            "SELECT ",
            $columns,
            " FROM ",
            $table,
            " WHERE app_id = $1 AND ",
            $conversation,
            " = $2",
            $extra,
            " AND seq > $3 AND created_ms >= $4 AND created_ms <= $5 AND seq ",
            $cmp,
            " COALESCE((SELECT seq FROM ",
            $table,
            " WHERE app_id = $1 AND ",
            $conversation,
            " = $2 AND id = $6), $7) ORDER BY seq ",
            $order,
            " LIMIT $8"
        )
    };
}

/// [`MessageStore::history_page`], a method of its own beside `history` (which keeps its
/// behaviour): the conversation's entries from `query.from_id` in `query.direction`.
async fn history_page<D: Dialect>(
    conn: &mut D::Connection,
    app_id: i64,
    conversation: &Conversation,
    query: &HistoryQuery,
) -> StoreResult<Vec<TimelineEntry>> {
    let older = query.direction == HistoryDirection::Older;
    // With no id, from the end the direction starts at; an id that is not there, nothing.
    let bound = match (query.from_id.is_some(), older) {
        (false, true) | (true, false) => i64::MAX,
        (false, false) | (true, true) => i64::MIN,
    };
    let bind = |statement: Statement<D>| {
        statement
            .bind(query.after_seq)
            .bind(query.since_ms)
            .bind(query.until_ms)
            .bind(query.from_id.map(sql_id))
            .bind(bound)
            .bind(i64::from(query.limit))
    };
    match conversation {
        Conversation::Group(group_id) => {
            let sql = if older {
                history_page_sql!(timeline_columns!(), "group_timeline", "group_id", " AND kind = $9", "<", "DESC")
            } else {
                history_page_sql!(timeline_columns!(), "group_timeline", "group_id", " AND kind = $9", ">", "ASC")
            };
            let statement = bind(D::query(sql).bind(app_id).bind(sql_id(group_id.0))).bind(TIMELINE_MESSAGE);
            let rows: Vec<TimelineRow> = statement.fetch_all(conn).await?;
            convert_all(rows)
        }
        Conversation::Chat { low, high } => {
            let (_, _, conv) = chat_name(low, high);
            // Messages only: recall and edit notices, and recalled messages, are not history.
            let sql = if older {
                history_page_sql!(chat_timeline_columns!(), "chat_timeline", "conv", " AND kind = $9", "<", "DESC")
            } else {
                history_page_sql!(chat_timeline_columns!(), "chat_timeline", "conv", " AND kind = $9", ">", "ASC")
            };
            let statement = bind(D::query(sql).bind(app_id).bind(conv)).bind(TIMELINE_MESSAGE);
            let rows: Vec<ChatTimelineRow> = statement.fetch_all(conn).await?;
            Ok(rows.into_iter().map(TimelineEntry::from).collect())
        }
    }
}

/// Stores one personal item (`payload`, JSON) of `user` under `id`; a second one under the same
/// id is ignored.
pub(super) async fn insert_personal_item<D: Dialect>(
    conn: &mut D::Connection,
    app_id: i64,
    user: &UserName,
    id: u64,
    payload: &str,
    now_ms: i64,
) -> StoreResult<()> {
    D::query(
        "INSERT INTO user_events (app_id, user_name, id, payload, created_ms) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT DO NOTHING",
    )
    .bind(app_id)
    .bind(user.as_str())
    .bind(sql_id(id))
    .bind(payload)
    .bind(now_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// How many times a message was edited, as stored (never negative).
fn edits_from_sql(edits: i64) -> u32 {
    u32::try_from(edits).unwrap_or(u32::MAX)
}

/// The key of a conversation's rows in its timeline table (`group_id` or `conv`).
#[derive(Clone, Copy)]
enum TargetKey<'m> {
    Group(i64),
    Chat(&'m str),
}

impl<D: Dialect> super::dialect::Statement<D> {
    /// Binds a conversation's key: a group's id or a 1:1 conversation's name.
    fn bind_key(self, key: TargetKey<'_>) -> Self {
        match key {
            TargetKey::Group(group_id) => self.bind(group_id),
            TargetKey::Chat(conv) => self.bind(conv),
        }
    }
}

/// Where a message goes, as stored.
pub(super) enum Target<'m> {
    Group(i64),
    Chat { low: &'m UserName, high: &'m UserName, conv: String },
}

impl<'m> Target<'m> {
    pub(super) fn of(conversation: &'m Conversation) -> Target<'m> {
        match conversation {
            Conversation::Group(group_id) => Target::Group(sql_id(group_id.0)),
            Conversation::Chat { low, high } => {
                let (low, high, conv) = chat_name(low, high);
                Target::Chat { low, high, conv }
            }
        }
    }
}
