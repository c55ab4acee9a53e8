//! The shared server state, assembled at start-up: a cheap `Clone` handle (everything behind
//! `Arc`) holding the services' context and the gateway's hub.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use qun_store::{AppSettings, NewApp};

use crate::auth::{self, LoginThrottle};
use crate::config::Config;
use crate::gateway::{CursorWriter, Hub};
use crate::ids::{IdGenerator, now_ms};
use crate::lifecycle::Lifecycle;
use crate::rate::WindowCounter;
use crate::services::Services;
use crate::services::context::AppCache;
use crate::services::delivery::Delivery;
use crate::services::messages::{Fanout, MessageWriter};
use crate::services::recent::RecentTimelines;
use crate::services::room_delivery::RoomRuntime;
use crate::storage::FileStorage;
use crate::telemetry::{LiveCollector, LiveSource, Metrics, RoomStats};

/// Users whose group creations are counted at once at most: every user who created a group
/// in the last minute, on any busy server; beyond it the oldest window is forgotten.
const GROUP_CREATION_CAPACITY: usize = 65_536;

/// Handed to every request and connection. Clone freely. Assembled once, at start-up
/// ([`AppState::open`]): what services may use is [`Services`] (reached through `Deref`), and
/// the rest is the gateway's own.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// Online sessions (the gateway's own view: logins, pulls, group members online). Services
    /// reach them only through [`Services::delivery`], which the hub implements.
    pub hub: Arc<Hub>,
    /// Saves the delivery positions the hub's sessions acknowledged, all together.
    pub cursor_writer: CursorWriter,
}

impl std::ops::Deref for AppState {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl AppState {
    /// Opens the store, runs migrations and makes sure the default app exists.
    pub async fn open(config: Config) -> anyhow::Result<AppState> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
        let store = qun_store::open(&config.database_url).await.context("opening the database")?;
        let existing =
            store.app_by_key(&config.appkey.org, &config.appkey.app).await.context("reading the default app")?;
        let app = match (existing, default_credentials(&config)?) {
            (Some(app), None) => {
                tracing::info!(appkey = %config.appkey, client_id = %app.client_id, "the default app keeps its credentials");
                app
            }
            (Some(app), Some((client_id, client_secret))) => {
                let hash = auth::token_hash(&client_secret);
                if app.client_id == client_id && app.client_secret_hash == hash {
                    app
                } else {
                    store.set_app_credentials(app.id, &client_id, &hash).await.context("setting the credentials")?;
                    tracing::info!(appkey = %config.appkey, %client_id, "the default app's credentials are now the configured ones");
                    qun_store::AppRecord { client_id, client_secret_hash: hash, ..app }
                }
            }
            (None, configured) => {
                let (client_id, client_secret) = match configured {
                    Some(credentials) => credentials,
                    None => new_app_credentials(&config)?,
                };
                store
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
                    .context("creating the default app")?
            }
        };
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
        let files = FileStorage::open(&config.storage).context("opening the file storage")?;
        files.check().await;
        let login_throttle =
            LoginThrottle::new(config.max_failed_logins_per_minute, config.max_failed_logins_per_address_per_minute);
        let hub = Arc::new(Hub::default());
        let lifecycle = Lifecycle::default();
        let delivery: Arc<dyn Delivery> = hub.clone();
        let metrics = Arc::new(Metrics::new(store.backend()));
        let recent = Arc::new(RecentTimelines::default());
        let fanout = Fanout { recent: recent.clone(), delivery: delivery.clone(), metrics: metrics.clone() };
        lifecycle.spawn(crate::gateway::run_group_flusher(hub.clone(), metrics.clone(), lifecycle.clone()));
        let cursor_writer =
            CursorWriter::start(store.clone(), hub.clone(), &lifecycle, metrics.clone(), config.cursor_flush);
        let services = Services {
            writer: MessageWriter::start(store.clone(), &lifecycle, fanout),
            rooms: Arc::new(RoomRuntime::new(
                delivery.clone(),
                config.room_grace,
                config.room_flush_max,
                config.room_idle,
            )),
            delivery,
            lifecycle,
            recent,
            files,
            store,
            ids: Arc::new(IdGenerator::new(0)),
            config: Arc::new(config),
            login_throttle: Arc::new(login_throttle),
            group_creations: Arc::new(WindowCounter::new(GROUP_CREATION_CAPACITY, Duration::from_secs(60))),
            apps: AppCache::default(),
            metrics,
        };
        let state = AppState { services, hub, cursor_writer };
        let live = LiveParts { hub: state.hub.clone(), rooms: state.rooms.clone() };
        state.metrics.add_collector(LiveCollector(Arc::new(live)));
        state.rooms.start(&state).await;
        crate::services::chatfiles::start_sweeper(&state);
        Ok(state)
    }
}

/// What `/metrics` reads of the live parts at each scrape.
struct LiveParts {
    hub: Arc<Hub>,
    rooms: Arc<RoomRuntime>,
}

impl LiveSource for LiveParts {
    fn sessions_online(&self) -> u64 {
        self.hub.session_count() as u64
    }

    fn room_members_away(&self) -> u64 {
        self.rooms.absent_count() as u64
    }

    fn rooms(&self) -> Vec<RoomStats> {
        self.rooms.stats()
    }
}

/// The default app's credentials as configured (flag, environment or TOML), if they are.
/// One rule, at every start: configured credentials apply (replacing what the app had);
/// without them an existing app keeps its own, and a new one gets `credentials.toml`'s or
/// freshly generated ones ([`new_app_credentials`]). The id and the secret go together.
fn default_credentials(config: &Config) -> anyhow::Result<Option<(String, String)>> {
    match (&config.client_id, &config.client_secret) {
        (Some(id), Some(secret)) => Ok(Some((id.clone(), secret.clone()))),
        (None, None) => Ok(None),
        _ => anyhow::bail!(
            "the client id and secret go together: set both (QUN_CLIENT_ID and QUN_CLIENT_SECRET) or neither"
        ),
    }
}

/// Credentials for a default app created without configured ones: those kept in the data
/// directory's `credentials.toml` (generated here for this app before, e.g. when the database
/// was reset), or new ones, written there (mode 0600) and printed once — only then, and only
/// because the app is created with them, so what is printed works.
fn new_app_credentials(config: &Config) -> anyhow::Result<(String, String)> {
    let path = config.data_dir.join("credentials.toml");
    #[derive(serde::Serialize, serde::Deserialize)]
    struct Stored {
        client_id: String,
        client_secret: String,
    }
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let stored: Stored = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            return Ok((stored.client_id, stored.client_secret));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let generated =
        Stored { client_id: format!("qun-{}", auth::random_secret(9)), client_secret: auth::random_secret(24) };
    write_private(&path, &toml::to_string(&generated)?)?;
    println!(
        "Generated the credentials of app {}: client_id={} client_secret={} (kept in {}; shown only this once)",
        config.appkey,
        generated.client_id,
        generated.client_secret,
        path.display()
    );
    Ok((generated.client_id, generated.client_secret))
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
