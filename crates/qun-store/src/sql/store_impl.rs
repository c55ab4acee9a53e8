//! The one implementation of [`Store`](crate::Store) in SQL, expanded for each backend.
//!
//! `impl_store!` writes every method once; it is expanded for `sqlx::Sqlite` and for
//! `sqlx::Postgres`, so each expansion is ordinary code on concrete types (sqlx's generic
//! bounds are not worth spelling out per query). The SQL is the common dialect of both:
//! `$n` placeholders, `ON CONFLICT`, `RETURNING`, `TRUE`/`FALSE`. A dialect difference goes
//! into the schema or a parameter of the expansion, never into a second copy of a method.
//!
//! The store it is expanded for has two pools: `writer` for transactions that write and
//! `reader` for reads. For SQLite the writer is one connection (SQLite runs one write
//! transaction at a time, so writers queue in the pool rather than retry on SQLITE_BUSY) and
//! readers read the WAL in parallel; for PostgreSQL both are the same pool. The backend also
//! names the statements that begin a write and a multi-statement read transaction.
//!
//! Locking order (PostgreSQL): a write locks a group row before that group's member rows, and
//! several group rows in id order, then chat rows in name order, so two writers never wait on
//! each other in a cycle. (A message's client id is claimed while its conversation is locked,
//! so two batches wait on the same claim only if one client sends the same client id to two
//! conversations at once; PostgreSQL would then abort one of them as a deadlock.)
//!
//! The write path of messages ([`Store::append_messages`](crate::Store::append_messages)) is one
//! transaction per batch: a read and a write of each conversation's sequence counter, and per
//! message one claim of its client id and one insert, with the same SQL text every time so the
//! connection's prepared statements are reused.

macro_rules! impl_store {
    (
        module: $module:ident,
        store: $store:ident,
        database: $database:ty,
        backend: $backend:literal,
        begin_write: $begin_write:literal,
        begin_read: $begin_read:literal,
        lock_row: $lock_row:literal $(,)?
    ) => {
        mod $module {
            use std::collections::{BTreeMap, BTreeSet, HashMap};

            use async_trait::async_trait;
            use qun_core::{Audience, GroupId, MemberRole, PersonalItem, RoomId, UserName};
            use sqlx::FromRow as _;
            use sqlx::Row as _;

            use super::$store;
            use super::rows::*;
            use crate::{
                AppRecord, AppSettings, AppendOutcome, AppliedChange, Conversation, GroupChange, GroupMutation,
                GroupRecord, GroupSnapshot, MemberPage, MembershipRecord, NewApp, NewGroup, NewMessage, NewRoom, NewUser,
                QueueHead, QueueKey, RequestKind, RequestRecord, RoomAttributeRecord, RoomChange, RoomMemberRecord,
                RoomMutation, RoomPresence, RoomRecord, RoomSnapshot, SharedFileRecord, Store, StoreError, StoreResult,
                StoredEvent, TimelineEntry, TokenRecord, UserInGroup, UserInRoom, UserRecord,
            };

            type Connection = <$database as sqlx::Database>::Connection;
            type Query<'q> = sqlx::query::Query<'q, $database, <$database as sqlx::Database>::Arguments>;

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> &'static str {
                    $backend
                }

                async fn ping(&self) -> StoreResult<()> {
                    sqlx::query("SELECT 1").execute(&self.reader).await?;
                    Ok(())
                }

                // ------------------------------------------------------------ apps

                async fn ensure_app(&self, new: &NewApp) -> StoreResult<AppRecord> {
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    sqlx::query(
                        "INSERT INTO apps (uuid, org, name, client_id, client_secret_hash, settings, created_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org, name) DO NOTHING",
                    )
                    .bind(&new.uuid)
                    .bind(&new.org)
                    .bind(&new.name)
                    .bind(&new.client_id)
                    .bind(new.client_secret_hash.as_slice())
                    .bind(to_json(&new.settings)?)
                    .bind(new.created_ms)
                    .execute(&mut *tx)
                    .await?;
                    let app: AppRow =
                        sqlx::query_as(concat!("SELECT ", app_columns!(), " FROM apps WHERE org = $1 AND name = $2"))
                            .bind(&new.org)
                            .bind(&new.name)
                            .fetch_one(&mut *tx)
                            .await?;
                    tx.commit().await?;
                    app.try_into()
                }

                async fn app_by_key(&self, org: &str, app: &str) -> StoreResult<Option<AppRecord>> {
                    let row: Option<AppRow> =
                        sqlx::query_as(concat!("SELECT ", app_columns!(), " FROM apps WHERE org = $1 AND name = $2"))
                            .bind(org)
                            .bind(app)
                            .fetch_optional(&self.reader)
                            .await?;
                    row.map(AppRecord::try_from).transpose()
                }

                async fn update_app_settings(&self, app_id: i64, settings: &AppSettings) -> StoreResult<()> {
                    let updated = sqlx::query("UPDATE apps SET settings = $2 WHERE id = $1")
                        .bind(app_id)
                        .bind(to_json(settings)?)
                        .execute(&self.writer)
                        .await?
                        .rows_affected();
                    if updated == 0 { Err(StoreError::NotFound) } else { Ok(()) }
                }

                async fn set_app_credentials(
                    &self,
                    app_id: i64,
                    client_id: &str,
                    client_secret_hash: &[u8],
                ) -> StoreResult<()> {
                    let updated = sqlx::query("UPDATE apps SET client_id = $2, client_secret_hash = $3 WHERE id = $1")
                        .bind(app_id)
                        .bind(client_id)
                        .bind(client_secret_hash)
                        .execute(&self.writer)
                        .await?
                        .rows_affected();
                    if updated == 0 { Err(StoreError::NotFound) } else { Ok(()) }
                }

                // ------------------------------------------------------------ users

                async fn create_users(
                    &self,
                    app_id: i64,
                    users: &[NewUser],
                ) -> StoreResult<Vec<Result<UserRecord, StoreError>>> {
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    let mut results = Vec::with_capacity(users.len());
                    for user in users {
                        // DO NOTHING rather than a failed insert: a failed statement would abort
                        // the whole PostgreSQL transaction, and the others must still go in.
                        let row: Option<UserRow> = sqlx::query_as(concat!(
                            "INSERT INTO users (app_id, name, uuid, password_hash, nickname, activated, \
                             created_ms, modified_ms) VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6) \
                             ON CONFLICT (app_id, name) DO NOTHING RETURNING ",
                            user_columns!()
                        ))
                        .bind(app_id)
                        .bind(user.name.as_str())
                        .bind(&user.uuid)
                        .bind(&user.password_hash)
                        .bind(&user.nickname)
                        .bind(user.created_ms)
                        .fetch_optional(&mut *tx)
                        .await?;
                        results.push(row.map(UserRecord::from).ok_or(StoreError::AlreadyExists));
                    }
                    tx.commit().await?;
                    Ok(results)
                }

                async fn user(&self, app_id: i64, name: &UserName) -> StoreResult<Option<UserRecord>> {
                    let row: Option<UserRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE app_id = $1 AND name = $2"
                    ))
                    .bind(app_id)
                    .bind(name.as_str())
                    .fetch_optional(&self.reader)
                    .await?;
                    Ok(row.map(UserRecord::from))
                }

                async fn users_page(
                    &self,
                    app_id: i64,
                    after: Option<&UserName>,
                    limit: u32,
                ) -> StoreResult<Vec<UserRecord>> {
                    // Names are never empty, so "" is before the first.
                    let rows: Vec<UserRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE app_id = $1 AND name > $2 ORDER BY name LIMIT $3"
                    ))
                    .bind(app_id)
                    .bind(after.map_or("", UserName::as_str))
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(rows.into_iter().map(UserRecord::from).collect())
                }

                async fn delete_user(&self, app_id: i64, name: &UserName) -> StoreResult<Option<UserRecord>> {
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    let user: Option<UserRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        user_columns!(),
                        " FROM users WHERE app_id = $1 AND name = $2"
                    ))
                    .bind(app_id)
                    .bind(name.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(user) = user else { return Ok(None) };

                    let memberships: Vec<(i64, i16)> =
                        sqlx::query_as("SELECT group_id, role FROM group_members WHERE app_id = $1 AND user_name = $2")
                            .bind(app_id)
                            .bind(name.as_str())
                            .fetch_all(&mut *tx)
                            .await?;
                    let blocked_in: Vec<i64> =
                        sqlx::query_scalar("SELECT group_id FROM group_blocks WHERE app_id = $1 AND user_name = $2")
                            .bind(app_id)
                            .bind(name.as_str())
                            .fetch_all(&mut *tx)
                            .await?;
                    // The groups where the user's standing changes: left (but not owned) or
                    // unblocked. A BTreeSet locks them in id order.
                    let owner = MemberRole::Owner.code();
                    let changed_groups: BTreeSet<i64> = memberships
                        .iter()
                        .filter(|(_, role)| *role != owner)
                        .map(|(group_id, _)| *group_id)
                        .chain(blocked_in)
                        .collect();
                    for &group_id in &changed_groups {
                        let sql = "UPDATE groups SET version = version + 1 WHERE app_id = $1 AND id = $2";
                        on_group(sql, app_id, group_id).execute(&mut *tx).await?;
                        let sql = "DELETE FROM group_members \
                                   WHERE app_id = $1 AND group_id = $2 AND user_name = $3 AND role <> $4 \
                                   RETURNING role";
                        let left_role: Option<i16> = sqlx::query_scalar(sql)
                            .bind(app_id)
                            .bind(group_id)
                            .bind(name.as_str())
                            .bind(owner)
                            .fetch_optional(&mut *tx)
                            .await?;
                        if let Some(role) = left_role {
                            let mut counts = CountChange::default();
                            counts.member_left(MemberRole::from_code(role));
                            counts.write(&mut tx, app_id, group_id).await?;
                        }
                        let sql = "DELETE FROM group_blocks WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                        on_member(sql, app_id, group_id, name).execute(&mut *tx).await?;
                    }
                    // Attributes go in every group, the owned ones included.
                    for &(group_id, _) in &memberships {
                        let sql =
                            "DELETE FROM group_member_attrs WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                        on_member(sql, app_id, group_id, name).execute(&mut *tx).await?;
                    }
                    // Chat rooms: their presence, roles, list entries and auto-delete attributes
                    // go; rooms they own keep them as owner of record. Rooms in id order (after
                    // the groups), each with a new version.
                    let touched_rooms: BTreeSet<i64> = sqlx::query_scalar(
                        "SELECT room_id FROM room_members WHERE app_id = $1 AND user_name = $2 \
                         UNION SELECT room_id FROM room_admins WHERE app_id = $1 AND user_name = $2 \
                         UNION SELECT room_id FROM room_blocks WHERE app_id = $1 AND user_name = $2 \
                         UNION SELECT room_id FROM room_allowlist WHERE app_id = $1 AND user_name = $2 \
                         UNION SELECT room_id FROM room_mutes WHERE app_id = $1 AND user_name = $2 \
                         UNION SELECT room_id FROM room_attributes WHERE app_id = $1 AND owner = $2 AND auto_delete",
                    )
                    .bind(app_id)
                    .bind(name.as_str())
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
                    for &room_id in &touched_rooms {
                        let sql = "UPDATE rooms SET version = version + 1 WHERE app_id = $1 AND id = $2";
                        on_group(sql, app_id, room_id).execute(&mut *tx).await?;
                        let mut counts = RoomCounts::default();
                        let sql = "DELETE FROM room_members WHERE app_id = $1 AND room_id = $2 AND user_name = $3";
                        counts.members -= on_member(sql, app_id, room_id, name).execute(&mut *tx).await?.rows_affected() as i64;
                        let sql = "DELETE FROM room_admins WHERE app_id = $1 AND room_id = $2 AND user_name = $3";
                        counts.admins -= on_member(sql, app_id, room_id, name).execute(&mut *tx).await?.rows_affected() as i64;
                        for sql in [
                            "DELETE FROM room_blocks WHERE app_id = $1 AND room_id = $2 AND user_name = $3",
                            "DELETE FROM room_allowlist WHERE app_id = $1 AND room_id = $2 AND user_name = $3",
                            "DELETE FROM room_mutes WHERE app_id = $1 AND room_id = $2 AND user_name = $3",
                            "DELETE FROM room_attributes WHERE app_id = $1 AND room_id = $2 AND owner = $3 AND auto_delete",
                        ] {
                            on_member(sql, app_id, room_id, name).execute(&mut *tx).await?;
                        }
                        counts.write(&mut tx, app_id, room_id).await?;
                    }
                    // Their messages stay (the peers and the groups keep their history), but not
                    // what the server remembers of their clients and devices.
                    for statement in [
                        "DELETE FROM group_requests WHERE app_id = $1 AND user_name = $2",
                        "DELETE FROM user_events WHERE app_id = $1 AND user_name = $2",
                        "DELETE FROM delivery_cursors WHERE app_id = $1 AND user_name = $2",
                        "DELETE FROM message_client_ids WHERE app_id = $1 AND sender = $2",
                        "DELETE FROM room_super_admins WHERE app_id = $1 AND user_name = $2",
                        // Takes the user's tokens with it (ON DELETE CASCADE).
                        "DELETE FROM users WHERE app_id = $1 AND name = $2",
                    ] {
                        sqlx::query(statement).bind(app_id).bind(name.as_str()).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(Some(user.into()))
                }

                async fn set_password(
                    &self,
                    app_id: i64,
                    name: &UserName,
                    password_hash: &str,
                    now_ms: i64,
                ) -> StoreResult<bool> {
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    let updated = sqlx::query(
                        "UPDATE users SET password_hash = $3, modified_ms = $4 WHERE app_id = $1 AND name = $2",
                    )
                    .bind(app_id)
                    .bind(name.as_str())
                    .bind(password_hash)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        > 0;
                    if updated {
                        revoke_tokens(&mut tx, app_id, name).await?;
                    }
                    tx.commit().await?;
                    Ok(updated)
                }

                async fn set_activated(
                    &self,
                    app_id: i64,
                    name: &UserName,
                    activated: bool,
                    now_ms: i64,
                ) -> StoreResult<Option<UserRecord>> {
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    let row: Option<UserRow> = sqlx::query_as(concat!(
                        "UPDATE users SET activated = $3, modified_ms = $4 WHERE app_id = $1 AND name = $2 RETURNING ",
                        user_columns!()
                    ))
                    .bind(app_id)
                    .bind(name.as_str())
                    .bind(activated)
                    .bind(now_ms)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if row.is_some() && !activated {
                        revoke_tokens(&mut tx, app_id, name).await?;
                    }
                    tx.commit().await?;
                    Ok(row.map(UserRecord::from))
                }

                async fn set_nickname(
                    &self,
                    app_id: i64,
                    name: &UserName,
                    nickname: &str,
                    now_ms: i64,
                ) -> StoreResult<Option<UserRecord>> {
                    let row: Option<UserRow> = sqlx::query_as(concat!(
                        "UPDATE users SET nickname = $3, modified_ms = $4 WHERE app_id = $1 AND name = $2 RETURNING ",
                        user_columns!()
                    ))
                    .bind(app_id)
                    .bind(name.as_str())
                    .bind(nickname)
                    .bind(now_ms)
                    .fetch_optional(&self.writer)
                    .await?;
                    Ok(row.map(UserRecord::from))
                }

                // ------------------------------------------------------------ tokens

                async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
                    sqlx::query(
                        "INSERT INTO tokens (hash, app_id, user_name, created_ms, expires_ms) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(token.hash.as_slice())
                    .bind(token.app_id)
                    .bind(token.user.as_ref().map(UserName::as_str))
                    .bind(token.created_ms)
                    .bind(token.expires_ms)
                    .execute(&self.writer)
                    .await
                    .map_err(unique_violation_is_already_exists)?;
                    Ok(())
                }

                async fn token(&self, token_hash: &[u8], now_ms: i64) -> StoreResult<Option<TokenRecord>> {
                    let row: Option<TokenRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        token_columns!(),
                        " FROM tokens WHERE hash = $1 AND (expires_ms IS NULL OR expires_ms > $2)"
                    ))
                    .bind(token_hash)
                    .bind(now_ms)
                    .fetch_optional(&self.reader)
                    .await?;
                    Ok(row.map(TokenRecord::from))
                }

                // ------------------------------------------------------------ groups: writes

                async fn create_group(
                    &self,
                    app_id: i64,
                    group: &NewGroup,
                    change: &GroupChange,
                ) -> StoreResult<AppliedChange> {
                    const VERSION: i64 = 1;
                    let settings = &group.settings;
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO groups (app_id, id, owner, name, description, avatar, public, \
                         approval_required, allow_invites, invite_need_confirm, max_users, custom, version, \
                         created_ms, modified_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
                         ON CONFLICT (app_id, id) DO NOTHING",
                    )
                    .bind(app_id)
                    .bind(sql_id(group.id.0))
                    .bind(group.owner.as_str())
                    .bind(&settings.name)
                    .bind(&settings.description)
                    .bind(&settings.avatar)
                    .bind(settings.public)
                    .bind(settings.approval_required)
                    .bind(settings.allow_invites)
                    .bind(settings.invite_need_confirm)
                    .bind(i64::from(settings.max_users))
                    .bind(&settings.custom)
                    .bind(VERSION)
                    .bind(group.created_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::AlreadyExists);
                    }
                    let timeline_seqs = apply_change(&mut tx, app_id, group.id, change).await?;
                    tx.commit().await?;
                    Ok(AppliedChange { version: VERSION, timeline_seqs })
                }

                async fn apply_group_change(
                    &self,
                    app_id: i64,
                    group_id: GroupId,
                    expected_version: i64,
                    change: &GroupChange,
                ) -> StoreResult<AppliedChange> {
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    // The compare-and-set that makes the change optimistic; it also locks the
                    // group row (PostgreSQL) until commit.
                    let version: Option<i64> = sqlx::query_scalar(
                        "UPDATE groups SET version = version + 1, modified_ms = $4 \
                         WHERE app_id = $1 AND id = $2 AND version = $3 RETURNING version",
                    )
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .bind(expected_version)
                    .bind(change.now_ms)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(version) = version else {
                        let exists: bool =
                            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM groups WHERE app_id = $1 AND id = $2)")
                                .bind(app_id)
                                .bind(sql_id(group_id.0))
                                .fetch_one(&mut *tx)
                                .await?;
                        return Err(if exists { StoreError::Conflict } else { StoreError::NotFound });
                    };
                    let timeline_seqs = apply_change(&mut tx, app_id, group_id, change).await?;
                    tx.commit().await?;
                    Ok(AppliedChange { version, timeline_seqs })
                }

                // ------------------------------------------------------------ groups: reads

                async fn group_snapshot(
                    &self,
                    app_id: i64,
                    group_id: GroupId,
                    users: &[UserName],
                    _now_ms: i64,
                ) -> StoreResult<Option<GroupSnapshot>> {
                    // One read transaction: the group and the standings are of the same moment.
                    let mut tx = self.reader.begin_with($begin_read).await?;
                    let Some(group) = fetch_group(&mut tx, app_id, group_id).await? else {
                        return Ok(None);
                    };
                    let mut standings = Vec::with_capacity(users.len());
                    for user in users {
                        let (exists, blocklisted): (bool, bool) = sqlx::query_as(
                            "SELECT EXISTS (SELECT 1 FROM users WHERE app_id = $1 AND name = $3), \
                             EXISTS (SELECT 1 FROM group_blocks \
                                     WHERE app_id = $1 AND group_id = $2 AND user_name = $3)",
                        )
                        .bind(app_id)
                        .bind(sql_id(group_id.0))
                        .bind(user.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                        let membership: Option<MemberRow> = sqlx::query_as(concat!(
                            "SELECT ",
                            member_columns!(),
                            " FROM group_members m WHERE m.app_id = $1 AND m.group_id = $2 AND m.user_name = $3"
                        ))
                        .bind(app_id)
                        .bind(sql_id(group_id.0))
                        .bind(user.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                        standings.push(UserInGroup {
                            user: user.clone(),
                            exists,
                            membership: membership.map(MembershipRecord::from),
                            blocklisted,
                        });
                    }
                    tx.commit().await?;
                    Ok(Some(GroupSnapshot { group, users: standings }))
                }

                async fn groups(&self, app_id: i64, ids: &[GroupId]) -> StoreResult<Vec<GroupRecord>> {
                    let mut tx = self.reader.begin_with($begin_read).await?;
                    let mut groups = Vec::with_capacity(ids.len());
                    for &group_id in ids {
                        groups.extend(fetch_group(&mut tx, app_id, group_id).await?);
                    }
                    tx.commit().await?;
                    Ok(groups)
                }

                async fn groups_page(
                    &self,
                    app_id: i64,
                    public_only: bool,
                    before: Option<GroupId>,
                    limit: u32,
                ) -> StoreResult<Vec<GroupRecord>> {
                    let rows: Vec<GroupRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        group_columns!(),
                        " FROM groups g WHERE g.app_id = $1 AND g.id < $2 AND (g.public OR NOT $3) \
                         ORDER BY g.id DESC LIMIT $4"
                    ))
                    .bind(app_id)
                    .bind(before.map_or(i64::MAX, |before| sql_id(before.0)))
                    .bind(public_only)
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
                    .await?;
                    convert_all(rows)
                }

                async fn user_groups(
                    &self,
                    app_id: i64,
                    user: &UserName,
                    offset: u32,
                    limit: u32,
                ) -> StoreResult<(Vec<(GroupRecord, MembershipRecord)>, u64)> {
                    let mut tx = self.reader.begin_with($begin_read).await?;
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        group_columns!(),
                        ", ",
                        member_columns!(),
                        " FROM group_members m JOIN groups g ON g.app_id = m.app_id AND g.id = m.group_id \
                         WHERE m.app_id = $1 AND m.user_name = $2 ORDER BY m.join_order DESC LIMIT $3 OFFSET $4"
                    ))
                    .bind(app_id)
                    .bind(user.as_str())
                    .bind(i64::from(limit))
                    .bind(i64::from(offset))
                    .fetch_all(&mut *tx)
                    .await?;
                    let total: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM group_members WHERE app_id = $1 AND user_name = $2")
                            .bind(app_id)
                            .bind(user.as_str())
                            .fetch_one(&mut *tx)
                            .await?;
                    tx.commit().await?;
                    let groups = rows
                        .iter()
                        .map(|row| {
                            let group = GroupRecord::try_from(GroupRow::from_row(row)?)?;
                            Ok((group, MemberRow::from_row(row)?.into()))
                        })
                        .collect::<StoreResult<Vec<_>>>()?;
                    let total = u64::try_from(total).map_err(|_| StoreError::Corrupt(format!("count {total}")))?;
                    Ok((groups, total))
                }

                async fn members_page(
                    &self,
                    app_id: i64,
                    group_id: GroupId,
                    page: MemberPage,
                ) -> StoreResult<Vec<MembershipRecord>> {
                    let rows: Vec<MemberRow> = match page {
                        MemberPage::Offset { number, size } => {
                            sqlx::query_as(concat!(
                                "SELECT ",
                                member_columns!(),
                                " FROM group_members m WHERE m.app_id = $1 AND m.group_id = $2 \
                                 ORDER BY m.join_order DESC LIMIT $3 OFFSET $4"
                            ))
                            .bind(app_id)
                            .bind(sql_id(group_id.0))
                            .bind(i64::from(size))
                            .bind(i64::from(number) * i64::from(size))
                            .fetch_all(&self.reader)
                            .await?
                        }
                        MemberPage::After { join_order, limit } => {
                            sqlx::query_as(concat!(
                                "SELECT ",
                                member_columns!(),
                                " FROM group_members m WHERE m.app_id = $1 AND m.group_id = $2 \
                                 AND m.join_order < $3 ORDER BY m.join_order DESC LIMIT $4"
                            ))
                            .bind(app_id)
                            .bind(sql_id(group_id.0))
                            .bind(join_order.unwrap_or(i64::MAX))
                            .bind(i64::from(limit))
                            .fetch_all(&self.reader)
                            .await?
                        }
                    };
                    Ok(rows.into_iter().map(MembershipRecord::from).collect())
                }

                async fn group_managers(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<MembershipRecord>> {
                    let rows: Vec<MemberRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        member_columns!(),
                        " FROM group_members m WHERE m.app_id = $1 AND m.group_id = $2 AND m.role IN ($3, $4) \
                         ORDER BY m.role, m.join_order DESC"
                    ))
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .bind(MemberRole::Owner.code())
                    .bind(MemberRole::Admin.code())
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(rows.into_iter().map(MembershipRecord::from).collect())
                }

                async fn member_names(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<UserName>> {
                    let names: Vec<String> = sqlx::query_scalar(
                        "SELECT user_name FROM group_members WHERE app_id = $1 AND group_id = $2 \
                         ORDER BY join_order DESC",
                    )
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(names.into_iter().map(UserName::from_trusted).collect())
                }

                async fn blocklist(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<UserName>> {
                    let names: Vec<String> = sqlx::query_scalar(
                        "SELECT user_name FROM group_blocks WHERE app_id = $1 AND group_id = $2 \
                         ORDER BY created_ms DESC, user_name",
                    )
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(names.into_iter().map(UserName::from_trusted).collect())
                }

                async fn mute_list(
                    &self,
                    app_id: i64,
                    group_id: GroupId,
                    now_ms: i64,
                ) -> StoreResult<Vec<(UserName, i64)>> {
                    let rows: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT user_name, muted_until_ms FROM group_members \
                         WHERE app_id = $1 AND group_id = $2 AND muted_until_ms > $3 ORDER BY join_order DESC",
                    )
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .bind(now_ms)
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(rows.into_iter().map(|(name, until)| (UserName::from_trusted(name), until)).collect())
                }

                async fn allowlist(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<UserName>> {
                    let names: Vec<String> = sqlx::query_scalar(
                        "SELECT user_name FROM group_members WHERE app_id = $1 AND group_id = $2 AND allowlisted \
                         ORDER BY join_order DESC",
                    )
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(names.into_iter().map(UserName::from_trusted).collect())
                }

                async fn shared_files(
                    &self,
                    app_id: i64,
                    group_id: GroupId,
                    offset: u32,
                    limit: u32,
                ) -> StoreResult<Vec<SharedFileRecord>> {
                    let rows: Vec<FileRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        file_columns!(),
                        " FROM group_files WHERE app_id = $1 AND group_id = $2 \
                         ORDER BY created_ms DESC, file_id LIMIT $3 OFFSET $4"
                    ))
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .bind(i64::from(limit))
                    .bind(i64::from(offset))
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(rows.into_iter().map(SharedFileRecord::from).collect())
                }

                async fn shared_file(
                    &self,
                    app_id: i64,
                    group_id: GroupId,
                    file_id: &str,
                ) -> StoreResult<Option<SharedFileRecord>> {
                    let row: Option<FileRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        file_columns!(),
                        " FROM group_files WHERE app_id = $1 AND group_id = $2 AND file_id = $3"
                    ))
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .bind(file_id)
                    .fetch_optional(&self.reader)
                    .await?;
                    Ok(row.map(SharedFileRecord::from))
                }

                async fn member_attributes(
                    &self,
                    app_id: i64,
                    group_id: GroupId,
                    users: &[UserName],
                    keys: &[String],
                ) -> StoreResult<Vec<(UserName, String, String)>> {
                    // A few users and keys at most (Agora's limits), so a query per user and a
                    // filter here keep the SQL static.
                    let mut tx = self.reader.begin_with($begin_read).await?;
                    let mut attributes = Vec::new();
                    for user in users {
                        let rows: Vec<(String, String)> = sqlx::query_as(
                            "SELECT attr_key, attr_value FROM group_member_attrs \
                             WHERE app_id = $1 AND group_id = $2 AND user_name = $3 ORDER BY attr_key",
                        )
                        .bind(app_id)
                        .bind(sql_id(group_id.0))
                        .bind(user.as_str())
                        .fetch_all(&mut *tx)
                        .await?;
                        attributes.extend(
                            rows.into_iter()
                                .filter(|(key, _)| keys.is_empty() || keys.contains(key))
                                .map(|(key, value)| (user.clone(), key, value)),
                        );
                    }
                    tx.commit().await?;
                    Ok(attributes)
                }

                async fn pending_request(
                    &self,
                    app_id: i64,
                    group_id: GroupId,
                    user: &UserName,
                    kind: RequestKind,
                ) -> StoreResult<Option<RequestRecord>> {
                    let row: Option<RequestRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        request_columns!(),
                        " FROM group_requests WHERE app_id = $1 AND group_id = $2 AND user_name = $3 AND kind = $4"
                    ))
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .bind(user.as_str())
                    .bind(kind.code())
                    .fetch_optional(&self.reader)
                    .await?;
                    row.map(RequestRecord::try_from).transpose()
                }

                // ------------------------------------------------------------ chat rooms: writes

                async fn create_room(&self, app_id: i64, room: &NewRoom, change: &RoomChange) -> StoreResult<i64> {
                    const VERSION: i64 = 1;
                    let settings = &room.settings;
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    let inserted = sqlx::query(
                        "INSERT INTO rooms (app_id, id, owner, name, description, max_users, custom, version, \
                         created_ms, modified_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
                         ON CONFLICT (app_id, id) DO NOTHING",
                    )
                    .bind(app_id)
                    .bind(sql_id(room.id.0))
                    .bind(room.owner.as_str())
                    .bind(&settings.name)
                    .bind(&settings.description)
                    .bind(i64::from(settings.max_users))
                    .bind(&settings.custom)
                    .bind(VERSION)
                    .bind(room.created_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if inserted == 0 {
                        return Err(StoreError::AlreadyExists);
                    }
                    apply_room_mutations(&mut tx, app_id, sql_id(room.id.0), change).await?;
                    tx.commit().await?;
                    Ok(VERSION)
                }

                async fn apply_room_change(
                    &self,
                    app_id: i64,
                    room_id: RoomId,
                    expected_version: i64,
                    change: &RoomChange,
                ) -> StoreResult<i64> {
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    // The compare-and-set that makes the change optimistic; it also locks the
                    // room row (PostgreSQL) until commit.
                    let version: Option<i64> = sqlx::query_scalar(
                        "UPDATE rooms SET version = version + 1, modified_ms = $4 \
                         WHERE app_id = $1 AND id = $2 AND version = $3 RETURNING version",
                    )
                    .bind(app_id)
                    .bind(sql_id(room_id.0))
                    .bind(expected_version)
                    .bind(change.now_ms)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(version) = version else {
                        let exists: bool =
                            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM rooms WHERE app_id = $1 AND id = $2)")
                                .bind(app_id)
                                .bind(sql_id(room_id.0))
                                .fetch_one(&mut *tx)
                                .await?;
                        return Err(if exists { StoreError::Conflict } else { StoreError::NotFound });
                    };
                    apply_room_mutations(&mut tx, app_id, sql_id(room_id.0), change).await?;
                    tx.commit().await?;
                    Ok(version)
                }

                // ------------------------------------------------------------ chat rooms: reads

                async fn room_snapshot(
                    &self,
                    app_id: i64,
                    room_id: RoomId,
                    users: &[UserName],
                ) -> StoreResult<Option<RoomSnapshot>> {
                    // One read transaction: the room and the standings are of the same moment.
                    let mut tx = self.reader.begin_with($begin_read).await?;
                    let Some(room) = fetch_room(&mut tx, app_id, room_id).await? else {
                        return Ok(None);
                    };
                    let room_id = sql_id(room_id.0);
                    let mut standings = Vec::with_capacity(users.len());
                    for user in users {
                        let (exists, admin, blocklisted, allowlisted, muted_until_ms): (
                            bool,
                            bool,
                            bool,
                            bool,
                            Option<i64>,
                        ) = sqlx::query_as(
                            "SELECT EXISTS (SELECT 1 FROM users WHERE app_id = $1 AND name = $3), \
                             EXISTS (SELECT 1 FROM room_admins \
                                     WHERE app_id = $1 AND room_id = $2 AND user_name = $3), \
                             EXISTS (SELECT 1 FROM room_blocks \
                                     WHERE app_id = $1 AND room_id = $2 AND user_name = $3), \
                             EXISTS (SELECT 1 FROM room_allowlist \
                                     WHERE app_id = $1 AND room_id = $2 AND user_name = $3), \
                             (SELECT until_ms FROM room_mutes WHERE app_id = $1 AND room_id = $2 AND user_name = $3)",
                        )
                        .bind(app_id)
                        .bind(room_id)
                        .bind(user.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                        let presence: Option<RoomMemberRow> = sqlx::query_as(concat!(
                            "SELECT ",
                            room_member_columns!(),
                            " FROM room_members m WHERE m.app_id = $1 AND m.room_id = $2 AND m.user_name = $3"
                        ))
                        .bind(app_id)
                        .bind(room_id)
                        .bind(user.as_str())
                        .fetch_optional(&mut *tx)
                        .await?;
                        let auto_delete_keys: Vec<String> = sqlx::query_scalar(
                            "SELECT attr_key FROM room_attributes \
                             WHERE app_id = $1 AND room_id = $2 AND owner = $3 AND auto_delete ORDER BY attr_key",
                        )
                        .bind(app_id)
                        .bind(room_id)
                        .bind(user.as_str())
                        .fetch_all(&mut *tx)
                        .await?;
                        standings.push(UserInRoom {
                            user: user.clone(),
                            exists,
                            owner: user == &room.owner,
                            admin,
                            presence: presence.map(RoomMemberRecord::from),
                            blocklisted,
                            allowlisted,
                            muted_until_ms,
                            auto_delete_keys,
                        });
                    }
                    tx.commit().await?;
                    Ok(Some(RoomSnapshot { room, users: standings }))
                }

                async fn rooms(&self, app_id: i64, ids: &[RoomId]) -> StoreResult<Vec<RoomRecord>> {
                    let mut tx = self.reader.begin_with($begin_read).await?;
                    let mut rooms = Vec::with_capacity(ids.len());
                    for &room_id in ids {
                        rooms.extend(fetch_room(&mut tx, app_id, room_id).await?);
                    }
                    tx.commit().await?;
                    Ok(rooms)
                }

                async fn rooms_page(
                    &self,
                    app_id: i64,
                    before: Option<RoomId>,
                    offset: u32,
                    limit: u32,
                ) -> StoreResult<Vec<RoomRecord>> {
                    let rows: Vec<RoomRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        room_columns!(),
                        " FROM rooms r WHERE r.app_id = $1 AND r.id < $2 ORDER BY r.id DESC LIMIT $3 OFFSET $4"
                    ))
                    .bind(app_id)
                    .bind(before.map_or(i64::MAX, |before| sql_id(before.0)))
                    .bind(i64::from(limit))
                    .bind(i64::from(offset))
                    .fetch_all(&self.reader)
                    .await?;
                    convert_all(rows)
                }

                async fn user_rooms(
                    &self,
                    app_id: i64,
                    user: &UserName,
                    offset: u32,
                    limit: u32,
                ) -> StoreResult<(Vec<(RoomRecord, RoomMemberRecord)>, u64)> {
                    let mut tx = self.reader.begin_with($begin_read).await?;
                    let rows = sqlx::query(concat!(
                        "SELECT ",
                        room_columns!(),
                        ", ",
                        room_member_columns!(),
                        " FROM room_members m JOIN rooms r ON r.app_id = m.app_id AND r.id = m.room_id \
                         WHERE m.app_id = $1 AND m.user_name = $2 ORDER BY m.join_order DESC LIMIT $3 OFFSET $4"
                    ))
                    .bind(app_id)
                    .bind(user.as_str())
                    .bind(i64::from(limit))
                    .bind(i64::from(offset))
                    .fetch_all(&mut *tx)
                    .await?;
                    let total: i64 =
                        sqlx::query_scalar("SELECT COUNT(*) FROM room_members WHERE app_id = $1 AND user_name = $2")
                            .bind(app_id)
                            .bind(user.as_str())
                            .fetch_one(&mut *tx)
                            .await?;
                    tx.commit().await?;
                    let rooms = rows
                        .iter()
                        .map(|row| {
                            let room = RoomRecord::try_from(RoomRow::from_row(row)?)?;
                            Ok((room, RoomMemberRow::from_row(row)?.into()))
                        })
                        .collect::<StoreResult<Vec<_>>>()?;
                    let total = u64::try_from(total).map_err(|_| StoreError::Corrupt(format!("count {total}")))?;
                    Ok((rooms, total))
                }

                async fn room_members_page(
                    &self,
                    app_id: i64,
                    room_id: RoomId,
                    page: MemberPage,
                ) -> StoreResult<Vec<RoomMemberRecord>> {
                    // One statement for both kinds of page: below a join order (i64::MAX for the
                    // first page), skipping an offset (0 for the cursor kind).
                    let (below, offset, limit) = match page {
                        MemberPage::Offset { number, size } => (i64::MAX, i64::from(number) * i64::from(size), size),
                        MemberPage::After { join_order, limit } => (join_order.unwrap_or(i64::MAX), 0, limit),
                    };
                    let rows: Vec<RoomMemberRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        room_member_columns!(),
                        " FROM room_members m WHERE m.app_id = $1 AND m.room_id = $2 AND m.join_order < $3 \
                         ORDER BY m.join_order DESC LIMIT $4 OFFSET $5"
                    ))
                    .bind(app_id)
                    .bind(sql_id(room_id.0))
                    .bind(below)
                    .bind(i64::from(limit))
                    .bind(offset)
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(rows.into_iter().map(RoomMemberRecord::from).collect())
                }

                async fn room_admins(&self, app_id: i64, room_id: RoomId) -> StoreResult<Vec<UserName>> {
                    room_user_list(
                        &self.reader,
                        "SELECT user_name FROM room_admins WHERE app_id = $1 AND room_id = $2 \
                         ORDER BY created_ms DESC, user_name",
                        app_id,
                        room_id,
                    )
                    .await
                }

                async fn room_blocklist(&self, app_id: i64, room_id: RoomId) -> StoreResult<Vec<UserName>> {
                    room_user_list(
                        &self.reader,
                        "SELECT user_name FROM room_blocks WHERE app_id = $1 AND room_id = $2 \
                         ORDER BY created_ms DESC, user_name",
                        app_id,
                        room_id,
                    )
                    .await
                }

                async fn room_mute_list(
                    &self,
                    app_id: i64,
                    room_id: RoomId,
                    now_ms: i64,
                ) -> StoreResult<Vec<(UserName, i64)>> {
                    let rows: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT user_name, until_ms FROM room_mutes WHERE app_id = $1 AND room_id = $2 \
                         AND until_ms > $3 ORDER BY created_ms DESC, user_name",
                    )
                    .bind(app_id)
                    .bind(sql_id(room_id.0))
                    .bind(now_ms)
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(rows.into_iter().map(|(name, until)| (UserName::from_trusted(name), until)).collect())
                }

                async fn room_allowlist(&self, app_id: i64, room_id: RoomId) -> StoreResult<Vec<UserName>> {
                    room_user_list(
                        &self.reader,
                        "SELECT user_name FROM room_allowlist WHERE app_id = $1 AND room_id = $2 \
                         ORDER BY created_ms DESC, user_name",
                        app_id,
                        room_id,
                    )
                    .await
                }

                async fn room_attributes(
                    &self,
                    app_id: i64,
                    room_id: RoomId,
                    keys: &[String],
                ) -> StoreResult<Vec<RoomAttributeRecord>> {
                    // At most 100 rows per room (Agora's limit): read them all and filter here,
                    // which keeps the SQL static.
                    let rows: Vec<RoomAttributeRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        room_attribute_columns!(),
                        " FROM room_attributes WHERE app_id = $1 AND room_id = $2 ORDER BY attr_key"
                    ))
                    .bind(app_id)
                    .bind(sql_id(room_id.0))
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(rows
                        .into_iter()
                        .map(RoomAttributeRecord::from)
                        .filter(|attribute| keys.is_empty() || keys.contains(&attribute.key))
                        .collect())
                }

                // ------------------------------------------------------------ chat room super admins

                async fn add_room_super_admin(&self, app_id: i64, user: &UserName, now_ms: i64) -> StoreResult<bool> {
                    let mut tx = self.writer.begin_with($begin_write).await?;
                    let exists: bool =
                        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE app_id = $1 AND name = $2)")
                            .bind(app_id)
                            .bind(user.as_str())
                            .fetch_one(&mut *tx)
                            .await?;
                    if !exists {
                        return Err(StoreError::NotFound);
                    }
                    let added = sqlx::query(
                        "INSERT INTO room_super_admins (app_id, user_name, created_ms) VALUES ($1, $2, $3) \
                         ON CONFLICT (app_id, user_name) DO NOTHING",
                    )
                    .bind(app_id)
                    .bind(user.as_str())
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    tx.commit().await?;
                    Ok(added > 0)
                }

                async fn remove_room_super_admin(&self, app_id: i64, user: &UserName) -> StoreResult<bool> {
                    let removed = sqlx::query("DELETE FROM room_super_admins WHERE app_id = $1 AND user_name = $2")
                        .bind(app_id)
                        .bind(user.as_str())
                        .execute(&self.writer)
                        .await?
                        .rows_affected();
                    Ok(removed > 0)
                }

                async fn room_super_admins(
                    &self,
                    app_id: i64,
                    offset: u32,
                    limit: u32,
                ) -> StoreResult<(Vec<UserName>, u64)> {
                    let mut tx = self.reader.begin_with($begin_read).await?;
                    let names: Vec<String> = sqlx::query_scalar(
                        "SELECT user_name FROM room_super_admins WHERE app_id = $1 \
                         ORDER BY created_ms DESC, user_name LIMIT $2 OFFSET $3",
                    )
                    .bind(app_id)
                    .bind(i64::from(limit))
                    .bind(i64::from(offset))
                    .fetch_all(&mut *tx)
                    .await?;
                    let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM room_super_admins WHERE app_id = $1")
                        .bind(app_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    let total = u64::try_from(total).map_err(|_| StoreError::Corrupt(format!("count {total}")))?;
                    Ok((names.into_iter().map(UserName::from_trusted).collect(), total))
                }

                async fn room_presences(&self) -> StoreResult<Vec<RoomPresence>> {
                    let rows = sqlx::query(concat!(
                        "SELECT a.org, a.name AS app_name, m.room_id, ",
                        room_member_columns!(),
                        " FROM room_members m JOIN apps a ON a.id = m.app_id \
                         ORDER BY m.app_id, m.room_id, m.join_order"
                    ))
                    .fetch_all(&self.reader)
                    .await?;
                    rows.iter()
                        .map(|row| {
                            Ok(RoomPresence {
                                org: row.try_get("org")?,
                                app: row.try_get("app_name")?,
                                room_id: room_id_from_sql(row.try_get("room_id")?),
                                member: RoomMemberRow::from_row(row)?.into(),
                            })
                        })
                        .collect()
                }

                async fn is_room_super_admin(&self, app_id: i64, user: &UserName) -> StoreResult<bool> {
                    let found: bool = sqlx::query_scalar(
                        "SELECT EXISTS (SELECT 1 FROM room_super_admins WHERE app_id = $1 AND user_name = $2)",
                    )
                    .bind(app_id)
                    .bind(user.as_str())
                    .fetch_one(&self.reader)
                    .await?;
                    Ok(found)
                }

                // ------------------------------------------------------------ events

                async fn user_events(
                    &self,
                    app_id: i64,
                    user: &UserName,
                    after: u64,
                    limit: u32,
                ) -> StoreResult<Vec<StoredEvent>> {
                    let rows: Vec<EventRow> = sqlx::query_as(
                        "SELECT id, payload FROM user_events WHERE app_id = $1 AND user_name = $2 AND id > $3 \
                         ORDER BY id LIMIT $4",
                    )
                    .bind(app_id)
                    .bind(user.as_str())
                    .bind(sql_id(after))
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
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
                    sqlx::query(
                        "INSERT INTO user_events (app_id, user_name, id, payload, created_ms) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                    )
                    .bind(app_id)
                    .bind(user.as_str())
                    .bind(sql_id(id))
                    .bind(to_json(item)?)
                    .bind(now_ms)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }

                async fn group_timeline(
                    &self,
                    app_id: i64,
                    group_id: GroupId,
                    after_seq: i64,
                    limit: u32,
                ) -> StoreResult<Vec<TimelineEntry>> {
                    let rows: Vec<TimelineRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        timeline_columns!(),
                        " FROM group_timeline WHERE app_id = $1 AND group_id = $2 AND seq > $3 \
                         ORDER BY seq LIMIT $4"
                    ))
                    .bind(app_id)
                    .bind(sql_id(group_id.0))
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
                    .await?;
                    convert_all(rows)
                }

                // ------------------------------------------------------------ messages

                async fn append_messages(
                    &self,
                    app_id: i64,
                    messages: &[NewMessage],
                ) -> StoreResult<Vec<StoreResult<AppendOutcome>>> {
                    if messages.is_empty() {
                        return Ok(Vec::new());
                    }
                    let targets: Vec<Target<'_>> = messages.iter().map(|m| Target::of(&m.conversation)).collect();
                    let mut tx = self.writer.begin_with($begin_write).await?;

                    // Read (and on PostgreSQL lock) each conversation's counter once, groups in id
                    // order, then chats in name order. A missing group has no counter.
                    let mut groups: BTreeMap<i64, Option<SeqCounter>> = BTreeMap::new();
                    let mut chats: BTreeMap<&str, (&UserName, &UserName, SeqCounter)> = BTreeMap::new();
                    for target in &targets {
                        match target {
                            Target::Group(group_id) => {
                                groups.insert(*group_id, None);
                            }
                            Target::Chat { low, high, conv } => {
                                chats.insert(conv.as_str(), (*low, *high, SeqCounter::default()));
                            }
                        }
                    }
                    for (&group_id, counter) in &mut groups {
                        let sql = concat!("SELECT last_seq FROM groups WHERE app_id = $1 AND id = $2", $lock_row);
                        let last_seq: Option<i64> = sqlx::query_scalar(sql)
                            .bind(app_id)
                            .bind(group_id)
                            .fetch_optional(&mut *tx)
                            .await?;
                        *counter = last_seq.map(SeqCounter::starting_at);
                    }
                    for (conv, (low, high, counter)) in &mut chats {
                        // Created at 0 if new (and deleted below if nothing goes into it); the
                        // no-op update locks an existing row (PostgreSQL) and reads its counter.
                        let last_seq: i64 = sqlx::query_scalar(
                            "INSERT INTO chats (app_id, conv, low, high, last_seq) VALUES ($1, $2, $3, $4, 0) \
                             ON CONFLICT (app_id, conv) DO UPDATE SET last_seq = chats.last_seq RETURNING last_seq",
                        )
                        .bind(app_id)
                        .bind(*conv)
                        .bind(low.as_str())
                        .bind(high.as_str())
                        .fetch_one(&mut *tx)
                        .await?;
                        *counter = SeqCounter::starting_at(last_seq);
                    }

                    let mut results = Vec::with_capacity(messages.len());
                    for (message, target) in messages.iter().zip(&targets) {
                        let counter = match target {
                            Target::Group(group_id) => groups.get_mut(group_id).and_then(Option::as_mut),
                            Target::Chat { conv, .. } => chats.get_mut(conv.as_str()).map(|(_, _, counter)| counter),
                        };
                        let Some(counter) = counter else {
                            results.push(Err(StoreError::NotFound));
                            continue;
                        };
                        let seq = counter.last + 1;
                        // Claim the client id first: a resend (earlier, or earlier in this batch)
                        // finds it taken and gets the first one's id and seq.
                        if let Some(client_id) = message.client_id
                            && let Some(first) = claim_client_id(&mut tx, app_id, message, client_id, seq).await?
                        {
                            results.push(Ok(first));
                            continue;
                        }
                        let stored = match target {
                            Target::Group(group_id) => {
                                sqlx::query(
                                    "INSERT INTO group_timeline \
                                     (app_id, group_id, seq, id, kind, except_user, payload, created_ms) \
                                     VALUES ($1, $2, $3, $4, $5, NULL, $6, $7)",
                                )
                                .bind(app_id)
                                .bind(*group_id)
                                .bind(seq)
                                .bind(sql_id(message.id))
                                .bind(TIMELINE_MESSAGE)
                                .bind(message.payload.as_slice())
                                .bind(message.created_ms)
                                .execute(&mut *tx)
                                .await?;
                                true
                            }
                            // DO NOTHING rather than a failed insert, which would abort the whole
                            // PostgreSQL transaction: a taken id fails this message only.
                            Target::Chat { conv, .. } => {
                                sqlx::query(
                                    "INSERT INTO chat_timeline (app_id, conv, seq, id, sender, payload, created_ms) \
                                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (app_id, id) DO NOTHING",
                                )
                                .bind(app_id)
                                .bind(conv.as_str())
                                .bind(seq)
                                .bind(sql_id(message.id))
                                .bind(message.sender.as_str())
                                .bind(message.payload.as_slice())
                                .bind(message.created_ms)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected()
                                    > 0
                            }
                        };
                        if stored {
                            counter.last = seq;
                            results.push(Ok(AppendOutcome::Stored { seq }));
                        } else {
                            if let Some(client_id) = message.client_id {
                                sqlx::query(
                                    "DELETE FROM message_client_ids \
                                     WHERE app_id = $1 AND sender = $2 AND client_id = $3",
                                )
                                .bind(app_id)
                                .bind(message.sender.as_str())
                                .bind(sql_id(client_id))
                                .execute(&mut *tx)
                                .await?;
                            }
                            results.push(Err(StoreError::AlreadyExists));
                        }
                    }

                    // One write per conversation for the whole batch. A group's version and
                    // modified time stay: a message is no change to the group.
                    for (&group_id, counter) in &groups {
                        if let Some(counter) = counter.as_ref().filter(|c| c.moved()) {
                            on_group("UPDATE groups SET last_seq = $3 WHERE app_id = $1 AND id = $2", app_id, group_id)
                                .bind(counter.last)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    for (conv, (_, _, counter)) in &chats {
                        if counter.last == 0 {
                            // Created above and nothing went into it (every message was a
                            // duplicate or failed): a chat row always has a message.
                            sqlx::query("DELETE FROM chats WHERE app_id = $1 AND conv = $2")
                                .bind(app_id)
                                .bind(*conv)
                                .execute(&mut *tx)
                                .await?;
                        } else if counter.moved() {
                            sqlx::query("UPDATE chats SET last_seq = $3 WHERE app_id = $1 AND conv = $2")
                                .bind(app_id)
                                .bind(*conv)
                                .bind(counter.last)
                                .execute(&mut *tx)
                                .await?;
                        }
                    }
                    tx.commit().await?;
                    Ok(results)
                }

                async fn chat_timeline(
                    &self,
                    app_id: i64,
                    conversation: &Conversation,
                    after_seq: i64,
                    limit: u32,
                ) -> StoreResult<Vec<TimelineEntry>> {
                    let (_, _, conv) = match conversation {
                        Conversation::Group(group_id) => {
                            return self.group_timeline(app_id, *group_id, after_seq, limit).await;
                        }
                        Conversation::Chat { low, high } => chat_name(low, high),
                    };
                    let rows: Vec<ChatTimelineRow> = sqlx::query_as(concat!(
                        "SELECT ",
                        chat_timeline_columns!(),
                        " FROM chat_timeline WHERE app_id = $1 AND conv = $2 AND seq > $3 ORDER BY seq LIMIT $4"
                    ))
                    .bind(app_id)
                    .bind(conv)
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(&self.reader)
                    .await?;
                    Ok(rows.into_iter().map(TimelineEntry::from).collect())
                }

                async fn history(
                    &self,
                    app_id: i64,
                    conversation: &Conversation,
                    before_id: Option<u64>,
                    limit: u32,
                ) -> StoreResult<Vec<TimelineEntry>> {
                    // Entries before the seq of `before_id`; with no id, before a seq above all
                    // (`id = NULL` finds nothing); an id that is not there, before none.
                    let before = before_id.map(sql_id);
                    let no_entry_bound = if before.is_some() { i64::MIN } else { i64::MAX };
                    match conversation {
                        Conversation::Group(group_id) => {
                            let rows: Vec<TimelineRow> = sqlx::query_as(concat!(
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
                            .fetch_all(&self.reader)
                            .await?;
                            convert_all(rows)
                        }
                        Conversation::Chat { low, high } => {
                            let (_, _, conv) = chat_name(low, high);
                            let rows: Vec<ChatTimelineRow> = sqlx::query_as(concat!(
                                "SELECT ",
                                chat_timeline_columns!(),
                                " FROM chat_timeline WHERE app_id = $1 AND conv = $2 \
                                 AND seq < COALESCE((SELECT seq FROM chat_timeline \
                                                     WHERE app_id = $1 AND conv = $2 AND id = $3), $4) \
                                 ORDER BY seq DESC LIMIT $5"
                            ))
                            .bind(app_id)
                            .bind(conv)
                            .bind(before)
                            .bind(no_entry_bound)
                            .bind(i64::from(limit))
                            .fetch_all(&self.reader)
                            .await?;
                            Ok(rows.into_iter().map(TimelineEntry::from).collect())
                        }
                    }
                }

                // ------------------------------------------------------------ queues and cursors

                async fn user_queues(
                    &self,
                    app_id: i64,
                    user: &UserName,
                    device: &str,
                ) -> StoreResult<Vec<QueueHead>> {
                    // One read transaction: heads and cursors of the same moment.
                    let mut tx = self.reader.begin_with($begin_read).await?;
                    let cursors: HashMap<String, i64> = sqlx::query_as(
                        "SELECT queue, seq FROM delivery_cursors WHERE app_id = $1 AND user_name = $2 AND device = $3",
                    )
                    .bind(app_id)
                    .bind(user.as_str())
                    .bind(device)
                    .fetch_all(&mut *tx)
                    .await?
                    .into_iter()
                    .collect();
                    let groups: Vec<(i64, i64, i64, bool)> = sqlx::query_as(
                        "SELECT g.id, g.last_seq, m.cursor_seq, m.shielded \
                         FROM group_members m JOIN groups g ON g.app_id = m.app_id AND g.id = m.group_id \
                         WHERE m.app_id = $1 AND m.user_name = $2",
                    )
                    .bind(app_id)
                    .bind(user.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
                    // Either side, each by its index; a conversation with oneself once.
                    let chats: Vec<(String, String, i64)> = sqlx::query_as(
                        "SELECT low, high, last_seq FROM chats WHERE app_id = $1 AND low = $2 \
                         UNION ALL \
                         SELECT low, high, last_seq FROM chats WHERE app_id = $1 AND high = $2 AND low <> $2",
                    )
                    .bind(app_id)
                    .bind(user.as_str())
                    .fetch_all(&mut *tx)
                    .await?;
                    let newest_event: Option<i64> =
                        sqlx::query_scalar("SELECT MAX(id) FROM user_events WHERE app_id = $1 AND user_name = $2")
                            .bind(app_id)
                            .bind(user.as_str())
                            .fetch_one(&mut *tx)
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

                async fn cursor(
                    &self,
                    app_id: i64,
                    user: &UserName,
                    device: &str,
                    queue: &QueueKey,
                ) -> StoreResult<Option<i64>> {
                    let seq = sqlx::query_scalar(
                        "SELECT seq FROM delivery_cursors \
                         WHERE app_id = $1 AND user_name = $2 AND device = $3 AND queue = $4",
                    )
                    .bind(app_id)
                    .bind(user.as_str())
                    .bind(device)
                    .bind(queue.as_storage_key())
                    .fetch_optional(&self.reader)
                    .await?;
                    Ok(seq)
                }

                async fn advance_cursor(
                    &self,
                    app_id: i64,
                    user: &UserName,
                    device: &str,
                    queue: &QueueKey,
                    seq: i64,
                ) -> StoreResult<()> {
                    // The conditional update keeps the larger: an old acknowledgement arriving
                    // late never moves the cursor back.
                    sqlx::query(
                        "INSERT INTO delivery_cursors (app_id, user_name, device, queue, seq) \
                         VALUES ($1, $2, $3, $4, $5) \
                         ON CONFLICT (app_id, user_name, device, queue) DO UPDATE SET seq = excluded.seq \
                         WHERE excluded.seq > delivery_cursors.seq",
                    )
                    .bind(app_id)
                    .bind(user.as_str())
                    .bind(device)
                    .bind(queue.as_storage_key())
                    .bind(seq)
                    .execute(&self.writer)
                    .await?;
                    Ok(())
                }
            }

            async fn fetch_room(conn: &mut Connection, app_id: i64, room_id: RoomId) -> StoreResult<Option<RoomRecord>> {
                let row: Option<RoomRow> =
                    sqlx::query_as(concat!("SELECT ", room_columns!(), " FROM rooms r WHERE r.app_id = $1 AND r.id = $2"))
                        .bind(app_id)
                        .bind(sql_id(room_id.0))
                        .fetch_optional(&mut *conn)
                        .await?;
                row.map(RoomRecord::try_from).transpose()
            }

            /// The user names one statement lists for a room: `$1` is the app, `$2` the room.
            async fn room_user_list(
                pool: &sqlx::Pool<$database>,
                sql: &'static str,
                app_id: i64,
                room_id: RoomId,
            ) -> StoreResult<Vec<UserName>> {
                let names: Vec<String> =
                    sqlx::query_scalar(sql).bind(app_id).bind(sql_id(room_id.0)).fetch_all(pool).await?;
                Ok(names.into_iter().map(UserName::from_trusted).collect())
            }

            /// How a change moves a room's member and admin counts.
            #[derive(Default)]
            struct RoomCounts {
                members: i64,
                admins: i64,
            }

            impl RoomCounts {
                async fn write(&self, conn: &mut Connection, app_id: i64, room_id: i64) -> StoreResult<()> {
                    if self.members == 0 && self.admins == 0 {
                        return Ok(());
                    }
                    let sql = "UPDATE rooms SET member_count = member_count + $3, admin_count = admin_count + $4 \
                               WHERE app_id = $1 AND id = $2";
                    on_group(sql, app_id, room_id).bind(self.members).bind(self.admins).execute(&mut *conn).await?;
                    Ok(())
                }
            }

            /// Applies a room change's mutations in order, then the counts they moved. The caller
            /// has locked the room row (or just inserted it) and owns the transaction.
            async fn apply_room_mutations(
                conn: &mut Connection,
                app_id: i64,
                room_id: i64,
                change: &RoomChange,
            ) -> StoreResult<()> {
                let mut counts = RoomCounts::default();
                let mut destroyed = false;
                for mutation in &change.mutations {
                    if destroyed {
                        // The room is gone: there is nothing left to change.
                        return Err(StoreError::NotFound);
                    }
                    apply_room_mutation(conn, app_id, room_id, mutation, change.now_ms, &mut counts).await?;
                    destroyed = matches!(mutation, RoomMutation::Destroy);
                }
                if !destroyed {
                    counts.write(conn, app_id, room_id).await?;
                }
                Ok(())
            }

            async fn apply_room_mutation(
                conn: &mut Connection,
                app_id: i64,
                room_id: i64,
                mutation: &RoomMutation,
                now_ms: i64,
                counts: &mut RoomCounts,
            ) -> StoreResult<()> {
                // Every statement below names the room as `$1` app, `$2` room (and `$3` user),
                // as `on_group`/`on_member` bind them.
                match mutation {
                    RoomMutation::UpdateSettings(settings) => {
                        let sql = "UPDATE rooms SET name = $3, description = $4, max_users = $5, custom = $6 \
                                   WHERE app_id = $1 AND id = $2";
                        on_group(sql, app_id, room_id)
                            .bind(&settings.name)
                            .bind(&settings.description)
                            .bind(i64::from(settings.max_users))
                            .bind(&settings.custom)
                            .execute(&mut *conn)
                            .await?;
                    }
                    RoomMutation::SetAnnouncement(announcement) => {
                        on_group("UPDATE rooms SET announcement = $3 WHERE app_id = $1 AND id = $2", app_id, room_id)
                            .bind(announcement)
                            .execute(&mut *conn)
                            .await?;
                    }
                    RoomMutation::SetMuteAll(mute_all) => {
                        on_group("UPDATE rooms SET mute_all = $3 WHERE app_id = $1 AND id = $2", app_id, room_id)
                            .bind(mute_all)
                            .execute(&mut *conn)
                            .await?;
                    }
                    RoomMutation::AddMember { user, join_order } => {
                        let sql = "INSERT INTO room_members (app_id, room_id, user_name, joined_ms, join_order) \
                                   VALUES ($1, $2, $3, $4, $5)";
                        on_member(sql, app_id, room_id, user)
                            .bind(now_ms)
                            .bind(join_order)
                            .execute(&mut *conn)
                            .await
                            .map_err(unique_violation_is_already_exists)?;
                        counts.members += 1;
                    }
                    RoomMutation::RemoveMember { user } => {
                        let sql = "DELETE FROM room_members WHERE app_id = $1 AND room_id = $2 AND user_name = $3";
                        let removed = on_member(sql, app_id, room_id, user).execute(&mut *conn).await?.rows_affected();
                        counts.members -= removed as i64;
                    }
                    RoomMutation::SetAdmin { user, admin: true } => {
                        let sql = "INSERT INTO room_admins (app_id, room_id, user_name, created_ms) \
                                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
                        let added =
                            on_member(sql, app_id, room_id, user).bind(now_ms).execute(&mut *conn).await?.rows_affected();
                        counts.admins += added as i64;
                    }
                    RoomMutation::SetAdmin { user, admin: false } => {
                        let sql = "DELETE FROM room_admins WHERE app_id = $1 AND room_id = $2 AND user_name = $3";
                        let removed = on_member(sql, app_id, room_id, user).execute(&mut *conn).await?.rows_affected();
                        counts.admins -= removed as i64;
                    }
                    RoomMutation::Blocklist { user } => {
                        let sql = "INSERT INTO room_blocks (app_id, room_id, user_name, created_ms) \
                                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
                        on_member(sql, app_id, room_id, user).bind(now_ms).execute(&mut *conn).await?;
                    }
                    RoomMutation::Unblocklist { user } => {
                        let sql = "DELETE FROM room_blocks WHERE app_id = $1 AND room_id = $2 AND user_name = $3";
                        on_member(sql, app_id, room_id, user).execute(&mut *conn).await?;
                    }
                    RoomMutation::SetMute { user, until_ms: Some(until_ms) } => {
                        let sql = "INSERT INTO room_mutes (app_id, room_id, user_name, until_ms, created_ms) \
                                   VALUES ($1, $2, $3, $4, $5) \
                                   ON CONFLICT (app_id, room_id, user_name) DO UPDATE \
                                   SET until_ms = excluded.until_ms, created_ms = excluded.created_ms";
                        on_member(sql, app_id, room_id, user)
                            .bind(until_ms)
                            .bind(now_ms)
                            .execute(&mut *conn)
                            .await?;
                    }
                    RoomMutation::SetMute { user, until_ms: None } => {
                        let sql = "DELETE FROM room_mutes WHERE app_id = $1 AND room_id = $2 AND user_name = $3";
                        on_member(sql, app_id, room_id, user).execute(&mut *conn).await?;
                    }
                    RoomMutation::SetAllowlisted { user, allowlisted: true } => {
                        let sql = "INSERT INTO room_allowlist (app_id, room_id, user_name, created_ms) \
                                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
                        on_member(sql, app_id, room_id, user).bind(now_ms).execute(&mut *conn).await?;
                    }
                    RoomMutation::SetAllowlisted { user, allowlisted: false } => {
                        let sql = "DELETE FROM room_allowlist WHERE app_id = $1 AND room_id = $2 AND user_name = $3";
                        on_member(sql, app_id, room_id, user).execute(&mut *conn).await?;
                    }
                    RoomMutation::SetAttributes { owner, auto_delete, attributes } => {
                        for (key, value) in attributes {
                            let sql = "INSERT INTO room_attributes \
                                       (app_id, room_id, attr_key, attr_value, owner, auto_delete, updated_ms) \
                                       VALUES ($1, $2, $3, $4, $5, $6, $7) \
                                       ON CONFLICT (app_id, room_id, attr_key) DO UPDATE \
                                       SET attr_value = excluded.attr_value, owner = excluded.owner, \
                                       auto_delete = excluded.auto_delete, updated_ms = excluded.updated_ms";
                            on_group(sql, app_id, room_id)
                                .bind(key)
                                .bind(value)
                                .bind(owner.as_str())
                                .bind(auto_delete)
                                .bind(now_ms)
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    RoomMutation::DeleteAttributes { keys } => {
                        for key in keys {
                            let sql = "DELETE FROM room_attributes WHERE app_id = $1 AND room_id = $2 AND attr_key = $3";
                            on_group(sql, app_id, room_id).bind(key).execute(&mut *conn).await?;
                        }
                    }
                    RoomMutation::SetDelivery(delivery) => {
                        on_group("UPDATE rooms SET delivery = $3 WHERE app_id = $1 AND id = $2", app_id, room_id)
                            .bind(to_json(delivery)?)
                            .execute(&mut *conn)
                            .await?;
                    }
                    RoomMutation::Destroy => {
                        // Members, roles, lists and attributes go with the row (ON DELETE CASCADE).
                        on_group("DELETE FROM rooms WHERE app_id = $1 AND id = $2", app_id, room_id)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                Ok(())
            }

            /// Takes `(sender, client_id)` for `message` at `seq`; if an earlier message has it,
            /// returns that one as a `Duplicate` and takes nothing.
            async fn claim_client_id(
                conn: &mut Connection,
                app_id: i64,
                message: &NewMessage,
                client_id: u64,
                seq: i64,
            ) -> StoreResult<Option<AppendOutcome>> {
                loop {
                    // DO NOTHING: a failed insert would abort the whole PostgreSQL transaction.
                    // (On PostgreSQL it waits for a concurrent claim of the same id to commit.)
                    let claimed = sqlx::query(
                        "INSERT INTO message_client_ids (app_id, sender, client_id, id, seq) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (app_id, sender, client_id) DO NOTHING",
                    )
                    .bind(app_id)
                    .bind(message.sender.as_str())
                    .bind(sql_id(client_id))
                    .bind(sql_id(message.id))
                    .bind(seq)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected()
                        > 0;
                    if claimed {
                        return Ok(None);
                    }
                    let first: Option<(i64, i64)> = sqlx::query_as(
                        "SELECT id, seq FROM message_client_ids WHERE app_id = $1 AND sender = $2 AND client_id = $3",
                    )
                    .bind(app_id)
                    .bind(message.sender.as_str())
                    .bind(sql_id(client_id))
                    .fetch_optional(&mut *conn)
                    .await?;
                    if let Some((id, seq)) = first {
                        return Ok(Some(AppendOutcome::Duplicate { id: id_from_sql(id), seq }));
                    }
                    // The claim that was in the way is gone (its sender was deleted meanwhile,
                    // PostgreSQL): claim again.
                }
            }

            /// Where a message goes, as stored.
            enum Target<'m> {
                Group(i64),
                Chat { low: &'m UserName, high: &'m UserName, conv: String },
            }

            impl<'m> Target<'m> {
                fn of(conversation: &'m Conversation) -> Target<'m> {
                    match conversation {
                        Conversation::Group(group_id) => Target::Group(sql_id(group_id.0)),
                        Conversation::Chat { low, high } => {
                            let (low, high, conv) = chat_name(low, high);
                            Target::Chat { low, high, conv }
                        }
                    }
                }
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

            async fn fetch_group(
                conn: &mut Connection,
                app_id: i64,
                group_id: GroupId,
            ) -> StoreResult<Option<GroupRecord>> {
                let row: Option<GroupRow> = sqlx::query_as(concat!(
                    "SELECT ",
                    group_columns!(),
                    " FROM groups g WHERE g.app_id = $1 AND g.id = $2"
                ))
                .bind(app_id)
                .bind(sql_id(group_id.0))
                .fetch_optional(&mut *conn)
                .await?;
                row.map(GroupRecord::try_from).transpose()
            }

            async fn revoke_tokens(conn: &mut Connection, app_id: i64, user: &UserName) -> StoreResult<()> {
                sqlx::query("DELETE FROM tokens WHERE app_id = $1 AND user_name = $2")
                    .bind(app_id)
                    .bind(user.as_str())
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            /// How a change moves the group's member and admin counts.
            #[derive(Default)]
            struct CountChange {
                members: i64,
                admins: i64,
            }

            impl CountChange {
                fn member_joined(&mut self, role: MemberRole) {
                    self.members += 1;
                    self.admins += i64::from(role == MemberRole::Admin);
                }

                fn member_left(&mut self, role: MemberRole) {
                    self.members -= 1;
                    self.admins -= i64::from(role == MemberRole::Admin);
                }

                fn role_changed(&mut self, from: MemberRole, to: MemberRole) {
                    self.admins += i64::from(to == MemberRole::Admin) - i64::from(from == MemberRole::Admin);
                }

                async fn write(&self, conn: &mut Connection, app_id: i64, group_id: i64) -> StoreResult<()> {
                    if self.members == 0 && self.admins == 0 {
                        return Ok(());
                    }
                    let sql = "UPDATE groups SET member_count = member_count + $3, admin_count = admin_count + $4 \
                               WHERE app_id = $1 AND id = $2";
                    on_group(sql, app_id, group_id).bind(self.members).bind(self.admins).execute(&mut *conn).await?;
                    Ok(())
                }
            }

            /// Applies the mutations, then stores the events; returns the timeline sequence
            /// numbers given to group-wide events. The caller has locked the group row (or
            /// just inserted it) and owns the transaction.
            async fn apply_change(
                conn: &mut Connection,
                app_id: i64,
                group_id: GroupId,
                change: &GroupChange,
            ) -> StoreResult<Vec<i64>> {
                let group_id = sql_id(group_id.0);
                let mut counts = CountChange::default();
                let mut dissolved = false;
                for mutation in &change.mutations {
                    if dissolved {
                        // The group is gone: there is nothing left to change.
                        return Err(StoreError::NotFound);
                    }
                    apply_mutation(conn, app_id, group_id, mutation, change.now_ms, &mut counts).await?;
                    dissolved = matches!(mutation, GroupMutation::Dissolve);
                }
                if !dissolved {
                    counts.write(conn, app_id, group_id).await?;
                }

                let mut timeline_seqs = Vec::new();
                for event in &change.events {
                    match &event.audience {
                        Audience::Group { except } => {
                            // No group row (dissolved in this change) means no timeline to
                            // append to: NotFound, and the whole change rolls back.
                            let seq: i64 = sqlx::query_scalar(
                                "UPDATE groups SET last_seq = last_seq + 1 WHERE app_id = $1 AND id = $2 \
                                 RETURNING last_seq",
                            )
                            .bind(app_id)
                            .bind(group_id)
                            .fetch_optional(&mut *conn)
                            .await?
                            .ok_or(StoreError::NotFound)?;
                            let sql = "INSERT INTO group_timeline \
                                       (app_id, group_id, seq, id, kind, except_user, payload, created_ms) \
                                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
                            on_group(sql, app_id, group_id)
                                .bind(seq)
                                .bind(sql_id(event.id))
                                .bind(TIMELINE_EVENT)
                                .bind(except.as_ref().map(UserName::as_str))
                                .bind(to_json(&event.event)?.into_bytes())
                                .bind(change.now_ms)
                                .execute(&mut *conn)
                                .await?;
                            timeline_seqs.push(seq);
                        }
                        Audience::Users(users) => {
                            let payload = to_json(&event.event)?;
                            for user in users {
                                sqlx::query(
                                    "INSERT INTO user_events (app_id, user_name, id, payload, created_ms) \
                                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                                )
                                .bind(app_id)
                                .bind(user.as_str())
                                .bind(sql_id(event.id))
                                .bind(&payload)
                                .bind(change.now_ms)
                                .execute(&mut *conn)
                                .await?;
                            }
                        }
                    }
                }
                Ok(timeline_seqs)
            }

            /// A statement on one group: `$1` is the app, `$2` the group.
            fn on_group(sql: &'static str, app_id: i64, group_id: i64) -> Query<'static> {
                sqlx::query(sql).bind(app_id).bind(group_id)
            }

            /// A statement on one user's row of a group table: `$1` app, `$2` group, `$3` user.
            fn on_member<'q>(sql: &'static str, app_id: i64, group_id: i64, user: &'q UserName) -> Query<'q> {
                on_group(sql, app_id, group_id).bind(user.as_str())
            }

            async fn apply_mutation(
                conn: &mut Connection,
                app_id: i64,
                group_id: i64,
                mutation: &GroupMutation,
                now_ms: i64,
                counts: &mut CountChange,
            ) -> StoreResult<()> {
                match mutation {
                    GroupMutation::UpdateSettings(settings) => {
                        let sql = "UPDATE groups SET name = $3, description = $4, avatar = $5, public = $6, \
                                   approval_required = $7, allow_invites = $8, invite_need_confirm = $9, \
                                   max_users = $10, custom = $11 WHERE app_id = $1 AND id = $2";
                        on_group(sql, app_id, group_id)
                            .bind(&settings.name)
                            .bind(&settings.description)
                            .bind(&settings.avatar)
                            .bind(settings.public)
                            .bind(settings.approval_required)
                            .bind(settings.allow_invites)
                            .bind(settings.invite_need_confirm)
                            .bind(i64::from(settings.max_users))
                            .bind(&settings.custom)
                            .execute(&mut *conn)
                            .await?;
                    }
                    GroupMutation::SetAnnouncement(announcement) => {
                        on_group("UPDATE groups SET announcement = $3 WHERE app_id = $1 AND id = $2", app_id, group_id)
                            .bind(announcement)
                            .execute(&mut *conn)
                            .await?;
                    }
                    GroupMutation::SetMuteAll(mute_all) => {
                        on_group("UPDATE groups SET mute_all = $3 WHERE app_id = $1 AND id = $2", app_id, group_id)
                            .bind(mute_all)
                            .execute(&mut *conn)
                            .await?;
                    }
                    GroupMutation::SetDisabled(disabled) => {
                        on_group("UPDATE groups SET disabled = $3 WHERE app_id = $1 AND id = $2", app_id, group_id)
                            .bind(disabled)
                            .execute(&mut *conn)
                            .await?;
                    }
                    GroupMutation::AddMember { user, role, join_order } => {
                        // The cursor starts at the group's last entry: a new member has no
                        // unread history (but does get this change's own events).
                        let sql = "INSERT INTO group_members \
                                   (app_id, group_id, user_name, role, joined_ms, join_order, cursor_seq) \
                                   SELECT $1, $2, $3, $4, $5, $6, last_seq FROM groups WHERE app_id = $1 AND id = $2";
                        on_member(sql, app_id, group_id, user)
                            .bind(role.code())
                            .bind(now_ms)
                            .bind(join_order)
                            .execute(&mut *conn)
                            .await
                            .map_err(unique_violation_is_already_exists)?;
                        let sql = "DELETE FROM group_requests WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                        on_member(sql, app_id, group_id, user).execute(&mut *conn).await?;
                        counts.member_joined(*role);
                    }
                    GroupMutation::RemoveMember { user } => {
                        let sql = "DELETE FROM group_members WHERE app_id = $1 AND group_id = $2 AND user_name = $3 \
                                   RETURNING role";
                        let role: Option<i16> = sqlx::query_scalar(sql)
                            .bind(app_id)
                            .bind(group_id)
                            .bind(user.as_str())
                            .fetch_optional(&mut *conn)
                            .await?;
                        if let Some(role) = role {
                            counts.member_left(MemberRole::from_code(role));
                        }
                        let sql =
                            "DELETE FROM group_member_attrs WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                        on_member(sql, app_id, group_id, user).execute(&mut *conn).await?;
                    }
                    GroupMutation::SetRole { user, role } => {
                        let sql =
                            "SELECT role FROM group_members WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                        let previous: Option<i16> = sqlx::query_scalar(sql)
                            .bind(app_id)
                            .bind(group_id)
                            .bind(user.as_str())
                            .fetch_optional(&mut *conn)
                            .await?;
                        if let Some(previous) = previous {
                            let sql = "UPDATE group_members SET role = $4 \
                                       WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                            on_member(sql, app_id, group_id, user).bind(role.code()).execute(&mut *conn).await?;
                            counts.role_changed(MemberRole::from_code(previous), *role);
                        }
                    }
                    GroupMutation::SetOwner { user } => {
                        on_group("UPDATE groups SET owner = $3 WHERE app_id = $1 AND id = $2", app_id, group_id)
                            .bind(user.as_str())
                            .execute(&mut *conn)
                            .await?;
                    }
                    GroupMutation::Blocklist { user } => {
                        let sql = "INSERT INTO group_blocks (app_id, group_id, user_name, created_ms) \
                                   VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING";
                        on_member(sql, app_id, group_id, user).bind(now_ms).execute(&mut *conn).await?;
                    }
                    GroupMutation::Unblocklist { user } => {
                        let sql = "DELETE FROM group_blocks WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                        on_member(sql, app_id, group_id, user).execute(&mut *conn).await?;
                    }
                    GroupMutation::SetMute { user, until_ms } => {
                        let sql = "UPDATE group_members SET muted_until_ms = $4 \
                                   WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                        on_member(sql, app_id, group_id, user).bind(until_ms).execute(&mut *conn).await?;
                    }
                    GroupMutation::SetAllowlisted { user, allowlisted } => {
                        let sql = "UPDATE group_members SET allowlisted = $4 \
                                   WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                        on_member(sql, app_id, group_id, user).bind(allowlisted).execute(&mut *conn).await?;
                    }
                    GroupMutation::SetShielded { user, shielded } => {
                        let sql = "UPDATE group_members SET shielded = $4 \
                                   WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                        on_member(sql, app_id, group_id, user).bind(shielded).execute(&mut *conn).await?;
                    }
                    GroupMutation::PutRequest(request) => {
                        // One pending request per user and kind: a new one replaces the old.
                        let sql = "INSERT INTO group_requests \
                                   (app_id, group_id, user_name, kind, inviter, message, created_ms) \
                                   VALUES ($1, $2, $3, $4, $5, $6, $7) \
                                   ON CONFLICT (app_id, group_id, user_name, kind) DO UPDATE \
                                   SET inviter = excluded.inviter, message = excluded.message, \
                                   created_ms = excluded.created_ms";
                        on_member(sql, app_id, group_id, &request.user)
                            .bind(request.kind.code())
                            .bind(request.inviter.as_ref().map(UserName::as_str))
                            .bind(&request.message)
                            .bind(request.created_ms)
                            .execute(&mut *conn)
                            .await?;
                    }
                    GroupMutation::DeleteRequest { user, kind } => {
                        let sql = "DELETE FROM group_requests \
                                   WHERE app_id = $1 AND group_id = $2 AND user_name = $3 AND kind = $4";
                        on_member(sql, app_id, group_id, user).bind(kind.code()).execute(&mut *conn).await?;
                    }
                    GroupMutation::AddFile(file) => {
                        let sql = "INSERT INTO group_files (app_id, group_id, file_id, name, owner, size, created_ms) \
                                   VALUES ($1, $2, $3, $4, $5, $6, $7)";
                        on_group(sql, app_id, group_id)
                            .bind(&file.file_id)
                            .bind(&file.name)
                            .bind(file.owner.as_str())
                            .bind(file.size)
                            .bind(file.created_ms)
                            .execute(&mut *conn)
                            .await
                            .map_err(unique_violation_is_already_exists)?;
                    }
                    GroupMutation::DeleteFile { file_id } => {
                        let sql = "DELETE FROM group_files WHERE app_id = $1 AND group_id = $2 AND file_id = $3";
                        on_group(sql, app_id, group_id).bind(file_id).execute(&mut *conn).await?;
                    }
                    GroupMutation::SetMemberAttributes { user, attributes } => {
                        for (key, value) in attributes {
                            if value.is_empty() {
                                let sql = "DELETE FROM group_member_attrs \
                                           WHERE app_id = $1 AND group_id = $2 AND user_name = $3 AND attr_key = $4";
                                on_member(sql, app_id, group_id, user).bind(key).execute(&mut *conn).await?;
                            } else {
                                let sql = "INSERT INTO group_member_attrs \
                                           (app_id, group_id, user_name, attr_key, attr_value) \
                                           VALUES ($1, $2, $3, $4, $5) \
                                           ON CONFLICT (app_id, group_id, user_name, attr_key) DO UPDATE \
                                           SET attr_value = excluded.attr_value";
                                on_member(sql, app_id, group_id, user)
                                    .bind(key)
                                    .bind(value)
                                    .execute(&mut *conn)
                                    .await?;
                            }
                        }
                    }
                    GroupMutation::Dissolve => {
                        // Members, blocklist, requests, files, attributes and the timeline go
                        // with the row (ON DELETE CASCADE); the delivery cursors on its queue,
                        // kept by queue name, are deleted here.
                        on_group("DELETE FROM groups WHERE app_id = $1 AND id = $2", app_id, group_id)
                            .execute(&mut *conn)
                            .await?;
                        sqlx::query("DELETE FROM delivery_cursors WHERE app_id = $1 AND queue = $2")
                            .bind(app_id)
                            .bind(QueueKey::Group(group_id_from_sql(group_id)).as_storage_key())
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                Ok(())
            }
        }
    };
}
