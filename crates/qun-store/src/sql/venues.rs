//! What groups and chat rooms share, written once: a venue row with a `version` and member
//! counts, a member table in join order, user lists kept in tables of their own (a blocklist,
//! and a room's admins and allowlist), mute lists with an expiry, and the versioned change path
//! (compare-and-set the version, apply the mutations in order, then the counts they moved).
//!
//! A venue's [`VenueTables`] names its tables and columns; the statements here are built from
//! those names. They are constants of this crate, never input, which is why the built text is
//! handed to sqlx as safe (`AssertSqlSafe`).

use std::future::Future;

use qun_core::UserName;
use sqlx::{AssertSqlSafe, SqlSafeStr};

use super::dialect::{Dialect, SqlRow, Statement};
use super::rows::VenueMemberRow;
use crate::{MemberPage, StoreError, StoreResult};

/// The tables and columns of one kind of venue: groups or chat rooms.
#[derive(Debug)]
pub(super) struct VenueTables {
    /// The venue's own table, keyed by `(app_id, id)`, with `version`, `modified_ms`,
    /// `member_count` and `admin_count`; named `v` in queries.
    pub(super) table: &'static str,
    /// The columns of the venue's row type, qualified by `v`.
    pub(super) columns: &'static str,
    /// The column naming the venue in the tables of its members and lists.
    pub(super) key: &'static str,
    /// Who is in the venue: `user_name` and a `join_order` unique per venue; named `m`.
    pub(super) members: &'static str,
    /// The columns of the member row type, qualified by `m`.
    pub(super) member_columns: &'static str,
    pub(super) blocklist: ListTable,
}

/// A table listing users of a venue: `(app_id, <key>, user_name, created_ms)`.
#[derive(Debug)]
pub(super) struct ListTable {
    pub(super) table: &'static str,
    /// The column naming the venue.
    pub(super) key: &'static str,
}

/// Statements on one venue, for every dialect: `D::on_venue(…)`, `D::on_member(…)`.
pub(super) trait VenueStatements: Dialect {
    /// A statement on one venue: `$1` is the app, `$2` the venue.
    fn on_venue(sql: impl SqlSafeStr, app_id: i64, venue_id: i64) -> Statement<Self> {
        Self::query(sql).bind(app_id).bind(venue_id)
    }

    /// A statement on one user's row of a venue's table: `$1` app, `$2` venue, `$3` user.
    fn on_member(sql: impl SqlSafeStr, app_id: i64, venue_id: i64, user: &UserName) -> Statement<Self> {
        Self::on_venue(sql, app_id, venue_id).bind(user.as_str())
    }
}

impl<D: Dialect> VenueStatements for D {}

/// The user names one statement lists for a venue (`$1` the app, `$2` the venue).
pub(super) async fn user_names<D: Dialect>(
    conn: &mut D::Connection,
    sql: impl SqlSafeStr,
    app_id: i64,
    venue_id: i64,
) -> StoreResult<Vec<UserName>> {
    let names: Vec<String> = D::on_venue(sql, app_id, venue_id).fetch_column(conn).await?;
    Ok(names.into_iter().map(UserName::from_trusted).collect())
}

/// The users one statement lists as muted after `$3` (`$1` the app, `$2` the venue), with the
/// end of their mute.
pub(super) async fn muted_users<D: Dialect>(
    conn: &mut D::Connection,
    sql: &'static str,
    app_id: i64,
    venue_id: i64,
    now_ms: i64,
) -> StoreResult<Vec<(UserName, i64)>> {
    let rows: Vec<(String, i64)> = D::on_venue(sql, app_id, venue_id).bind(now_ms).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|(name, until)| (UserName::from_trusted(name), until)).collect())
}

/// A new venue's version.
pub(super) const FIRST_VERSION: i64 = 1;

/// Runs `insert`, a new venue's row that does nothing on a conflict; `AlreadyExists` if its id is
/// taken.
pub(super) async fn insert_venue<D: Dialect>(conn: &mut D::Connection, insert: Statement<D>) -> StoreResult<()> {
    match insert.execute(conn).await? {
        0 => Err(StoreError::AlreadyExists),
        _ => Ok(()),
    }
}

/// Turns a count read from the database into a `u64`.
pub(super) fn count(total: i64) -> StoreResult<u64> {
    u64::try_from(total).map_err(|_| StoreError::Corrupt(format!("count {total}")))
}

impl VenueTables {
    /// The venue's row.
    pub(super) async fn fetch<D: Dialect, R: SqlRow>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
    ) -> StoreResult<Option<R>> {
        let sql = format!("SELECT {} FROM {} v WHERE v.app_id = $1 AND v.id = $2", self.columns, self.table);
        D::query(AssertSqlSafe(sql)).bind(app_id).bind(venue_id).fetch_optional(conn).await
    }

    /// The rows of the venues asked for, in that order; unknown ones are left out.
    pub(super) async fn fetch_each<D: Dialect, R: SqlRow>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_ids: impl Iterator<Item = i64> + Send,
    ) -> StoreResult<Vec<R>> {
        let mut rows = Vec::new();
        for venue_id in venue_ids {
            rows.extend(self.fetch::<D, R>(conn, app_id, venue_id).await?);
        }
        Ok(rows)
    }

    /// Venues newest created first: ids below `before`, skipping `offset`, that also meet
    /// `condition` (SQL on `v`; its parameters are bound after this, from `$5`).
    pub(super) fn page<D: Dialect>(
        &self,
        condition: &'static str,
        app_id: i64,
        before: Option<i64>,
        offset: u32,
        limit: u32,
    ) -> Statement<D> {
        let sql = format!(
            "SELECT {} FROM {} v WHERE v.app_id = $1 AND v.id < $2{condition} ORDER BY v.id DESC LIMIT $3 OFFSET $4",
            self.columns, self.table
        );
        D::query(AssertSqlSafe(sql))
            .bind(app_id)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
    }

    /// The venues `user` is in, newest joined first, each with their membership; and how many
    /// there are. `conn` is a read of one snapshot.
    pub(super) async fn of_user<D: Dialect, V: SqlRow, M: SqlRow>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        user: &UserName,
        offset: u32,
        limit: u32,
    ) -> StoreResult<(Vec<(V, M)>, u64)> {
        let [page, total] = self.of_user_statements();
        let rows: Vec<VenueMemberRow<V, M>> = D::query(AssertSqlSafe(page))
            .bind(app_id)
            .bind(user.as_str())
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(conn)
            .await?;
        let total: i64 = D::query(AssertSqlSafe(total)).bind(app_id).bind(user.as_str()).fetch_scalar(conn).await?;
        Ok((rows.into_iter().map(|row| (row.venue, row.member)).collect(), count(total)?))
    }

    /// What [`VenueTables::of_user`] runs: a page of the user's venues (`$1` app, `$2` user, `$3`
    /// limit, `$4` offset) and their count (`$1`, `$2`); both by the members' index on the user.
    pub(super) fn of_user_statements(&self) -> [String; 2] {
        [
            format!(
                "SELECT {}, {} FROM {} m JOIN {} v ON v.app_id = m.app_id AND v.id = m.{} \
                 WHERE m.app_id = $1 AND m.user_name = $2 ORDER BY m.join_order DESC LIMIT $3 OFFSET $4",
                self.columns, self.member_columns, self.members, self.table, self.key
            ),
            format!("SELECT COUNT(*) FROM {} WHERE app_id = $1 AND user_name = $2", self.members),
        ]
    }

    /// One member's row, if `user` is in the venue.
    pub(super) async fn member<D: Dialect, R: SqlRow>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
        user: &UserName,
    ) -> StoreResult<Option<R>> {
        let sql = format!(
            "SELECT {} FROM {} m WHERE m.app_id = $1 AND m.{} = $2 AND m.user_name = $3",
            self.member_columns, self.members, self.key
        );
        D::on_member(AssertSqlSafe(sql), app_id, venue_id, user).fetch_optional(conn).await
    }

    /// Members newest joined first: by offset, or after a cursor (a `join_order`).
    pub(super) async fn members_page<D: Dialect, R: SqlRow>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
        page: MemberPage,
    ) -> StoreResult<Vec<R>> {
        // One statement for both kinds of page: below a join order (i64::MAX for the first
        // page), skipping an offset (0 for the cursor kind).
        let (below, offset, limit) = match page {
            MemberPage::Offset { number, size } => (i64::MAX, i64::from(number) * i64::from(size), size),
            MemberPage::After { join_order, limit } => (join_order.unwrap_or(i64::MAX), 0, limit),
        };
        let sql = format!(
            "SELECT {} FROM {} m WHERE m.app_id = $1 AND m.{} = $2 AND m.join_order < $3 \
             ORDER BY m.join_order DESC LIMIT $4 OFFSET $5",
            self.member_columns, self.members, self.key
        );
        D::on_venue(AssertSqlSafe(sql), app_id, venue_id)
            .bind(below)
            .bind(i64::from(limit))
            .bind(offset)
            .fetch_all(conn)
            .await
    }

    /// The compare-and-set that makes a change optimistic: bumps the version if it is still
    /// `expected_version` and returns the new one; `Conflict` if it moved, `NotFound` if there is
    /// no such venue. It also locks the venue's row (PostgreSQL) until commit.
    pub(super) async fn claim_version<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
        expected_version: i64,
        now_ms: i64,
    ) -> StoreResult<i64> {
        let sql = format!(
            "UPDATE {} SET version = version + 1, modified_ms = $4 \
             WHERE app_id = $1 AND id = $2 AND version = $3 RETURNING version",
            self.table
        );
        let version: Option<i64> = D::on_venue(AssertSqlSafe(sql), app_id, venue_id)
            .bind(expected_version)
            .bind(now_ms)
            .fetch_optional_scalar(conn)
            .await?;
        if let Some(version) = version {
            return Ok(version);
        }
        let sql = format!("SELECT EXISTS (SELECT 1 FROM {} WHERE app_id = $1 AND id = $2)", self.table);
        let exists: bool = D::on_venue(AssertSqlSafe(sql), app_id, venue_id).fetch_scalar(conn).await?;
        Err(if exists { StoreError::Conflict } else { StoreError::NotFound })
    }

    /// A new version for a change made outside the versioned path (a user's deletion).
    pub(super) async fn bump_version<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
    ) -> StoreResult<()> {
        let sql = format!("UPDATE {} SET version = version + 1 WHERE app_id = $1 AND id = $2", self.table);
        D::on_venue(AssertSqlSafe(sql), app_id, venue_id).execute(conn).await?;
        Ok(())
    }

    /// Sets one column of the venue's row.
    pub(super) async fn set<'t, D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
        column: &'static str,
        value: impl super::dialect::Param<'t>,
    ) -> StoreResult<()> {
        let sql = format!("UPDATE {} SET {column} = $3 WHERE app_id = $1 AND id = $2", self.table);
        D::on_venue(AssertSqlSafe(sql), app_id, venue_id).bind(value).execute(conn).await?;
        Ok(())
    }

    /// Deletes the venue; what belongs to it goes with its row (`ON DELETE CASCADE`).
    pub(super) async fn delete<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
    ) -> StoreResult<()> {
        let sql = format!("DELETE FROM {} WHERE app_id = $1 AND id = $2", self.table);
        D::on_venue(AssertSqlSafe(sql), app_id, venue_id).execute(conn).await?;
        Ok(())
    }

    /// Applies a change's mutations in order, then the counts they moved. The caller has locked
    /// the venue's row (or just inserted it) and owns the transaction.
    pub(super) async fn apply_mutations<D: Dialect, M: VenueMutation>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
        mutations: &[M],
        now_ms: i64,
    ) -> StoreResult<()> {
        let mut counts = MemberCounts::default();
        let mut gone = false;
        for mutation in mutations {
            if gone {
                // The venue is gone: there is nothing left to change.
                return Err(StoreError::NotFound);
            }
            mutation.apply::<D>(conn, app_id, venue_id, now_ms, &mut counts).await?;
            gone = mutation.deletes_venue();
        }
        if !gone {
            self.write_counts::<D>(conn, app_id, venue_id, &counts).await?;
        }
        Ok(())
    }

    /// Moves the venue's member and admin counts as `counts` says.
    pub(super) async fn write_counts<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
        counts: &MemberCounts,
    ) -> StoreResult<()> {
        if counts.members == 0 && counts.admins == 0 {
            return Ok(());
        }
        let sql = format!(
            "UPDATE {} SET member_count = member_count + $3, admin_count = admin_count + $4 \
             WHERE app_id = $1 AND id = $2",
            self.table
        );
        D::on_venue(AssertSqlSafe(sql), app_id, venue_id)
            .bind(counts.members)
            .bind(counts.admins)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// One elementary change to a venue, for [`VenueTables::apply_mutations`].
pub(super) trait VenueMutation: Sync {
    /// Deletes the venue, so no mutation may follow it.
    fn deletes_venue(&self) -> bool;

    /// Applies it, noting in `counts` how it moved the member and admin counts.
    fn apply<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
        now_ms: i64,
        counts: &mut MemberCounts,
    ) -> impl Future<Output = StoreResult<()>> + Send;
}

/// How a change moves a venue's member and admin counts.
#[derive(Debug, Default)]
pub(super) struct MemberCounts {
    pub(super) members: i64,
    pub(super) admins: i64,
}

impl MemberCounts {
    pub(super) fn member_joined(&mut self, admin: bool) {
        self.members += 1;
        self.admins += i64::from(admin);
    }

    pub(super) fn member_left(&mut self, admin: bool) {
        self.members -= 1;
        self.admins -= i64::from(admin);
    }

    pub(super) fn role_changed(&mut self, was_admin: bool, is_admin: bool) {
        self.admins += i64::from(is_admin) - i64::from(was_admin);
    }
}

impl ListTable {
    /// Lists `user`; `1` if they were not listed yet, else `0`.
    pub(super) async fn add<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
        user: &UserName,
        now_ms: i64,
    ) -> StoreResult<u64> {
        let sql = format!(
            "INSERT INTO {} (app_id, {}, user_name, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            self.table, self.key
        );
        D::on_member(AssertSqlSafe(sql), app_id, venue_id, user).bind(now_ms).execute(conn).await
    }

    /// Takes `user` off the list; `1` if they were listed, else `0`.
    pub(super) async fn remove<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
        user: &UserName,
    ) -> StoreResult<u64> {
        let sql = format!("DELETE FROM {} WHERE app_id = $1 AND {} = $2 AND user_name = $3", self.table, self.key);
        D::on_member(AssertSqlSafe(sql), app_id, venue_id, user).execute(conn).await
    }

    /// The listed users, newest listed first.
    pub(super) async fn names<D: Dialect>(
        &self,
        conn: &mut D::Connection,
        app_id: i64,
        venue_id: i64,
    ) -> StoreResult<Vec<UserName>> {
        let sql = format!(
            "SELECT user_name FROM {} WHERE app_id = $1 AND {} = $2 ORDER BY created_ms DESC, user_name",
            self.table, self.key
        );
        user_names::<D>(conn, AssertSqlSafe(sql), app_id, venue_id).await
    }
}
