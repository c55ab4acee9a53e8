//! What services work with: the store, ids, configuration, the delivery seam and the shared
//! in-memory parts (message writer, recent timelines, chat room runtime, app cache). Built once
//! at start-up (`Services::open`); services take `&Services` and never see the gateway.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use parking_lot::RwLock;
use qun_core::UserName;
use qun_store::{AppRecord, AppSettings, Store};

use crate::auth::LoginThrottle;
use crate::config::Config;
use crate::ids::IdGenerator;
use crate::lifecycle::Lifecycle;
use crate::rate::WindowCounter;
use crate::services::delivery::Delivery;
use crate::services::messages::MessageWriter;
use crate::services::recent::RecentTimelines;
use crate::services::room_delivery::RoomRuntime;
use crate::storage::FileStorage;
use crate::telemetry::Metrics;

/// See the module docs. Clone freely.
#[derive(Clone)]
pub struct Services {
    pub store: Arc<dyn Store>,
    pub ids: Arc<IdGenerator>,
    pub config: Arc<Config>,
    pub login_throttle: Arc<LoginThrottle>,
    /// Groups created a minute per (app, user), for the creation limit of user tokens.
    pub group_creations: Arc<WindowCounter<(i64, UserName)>>,
    /// Where services send "something new for these users" (the gateway's hub, on one node).
    pub delivery: Arc<dyn Delivery>,
    /// Every task the server runs, and the signal that stops them.
    pub lifecycle: Lifecycle,
    /// Stores messages in batched transactions.
    pub writer: MessageWriter,
    /// The newest timeline entries of active groups, ready to send.
    pub recent: Arc<RecentTimelines>,
    /// Chat rooms live: presence, delivery, history, rate limits.
    pub rooms: Arc<RoomRuntime>,
    /// What `GET /metrics` reports.
    pub metrics: Arc<Metrics>,
    /// File bytes: chat files and group shared files.
    pub files: FileStorage,
    pub(crate) apps: AppCache,
}

/// Apps by `(org, app)`. Apps are few and rarely change; a miss asks the store.
/// `parking_lot::RwLock` (no poisoning): held for a map lookup only, never across an `.await`.
#[derive(Clone, Default)]
pub(crate) struct AppCache(Arc<RwLock<HashMap<(String, String), AppRecord>>>);

impl Services {
    /// The app named in a REST path.
    pub async fn app(&self, org: &str, app: &str) -> Result<Option<AppRecord>, qun_store::StoreError> {
        let key = (org.to_owned(), app.to_owned());
        if let Some(found) = self.apps.0.read().get(&key) {
            return Ok(Some(found.clone()));
        }
        let found = self.store.app_by_key(org, app).await?;
        if let Some(record) = &found {
            self.apps.0.write().insert(key, record.clone());
        }
        Ok(found)
    }

    /// Changes an app's settings (plan, registration, quotas) in the store and in the cache.
    pub async fn update_app_settings(
        &self,
        app: &AppRecord,
        settings: AppSettings,
    ) -> Result<AppRecord, qun_store::StoreError> {
        self.store.update_app_settings(app.id, &settings).await?;
        let updated = AppRecord { settings, ..app.clone() };
        self.apps.0.write().insert((app.org.clone(), app.name.clone()), updated.clone());
        self.rooms.app_changed(&updated);
        Ok(updated)
    }

    /// The local directory of the file storage (with S3: where it would be, unused).
    pub fn files_dir(&self) -> PathBuf {
        match &self.config.storage {
            crate::config::StorageConfig::Local { root } => root.clone(),
            crate::config::StorageConfig::S3(_) => self.config.data_dir.join("files"),
        }
    }
}
