//! The message writer's transaction ([`MessageStore::append_messages`](crate::MessageStore)):
//! a batch of messages, any conversations, one transaction, a few statements for the whole
//! batch rather than a few per message.
//!
//! An attempt, in order:
//! 1. each group's counter read (PostgreSQL: locked) in id order; each 1:1 conversation created
//!    at 0 if new and its counter read (locked) — one statement for all, in name order;
//! 2. the client ids that an earlier attempt found claimed are looked up: those messages are
//!    `Duplicate`s of the first;
//! 3. in memory: each message numbered in its conversation, a resend within the batch (the same
//!    sender and client id again) answered with the first one's id and seq;
//! 4. the client ids claimed, the messages inserted, the counters written — each one statement
//!    per [`SIZES`](super::multi_row::SIZES) chunk of rows.
//!
//! A claim already taken (by an earlier batch, or on PostgreSQL by a concurrent one, which the
//! insert waits for) or an id already stored leaves its row out of what the statement returns:
//! the attempt then rolls back, and the next one knows. Rare (a client's resend, a clock gone
//! back), so numbering up front and trying again costs less than a statement per message; and a
//! duplicate never takes a sequence number (sequences stay consecutive).
//!
//! Locks on PostgreSQL: groups in id order, then chats in name order, then client ids; two
//! batches wait on the same claim only if one client sends the same client id to two
//! conversations at once, which PostgreSQL may then abort as a deadlock.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use qun_core::UserName;
use sqlx::AssertSqlSafe;

use super::dialect::Dialect;
use super::messages::Target;
use super::multi_row::MultiRow;
use super::rows::{TIMELINE_MESSAGE, id_from_sql, sql_id};
use crate::{AppendOutcome, NewMessage, StoreError, StoreResult};

/// Creates each 1:1 conversation at 0 if new and reads its counter; the no-op update locks an
/// existing row (PostgreSQL) and makes it returned.
static OPEN_CHATS: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(
        "INSERT INTO chats (app_id, conv, low, high, last_seq)",
        "($1, ?, ?, ?, 0)",
        "ON CONFLICT (app_id, conv) DO UPDATE SET last_seq = chats.last_seq RETURNING conv, last_seq",
    )
});
/// DO NOTHING: a failed insert would abort the whole PostgreSQL transaction; the claims not
/// returned were taken already.
static CLAIM_CLIENT_IDS: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(
        "INSERT INTO message_client_ids (app_id, sender, client_id, id, seq)",
        "($1, ?, ?, ?, ?)",
        "ON CONFLICT (app_id, sender, client_id) DO NOTHING RETURNING sender, client_id",
    )
});
static INSERT_GROUP_MESSAGES: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(
        "INSERT INTO group_timeline (app_id, group_id, seq, id, kind, except_user, payload, created_ms)",
        "($1, ?, ?, ?, $2, NULL, ?, ?)",
        "",
    )
});
/// DO NOTHING (see [`CLAIM_CLIENT_IDS`]): the ids not returned were taken already.
static INSERT_CHAT_MESSAGES: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(
        "INSERT INTO chat_timeline (app_id, conv, seq, id, sender, payload, created_ms)",
        "($1, ?, ?, ?, ?, ?, ?)",
        "ON CONFLICT (app_id, id) DO NOTHING RETURNING id",
    )
});
/// Every row exists (created by [`OPEN_CHATS`] in the same transaction).
static WRITE_CHAT_HEADS: LazyLock<MultiRow> = LazyLock::new(|| {
    MultiRow::new(
        "INSERT INTO chats (app_id, conv, low, high, last_seq)",
        "($1, ?, ?, ?, ?)",
        "ON CONFLICT (app_id, conv) DO UPDATE SET last_seq = excluded.last_seq",
    )
});

/// The messages of one call, with where each goes.
pub(super) struct Batch<'m> {
    messages: &'m [NewMessage],
    targets: Vec<Target<'m>>,
}

impl<'m> Batch<'m> {
    pub(super) fn new(messages: &'m [NewMessage]) -> Batch<'m> {
        Batch { messages, targets: messages.iter().map(|m| Target::of(&m.conversation)).collect() }
    }
}

/// What an attempt learned about a message that the next attempt starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Learned {
    Nothing,
    /// Its (sender, client id) was claimed before: it is a resend.
    ClaimTaken,
    /// Its id is stored already: it fails (`AlreadyExists`).
    IdTaken,
}

/// One attempt at the batch in `tx`: the outcomes, or `None` when it learned something (and
/// wrote it into `learned`) and must be rolled back and tried again.
pub(super) async fn append_attempt<D: Dialect>(
    tx: &mut D::Connection,
    app_id: i64,
    batch: &Batch<'_>,
    learned: &mut [Learned],
) -> StoreResult<Option<Vec<StoreResult<AppendOutcome>>>> {
    let messages = batch.messages;
    let mut counters = open_counters::<D>(tx, app_id, batch).await?;

    // Resends of earlier batches: the first message's id and seq.
    let mut outcomes: Vec<Option<StoreResult<AppendOutcome>>> = (0..messages.len()).map(|_| None).collect();
    for (index, message) in messages.iter().enumerate() {
        match learned[index] {
            Learned::Nothing => {}
            Learned::IdTaken => outcomes[index] = Some(Err(StoreError::AlreadyExists)),
            Learned::ClaimTaken => match first_claim::<D>(tx, app_id, message).await? {
                Some(first) => outcomes[index] = Some(Ok(first)),
                // The claim in the way is gone (its sender was deleted meanwhile, PostgreSQL).
                None => learned[index] = Learned::Nothing,
            },
        }
    }

    // Number the rest; a resend within the batch gets the first one's outcome.
    let mut claimed: HashMap<(&str, u64), AppendOutcome> = HashMap::new();
    for (index, message) in messages.iter().enumerate() {
        let key = message.client_id.map(|client_id| (message.sender.as_str(), client_id));
        if let Some(Ok(duplicate)) = outcomes[index] {
            if let Some(key) = key {
                claimed.entry(key).or_insert(duplicate);
            }
            continue;
        }
        if outcomes[index].is_some() {
            continue;
        }
        let Some(counter) = counters.of(&batch.targets[index]) else {
            outcomes[index] = Some(Err(StoreError::NotFound));
            continue;
        };
        if let Some(first) = key.and_then(|key| claimed.get(&key)) {
            outcomes[index] = Some(Ok(*first));
            continue;
        }
        counter.last += 1;
        let stored = AppendOutcome::Stored { seq: counter.last };
        if let Some(key) = key {
            claimed.insert(key, AppendOutcome::Duplicate { id: message.id, seq: counter.last });
        }
        outcomes[index] = Some(Ok(stored));
    }
    let stored: Vec<(usize, i64)> = outcomes
        .iter()
        .enumerate()
        .filter_map(|(index, outcome)| match outcome {
            Some(Ok(AppendOutcome::Stored { seq })) => Some((index, *seq)),
            _ => None,
        })
        .collect();

    if !claim_client_ids::<D>(tx, app_id, messages, &stored, learned).await? {
        return Ok(None);
    }
    insert_group_messages::<D>(tx, app_id, batch, &stored).await?;
    if !insert_chat_messages::<D>(tx, app_id, batch, &stored, learned).await? {
        return Ok(None);
    }
    counters.write::<D>(tx, app_id).await?;
    Ok(Some(outcomes.into_iter().map(|outcome| outcome.expect("every message has an outcome")).collect()))
}

/// The counters of the batch's conversations, as read at its start and moved by it.
struct Counters<'b> {
    /// By group id; `None`: the group does not exist.
    groups: BTreeMap<i64, Option<SeqCounter>>,
    /// By conversation name.
    chats: BTreeMap<&'b str, (&'b UserName, &'b UserName, SeqCounter)>,
}

impl Counters<'_> {
    fn of(&mut self, target: &Target<'_>) -> Option<&mut SeqCounter> {
        match target {
            Target::Group(group_id) => self.groups.get_mut(group_id).and_then(Option::as_mut),
            Target::Chat { conv, .. } => self.chats.get_mut(conv.as_str()).map(|(_, _, counter)| counter),
        }
    }

    /// One write per conversation the batch moved. A group's version and modified time stay:
    /// a message is no change to the group. A chat created by this attempt that got nothing
    /// (every message a duplicate or failed) is deleted: a chat row always has a message.
    async fn write<D: Dialect>(&self, tx: &mut D::Connection, app_id: i64) -> StoreResult<()> {
        for (&group_id, counter) in &self.groups {
            if let Some(counter) = counter.as_ref().filter(|c| c.moved()) {
                D::query("UPDATE groups SET last_seq = $3 WHERE app_id = $1 AND id = $2")
                    .bind(app_id)
                    .bind(group_id)
                    .bind(counter.last)
                    .execute(tx)
                    .await?;
            }
        }
        for (conv, _) in self.chats.iter().filter(|(_, (_, _, counter))| counter.last == 0) {
            D::query("DELETE FROM chats WHERE app_id = $1 AND conv = $2").bind(app_id).bind(*conv).execute(tx).await?;
        }
        let moved: Vec<_> = self.chats.iter().filter(|(_, (_, _, counter))| counter.moved()).collect();
        let mut rows = moved.into_iter();
        for (text, count) in WRITE_CHAT_HEADS.split(rows.len()) {
            let mut statement = D::query(AssertSqlSafe(text)).bind(app_id);
            for (conv, (low, high, counter)) in rows.by_ref().take(count) {
                statement = statement.bind(*conv).bind(low.as_str()).bind(high.as_str()).bind(counter.last);
            }
            statement.execute(tx).await?;
        }
        Ok(())
    }
}

/// Reads (PostgreSQL: locks) the counters of the batch's conversations: groups one by one in
/// id order (a missing group has none), then every chat in one statement per chunk, in name
/// order, created at 0 where new.
async fn open_counters<'b, D: Dialect>(
    tx: &mut D::Connection,
    app_id: i64,
    batch: &'b Batch<'_>,
) -> StoreResult<Counters<'b>> {
    let mut counters = Counters { groups: BTreeMap::new(), chats: BTreeMap::new() };
    for target in &batch.targets {
        match target {
            Target::Group(group_id) => {
                counters.groups.insert(*group_id, None);
            }
            Target::Chat { low, high, conv } => {
                counters.chats.insert(conv.as_str(), (*low, *high, SeqCounter::default()));
            }
        }
    }
    for (&group_id, counter) in &mut counters.groups {
        let last_seq: Option<i64> =
            D::query(D::LOCK_GROUP_SEQ).bind(app_id).bind(group_id).fetch_optional_scalar(tx).await?;
        *counter = last_seq.map(SeqCounter::starting_at);
    }
    let mut rows = counters.chats.iter();
    let mut read: HashMap<String, i64> = HashMap::with_capacity(counters.chats.len());
    for (text, count) in OPEN_CHATS.split(rows.len()) {
        let mut statement = D::query(AssertSqlSafe(text)).bind(app_id);
        for (conv, (low, high, _)) in rows.by_ref().take(count) {
            statement = statement.bind(*conv).bind(low.as_str()).bind(high.as_str());
        }
        read.extend(statement.fetch_all::<(String, i64)>(tx).await?);
    }
    for (conv, (_, _, counter)) in &mut counters.chats {
        let last_seq = read.get(*conv).copied().ok_or_else(|| corrupt("a chat's counter was not returned"))?;
        *counter = SeqCounter::starting_at(last_seq);
    }
    Ok(counters)
}

/// The first message with `message`'s (sender, client id), as a `Duplicate`.
async fn first_claim<D: Dialect>(
    tx: &mut D::Connection,
    app_id: i64,
    message: &NewMessage,
) -> StoreResult<Option<AppendOutcome>> {
    let Some(client_id) = message.client_id else { return Ok(None) };
    let first: Option<(i64, i64)> =
        D::query("SELECT id, seq FROM message_client_ids WHERE app_id = $1 AND sender = $2 AND client_id = $3")
            .bind(app_id)
            .bind(message.sender.as_str())
            .bind(sql_id(client_id))
            .fetch_optional(tx)
            .await?;
    Ok(first.map(|(id, seq)| AppendOutcome::Duplicate { id: id_from_sql(id), seq }))
}

/// Claims the client ids of the `stored` messages (index, seq) that have one. False when some
/// were taken: they are marked in `learned`.
async fn claim_client_ids<D: Dialect>(
    tx: &mut D::Connection,
    app_id: i64,
    messages: &[NewMessage],
    stored: &[(usize, i64)],
    learned: &mut [Learned],
) -> StoreResult<bool> {
    let claims: Vec<(usize, u64, i64)> = stored
        .iter()
        .filter_map(|&(index, seq)| messages[index].client_id.map(|client_id| (index, client_id, seq)))
        .collect();
    let mut rows = claims.iter();
    let mut taken: HashSet<(String, i64)> = HashSet::new();
    for (text, count) in CLAIM_CLIENT_IDS.split(claims.len()) {
        let mut statement = D::query(AssertSqlSafe(text)).bind(app_id);
        let mut asked = Vec::with_capacity(count);
        for &(index, client_id, seq) in rows.by_ref().take(count) {
            let message = &messages[index];
            let key = (message.sender.to_string(), sql_id(client_id));
            statement = statement.bind(message.sender.as_str()).bind(key.1).bind(sql_id(message.id)).bind(seq);
            asked.push(key);
        }
        let returned: HashSet<(String, i64)> = statement.fetch_all::<(String, i64)>(tx).await?.into_iter().collect();
        taken.extend(asked.into_iter().filter(|key| !returned.contains(key)));
    }
    for &(index, client_id, _) in &claims {
        if taken.contains(&(messages[index].sender.to_string(), sql_id(client_id))) {
            learned[index] = Learned::ClaimTaken;
        }
    }
    Ok(taken.is_empty())
}

async fn insert_group_messages<D: Dialect>(
    tx: &mut D::Connection,
    app_id: i64,
    batch: &Batch<'_>,
    stored: &[(usize, i64)],
) -> StoreResult<()> {
    let rows: Vec<(i64, i64, &NewMessage)> = stored
        .iter()
        .filter_map(|&(index, seq)| match batch.targets[index] {
            Target::Group(group_id) => Some((group_id, seq, &batch.messages[index])),
            Target::Chat { .. } => None,
        })
        .collect();
    let mut rows = rows.into_iter();
    for (text, count) in INSERT_GROUP_MESSAGES.split(rows.len()) {
        let mut statement = D::query(AssertSqlSafe(text)).bind(app_id).bind(TIMELINE_MESSAGE);
        for (group_id, seq, message) in rows.by_ref().take(count) {
            statement = statement
                .bind(group_id)
                .bind(seq)
                .bind(sql_id(message.id))
                .bind(message.payload.as_slice())
                .bind(message.created_ms);
        }
        statement.execute(tx).await?;
    }
    Ok(())
}

/// Inserts the stored 1:1 messages. False when some ids were taken: they are marked in
/// `learned`.
async fn insert_chat_messages<D: Dialect>(
    tx: &mut D::Connection,
    app_id: i64,
    batch: &Batch<'_>,
    stored: &[(usize, i64)],
    learned: &mut [Learned],
) -> StoreResult<bool> {
    let rows: Vec<(usize, &str, i64)> = stored
        .iter()
        .filter_map(|&(index, seq)| match &batch.targets[index] {
            Target::Chat { conv, .. } => Some((index, conv.as_str(), seq)),
            Target::Group(_) => None,
        })
        .collect();
    let mut inserted: HashSet<i64> = HashSet::with_capacity(rows.len());
    let mut chunks = rows.iter();
    for (text, count) in INSERT_CHAT_MESSAGES.split(rows.len()) {
        let mut statement = D::query(AssertSqlSafe(text)).bind(app_id);
        for &(index, conv, seq) in chunks.by_ref().take(count) {
            let message = &batch.messages[index];
            statement = statement
                .bind(conv)
                .bind(seq)
                .bind(sql_id(message.id))
                .bind(message.sender.as_str())
                .bind(message.payload.as_slice())
                .bind(message.created_ms);
        }
        inserted.extend(statement.fetch_column::<i64>(tx).await?);
    }
    let mut all = true;
    for &(index, _, _) in &rows {
        if !inserted.contains(&sql_id(batch.messages[index].id)) {
            learned[index] = Learned::IdTaken;
            all = false;
        }
    }
    Ok(all)
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

/// A conversation's sequence counter during a batch: read once, written once.
#[derive(Default)]
struct SeqCounter {
    read: i64,
    last: i64,
}

impl SeqCounter {
    fn starting_at(last_seq: i64) -> SeqCounter {
        SeqCounter { read: last_seq, last: last_seq }
    }

    fn moved(&self) -> bool {
        self.last != self.read
    }
}
