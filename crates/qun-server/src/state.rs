//! The shared server state: a cheap `Clone` handle (everything behind `Arc`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use parking_lot::RwLock;
use qun_store::{AppRecord, AppSettings, NewApp, Store};

use crate::auth::{self, LoginThrottle};
use crate::config::Config;
use crate::gateway::Hub;
use crate::ids::{IdGenerator, now_ms};
use crate::lifecycle::Lifecycle;
use crate::services::delivery::Delivery;
use crate::services::messages::MessageWriter;
use crate::services::recent::RecentTimelines;
use crate::services::room_delivery::RoomRuntime;

/// Handed to every request. Clone freely.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub ids: Arc<IdGenerator>,
    pub config: Arc<Config>,
    pub login_throttle: Arc<LoginThrottle>,
    /// Online sessions (the gateway's own view: logins, pulls, chat room members).
    pub hub: Arc<Hub>,
    /// Where services send "something new for these users" (the hub, on one node).
    pub delivery: Arc<dyn Delivery>,
    /// Every task the server runs, and the signal that stops them.
    pub lifecycle: Lifecycle,
    /// Stores messages in batched transactions.
    pub writer: MessageWriter,
    /// The newest timeline entries of active groups, ready to send.
    pub recent: Arc<RecentTimelines>,
    /// Chat rooms live: presence, delivery, history, rate limits.
    pub rooms: Arc<RoomRuntime>,
    /// Apps by `(org, app)`. Apps are few and rarely change; a miss asks the store.
    /// `parking_lot::RwLock` (no poisoning): held for a map lookup only, never across an `.await`.
    apps: Arc<RwLock<HashMap<(String, String), AppRecord>>>,
}

impl AppState {
    /// Opens the store, runs migrations and makes sure the default app exists.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let store = qun_store::open(&config.database_url).await.context("opening the database")?;
        let (client_id, client_secret) = default_credentials(&config)?;
        let app = store
            .ensure_app(&NewApp {
                uuid: crate::services::users::new_uuid(),
                org: config.appkey.org.clone(),
                name: config.appkey.app.clone(),
                client_id,
                client_secret_hash: auth::token_hash(&client_secret),
                settings: AppSettings {
                    plan: config.plan,
                    open_registration: config.open_registration.unwrap_or(false),
                    ..AppSettings::default()
                },
                created_ms: now_ms() as i64,
            })
            .await
            .context("creating the default app")?;
        // `--open-registration` applies at every start; unset, the stored setting stands.
        let app = match config.open_registration {
            Some(open) if open != app.settings.open_registration => {
                let settings = AppSettings { open_registration: open, ..app.settings.clone() };
                store.update_app_settings(app.id, &settings).await.context("setting open registration")?;
                qun_store::AppRecord { settings, ..app }
            }
            _ => app,
        };
        tracing::info!(appkey = %config.appkey, app_id = app.id, "default app ready");
        let max_failed_logins = config.max_failed_logins_per_minute;
        let hub = Arc::new(Hub::default());
        let lifecycle = Lifecycle::default();
        let state = AppState {
            writer: MessageWriter::start(store.clone(), &lifecycle),
            rooms: Arc::new(RoomRuntime::new(hub.clone(), config.room_grace, config.room_flush_max, config.room_idle)),
            delivery: hub.clone(),
            hub,
            lifecycle,
            recent: Arc::new(RecentTimelines::default()),
            store,
            ids: Arc::new(IdGenerator::new(0)),
            config: Arc::new(config),
            login_throttle: Arc::new(LoginThrottle::new(max_failed_logins)),
            apps: Arc::new(RwLock::new(HashMap::new())),
        };
        state.rooms.start(&state).await;
        Ok(state)
    }

    /// The app named in a REST path.
    pub async fn app(&self, org: &str, app: &str) -> Result<Option<AppRecord>, qun_store::StoreError> {
        let key = (org.to_owned(), app.to_owned());
        if let Some(found) = self.apps.read().get(&key) {
            return Ok(Some(found.clone()));
        }
        let found = self.store.app_by_key(org, app).await?;
        if let Some(record) = &found {
            self.apps.write().insert(key, record.clone());
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
        self.apps.write().insert((app.org.clone(), app.name.clone()), updated.clone());
        self.rooms.app_changed(&updated);
        Ok(updated)
    }

    pub fn files_dir(&self) -> PathBuf {
        self.config.data_dir.join("files")
    }
}

/// The default app's client id and secret: configured, or generated once and kept in the
/// data dir (printed at the start that generated them, never logged).
fn default_credentials(config: &Config) -> anyhow::Result<(String, String)> {
    let path = config.data_dir.join("credentials.toml");
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Stored {
        client_id: String,
        client_secret: String,
    }
    let stored: Option<Stored> = match std::fs::read_to_string(&path) {
        Ok(text) => Some(toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let client_id = config
        .client_id
        .clone()
        .or_else(|| stored.as_ref().map(|s| s.client_id.clone()))
        .unwrap_or_else(|| format!("qun-{}", auth::random_secret(9)));
    if let Some(secret) = &config.client_secret {
        return Ok((client_id, secret.clone()));
    }
    if let Some(stored) = stored {
        return Ok((client_id, stored.client_secret));
    }
    let generated = Stored { client_id: client_id.clone(), client_secret: auth::random_secret(24) };
    write_private(&path, &toml::to_string(&generated)?)?;
    println!(
        "Generated the credentials of app {}: client_id={} client_secret={} (kept in {}; shown only this once)",
        config.appkey,
        generated.client_id,
        generated.client_secret,
        path.display()
    );
    Ok((client_id, generated.client_secret))
}

fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
