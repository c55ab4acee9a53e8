//! [`ContactStore`]: contacts (two rows, one per side), friend requests and users' blocklists.

use async_trait::async_trait;
use qun_core::UserName;

use super::SqlStore;
use super::dialect::Dialect;
use crate::{ContactCounts, ContactRecord, ContactStanding, ContactStore, StoreResult};

#[async_trait]
impl<D: Dialect> ContactStore for SqlStore<D> {
    async fn contact_standing(&self, app_id: i64, user: &UserName, peer: &UserName) -> StoreResult<ContactStanding> {
        let (peer_exists, contacts, blocks_peer, blocked_by_peer, request_from_peer, request_to_peer): (
            bool,
            bool,
            bool,
            bool,
            bool,
            bool,
        ) = D::query(
            "SELECT \
                 EXISTS (SELECT 1 FROM users WHERE app_id = $1 AND name = $3), \
                 EXISTS (SELECT 1 FROM contacts WHERE app_id = $1 AND owner = $2 AND contact = $3), \
                 EXISTS (SELECT 1 FROM user_blocks WHERE app_id = $1 AND owner = $2 AND blocked = $3), \
                 EXISTS (SELECT 1 FROM user_blocks WHERE app_id = $1 AND owner = $3 AND blocked = $2), \
                 EXISTS (SELECT 1 FROM contact_requests WHERE app_id = $1 AND requester = $3 AND target = $2), \
                 EXISTS (SELECT 1 FROM contact_requests WHERE app_id = $1 AND requester = $2 AND target = $3)",
        )
        .bind(app_id)
        .bind(user.as_str())
        .bind(peer.as_str())
        .fetch_one(&mut *self.read_conn().await?)
        .await?;
        Ok(ContactStanding { peer_exists, contacts, blocks_peer, blocked_by_peer, request_from_peer, request_to_peer })
    }

    async fn contact_counts(&self, app_id: i64, user: &UserName) -> StoreResult<ContactCounts> {
        let (contacts, requests_sent, blocked): (i64, i64, i64) = D::query(
            "SELECT \
             (SELECT COUNT(*) FROM contacts WHERE app_id = $1 AND owner = $2), \
             (SELECT COUNT(*) FROM contact_requests WHERE app_id = $1 AND requester = $2), \
             (SELECT COUNT(*) FROM user_blocks WHERE app_id = $1 AND owner = $2)",
        )
        .bind(app_id)
        .bind(user.as_str())
        .fetch_one(&mut *self.read_conn().await?)
        .await?;
        Ok(ContactCounts { contacts: contacts as u64, requests_sent: requests_sent as u64, blocked: blocked as u64 })
    }

    async fn put_contact_request(
        &self,
        app_id: i64,
        from: &UserName,
        to: &UserName,
        reason: &str,
        now_ms: i64,
    ) -> StoreResult<()> {
        D::query(
            "INSERT INTO contact_requests (app_id, requester, target, reason, created_ms) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (app_id, requester, target) DO UPDATE SET reason = excluded.reason, created_ms = excluded.created_ms",
        )
        .bind(app_id)
        .bind(from.as_str())
        .bind(to.as_str())
        .bind(reason)
        .bind(now_ms)
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(())
    }

    async fn remove_contact_request(&self, app_id: i64, from: &UserName, to: &UserName) -> StoreResult<bool> {
        let removed = D::query("DELETE FROM contact_requests WHERE app_id = $1 AND requester = $2 AND target = $3")
            .bind(app_id)
            .bind(from.as_str())
            .bind(to.as_str())
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(removed > 0)
    }

    async fn add_contacts(&self, app_id: i64, a: &UserName, b: &UserName, now_ms: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let mut added = 0;
        for (owner, contact) in [(a, b), (b, a)] {
            added += D::query(
                "INSERT INTO contacts (app_id, owner, contact, created_ms) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (app_id, owner, contact) DO NOTHING",
            )
            .bind(app_id)
            .bind(owner.as_str())
            .bind(contact.as_str())
            .bind(now_ms)
            .execute(&mut tx)
            .await?;
            D::query("DELETE FROM contact_requests WHERE app_id = $1 AND requester = $2 AND target = $3")
                .bind(app_id)
                .bind(owner.as_str())
                .bind(contact.as_str())
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(added > 0)
    }

    async fn remove_contacts(&self, app_id: i64, a: &UserName, b: &UserName) -> StoreResult<bool> {
        let removed = D::query(
            "DELETE FROM contacts WHERE app_id = $1 AND ((owner = $2 AND contact = $3) OR (owner = $3 AND contact = $2))",
        )
        .bind(app_id)
        .bind(a.as_str())
        .bind(b.as_str())
        .execute(&mut *self.write_conn().await?)
        .await?;
        Ok(removed > 0)
    }

    async fn set_contact_remark(
        &self,
        app_id: i64,
        owner: &UserName,
        contact: &UserName,
        remark: &str,
    ) -> StoreResult<bool> {
        let updated = D::query("UPDATE contacts SET remark = $4 WHERE app_id = $1 AND owner = $2 AND contact = $3")
            .bind(app_id)
            .bind(owner.as_str())
            .bind(contact.as_str())
            .bind(remark)
            .execute(&mut *self.write_conn().await?)
            .await?;
        Ok(updated > 0)
    }

    async fn contacts_page(
        &self,
        app_id: i64,
        owner: &UserName,
        after: Option<&UserName>,
        limit: u32,
    ) -> StoreResult<Vec<ContactRecord>> {
        // Names are never empty, so "" is before the first.
        let rows: Vec<(String, String)> = D::query(
            "SELECT contact, remark FROM contacts WHERE app_id = $1 AND owner = $2 AND contact > $3 \
             ORDER BY contact LIMIT $4",
        )
        .bind(app_id)
        .bind(owner.as_str())
        .bind(after.map_or("", UserName::as_str))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.read_conn().await?)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(name, remark)| ContactRecord { name: UserName::from_trusted(name), remark })
            .collect())
    }

    async fn block_users(
        &self,
        app_id: i64,
        owner: &UserName,
        users: &[UserName],
        now_ms: i64,
    ) -> StoreResult<Vec<UserName>> {
        let mut tx = self.begin_write().await?;
        let mut blocked = Vec::with_capacity(users.len());
        for user in users {
            // Only users who exist: a foreign key failure would abort the whole transaction.
            D::query(
                "INSERT INTO user_blocks (app_id, owner, blocked, created_ms) \
                 SELECT $1, $2, name, $4 FROM users WHERE app_id = $1 AND name = $3 \
                 ON CONFLICT (app_id, owner, blocked) DO NOTHING",
            )
            .bind(app_id)
            .bind(owner.as_str())
            .bind(user.as_str())
            .bind(now_ms)
            .execute(&mut tx)
            .await?;
            let on_list = D::query("SELECT 1 FROM user_blocks WHERE app_id = $1 AND owner = $2 AND blocked = $3")
                .bind(app_id)
                .bind(owner.as_str())
                .bind(user.as_str())
                .fetch_optional_scalar::<i32>(&mut tx)
                .await?
                .is_some();
            if on_list && !blocked.contains(user) {
                blocked.push(user.clone());
            }
        }
        tx.commit().await?;
        Ok(blocked)
    }

    async fn unblock_users(&self, app_id: i64, owner: &UserName, users: &[UserName]) -> StoreResult<Vec<UserName>> {
        let mut tx = self.begin_write().await?;
        let mut removed = Vec::new();
        for user in users {
            let gone = D::query("DELETE FROM user_blocks WHERE app_id = $1 AND owner = $2 AND blocked = $3")
                .bind(app_id)
                .bind(owner.as_str())
                .bind(user.as_str())
                .execute(&mut tx)
                .await?;
            if gone > 0 {
                removed.push(user.clone());
            }
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn user_blocklist(
        &self,
        app_id: i64,
        owner: &UserName,
        after: Option<&UserName>,
        limit: u32,
    ) -> StoreResult<Vec<UserName>> {
        let names: Vec<String> = D::query(
            "SELECT blocked FROM user_blocks WHERE app_id = $1 AND owner = $2 AND blocked > $3 ORDER BY blocked LIMIT $4",
        )
        .bind(app_id)
        .bind(owner.as_str())
        .bind(after.map_or("", UserName::as_str))
        .bind(i64::from(limit))
        .fetch_column(&mut *self.read_conn().await?)
        .await?;
        Ok(names.into_iter().map(UserName::from_trusted).collect())
    }
}
