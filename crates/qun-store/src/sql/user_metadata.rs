//! [`UserMetadataStore`]: user attributes, one row per key.

use async_trait::async_trait;
use qun_core::UserName;

use super::SqlStore;
use super::dialect::Dialect;
use crate::{StoreResult, UserMetadataStore, UserMetadataUpdate};

#[async_trait]
impl<D: Dialect> UserMetadataStore for SqlStore<D> {
    async fn user_metadata(&self, app_id: i64, users: &[UserName]) -> StoreResult<Vec<(UserName, String, String)>> {
        let mut tx = self.begin_read().await?;
        let mut attributes = Vec::new();
        for user in users {
            let rows: Vec<(String, String)> = D::query(
                "SELECT attr_key, attr_value FROM user_metadata WHERE app_id = $1 AND user_name = $2 ORDER BY attr_key",
            )
            .bind(app_id)
            .bind(user.as_str())
            .fetch_all(&mut tx)
            .await?;
            attributes.extend(rows.into_iter().map(|(key, value)| (user.clone(), key, value)));
        }
        tx.commit().await?;
        Ok(attributes)
    }

    async fn set_user_metadata(
        &self,
        app_id: i64,
        user: &UserName,
        entries: &[(String, String)],
        max_bytes: usize,
    ) -> StoreResult<UserMetadataUpdate> {
        let mut tx = self.begin_write().await?;
        // Touching the user's row locks it (PostgreSQL) until commit, so two updates of one
        // user's attributes never both pass the size check; it also says whether the user exists.
        let exists = D::query("UPDATE users SET modified_ms = modified_ms WHERE app_id = $1 AND name = $2")
            .bind(app_id)
            .bind(user.as_str())
            .execute(&mut tx)
            .await?;
        if exists == 0 {
            return Ok(UserMetadataUpdate::NoSuchUser);
        }
        for (key, value) in entries {
            D::query(
                "INSERT INTO user_metadata (app_id, user_name, attr_key, attr_value) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (app_id, user_name, attr_key) DO UPDATE SET attr_value = excluded.attr_value",
            )
            .bind(app_id)
            .bind(user.as_str())
            .bind(key.as_str())
            .bind(value.as_str())
            .execute(&mut tx)
            .await?;
        }
        let all: Vec<(String, String)> = D::query(
            "SELECT attr_key, attr_value FROM user_metadata WHERE app_id = $1 AND user_name = $2 ORDER BY attr_key",
        )
        .bind(app_id)
        .bind(user.as_str())
        .fetch_all(&mut tx)
        .await?;
        if all.iter().map(|(key, value)| key.len() + value.len()).sum::<usize>() > max_bytes {
            // Dropping the transaction rolls it back.
            return Ok(UserMetadataUpdate::TooLarge);
        }
        tx.commit().await?;
        Ok(UserMetadataUpdate::Updated(all))
    }

    async fn delete_user_metadata(&self, app_id: i64, user: &UserName) -> StoreResult<bool> {
        let removed = D::query("DELETE FROM user_metadata WHERE app_id = $1 AND user_name = $2")
            .bind(app_id)
            .bind(user.as_str())
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(removed > 0)
    }
}
