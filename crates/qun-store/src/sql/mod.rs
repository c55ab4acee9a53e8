//! The SQL backends, [`SqliteStore`] and [`PostgresStore`]: how each connects, and one
//! implementation of the [`Store`](crate::Store) trait for both (`store_impl.rs`).

#[macro_use]
mod rows;
#[macro_use]
mod store_impl;

use std::path::Path;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use crate::{StoreResult, schema};

/// How long an SQLite connection waits for a lock before it reports SQLITE_BUSY.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite connections that only read; in WAL mode they never wait for the writer.
const SQLITE_READERS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 16;

/// The embedded store: one SQLite file in WAL mode.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: SQLite runs one write transaction at a time, so writers queue
    /// here instead of failing with SQLITE_BUSY.
    writer: SqlitePool,
    reader: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `sqlite://PATH` or a plain path, and
    /// migrates it.
    pub async fn open(url: &str) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(sqlite_path(url))
            .foreign_keys(true)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT);
        // Switching to WAL takes a lock the busy timeout cannot wait for, so only the writer
        // does it, before any reader connects; the mode then stays with the file.
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().create_if_missing(true).journal_mode(SqliteJournalMode::Wal))
            .await?;
        schema::SQLITE.run(&writer).await?;
        let reader = SqlitePoolOptions::new().max_connections(SQLITE_READERS).connect_with(options).await?;
        Ok(SqliteStore { writer, reader })
    }
}

/// The file path in `sqlite://PATH`, `sqlite:PATH` or a plain path (a query string is ignored).
fn sqlite_path(url: &str) -> &Path {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    Path::new(path.split_once('?').map_or(path, |(path, _query)| path))
}

/// The store for several nodes: PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    /// `writer` and `reader` are the same pool; the names are those the shared implementation
    /// uses.
    writer: PgPool,
    reader: PgPool,
}

impl PostgresStore {
    /// Connects to `postgres://…` and migrates the database (the migrator locks against other
    /// nodes doing the same).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new().max_connections(POSTGRES_CONNECTIONS).connect(url).await?;
        schema::POSTGRES.run(&pool).await?;
        Ok(PostgresStore { reader: pool.clone(), writer: pool })
    }
}

impl_store! {
    module: sqlite_store,
    store: SqliteStore,
    database: sqlx::Sqlite,
    backend: "sqlite",
    // Take the write lock at BEGIN: a deferred transaction that reads first could find its
    // snapshot stale when it comes to write (SQLITE_BUSY_SNAPSHOT, which no timeout waits out).
    begin_write: "BEGIN IMMEDIATE",
    // A deferred read sees one WAL snapshot from its first read to its end.
    begin_read: "BEGIN",
    // BEGIN IMMEDIATE already holds the database's one write lock: rows need no lock of their own.
    lock_row: "",
}

impl_store! {
    module: postgres_store,
    store: PostgresStore,
    database: sqlx::Postgres,
    backend: "postgres",
    // READ COMMITTED: the version compare-and-set and row locks make writes safe.
    begin_write: "BEGIN",
    // A read of several statements sees one snapshot, as SQLite's does.
    begin_read: "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
    // A row read in a write transaction to be written later is locked until commit.
    lock_row: " FOR UPDATE",
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AppSettings, NewApp, Store};

    #[tokio::test]
    async fn sqlite_opens_in_wal_mode_with_one_writer_and_reopens() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let path = directory.path().join("qun.db");
        let store = SqliteStore::open(path.to_str().expect("utf-8 path")).await.expect("open");
        assert!(path.exists());
        assert_eq!(store.writer.options().get_max_connections(), 1);
        for pool in [&store.writer, &store.reader] {
            let journal_mode: String = sqlx::query_scalar("PRAGMA journal_mode").fetch_one(pool).await.expect("pragma");
            let foreign_keys: i64 = sqlx::query_scalar("PRAGMA foreign_keys").fetch_one(pool).await.expect("pragma");
            let synchronous: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(pool).await.expect("pragma");
            let busy_timeout: i64 = sqlx::query_scalar("PRAGMA busy_timeout").fetch_one(pool).await.expect("pragma");
            // synchronous 1 is NORMAL.
            assert_eq!((journal_mode.as_str(), foreign_keys, synchronous), ("wal", 1, 1));
            assert!(busy_timeout > 0);
        }
        let app = NewApp {
            uuid: "uuid".into(),
            org: "qun".into(),
            name: "demo".into(),
            client_id: "client".into(),
            client_secret_hash: vec![1],
            settings: AppSettings::default(),
            created_ms: 1,
        };
        let created = store.ensure_app(&app).await.expect("ensure_app");
        store.writer.close().await;
        store.reader.close().await;

        // The migrations are applied already; the data is still there.
        let url = format!("sqlite://{}", path.display());
        let reopened = crate::open(&url).await.expect("reopen");
        assert_eq!(reopened.backend(), "sqlite");
        assert_eq!(reopened.app_by_key("qun", "demo").await.expect("app_by_key"), Some(created));
    }

    #[test]
    fn chat_names_put_the_sides_in_byte_order() {
        let name = |raw| qun_core::UserName::parse(raw).expect("valid user name");
        let (alice, bob) = (name("alice"), name("bob"));
        for (a, b) in [(&alice, &bob), (&bob, &alice)] {
            assert_eq!(rows::chat_name(a, b), (&alice, &bob, "alice|bob".to_owned()));
        }
        assert_eq!(rows::chat_name(&alice, &alice).2, "alice|alice");
        // '-' sorts before '_' byte-wise, as in both databases.
        assert_eq!(rows::chat_name(&name("a_b"), &name("a-b")).2, "a-b|a_b");
    }

    #[test]
    fn sqlite_urls_name_a_file() {
        for (url, path) in [
            ("sqlite:///var/lib/qun/qun.db", "/var/lib/qun/qun.db"),
            ("sqlite://data/qun.db", "data/qun.db"),
            ("sqlite:qun.db?mode=rwc", "qun.db"),
            ("/tmp/qun.db", "/tmp/qun.db"),
        ] {
            assert_eq!(sqlite_path(url), Path::new(path), "{url}");
        }
    }
}
