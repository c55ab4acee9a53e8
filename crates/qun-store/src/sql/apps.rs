//! [`AppStore`]: the store itself and the apps it holds.

use async_trait::async_trait;

use super::SqlStore;
use super::dialect::Dialect;
use super::rows::{AppRow, to_json};
use crate::{AppRecord, AppSettings, AppStore, NewApp, StoreError, StoreResult};

#[async_trait]
impl<D: Dialect> AppStore for SqlStore<D> {
    fn backend(&self) -> &'static str {
        D::BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        D::query("SELECT 1").execute(&mut *self.read_conn().await?).await?;
        Ok(())
    }

    async fn ensure_app(&self, new: &NewApp) -> StoreResult<AppRecord> {
        let mut tx = self.begin_write().await?;
        D::query(
            "INSERT INTO apps (uuid, org, name, client_id, client_secret_hash, settings, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (org, name) DO NOTHING",
        )
        .bind(new.uuid.as_str())
        .bind(new.org.as_str())
        .bind(new.name.as_str())
        .bind(new.client_id.as_str())
        .bind(new.client_secret_hash.as_slice())
        .bind(to_json(&new.settings)?)
        .bind(new.created_ms)
        .execute(&mut tx)
        .await?;
        let app: AppRow = app_by_key::<D>(&new.org, &new.name).fetch_one(&mut tx).await?;
        tx.commit().await?;
        app.try_into()
    }

    async fn app_by_key(&self, org: &str, app: &str) -> StoreResult<Option<AppRecord>> {
        let row: Option<AppRow> = app_by_key::<D>(org, app).fetch_optional(&mut *self.read_conn().await?).await?;
        row.map(AppRecord::try_from).transpose()
    }

    async fn update_app_settings(&self, app_id: i64, settings: &AppSettings) -> StoreResult<()> {
        let updated = D::query("UPDATE apps SET settings = $2 WHERE id = $1")
            .bind(app_id)
            .bind(to_json(settings)?)
            .execute(&mut *self.write_conn().await?)
            .await?;
        if updated == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }

    async fn set_app_credentials(&self, app_id: i64, client_id: &str, client_secret_hash: &[u8]) -> StoreResult<()> {
        let updated = D::query("UPDATE apps SET client_id = $2, client_secret_hash = $3 WHERE id = $1")
            .bind(app_id)
            .bind(client_id)
            .bind(client_secret_hash)
            .execute(&mut *self.write_conn().await?)
            .await?;
        if updated == 0 { Err(StoreError::NotFound) } else { Ok(()) }
    }
}

fn app_by_key<D: Dialect>(org: &str, name: &str) -> super::dialect::Statement<D> {
    D::query(concat!("SELECT ", app_columns!(), " FROM apps WHERE org = $1 AND name = $2")).bind(org).bind(name)
}
