//! [`UserStore`]: users and their tokens, and a user's deletion from every area.

use async_trait::async_trait;
use qun_core::UserName;

use super::SqlStore;
use super::dialect::{Dialect, Statement};
use super::groups::leave_every_group;
use super::rooms::leave_every_room;
use super::rows::{TokenRow, UserRow, unique_violation_is_already_exists};
use crate::{NewUser, StoreError, StoreResult, TokenRecord, UserRecord, UserStore};

#[async_trait]
impl<D: Dialect> UserStore for SqlStore<D> {
    async fn create_users(&self, app_id: i64, users: &[NewUser]) -> StoreResult<Vec<Result<UserRecord, StoreError>>> {
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(users.len());
        for user in users {
            // DO NOTHING rather than a failed insert: a failed statement would abort the whole
            // PostgreSQL transaction, and the others must still go in.
            let row: Option<UserRow> = D::query(concat!(
                "INSERT INTO users (app_id, name, uuid, password_hash, nickname, activated, created_ms, modified_ms) \
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6, $6) ON CONFLICT (app_id, name) DO NOTHING RETURNING ",
                user_columns!()
            ))
            .bind(app_id)
            .bind(user.name.as_str())
            .bind(user.uuid.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.nickname.as_str())
            .bind(user.created_ms)
            .fetch_optional(&mut tx)
            .await?;
            results.push(row.map(UserRecord::from).ok_or(StoreError::AlreadyExists));
        }
        tx.commit().await?;
        Ok(results)
    }

    async fn user(&self, app_id: i64, name: &UserName) -> StoreResult<Option<UserRecord>> {
        let row: Option<UserRow> =
            user_by_name::<D>(app_id, name).fetch_optional(&mut *self.read_conn().await?).await?;
        Ok(row.map(UserRecord::from))
    }

    async fn users_page(&self, app_id: i64, after: Option<&UserName>, limit: u32) -> StoreResult<Vec<UserRecord>> {
        // Names are never empty, so "" is before the first.
        let rows: Vec<UserRow> = D::query(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE app_id = $1 AND name > $2 ORDER BY name LIMIT $3"
        ))
        .bind(app_id)
        .bind(after.map_or("", UserName::as_str))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        Ok(rows.into_iter().map(UserRecord::from).collect())
    }

    async fn delete_user(&self, app_id: i64, name: &UserName) -> StoreResult<Option<UserRecord>> {
        let mut tx = self.begin_write().await?;
        let Some(user) = user_by_name::<D>(app_id, name).fetch_optional::<UserRow>(&mut tx).await? else {
            return Ok(None);
        };
        // Groups first, then rooms, each in id order (the locking order).
        leave_every_group::<D>(&mut tx, app_id, name).await?;
        leave_every_room::<D>(&mut tx, app_id, name).await?;
        // Their messages stay (the peers and the groups keep their history), but not what the
        // server remembers of their clients and devices.
        for statement in [
            "DELETE FROM group_requests WHERE app_id = $1 AND user_name = $2",
            "DELETE FROM user_events WHERE app_id = $1 AND user_name = $2",
            "DELETE FROM delivery_cursors WHERE app_id = $1 AND user_name = $2",
            "DELETE FROM conversation_states WHERE app_id = $1 AND user_name = $2",
            "DELETE FROM history_removals WHERE app_id = $1 AND user_name = $2",
            "DELETE FROM message_client_ids WHERE app_id = $1 AND sender = $2",
            "DELETE FROM room_super_admins WHERE app_id = $1 AND user_name = $2",
            // Takes the user's tokens with it (ON DELETE CASCADE).
            "DELETE FROM users WHERE app_id = $1 AND name = $2",
        ] {
            D::query(statement).bind(app_id).bind(name.as_str()).execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(Some(user.into()))
    }

    async fn set_password(&self, app_id: i64, name: &UserName, password_hash: &str, now_ms: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let updated = D::query("UPDATE users SET password_hash = $3, modified_ms = $4 WHERE app_id = $1 AND name = $2")
            .bind(app_id)
            .bind(name.as_str())
            .bind(password_hash)
            .bind(now_ms)
            .execute(&mut tx)
            .await?
            > 0;
        if updated {
            revoke_tokens::<D>(&mut tx, app_id, name).await?;
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
        let mut tx = self.begin_write().await?;
        let row: Option<UserRow> = D::query(concat!(
            "UPDATE users SET activated = $3, modified_ms = $4 WHERE app_id = $1 AND name = $2 RETURNING ",
            user_columns!()
        ))
        .bind(app_id)
        .bind(name.as_str())
        .bind(activated)
        .bind(now_ms)
        .fetch_optional(&mut tx)
        .await?;
        if row.is_some() && !activated {
            revoke_tokens::<D>(&mut tx, app_id, name).await?;
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
        let row: Option<UserRow> = D::query(concat!(
            "UPDATE users SET nickname = $3, modified_ms = $4 WHERE app_id = $1 AND name = $2 RETURNING ",
            user_columns!()
        ))
        .bind(app_id)
        .bind(name.as_str())
        .bind(nickname)
        .bind(now_ms)
        .fetch_optional(&mut *self.write_conn().await?)
        .await?;
        Ok(row.map(UserRecord::from))
    }

    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        D::query("INSERT INTO tokens (hash, app_id, user_name, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(token.hash.as_slice())
            .bind(token.app_id)
            .bind(token.user.as_ref().map(UserName::as_str))
            .bind(token.created_ms)
            .bind(token.expires_ms)
            .execute(&mut *self.write_conn().await?)
            .await
            .map_err(unique_violation_is_already_exists)?;
        Ok(())
    }

    async fn token(&self, token_hash: &[u8], now_ms: i64) -> StoreResult<Option<TokenRecord>> {
        let row: Option<TokenRow> =
            D::query(TOKEN_BY_HASH).bind(token_hash).bind(now_ms).fetch_optional(&mut *self.read_conn().await?).await?;
        Ok(row.map(TokenRecord::from))
    }
}

/// A token by its hash (the primary key), if it has not expired at `$2`: what every login and
/// every authenticated request reads; a read, never a write (expired rows are not touched).
pub(super) const TOKEN_BY_HASH: &str =
    concat!("SELECT ", token_columns!(), " FROM tokens WHERE hash = $1 AND (expires_ms IS NULL OR expires_ms > $2)");

fn user_by_name<D: Dialect>(app_id: i64, name: &UserName) -> Statement<D> {
    D::query(concat!("SELECT ", user_columns!(), " FROM users WHERE app_id = $1 AND name = $2"))
        .bind(app_id)
        .bind(name.as_str())
}

async fn revoke_tokens<D: Dialect>(conn: &mut D::Connection, app_id: i64, user: &UserName) -> StoreResult<()> {
    D::query("DELETE FROM tokens WHERE app_id = $1 AND user_name = $2")
        .bind(app_id)
        .bind(user.as_str())
        .execute(conn)
        .await?;
    Ok(())
}
