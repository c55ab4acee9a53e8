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
//! several group rows in id order, so two writers never wait on each other in a cycle.

macro_rules! impl_store {
    (
        module: $module:ident,
        store: $store:ident,
        database: $database:ty,
        backend: $backend:literal,
        begin_write: $begin_write:literal,
        begin_read: $begin_read:literal $(,)?
    ) => {
        mod $module {
            use std::collections::BTreeSet;

            use async_trait::async_trait;
            use qun_core::{Audience, GroupId, MemberRole, UserName};
            use sqlx::FromRow as _;

            use super::$store;
            use super::rows::*;
            use crate::{
                AppRecord, AppSettings, AppliedChange, GroupChange, GroupMutation, GroupRecord, GroupSnapshot,
                MemberPage, MembershipRecord, NewApp, NewGroup, NewUser, RequestKind, RequestRecord, SharedFileRecord,
                Store, StoreError, StoreResult, StoredEvent, TimelineEntry, TokenRecord, UserInGroup, UserRecord,
            };

            type Connection = <$database as sqlx::Database>::Connection;
            type Query<'q> = sqlx::query::Query<'q, $database, <$database as sqlx::Database>::Arguments>;

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> &'static str {
                    $backend
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
                    for statement in [
                        "DELETE FROM group_requests WHERE app_id = $1 AND user_name = $2",
                        "DELETE FROM user_events WHERE app_id = $1 AND user_name = $2",
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
                        // with the row (ON DELETE CASCADE).
                        on_group("DELETE FROM groups WHERE app_id = $1 AND id = $2", app_id, group_id)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
                Ok(())
            }
        }
    };
}
