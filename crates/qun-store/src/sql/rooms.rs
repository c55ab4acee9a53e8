//! [`RoomStore`]: chat rooms, their presence, roles, lists, custom attributes, super admins.
//! What rooms share with groups is in `venues.rs`, run on [`ROOMS`].
//!
//! A room's presence (`room_members`) is kept apart from its roles (`rooms.owner`,
//! `room_admins`) and from its mutes, blocklist and allowlist, which outlive it. Room events are
//! never stored.

use std::collections::BTreeSet;

use async_trait::async_trait;
use qun_core::{RoomId, UserName};

use super::SqlStore;
use super::dialect::Dialect;
use super::rows::{
    RoomAttributeRow, RoomMemberRow, RoomPresenceRow, RoomRow, convert_all, room_id_from_sql, sql_id, to_json,
    unique_violation_is_already_exists,
};
use super::venues::{
    FIRST_VERSION, ListTable, MemberCounts, VenueMutation, VenueStatements, VenueTables, count, insert_venue,
    muted_users,
};
use crate::{
    MemberPage, NewRoom, RoomAttributeRecord, RoomChange, RoomMemberRecord, RoomMutation, RoomPresence, RoomRecord,
    RoomSnapshot, RoomStore, StoreError, StoreResult, UserInRoom,
};

pub(super) const ROOMS: VenueTables = VenueTables {
    table: "rooms",
    columns: room_columns!(),
    key: "room_id",
    members: "room_members",
    member_columns: room_member_columns!(),
    blocklist: ListTable { table: "room_blocks", key: "room_id" },
};

/// The ids of the rooms a user is in (`$1` app, `$2` user), at most `$3`: by the members'
/// index on the user alone (no join, no count), one statement for a login.
pub(super) const ROOM_IDS_OF_USER: &str =
    "SELECT room_id FROM room_members WHERE app_id = $1 AND user_name = $2 LIMIT $3";

const ROOM_ADMINS: ListTable = ListTable { table: "room_admins", key: "room_id" };
const ROOM_ALLOWLIST: ListTable = ListTable { table: "room_allowlist", key: "room_id" };

#[async_trait]
impl<D: Dialect> RoomStore for SqlStore<D> {
    async fn create_room(&self, app_id: i64, room: &NewRoom, change: &RoomChange) -> StoreResult<i64> {
        let settings = &room.settings;
        let room_id = sql_id(room.id.0);
        let mut tx = self.begin_write().await?;
        let insert = D::on_venue(
            "INSERT INTO rooms (app_id, id, owner, name, description, max_users, custom, version, \
             created_ms, modified_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
             ON CONFLICT (app_id, id) DO NOTHING",
            app_id,
            room_id,
        )
        .bind(room.owner.as_str())
        .bind(settings.name.as_str())
        .bind(settings.description.as_str())
        .bind(i64::from(settings.max_users))
        .bind(settings.custom.as_str())
        .bind(FIRST_VERSION)
        .bind(room.created_ms);
        insert_venue::<D>(&mut tx, insert).await?;
        ROOMS.apply_mutations::<D, _>(&mut tx, app_id, room_id, &change.mutations, change.now_ms).await?;
        tx.commit().await?;
        Ok(FIRST_VERSION)
    }

    async fn apply_room_change(
        &self,
        app_id: i64,
        room_id: RoomId,
        expected_version: i64,
        change: &RoomChange,
    ) -> StoreResult<i64> {
        let room_id = sql_id(room_id.0);
        let mut tx = self.begin_write().await?;
        let version = ROOMS.claim_version::<D>(&mut tx, app_id, room_id, expected_version, change.now_ms).await?;
        ROOMS.apply_mutations::<D, _>(&mut tx, app_id, room_id, &change.mutations, change.now_ms).await?;
        tx.commit().await?;
        Ok(version)
    }

    async fn room_snapshot(
        &self,
        app_id: i64,
        room_id: RoomId,
        users: &[UserName],
    ) -> StoreResult<Option<RoomSnapshot>> {
        let room_id = sql_id(room_id.0);
        // One read transaction: the room and the standings are of the same moment.
        let mut tx = self.begin_read().await?;
        let Some(room) = ROOMS.fetch::<D, RoomRow>(&mut tx, app_id, room_id).await? else {
            return Ok(None);
        };
        let room = RoomRecord::try_from(room)?;
        let mut standings = Vec::with_capacity(users.len());
        for user in users {
            let (exists, admin, blocklisted, allowlisted, muted_until_ms): (bool, bool, bool, bool, Option<i64>) =
                D::on_member(
                    "SELECT EXISTS (SELECT 1 FROM users WHERE app_id = $1 AND name = $3), \
                     EXISTS (SELECT 1 FROM room_admins WHERE app_id = $1 AND room_id = $2 AND user_name = $3), \
                     EXISTS (SELECT 1 FROM room_blocks WHERE app_id = $1 AND room_id = $2 AND user_name = $3), \
                     EXISTS (SELECT 1 FROM room_allowlist WHERE app_id = $1 AND room_id = $2 AND user_name = $3), \
                     (SELECT until_ms FROM room_mutes WHERE app_id = $1 AND room_id = $2 AND user_name = $3)",
                    app_id,
                    room_id,
                    user,
                )
                .fetch_one(&mut tx)
                .await?;
            let presence: Option<RoomMemberRow> = ROOMS.member::<D, _>(&mut tx, app_id, room_id, user).await?;
            let auto_delete_keys: Vec<String> = D::on_member(
                "SELECT attr_key FROM room_attributes \
                 WHERE app_id = $1 AND room_id = $2 AND owner = $3 AND auto_delete ORDER BY attr_key",
                app_id,
                room_id,
                user,
            )
            .fetch_column(&mut tx)
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
        let mut tx = self.begin_read().await?;
        let rows: Vec<RoomRow> = ROOMS.fetch_each::<D, _>(&mut tx, app_id, ids.iter().map(|id| sql_id(id.0))).await?;
        tx.commit().await?;
        convert_all(rows)
    }

    async fn rooms_page(
        &self,
        app_id: i64,
        before: Option<RoomId>,
        offset: u32,
        limit: u32,
    ) -> StoreResult<Vec<RoomRecord>> {
        let before = before.map(|before| sql_id(before.0));
        let rows: Vec<RoomRow> =
            ROOMS.page::<D>("", app_id, before, offset, limit).fetch_all(&mut *self.read_conn().await?).await?;
        convert_all(rows)
    }

    async fn user_rooms(
        &self,
        app_id: i64,
        user: &UserName,
        offset: u32,
        limit: u32,
    ) -> StoreResult<(Vec<(RoomRecord, RoomMemberRecord)>, u64)> {
        let mut tx = self.begin_read().await?;
        let (rows, total) = ROOMS.of_user::<D, RoomRow, RoomMemberRow>(&mut tx, app_id, user, offset, limit).await?;
        tx.commit().await?;
        let rooms =
            rows.into_iter().map(|(venue, member)| Ok((venue.try_into()?, member.into()))).collect::<StoreResult<_>>();
        Ok((rooms?, total))
    }

    async fn user_room_ids(&self, app_id: i64, user: &UserName, limit: u32) -> StoreResult<Vec<RoomId>> {
        let ids: Vec<i64> = D::query(ROOM_IDS_OF_USER)
            .bind(app_id)
            .bind(user.as_str())
            .bind(i64::from(limit))
            .fetch_column(&mut *self.read_conn().await?)
            .await?;
        Ok(ids.into_iter().map(room_id_from_sql).collect())
    }

    async fn room_members_page(
        &self,
        app_id: i64,
        room_id: RoomId,
        page: MemberPage,
    ) -> StoreResult<Vec<RoomMemberRecord>> {
        let mut conn = self.read_conn().await?;
        let rows: Vec<RoomMemberRow> = ROOMS.members_page::<D, _>(&mut conn, app_id, sql_id(room_id.0), page).await?;
        Ok(rows.into_iter().map(RoomMemberRecord::from).collect())
    }

    async fn room_admins(&self, app_id: i64, room_id: RoomId) -> StoreResult<Vec<UserName>> {
        ROOM_ADMINS.names::<D>(&mut *self.read_conn().await?, app_id, sql_id(room_id.0)).await
    }

    async fn room_blocklist(&self, app_id: i64, room_id: RoomId) -> StoreResult<Vec<UserName>> {
        ROOMS.blocklist.names::<D>(&mut *self.read_conn().await?, app_id, sql_id(room_id.0)).await
    }

    async fn room_mute_list(&self, app_id: i64, room_id: RoomId, now_ms: i64) -> StoreResult<Vec<(UserName, i64)>> {
        let sql = "SELECT user_name, until_ms FROM room_mutes WHERE app_id = $1 AND room_id = $2 \
                   AND until_ms > $3 ORDER BY created_ms DESC, user_name";
        muted_users::<D>(&mut *self.read_conn().await?, sql, app_id, sql_id(room_id.0), now_ms).await
    }

    async fn room_allowlist(&self, app_id: i64, room_id: RoomId) -> StoreResult<Vec<UserName>> {
        ROOM_ALLOWLIST.names::<D>(&mut *self.read_conn().await?, app_id, sql_id(room_id.0)).await
    }

    async fn room_attributes(
        &self,
        app_id: i64,
        room_id: RoomId,
        keys: &[String],
    ) -> StoreResult<Vec<RoomAttributeRecord>> {
        // At most 100 rows per room (Agora's limit): read them all and filter here, which keeps
        // the SQL static.
        let rows: Vec<RoomAttributeRow> = D::on_venue(
            concat!(
                "SELECT ",
                room_attribute_columns!(),
                " FROM room_attributes WHERE app_id = $1 AND room_id = $2 ORDER BY attr_key"
            ),
            app_id,
            sql_id(room_id.0),
        )
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        Ok(rows
            .into_iter()
            .map(RoomAttributeRecord::from)
            .filter(|attribute| keys.is_empty() || keys.contains(&attribute.key))
            .collect())
    }

    async fn add_room_super_admin(&self, app_id: i64, user: &UserName, now_ms: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let exists: bool = D::query("SELECT EXISTS (SELECT 1 FROM users WHERE app_id = $1 AND name = $2)")
            .bind(app_id)
            .bind(user.as_str())
            .fetch_scalar(&mut tx)
            .await?;
        if !exists {
            return Err(StoreError::NotFound);
        }
        let added = D::query(
            "INSERT INTO room_super_admins (app_id, user_name, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (app_id, user_name) DO NOTHING",
        )
        .bind(app_id)
        .bind(user.as_str())
        .bind(now_ms)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(added > 0)
    }

    async fn remove_room_super_admin(&self, app_id: i64, user: &UserName) -> StoreResult<bool> {
        let removed = D::query("DELETE FROM room_super_admins WHERE app_id = $1 AND user_name = $2")
            .bind(app_id)
            .bind(user.as_str())
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(removed > 0)
    }

    async fn room_super_admins(&self, app_id: i64, offset: u32, limit: u32) -> StoreResult<(Vec<UserName>, u64)> {
        let mut tx = self.begin_read().await?;
        let names: Vec<String> = D::query(
            "SELECT user_name FROM room_super_admins WHERE app_id = $1 \
             ORDER BY created_ms DESC, user_name LIMIT $2 OFFSET $3",
        )
        .bind(app_id)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_column(&mut tx)
        .await?;
        let total: i64 = D::query("SELECT COUNT(*) FROM room_super_admins WHERE app_id = $1")
            .bind(app_id)
            .fetch_scalar(&mut tx)
            .await?;
        tx.commit().await?;
        Ok((names.into_iter().map(UserName::from_trusted).collect(), count(total)?))
    }

    async fn is_room_super_admin(&self, app_id: i64, user: &UserName) -> StoreResult<bool> {
        D::query("SELECT EXISTS (SELECT 1 FROM room_super_admins WHERE app_id = $1 AND user_name = $2)")
            .bind(app_id)
            .bind(user.as_str())
            .fetch_scalar(&mut *self.read_conn().await?)
            .await
    }

    async fn room_presences(&self) -> StoreResult<Vec<RoomPresence>> {
        let rows: Vec<RoomPresenceRow> = D::query(concat!(
            "SELECT a.org, a.name AS app_name, m.room_id, ",
            room_member_columns!(),
            " FROM room_members m JOIN apps a ON a.id = m.app_id ORDER BY m.app_id, m.room_id, m.join_order"
        ))
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        Ok(rows.into_iter().map(RoomPresence::from).collect())
    }
}

impl VenueMutation for RoomMutation {
    fn deletes_venue(&self) -> bool {
        matches!(self, RoomMutation::Destroy)
    }

    async fn apply<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        room_id: i64,
        now_ms: i64,
        counts: &mut MemberCounts,
    ) -> StoreResult<()> {
        match self {
            RoomMutation::UpdateSettings(settings) => {
                D::on_venue(
                    "UPDATE rooms SET name = $3, description = $4, max_users = $5, custom = $6 \
                     WHERE app_id = $1 AND id = $2",
                    app_id,
                    room_id,
                )
                .bind(settings.name.as_str())
                .bind(settings.description.as_str())
                .bind(i64::from(settings.max_users))
                .bind(settings.custom.as_str())
                .execute(conn)
                .await?;
            }
            RoomMutation::SetAnnouncement(announcement) => {
                ROOMS.set::<D>(conn, app_id, room_id, "announcement", announcement.as_str()).await?;
            }
            RoomMutation::SetMuteAll(mute_all) => {
                ROOMS.set::<D>(conn, app_id, room_id, "mute_all", *mute_all).await?;
            }
            RoomMutation::AddMember { user, join_order } => {
                let sql = "INSERT INTO room_members (app_id, room_id, user_name, joined_ms, join_order) \
                           VALUES ($1, $2, $3, $4, $5)";
                D::on_member(sql, app_id, room_id, user)
                    .bind(now_ms)
                    .bind(*join_order)
                    .execute(conn)
                    .await
                    .map_err(unique_violation_is_already_exists)?;
                counts.member_joined(false);
            }
            RoomMutation::RemoveMember { user } => {
                counts.members -= leave::<D>(conn, app_id, room_id, user).await?;
            }
            RoomMutation::SetAdmin { user, admin: true } => {
                counts.admins += ROOM_ADMINS.add::<D>(conn, app_id, room_id, user, now_ms).await? as i64;
            }
            RoomMutation::SetAdmin { user, admin: false } => {
                counts.admins -= ROOM_ADMINS.remove::<D>(conn, app_id, room_id, user).await? as i64;
            }
            RoomMutation::Blocklist { user } => {
                ROOMS.blocklist.add::<D>(conn, app_id, room_id, user, now_ms).await?;
            }
            RoomMutation::Unblocklist { user } => {
                ROOMS.blocklist.remove::<D>(conn, app_id, room_id, user).await?;
            }
            RoomMutation::SetMute { user, until_ms: Some(until_ms) } => {
                let sql = "INSERT INTO room_mutes (app_id, room_id, user_name, until_ms, created_ms) \
                           VALUES ($1, $2, $3, $4, $5) \
                           ON CONFLICT (app_id, room_id, user_name) DO UPDATE \
                           SET until_ms = excluded.until_ms, created_ms = excluded.created_ms";
                D::on_member(sql, app_id, room_id, user).bind(*until_ms).bind(now_ms).execute(conn).await?;
            }
            RoomMutation::SetMute { user, until_ms: None } => {
                let sql = "DELETE FROM room_mutes WHERE app_id = $1 AND room_id = $2 AND user_name = $3";
                D::on_member(sql, app_id, room_id, user).execute(conn).await?;
            }
            RoomMutation::SetAllowlisted { user, allowlisted: true } => {
                ROOM_ALLOWLIST.add::<D>(conn, app_id, room_id, user, now_ms).await?;
            }
            RoomMutation::SetAllowlisted { user, allowlisted: false } => {
                ROOM_ALLOWLIST.remove::<D>(conn, app_id, room_id, user).await?;
            }
            RoomMutation::SetAttributes { owner, auto_delete, attributes } => {
                for (key, value) in attributes {
                    let sql = "INSERT INTO room_attributes \
                               (app_id, room_id, attr_key, attr_value, owner, auto_delete, updated_ms) \
                               VALUES ($1, $2, $3, $4, $5, $6, $7) \
                               ON CONFLICT (app_id, room_id, attr_key) DO UPDATE \
                               SET attr_value = excluded.attr_value, owner = excluded.owner, \
                               auto_delete = excluded.auto_delete, updated_ms = excluded.updated_ms";
                    D::on_venue(sql, app_id, room_id)
                        .bind(key.as_str())
                        .bind(value.as_str())
                        .bind(owner.as_str())
                        .bind(*auto_delete)
                        .bind(now_ms)
                        .execute(conn)
                        .await?;
                }
            }
            RoomMutation::DeleteAttributes { keys } => {
                for key in keys {
                    let sql = "DELETE FROM room_attributes WHERE app_id = $1 AND room_id = $2 AND attr_key = $3";
                    D::on_venue(sql, app_id, room_id).bind(key.as_str()).execute(conn).await?;
                }
            }
            RoomMutation::SetDelivery(delivery) => {
                ROOMS.set::<D>(conn, app_id, room_id, "delivery", to_json(delivery)?).await?;
            }
            RoomMutation::Destroy => {
                // Members, roles, lists and attributes go with the row.
                ROOMS.delete::<D>(conn, app_id, room_id).await?;
            }
        }
        Ok(())
    }
}

/// Takes `user` out of the room (not off its lists); how many left (0 or 1).
async fn leave<D: Dialect>(conn: &mut D::Connection, app_id: i64, room_id: i64, user: &UserName) -> StoreResult<i64> {
    let sql = "DELETE FROM room_members WHERE app_id = $1 AND room_id = $2 AND user_name = $3";
    Ok(D::on_member(sql, app_id, room_id, user).execute(conn).await? as i64)
}

/// For a user's deletion: their presence, admin roles, list and mute entries and the attributes
/// they set with autoDelete go from every room; counts follow and every room touched gets a new
/// version, in id order. Rooms they own keep them as owner of record.
pub(super) async fn leave_every_room<D: Dialect>(
    conn: &mut D::Connection,
    app_id: i64,
    user: &UserName,
) -> StoreResult<()> {
    let touched_rooms: BTreeSet<i64> = D::query(
        "SELECT room_id FROM room_members WHERE app_id = $1 AND user_name = $2 \
         UNION SELECT room_id FROM room_admins WHERE app_id = $1 AND user_name = $2 \
         UNION SELECT room_id FROM room_blocks WHERE app_id = $1 AND user_name = $2 \
         UNION SELECT room_id FROM room_allowlist WHERE app_id = $1 AND user_name = $2 \
         UNION SELECT room_id FROM room_mutes WHERE app_id = $1 AND user_name = $2 \
         UNION SELECT room_id FROM room_attributes WHERE app_id = $1 AND owner = $2 AND auto_delete",
    )
    .bind(app_id)
    .bind(user.as_str())
    .fetch_column(conn)
    .await?
    .into_iter()
    .collect();
    for &room_id in &touched_rooms {
        ROOMS.bump_version::<D>(conn, app_id, room_id).await?;
        let counts = MemberCounts {
            members: -leave::<D>(conn, app_id, room_id, user).await?,
            admins: -(ROOM_ADMINS.remove::<D>(conn, app_id, room_id, user).await? as i64),
        };
        ROOMS.blocklist.remove::<D>(conn, app_id, room_id, user).await?;
        ROOM_ALLOWLIST.remove::<D>(conn, app_id, room_id, user).await?;
        for sql in [
            "DELETE FROM room_mutes WHERE app_id = $1 AND room_id = $2 AND user_name = $3",
            "DELETE FROM room_attributes WHERE app_id = $1 AND room_id = $2 AND owner = $3 AND auto_delete",
        ] {
            D::on_member(sql, app_id, room_id, user).execute(conn).await?;
        }
        ROOMS.write_counts::<D>(conn, app_id, room_id, &counts).await?;
    }
    Ok(())
}
