//! Configuration: flags > environment (`QUN_*`) > TOML file (`--config`) > defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use qun_core::{AppKey, Plan};
use serde::Deserialize;

/// `qun serve` flags; each also reads its `QUN_*` environment variable.
#[derive(Debug, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "QUN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Serve `GET /metrics` on this address only (e.g. one the internet cannot reach) instead of
    /// on `--listen` [default: unset, on `--listen`].
    #[arg(long, env = "QUN_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Directory for the SQLite database, files and generated credentials [default: ./qun-data].
    #[arg(long, env = "QUN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` to use PostgreSQL instead of the embedded SQLite file.
    #[arg(long, env = "QUN_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// A TOML file with any of these settings (lowest precedence but for defaults).
    #[arg(long, env = "QUN_CONFIG")]
    pub config: Option<PathBuf>,
    /// The default app, `org#app` [default: qun#demo].
    #[arg(long, env = "QUN_APPKEY")]
    pub appkey: Option<String>,
    #[arg(long, env = "QUN_CLIENT_ID")]
    pub client_id: Option<String>,
    #[arg(long, env = "QUN_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// The default app's plan: free, starter, pro or enterprise [default: enterprise].
    #[arg(long, env = "QUN_PLAN")]
    pub plan: Option<String>,
    /// Seconds a chat room member may stay disconnected before leaving the room [default: 120].
    #[arg(long, env = "QUN_ROOM_GRACE_SECS")]
    pub room_grace_secs: Option<u64>,
    /// Lets anyone register users in the default app, without an app token (`true` or
    /// `false`; the flag alone means `true`). Applied at every start; unset, the app keeps
    /// its stored setting, which is off for a new app (see `/settings/registration`).
    #[arg(long, env = "QUN_OPEN_REGISTRATION", num_args = 0..=1, default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new())]
    pub open_registration: Option<bool>,
    /// Where uploaded files live on local disk [default: <data dir>/files]; unused with S3.
    #[arg(long, env = "QUN_FILES_DIR")]
    pub files_dir: Option<PathBuf>,
    /// Keep uploaded files in this S3 bucket (any S3-compatible store) instead of on local disk.
    #[arg(long, env = "QUN_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// The S3 endpoint, e.g. `http://127.0.0.1:9000` for a local MinIO [default: AWS's].
    #[arg(long, env = "QUN_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The bucket's region [default: us-east-1].
    #[arg(long, env = "QUN_S3_REGION")]
    pub s3_region: Option<String>,
    #[arg(long, env = "QUN_S3_ACCESS_KEY_ID")]
    pub s3_access_key_id: Option<String>,
    #[arg(long, env = "QUN_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Option<String>,
    /// Allows a plain `http://` S3 endpoint (`true` or `false`; the flag alone means `true`).
    #[arg(long, env = "QUN_S3_ALLOW_HTTP", num_args = 0..=1, default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new())]
    pub s3_allow_http: Option<bool>,
    /// Seconds a chat file (message attachment) is kept; 0 keeps them forever [default: 604800,
    /// Agora's 7 days].
    #[arg(long, env = "QUN_CHATFILE_RETENTION_SECS")]
    pub chatfile_retention_secs: Option<u64>,
    /// Seconds a client has to send a request's head (line and headers); also how long an
    /// idle keep-alive connection stays open [default: 10].
    #[arg(long, env = "QUN_REQUEST_HEAD_TIMEOUT_SECS")]
    pub request_head_timeout_secs: Option<u64>,
    /// Seconds a client has to send a request's body, from the end of its head; a body of
    /// declared length gets 1 s more per 64 KiB [default: 30].
    #[arg(long, env = "QUN_REQUEST_BODY_TIMEOUT_SECS")]
    pub request_body_timeout_secs: Option<u64>,
    /// Open connections (websockets included) at most; further ones are refused at once. Also
    /// capped by the open-file limit [default: 50000].
    #[arg(long, env = "QUN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Open connections from one client address (IPv4, or IPv6 /64) at most [default: 1000].
    #[arg(long, env = "QUN_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Failed password logins a minute from one client address, across users, before its
    /// logins are refused for the rest of the minute [default: 60].
    #[arg(long, env = "QUN_MAX_FAILED_LOGINS_PER_ADDRESS_PER_MINUTE")]
    pub max_failed_logins_per_address_per_minute: Option<u32>,
    /// Groups one user token may create a minute (app tokens are not limited) [default: 10].
    #[arg(long, env = "QUN_MAX_GROUPS_CREATED_PER_MINUTE")]
    pub max_groups_created_per_minute: Option<u32>,
    /// Takes the client's address for per-address login limits from the last
    /// `X-Forwarded-For` entry (only behind a reverse proxy that sets it; `true` or `false`)
    /// [default: false].
    #[arg(long, env = "QUN_TRUST_FORWARDED_FOR", num_args = 0..=1, default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new())]
    pub trust_forwarded_for: Option<bool>,
}

/// The TOML file: the same keys as the flags, with underscores.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    metrics_listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    appkey: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
    plan: Option<String>,
    user_token_ttl_secs: Option<i64>,
    app_token_ttl_secs: Option<i64>,
    max_failed_logins_per_minute: Option<u32>,
    max_devices_per_user: Option<u32>,
    room_grace_secs: Option<u64>,
    room_flush_max_ms: Option<u64>,
    room_idle_secs: Option<u64>,
    cursor_flush_ms: Option<u64>,
    open_registration: Option<bool>,
    files_dir: Option<PathBuf>,
    s3_bucket: Option<String>,
    s3_endpoint: Option<String>,
    s3_region: Option<String>,
    s3_access_key_id: Option<String>,
    s3_secret_access_key: Option<String>,
    s3_allow_http: Option<bool>,
    chatfile_retention_secs: Option<u64>,
    request_head_timeout_secs: Option<u64>,
    request_body_timeout_secs: Option<u64>,
    max_connections: Option<usize>,
    max_connections_per_ip: Option<usize>,
    max_failed_logins_per_address_per_minute: Option<u32>,
    max_groups_created_per_minute: Option<u32>,
    trust_forwarded_for: Option<bool>,
}

/// Connections per user by default (Agora's multi-device default allows several platforms).
const DEFAULT_MAX_DEVICES: u32 = 4;
/// How long a chat room member may stay disconnected before leaving (Agora: 2 minutes).
const DEFAULT_ROOM_GRACE: Duration = Duration::from_secs(120);
/// The longest a chat room holds messages to send them together (see `room_flush_max`).
const DEFAULT_ROOM_FLUSH_MAX: Duration = Duration::from_millis(400);
/// How long a chat room nobody is in stays in memory (see `room_idle`).
const DEFAULT_ROOM_IDLE: Duration = Duration::from_secs(600);
/// How often acknowledged delivery positions are saved (see `cursor_flush`).
const DEFAULT_CURSOR_FLUSH: Duration = Duration::from_secs(10);
/// ...and at most this often (0 would spin the writer).
const MIN_CURSOR_FLUSH: Duration = Duration::from_millis(10);
/// How long chat files are kept (Agora: 7 days).
const DEFAULT_CHATFILE_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a client may take to send a request's head (see `request_head_timeout`).
const DEFAULT_REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send a request's body (see `request_body_timeout`).
const DEFAULT_REQUEST_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Open connections in total: a chat room of 20,000 members is 20,000 websockets, and a
/// server holds several such rooms and its groups' members.
const DEFAULT_MAX_CONNECTIONS: usize = 50_000;
/// Open connections per client address: a household or office behind one NAT address has
/// a few devices per person; thousands from one address is a client gone wrong or an attack.
const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 1_000;
/// Failed password logins a minute for one user from one address.
const DEFAULT_MAX_FAILED_LOGINS: u32 = 10;
/// Failed password logins a minute from one address across users: one a second, so a
/// busy NAT's typos pass, and one guess sprayed over many users does not go far.
const DEFAULT_MAX_FAILED_LOGINS_PER_ADDRESS: u32 = 60;
/// Groups one user may create a minute (issue 13.8: 30,000 groups in 24 s from one token).
const DEFAULT_MAX_GROUPS_CREATED_PER_MINUTE: u32 = 10;

/// Resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Where `/metrics` is served, when not on `listen`.
    pub metrics_listen: Option<SocketAddr>,
    pub data_dir: PathBuf,
    /// `sqlite://…` under the data dir unless a PostgreSQL URL was given.
    pub database_url: String,
    pub appkey: AppKey,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub plan: Plan,
    /// Default lifetime of user tokens when the request names no `ttl`.
    pub user_token_ttl_secs: i64,
    /// Default lifetime of app tokens (Easemob: 60 days).
    pub app_token_ttl_secs: i64,
    /// Failed password logins a minute for one user from one client address before that
    /// user's logins from that address are refused for the rest of the minute.
    pub max_failed_logins_per_minute: u32,
    /// Failed password logins a minute from one client address, across users, before its
    /// logins are refused for the rest of the minute.
    pub max_failed_logins_per_address_per_minute: u32,
    /// Groups one user token may create a minute (app tokens are not limited).
    pub max_groups_created_per_minute: u32,
    /// How long a client has to send a request's head; an idle keep-alive connection is
    /// closed after it too.
    pub request_head_timeout: Duration,
    /// How long a client has to send a request's body, from the end of its head (a body of
    /// declared length gets more: `http::serve`).
    pub request_body_timeout: Duration,
    /// Open connections at most (websockets included); the server lowers it to fit the
    /// open-file limit (`http::limits`).
    pub max_connections: usize,
    /// Open connections from one client address at most.
    pub max_connections_per_ip: usize,
    /// Whether the client address of per-address login limits is the last `X-Forwarded-For`
    /// entry (set by a reverse proxy in front) rather than the connection's peer.
    pub trust_forwarded_for: bool,
    /// Connections one user may have at once; a further login replaces the oldest.
    pub max_devices_per_user: u32,
    /// A chat room member whose last connection dropped leaves the room after this long
    /// (allowlisted members stay).
    pub room_grace: Duration,
    /// A busy chat room sends what arrived together, at most this long after the first of it
    /// (the wait grows with the room: see `services::room_live`).
    pub room_flush_max: Duration,
    /// A chat room nobody is in (online or away) for this long is put to sleep: its tasks and
    /// state go; its recent messages are kept for the next joiner.
    pub room_idle: Duration,
    /// How often the cursor writer saves what every session acknowledged (`gateway::cursor_writer`):
    /// a crash forgets at most this much of acknowledgements (their items come again, never
    /// lost); each save is one transaction per few hundred positions, whatever the sessions.
    pub cursor_flush: Duration,
    /// The default app's open registration, set at every start; `None` keeps what the app
    /// has stored (off for a new app).
    pub open_registration: Option<bool>,
    /// Where file bytes live (chat files and group shared files).
    pub storage: StorageConfig,
    /// Chat files older than this are refused and swept away; `None` keeps them forever.
    pub chatfile_retention: Option<Duration>,
}

/// Where file bytes live (see `storage.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageConfig {
    /// A directory on local disk.
    Local { root: PathBuf },
    /// A bucket of an S3-compatible store.
    S3(S3Config),
}

/// An S3-compatible bucket. Without keys, object_store's default credential chain applies
/// (instance metadata and the like).
#[derive(Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// `None`: AWS's endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Config {
    // The secret key stays out of logs and panics.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("allow_http", &self.allow_http)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let data_dir = args.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("./qun-data"));
        let database_url =
            args.database_url.or(file.database_url).unwrap_or_else(|| sqlite_url(&data_dir.join("qun.db")));
        let appkey_text = args.appkey.or(file.appkey).unwrap_or_else(|| "qun#demo".to_owned());
        let appkey = AppKey::parse(&appkey_text).map_err(|e| anyhow::anyhow!("QUN_APPKEY {appkey_text:?}: {e}"))?;
        let plan_text = args.plan.or(file.plan).unwrap_or_else(|| "enterprise".to_owned());
        let plan = Plan::parse(&plan_text).with_context(|| format!("unknown plan {plan_text:?}"))?;
        let storage = match args.s3_bucket.or(file.s3_bucket) {
            Some(bucket) => {
                let access_key_id = args.s3_access_key_id.or(file.s3_access_key_id);
                let secret_access_key = args.s3_secret_access_key.or(file.s3_secret_access_key);
                anyhow::ensure!(
                    access_key_id.is_some() == secret_access_key.is_some(),
                    "the S3 access key id and secret go together: set both (QUN_S3_ACCESS_KEY_ID and \
                     QUN_S3_SECRET_ACCESS_KEY) or neither"
                );
                StorageConfig::S3(S3Config {
                    bucket,
                    endpoint: args.s3_endpoint.or(file.s3_endpoint),
                    region: args.s3_region.or(file.s3_region).unwrap_or_else(|| "us-east-1".to_owned()),
                    access_key_id,
                    secret_access_key,
                    allow_http: args.s3_allow_http.or(file.s3_allow_http).unwrap_or(false),
                })
            }
            None => StorageConfig::Local {
                root: args.files_dir.or(file.files_dir).unwrap_or_else(|| data_dir.join("files")),
            },
        };
        let chatfile_retention = match args.chatfile_retention_secs.or(file.chatfile_retention_secs) {
            None => Some(DEFAULT_CHATFILE_RETENTION),
            Some(0) => None,
            Some(secs) => Some(Duration::from_secs(secs)),
        };
        Ok(Config {
            listen: args.listen.or(file.listen).unwrap_or_else(|| "127.0.0.1:8080".parse().expect("valid")),
            metrics_listen: args.metrics_listen.or(file.metrics_listen),
            data_dir,
            database_url,
            appkey,
            client_id: args.client_id.or(file.client_id),
            client_secret: args.client_secret.or(file.client_secret),
            plan,
            user_token_ttl_secs: file.user_token_ttl_secs.unwrap_or(7 * 24 * 3600),
            app_token_ttl_secs: file.app_token_ttl_secs.unwrap_or(60 * 24 * 3600),
            max_failed_logins_per_minute: file.max_failed_logins_per_minute.unwrap_or(DEFAULT_MAX_FAILED_LOGINS),
            max_failed_logins_per_address_per_minute: args
                .max_failed_logins_per_address_per_minute
                .or(file.max_failed_logins_per_address_per_minute)
                .unwrap_or(DEFAULT_MAX_FAILED_LOGINS_PER_ADDRESS),
            max_groups_created_per_minute: args
                .max_groups_created_per_minute
                .or(file.max_groups_created_per_minute)
                .unwrap_or(DEFAULT_MAX_GROUPS_CREATED_PER_MINUTE),
            request_head_timeout: args
                .request_head_timeout_secs
                .or(file.request_head_timeout_secs)
                .map_or(DEFAULT_REQUEST_HEAD_TIMEOUT, Duration::from_secs),
            request_body_timeout: args
                .request_body_timeout_secs
                .or(file.request_body_timeout_secs)
                .map_or(DEFAULT_REQUEST_BODY_TIMEOUT, Duration::from_secs),
            max_connections: args.max_connections.or(file.max_connections).unwrap_or(DEFAULT_MAX_CONNECTIONS),
            max_connections_per_ip: args
                .max_connections_per_ip
                .or(file.max_connections_per_ip)
                .unwrap_or(DEFAULT_MAX_CONNECTIONS_PER_IP),
            trust_forwarded_for: args.trust_forwarded_for.or(file.trust_forwarded_for).unwrap_or(false),
            max_devices_per_user: file.max_devices_per_user.unwrap_or(DEFAULT_MAX_DEVICES).max(1),
            room_grace: args.room_grace_secs.or(file.room_grace_secs).map_or(DEFAULT_ROOM_GRACE, Duration::from_secs),
            room_flush_max: file.room_flush_max_ms.map_or(DEFAULT_ROOM_FLUSH_MAX, Duration::from_millis),
            room_idle: file.room_idle_secs.map_or(DEFAULT_ROOM_IDLE, Duration::from_secs),
            cursor_flush: file
                .cursor_flush_ms
                .map_or(DEFAULT_CURSOR_FLUSH, Duration::from_millis)
                .max(MIN_CURSOR_FLUSH),
            open_registration: args.open_registration.or(file.open_registration),
            storage,
            chatfile_retention,
        })
    }

    /// A configuration for tests: the given data dir and database, everything else default.
    pub fn for_tests(data_dir: &Path, database_url: Option<String>) -> Config {
        Config {
            listen: "127.0.0.1:0".parse().expect("valid"),
            metrics_listen: None,
            data_dir: data_dir.to_owned(),
            database_url: database_url.unwrap_or_else(|| sqlite_url(&data_dir.join("qun.db"))),
            appkey: AppKey::parse("qun#test").expect("valid"),
            client_id: Some("test-client".to_owned()),
            client_secret: Some("test-secret".to_owned()),
            plan: Plan::Enterprise,
            user_token_ttl_secs: 3600,
            app_token_ttl_secs: 3600,
            max_failed_logins_per_minute: DEFAULT_MAX_FAILED_LOGINS,
            max_failed_logins_per_address_per_minute: DEFAULT_MAX_FAILED_LOGINS_PER_ADDRESS,
            max_groups_created_per_minute: DEFAULT_MAX_GROUPS_CREATED_PER_MINUTE,
            request_head_timeout: DEFAULT_REQUEST_HEAD_TIMEOUT,
            request_body_timeout: DEFAULT_REQUEST_BODY_TIMEOUT,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_ip: DEFAULT_MAX_CONNECTIONS_PER_IP,
            trust_forwarded_for: false,
            max_devices_per_user: DEFAULT_MAX_DEVICES,
            room_grace: DEFAULT_ROOM_GRACE,
            room_flush_max: DEFAULT_ROOM_FLUSH_MAX,
            room_idle: DEFAULT_ROOM_IDLE,
            cursor_flush: DEFAULT_CURSOR_FLUSH,
            open_registration: None,
            storage: StorageConfig::Local { root: data_dir.join("files") },
            chatfile_retention: Some(DEFAULT_CHATFILE_RETENTION),
        }
    }
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// README's configuration table names every `qun serve` flag and its environment variable,
    /// so the table cannot fall behind the options.
    #[test]
    fn the_readme_lists_every_flag_and_variable() {
        let readme = include_str!("../../../README.md");
        let table: String = readme
            .split("## Configuration")
            .nth(1)
            .expect("README has a Configuration section")
            .lines()
            .take_while(|line| !line.starts_with("## "))
            .filter(|line| line.starts_with('|'))
            .collect::<Vec<_>>()
            .join("\n");
        let command = <ServeArgs as clap::Args>::augment_args(clap::Command::new("serve"));
        let mut missing = Vec::new();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if !table.contains(&format!("`--{long}")) && !table.contains(&format!(", `--{long}`")) {
                missing.push(format!("--{long}"));
            }
            if let Some(env) = arg.get_env()
                && !table.contains(&format!("`{}`", env.to_string_lossy()))
                && !table.contains(&env.to_string_lossy().to_string())
            {
                missing.push(env.to_string_lossy().into_owned());
            }
        }
        assert!(missing.is_empty(), "README's configuration table lacks {missing:?}");
    }

    #[test]
    fn flags_beat_file_and_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("qun.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:9000\"\nappkey = \"acme#chat\"\nplan = \"pro\"\n").unwrap();
        let args = ServeArgs { config: Some(file.clone()), appkey: Some("x#y".into()), ..Default::default() };
        let config = Config::resolve(args).unwrap();
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.appkey.to_string(), "x#y");
        assert_eq!(config.plan, Plan::Pro);
        assert!(config.database_url.starts_with("sqlite://./qun-data"));

        assert_eq!(config.open_registration, None, "unset: the stored setting stands");

        std::fs::write(&file, "open_registration = true\n").unwrap();
        let from_file = Config::resolve(ServeArgs { config: Some(file.clone()), ..Default::default() }).unwrap();
        assert_eq!(from_file.open_registration, Some(true));
        let args = ServeArgs { config: Some(file.clone()), open_registration: Some(false), ..Default::default() };
        assert_eq!(Config::resolve(args).unwrap().open_registration, Some(false), "the flag beats the file");

        assert_eq!(from_file.storage, StorageConfig::Local { root: PathBuf::from("./qun-data/files") });
        assert_eq!(from_file.chatfile_retention, Some(Duration::from_secs(7 * 24 * 3600)));

        std::fs::write(&file, "s3_bucket = \"chat\"\ns3_allow_http = true\nchatfile_retention_secs = 0\n").unwrap();
        let args =
            ServeArgs { config: Some(file.clone()), s3_endpoint: Some("http://s3:9000".into()), ..Default::default() };
        let s3 = Config::resolve(args).unwrap();
        assert_eq!(s3.chatfile_retention, None, "0 keeps chat files forever");
        let StorageConfig::S3(bucket) = s3.storage else { panic!("a bucket means S3: {:?}", s3.storage) };
        assert_eq!(
            (bucket.bucket.as_str(), bucket.endpoint.as_deref(), bucket.region.as_str(), bucket.allow_http),
            ("chat", Some("http://s3:9000"), "us-east-1", true)
        );
        let args = ServeArgs { config: Some(file.clone()), s3_access_key_id: Some("key".into()), ..Default::default() };
        assert!(Config::resolve(args).is_err(), "a key id without its secret");
        let defaults = Config::resolve(ServeArgs::default()).unwrap();
        assert_eq!(
            (defaults.request_head_timeout, defaults.request_body_timeout, defaults.trust_forwarded_for),
            (Duration::from_secs(10), Duration::from_secs(30), false)
        );
        assert_eq!((defaults.max_connections, defaults.max_connections_per_ip), (50_000, 1_000));
        assert_eq!(defaults.cursor_flush, Duration::from_secs(10));
        assert_eq!(
            (defaults.max_failed_logins_per_address_per_minute, defaults.max_groups_created_per_minute),
            (60, 10)
        );
        std::fs::write(
            &file,
            "request_head_timeout_secs = 3\nrequest_body_timeout_secs = 4\nmax_connections = 500\n\
             max_connections_per_ip = 20\nmax_failed_logins_per_address_per_minute = 7\n\
             max_groups_created_per_minute = 2\ntrust_forwarded_for = true\ncursor_flush_ms = 250\n",
        )
        .unwrap();
        let from_file = Config::resolve(ServeArgs { config: Some(file.clone()), ..Default::default() }).unwrap();
        assert_eq!(
            (from_file.request_head_timeout, from_file.request_body_timeout, from_file.trust_forwarded_for),
            (Duration::from_secs(3), Duration::from_secs(4), true)
        );
        assert_eq!((from_file.max_connections, from_file.max_connections_per_ip), (500, 20));
        assert_eq!(from_file.cursor_flush, Duration::from_millis(250));
        assert_eq!(
            (from_file.max_failed_logins_per_address_per_minute, from_file.max_groups_created_per_minute),
            (7, 2)
        );
        let args = ServeArgs {
            config: Some(file.clone()),
            max_connections_per_ip: Some(30),
            trust_forwarded_for: Some(false),
            ..Default::default()
        };
        let flagged = Config::resolve(args).unwrap();
        assert_eq!((flagged.max_connections_per_ip, flagged.trust_forwarded_for), (30, false), "flags beat the file");

        std::fs::write(&file, "bogus = 1\n").unwrap();
        assert!(Config::resolve(ServeArgs { config: Some(file), ..Default::default() }).is_err());
    }
}
