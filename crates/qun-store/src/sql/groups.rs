//! [`GroupStore`]: groups, their members, requests, files, member attributes and the events a
//! change stores. What groups share with chat rooms is in `venues.rs`, run on [`GROUPS`].
//!
//! A group's role, mute and allowlist entry are columns of its membership (`group_members`); its
//! blocklist is a table of its own. A group-wide event goes to the group's timeline with the
//! group's next sequence number; an event for named users is a personal item of each.

use std::collections::BTreeSet;

use async_trait::async_trait;
use qun_core::{Audience, GroupId, GroupSettings, MemberRole, UserName};

use super::SqlStore;
use super::dialect::{Dialect, Statement};
use super::messages::insert_personal_item;
use super::rows::{
    FileRow, GroupRow, MemberRow, RequestRow, TIMELINE_EVENT, convert_all, group_id_from_sql, sql_id, to_json,
    unique_violation_is_already_exists,
};
use super::venues::{
    FIRST_VERSION, ListTable, MemberCounts, VenueMutation, VenueStatements, VenueTables, insert_venue, muted_users,
    user_names,
};
use crate::{
    AppliedChange, GroupChange, GroupMutation, GroupRecord, GroupSnapshot, GroupStore, MemberPage, MembershipRecord,
    NewGroup, QueueKey, RequestKind, RequestRecord, SharedFileRecord, StoreError, StoreResult, UserInGroup,
};

pub(super) const GROUPS: VenueTables = VenueTables {
    table: "groups",
    columns: group_columns!(),
    key: "group_id",
    members: "group_members",
    member_columns: member_columns!(),
    blocklist: ListTable { table: "group_blocks", key: "group_id" },
};

#[async_trait]
impl<D: Dialect> GroupStore for SqlStore<D> {
    async fn create_group(&self, app_id: i64, group: &NewGroup, change: &GroupChange) -> StoreResult<AppliedChange> {
        let mut tx = self.begin_write().await?;
        let insert = D::query(
            "INSERT INTO groups (app_id, id, owner, name, description, avatar, public, \
             approval_required, allow_invites, invite_need_confirm, max_users, custom, version, \
             created_ms, modified_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14) \
             ON CONFLICT (app_id, id) DO NOTHING",
        )
        .bind(app_id)
        .bind(sql_id(group.id.0))
        .bind(group.owner.as_str());
        let insert = bind_settings(insert, &group.settings).bind(FIRST_VERSION).bind(group.created_ms);
        insert_venue::<D>(&mut tx, insert).await?;
        let timeline_seqs = apply_change::<D>(&mut tx, app_id, sql_id(group.id.0), change).await?;
        tx.commit().await?;
        Ok(AppliedChange { version: FIRST_VERSION, timeline_seqs })
    }

    async fn apply_group_change(
        &self,
        app_id: i64,
        group_id: GroupId,
        expected_version: i64,
        change: &GroupChange,
    ) -> StoreResult<AppliedChange> {
        let group_id = sql_id(group_id.0);
        let mut tx = self.begin_write().await?;
        let version = GROUPS.claim_version::<D>(&mut tx, app_id, group_id, expected_version, change.now_ms).await?;
        let timeline_seqs = apply_change::<D>(&mut tx, app_id, group_id, change).await?;
        tx.commit().await?;
        Ok(AppliedChange { version, timeline_seqs })
    }

    async fn group_snapshot(
        &self,
        app_id: i64,
        group_id: GroupId,
        users: &[UserName],
        _now_ms: i64,
    ) -> StoreResult<Option<GroupSnapshot>> {
        let group_id = sql_id(group_id.0);
        // One read transaction: the group and the standings are of the same moment.
        let mut tx = self.begin_read().await?;
        let Some(group) = GROUPS.fetch::<D, GroupRow>(&mut tx, app_id, group_id).await? else {
            return Ok(None);
        };
        let mut standings = Vec::with_capacity(users.len());
        for user in users {
            let (exists, blocklisted): (bool, bool) = D::on_member(
                "SELECT EXISTS (SELECT 1 FROM users WHERE app_id = $1 AND name = $3), \
                 EXISTS (SELECT 1 FROM group_blocks WHERE app_id = $1 AND group_id = $2 AND user_name = $3)",
                app_id,
                group_id,
                user,
            )
            .fetch_one(&mut tx)
            .await?;
            let membership: Option<MemberRow> = GROUPS.member::<D, _>(&mut tx, app_id, group_id, user).await?;
            standings.push(UserInGroup {
                user: user.clone(),
                exists,
                membership: membership.map(MembershipRecord::from),
                blocklisted,
            });
        }
        tx.commit().await?;
        Ok(Some(GroupSnapshot { group: group.try_into()?, users: standings }))
    }

    async fn groups(&self, app_id: i64, ids: &[GroupId]) -> StoreResult<Vec<GroupRecord>> {
        let mut tx = self.begin_read().await?;
        let rows: Vec<GroupRow> = GROUPS.fetch_each::<D, _>(&mut tx, app_id, ids.iter().map(|id| sql_id(id.0))).await?;
        tx.commit().await?;
        convert_all(rows)
    }

    async fn groups_page(
        &self,
        app_id: i64,
        public_only: bool,
        before: Option<GroupId>,
        limit: u32,
    ) -> StoreResult<Vec<GroupRecord>> {
        let rows: Vec<GroupRow> = GROUPS
            .page::<D>(" AND (v.public OR NOT $5)", app_id, before.map(|before| sql_id(before.0)), 0, limit)
            .bind(public_only)
            .fetch_all(&mut *self.read_conn().await?)
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
        let mut tx = self.begin_read().await?;
        let (rows, total) = GROUPS.of_user::<D, GroupRow, MemberRow>(&mut tx, app_id, user, offset, limit).await?;
        tx.commit().await?;
        let groups =
            rows.into_iter().map(|(venue, member)| Ok((venue.try_into()?, member.into()))).collect::<StoreResult<_>>();
        Ok((groups?, total))
    }

    async fn members_page(
        &self,
        app_id: i64,
        group_id: GroupId,
        page: MemberPage,
    ) -> StoreResult<Vec<MembershipRecord>> {
        let mut conn = self.read_conn().await?;
        let rows: Vec<MemberRow> = GROUPS.members_page::<D, _>(&mut conn, app_id, sql_id(group_id.0), page).await?;
        Ok(rows.into_iter().map(MembershipRecord::from).collect())
    }

    async fn group_managers(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<MembershipRecord>> {
        let rows: Vec<MemberRow> = D::on_venue(
            concat!(
                "SELECT ",
                member_columns!(),
                " FROM group_members m WHERE m.app_id = $1 AND m.group_id = $2 AND m.role IN ($3, $4) \
                 ORDER BY m.role, m.join_order DESC"
            ),
            app_id,
            sql_id(group_id.0),
        )
        .bind(MemberRole::Owner.code())
        .bind(MemberRole::Admin.code())
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        Ok(rows.into_iter().map(MembershipRecord::from).collect())
    }

    async fn member_names(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<UserName>> {
        let sql = "SELECT user_name FROM group_members WHERE app_id = $1 AND group_id = $2 ORDER BY join_order DESC";
        user_names::<D>(&mut *self.read_conn().await?, sql, app_id, sql_id(group_id.0)).await
    }

    async fn blocklist(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<UserName>> {
        GROUPS.blocklist.names::<D>(&mut *self.read_conn().await?, app_id, sql_id(group_id.0)).await
    }

    async fn mute_list(&self, app_id: i64, group_id: GroupId, now_ms: i64) -> StoreResult<Vec<(UserName, i64)>> {
        let sql = "SELECT user_name, muted_until_ms FROM group_members \
                   WHERE app_id = $1 AND group_id = $2 AND muted_until_ms > $3 ORDER BY join_order DESC";
        muted_users::<D>(&mut *self.read_conn().await?, sql, app_id, sql_id(group_id.0), now_ms).await
    }

    async fn allowlist(&self, app_id: i64, group_id: GroupId) -> StoreResult<Vec<UserName>> {
        let sql = "SELECT user_name FROM group_members WHERE app_id = $1 AND group_id = $2 AND allowlisted \
                   ORDER BY join_order DESC";
        user_names::<D>(&mut *self.read_conn().await?, sql, app_id, sql_id(group_id.0)).await
    }

    async fn shared_files(
        &self,
        app_id: i64,
        group_id: GroupId,
        offset: u32,
        limit: u32,
    ) -> StoreResult<Vec<SharedFileRecord>> {
        let rows: Vec<FileRow> = D::on_venue(
            concat!(
                "SELECT ",
                file_columns!(),
                " FROM group_files WHERE app_id = $1 AND group_id = $2 \
                 ORDER BY created_ms DESC, file_id LIMIT $3 OFFSET $4"
            ),
            app_id,
            sql_id(group_id.0),
        )
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        Ok(rows.into_iter().map(SharedFileRecord::from).collect())
    }

    async fn shared_file(
        &self,
        app_id: i64,
        group_id: GroupId,
        file_id: &str,
    ) -> StoreResult<Option<SharedFileRecord>> {
        let row: Option<FileRow> = D::on_venue(
            concat!(
                "SELECT ",
                file_columns!(),
                " FROM group_files WHERE app_id = $1 AND group_id = $2 AND file_id = $3"
            ),
            app_id,
            sql_id(group_id.0),
        )
        .bind(file_id)
        .fetch_optional(&mut *self.read_conn().await?)
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
        // A few users and keys at most (Agora's limits), so a query per user and a filter here
        // keep the SQL static.
        let mut tx = self.begin_read().await?;
        let mut attributes = Vec::new();
        for user in users {
            let rows: Vec<(String, String)> = D::on_member(
                "SELECT attr_key, attr_value FROM group_member_attrs \
                 WHERE app_id = $1 AND group_id = $2 AND user_name = $3 ORDER BY attr_key",
                app_id,
                sql_id(group_id.0),
                user,
            )
            .fetch_all(&mut tx)
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
        let row: Option<RequestRow> = D::on_member(
            concat!(
                "SELECT ",
                request_columns!(),
                " FROM group_requests WHERE app_id = $1 AND group_id = $2 AND user_name = $3 AND kind = $4"
            ),
            app_id,
            sql_id(group_id.0),
            user,
        )
        .bind(kind.code())
        .fetch_optional(&mut *self.read_conn().await?)
        .await?;
        row.map(RequestRecord::try_from).transpose()
    }
}

/// Binds a group's settings as the next nine parameters, in their columns' order.
fn bind_settings<D: Dialect>(statement: Statement<D>, settings: &GroupSettings) -> Statement<D> {
    statement
        .bind(settings.name.as_str())
        .bind(settings.description.as_str())
        .bind(settings.avatar.as_str())
        .bind(settings.public)
        .bind(settings.approval_required)
        .bind(settings.allow_invites)
        .bind(settings.invite_need_confirm)
        .bind(i64::from(settings.max_users))
        .bind(settings.custom.as_str())
}

/// Applies the mutations, then stores the events; returns the timeline sequence numbers given
/// to group-wide events. The caller has locked the group row (or just inserted it) and owns the
/// transaction.
async fn apply_change<D: Dialect>(
    conn: &mut D::Connection,
    app_id: i64,
    group_id: i64,
    change: &GroupChange,
) -> StoreResult<Vec<i64>> {
    GROUPS.apply_mutations::<D, _>(conn, app_id, group_id, &change.mutations, change.now_ms).await?;
    let mut timeline_seqs = Vec::new();
    for event in &change.events {
        match &event.audience {
            Audience::Group { except } => {
                // No group row (dissolved in this change) means no timeline to append to:
                // NotFound, and the whole change rolls back.
                let seq: i64 = D::on_venue(
                    "UPDATE groups SET last_seq = last_seq + 1 WHERE app_id = $1 AND id = $2 RETURNING last_seq",
                    app_id,
                    group_id,
                )
                .fetch_optional_scalar(conn)
                .await?
                .ok_or(StoreError::NotFound)?;
                D::on_venue(
                    "INSERT INTO group_timeline (app_id, group_id, seq, id, kind, except_user, payload, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    app_id,
                    group_id,
                )
                .bind(seq)
                .bind(sql_id(event.id))
                .bind(TIMELINE_EVENT)
                .bind(except.as_ref().map(UserName::as_str))
                .bind(to_json(&event.event)?.into_bytes())
                .bind(change.now_ms)
                .execute(conn)
                .await?;
                timeline_seqs.push(seq);
            }
            Audience::Users(users) => {
                let payload = to_json(&event.event)?;
                for user in users {
                    insert_personal_item::<D>(conn, app_id, user, event.id, &payload, change.now_ms).await?;
                }
            }
        }
    }
    Ok(timeline_seqs)
}

impl VenueMutation for GroupMutation {
    fn deletes_venue(&self) -> bool {
        matches!(self, GroupMutation::Dissolve)
    }

    async fn apply<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        group_id: i64,
        now_ms: i64,
        counts: &mut MemberCounts,
    ) -> StoreResult<()> {
        match self {
            GroupMutation::UpdateSettings(settings) => {
                let update = D::on_venue(
                    "UPDATE groups SET name = $3, description = $4, avatar = $5, public = $6, \
                     approval_required = $7, allow_invites = $8, invite_need_confirm = $9, max_users = $10, \
                     custom = $11 WHERE app_id = $1 AND id = $2",
                    app_id,
                    group_id,
                );
                bind_settings(update, settings).execute(conn).await?;
            }
            GroupMutation::SetAnnouncement(announcement) => {
                GROUPS.set::<D>(conn, app_id, group_id, "announcement", announcement.as_str()).await?;
            }
            GroupMutation::SetMuteAll(mute_all) => {
                GROUPS.set::<D>(conn, app_id, group_id, "mute_all", *mute_all).await?;
            }
            GroupMutation::SetDisabled(disabled) => {
                GROUPS.set::<D>(conn, app_id, group_id, "disabled", *disabled).await?;
            }
            GroupMutation::AddMember { user, role, join_order } => {
                // The cursor starts at the group's last entry: a new member has no unread
                // history (but does get this change's own events).
                D::on_member(
                    "INSERT INTO group_members \
                     (app_id, group_id, user_name, role, joined_ms, join_order, cursor_seq) \
                     SELECT $1, $2, $3, $4, $5, $6, last_seq FROM groups WHERE app_id = $1 AND id = $2",
                    app_id,
                    group_id,
                    user,
                )
                .bind(role.code())
                .bind(now_ms)
                .bind(*join_order)
                .execute(conn)
                .await
                .map_err(unique_violation_is_already_exists)?;
                let sql = "DELETE FROM group_requests WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                D::on_member(sql, app_id, group_id, user).execute(conn).await?;
                counts.member_joined(*role == MemberRole::Admin);
            }
            GroupMutation::RemoveMember { user } => {
                // Their mute and allowlist entry go with the membership row.
                let sql =
                    "DELETE FROM group_members WHERE app_id = $1 AND group_id = $2 AND user_name = $3 RETURNING role";
                let role: Option<i16> = D::on_member(sql, app_id, group_id, user).fetch_optional_scalar(conn).await?;
                if let Some(role) = role {
                    counts.member_left(MemberRole::from_code(role) == MemberRole::Admin);
                }
                let sql = "DELETE FROM group_member_attrs WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                D::on_member(sql, app_id, group_id, user).execute(conn).await?;
            }
            GroupMutation::SetRole { user, role } => {
                let sql = "SELECT role FROM group_members WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                let previous: Option<i16> =
                    D::on_member(sql, app_id, group_id, user).fetch_optional_scalar(conn).await?;
                if let Some(previous) = previous {
                    let sql =
                        "UPDATE group_members SET role = $4 WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                    D::on_member(sql, app_id, group_id, user).bind(role.code()).execute(conn).await?;
                    counts
                        .role_changed(MemberRole::from_code(previous) == MemberRole::Admin, *role == MemberRole::Admin);
                }
            }
            GroupMutation::SetOwner { user } => {
                GROUPS.set::<D>(conn, app_id, group_id, "owner", user.as_str()).await?;
            }
            GroupMutation::Blocklist { user } => {
                GROUPS.blocklist.add::<D>(conn, app_id, group_id, user, now_ms).await?;
            }
            GroupMutation::Unblocklist { user } => {
                GROUPS.blocklist.remove::<D>(conn, app_id, group_id, user).await?;
            }
            GroupMutation::SetMute { user, until_ms } => {
                let sql = "UPDATE group_members SET muted_until_ms = $4 \
                           WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                D::on_member(sql, app_id, group_id, user).bind(*until_ms).execute(conn).await?;
            }
            GroupMutation::SetAllowlisted { user, allowlisted } => {
                let sql = "UPDATE group_members SET allowlisted = $4 \
                           WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                D::on_member(sql, app_id, group_id, user).bind(*allowlisted).execute(conn).await?;
            }
            GroupMutation::SetShielded { user, shielded } => {
                let sql = "UPDATE group_members SET shielded = $4 \
                           WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
                D::on_member(sql, app_id, group_id, user).bind(*shielded).execute(conn).await?;
            }
            GroupMutation::PutRequest(request) => {
                // One pending request per user and kind: a new one replaces the old.
                D::on_member(
                    "INSERT INTO group_requests (app_id, group_id, user_name, kind, inviter, message, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) \
                     ON CONFLICT (app_id, group_id, user_name, kind) DO UPDATE \
                     SET inviter = excluded.inviter, message = excluded.message, created_ms = excluded.created_ms",
                    app_id,
                    group_id,
                    &request.user,
                )
                .bind(request.kind.code())
                .bind(request.inviter.as_ref().map(UserName::as_str))
                .bind(request.message.as_str())
                .bind(request.created_ms)
                .execute(conn)
                .await?;
            }
            GroupMutation::DeleteRequest { user, kind } => {
                let sql = "DELETE FROM group_requests \
                           WHERE app_id = $1 AND group_id = $2 AND user_name = $3 AND kind = $4";
                D::on_member(sql, app_id, group_id, user).bind(kind.code()).execute(conn).await?;
            }
            GroupMutation::AddFile(file) => {
                D::on_venue(
                    "INSERT INTO group_files (app_id, group_id, file_id, name, owner, size, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    app_id,
                    group_id,
                )
                .bind(file.file_id.as_str())
                .bind(file.name.as_str())
                .bind(file.owner.as_str())
                .bind(file.size)
                .bind(file.created_ms)
                .execute(conn)
                .await
                .map_err(unique_violation_is_already_exists)?;
            }
            GroupMutation::DeleteFile { file_id } => {
                let sql = "DELETE FROM group_files WHERE app_id = $1 AND group_id = $2 AND file_id = $3";
                D::on_venue(sql, app_id, group_id).bind(file_id.as_str()).execute(conn).await?;
            }
            GroupMutation::SetMemberAttributes { user, attributes } => {
                for (key, value) in attributes {
                    if value.is_empty() {
                        let sql = "DELETE FROM group_member_attrs \
                                   WHERE app_id = $1 AND group_id = $2 AND user_name = $3 AND attr_key = $4";
                        D::on_member(sql, app_id, group_id, user).bind(key.as_str()).execute(conn).await?;
                    } else {
                        let sql = "INSERT INTO group_member_attrs (app_id, group_id, user_name, attr_key, attr_value) \
                                   VALUES ($1, $2, $3, $4, $5) \
                                   ON CONFLICT (app_id, group_id, user_name, attr_key) DO UPDATE \
                                   SET attr_value = excluded.attr_value";
                        D::on_member(sql, app_id, group_id, user)
                            .bind(key.as_str())
                            .bind(value.as_str())
                            .execute(conn)
                            .await?;
                    }
                }
            }
            GroupMutation::Dissolve => {
                // Members, blocklist, requests, files, attributes and the timeline go with the
                // row; the delivery cursors on its queue, kept by queue name, are deleted here.
                GROUPS.delete::<D>(conn, app_id, group_id).await?;
                D::query("DELETE FROM delivery_cursors WHERE app_id = $1 AND queue = $2")
                    .bind(app_id)
                    .bind(QueueKey::Group(group_id_from_sql(group_id)).as_storage_key())
                    .execute(conn)
                    .await?;
            }
        }
        Ok(())
    }
}

/// For a user's deletion: takes them out of every group they do not own, off every blocklist,
/// and deletes their member attributes everywhere. Every group where their standing changed
/// gets a new version; groups they own keep them as owner of record (and their membership).
pub(super) async fn leave_every_group<D: Dialect>(
    conn: &mut D::Connection,
    app_id: i64,
    user: &UserName,
) -> StoreResult<()> {
    let memberships: Vec<(i64, i16)> =
        D::query("SELECT group_id, role FROM group_members WHERE app_id = $1 AND user_name = $2")
            .bind(app_id)
            .bind(user.as_str())
            .fetch_all(conn)
            .await?;
    let blocked_in: Vec<i64> = D::query("SELECT group_id FROM group_blocks WHERE app_id = $1 AND user_name = $2")
        .bind(app_id)
        .bind(user.as_str())
        .fetch_column(conn)
        .await?;
    // The groups where the user's standing changes: left (but not owned) or unblocked. A
    // BTreeSet locks them in id order.
    let owner = MemberRole::Owner.code();
    let changed_groups: BTreeSet<i64> = memberships
        .iter()
        .filter(|(_, role)| *role != owner)
        .map(|(group_id, _)| *group_id)
        .chain(blocked_in)
        .collect();
    for &group_id in &changed_groups {
        GROUPS.bump_version::<D>(conn, app_id, group_id).await?;
        let mut counts = MemberCounts::default();
        let sql = "DELETE FROM group_members \
                   WHERE app_id = $1 AND group_id = $2 AND user_name = $3 AND role <> $4 RETURNING role";
        let left_role: Option<i16> =
            D::on_member(sql, app_id, group_id, user).bind(owner).fetch_optional_scalar(conn).await?;
        if let Some(role) = left_role {
            counts.member_left(MemberRole::from_code(role) == MemberRole::Admin);
        }
        GROUPS.write_counts::<D>(conn, app_id, group_id, &counts).await?;
        GROUPS.blocklist.remove::<D>(conn, app_id, group_id, user).await?;
    }
    // Attributes go in every group, the owned ones included.
    for &(group_id, _) in &memberships {
        let sql = "DELETE FROM group_member_attrs WHERE app_id = $1 AND group_id = $2 AND user_name = $3";
        D::on_member(sql, app_id, group_id, user).execute(conn).await?;
    }
    Ok(())
}
