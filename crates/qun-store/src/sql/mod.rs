//! The SQL backends: one store, [`SqlStore`], generic over its [`Dialect`], run as
//! [`SqliteStore`] and [`PostgresStore`]; how each connects, and the area traits implemented
//! once for both, one file per area.
//!
//! A store has two pools: `writer` for transactions that write and `reader` for reads. For
//! SQLite the writer is one connection (SQLite runs one write transaction at a time, so writers
//! queue in the pool rather than retry on SQLITE_BUSY) and readers read the WAL in parallel; for
//! PostgreSQL both are the same pool. Every method is one transaction: a write begins with
//! [`Dialect::BEGIN_WRITE`] on the writer, a read of several statements with
//! [`Dialect::BEGIN_READ`] on a reader, and a single statement is its own transaction.
//!
//! Locking order (PostgreSQL): a write locks a venue's row (group or room) before that venue's
//! member rows; several group rows in id order, then chat rows in name order (a batch of
//! messages) or room rows in id order (a user's deletion); delivery cursors in key order (a
//! batch of cursors); so two writers never wait on each other in a cycle.

#[macro_use]
mod rows;
mod append;
mod apps;
mod contacts;
mod conversations;
mod cursors;
mod dialect;
mod groups;
#[cfg(test)]
mod login_test;
mod messages;
mod multi_row;
mod receipts;
mod rooms;
mod user_metadata;
mod users;
mod venues;

use std::path::Path;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Database, Pool, Transaction};

use crate::{StoreResult, schema};
use dialect::Dialect;

/// How long an SQLite connection waits for a lock before it reports SQLITE_BUSY.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// SQLite connections that only read; in WAL mode they never wait for the writer.
const SQLITE_READERS: u32 = 4;
const POSTGRES_CONNECTIONS: u32 = 16;

/// The store on one SQL database: [`SqliteStore`] or [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct SqlStore<D: Database> {
    /// SQLite: exactly one connection, so writers queue here instead of failing with
    /// SQLITE_BUSY. PostgreSQL: the one pool.
    writer: Pool<D>,
    /// SQLite: a few connections reading the WAL. PostgreSQL: the same pool as `writer`.
    reader: Pool<D>,
}

/// The embedded store: one SQLite file in WAL mode.
pub type SqliteStore = SqlStore<sqlx::Sqlite>;

/// The store for several nodes: PostgreSQL.
pub type PostgresStore = SqlStore<sqlx::Postgres>;

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
        // No ping before each use (sqlx's default): an SQLite connection is a file handle in
        // this process, not a socket that can die, and the ping is one more trip to the
        // connection's thread per statement (S2: 170 → 141 µs of CPU per 1:1 message).
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .connect_with(options.clone().create_if_missing(true).journal_mode(SqliteJournalMode::Wal))
            .await?;
        schema::SQLITE.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(SQLITE_READERS)
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(SqlStore { writer, reader })
    }
}

/// The file path in `sqlite://PATH`, `sqlite:PATH` or a plain path (a query string is ignored).
fn sqlite_path(url: &str) -> &Path {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    Path::new(path.split_once('?').map_or(path, |(path, _query)| path))
}

impl PostgresStore {
    /// Connects to `postgres://…` and migrates the database (the migrator locks against other
    /// nodes doing the same).
    pub async fn connect(url: &str) -> StoreResult<Self> {
        let pool = PgPoolOptions::new().max_connections(POSTGRES_CONNECTIONS).connect(url).await?;
        schema::POSTGRES.run(&pool).await?;
        Ok(SqlStore { reader: pool.clone(), writer: pool })
    }
}

// The bounds are on the methods, not the impl: the impl of a public type is public, and the
// dialect is the crate's own.
impl<D: Database> SqlStore<D> {
    /// A transaction that writes.
    async fn begin_write(&self) -> StoreResult<Transaction<'static, D>>
    where
        D: Dialect,
    {
        Ok(self.writer.begin_with(D::BEGIN_WRITE).await?)
    }

    /// A read of several statements that sees one snapshot.
    async fn begin_read(&self) -> StoreResult<Transaction<'static, D>>
    where
        D: Dialect,
    {
        Ok(self.reader.begin_with(D::BEGIN_READ).await?)
    }

    /// The writer, for one statement that writes.
    async fn write_conn(&self) -> StoreResult<PoolConnection<D>> {
        Ok(self.writer.acquire().await?)
    }

    /// A reader, for one statement that reads.
    async fn read_conn(&self) -> StoreResult<PoolConnection<D>> {
        Ok(self.reader.acquire().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::{AppSettings, NewApp};

    /// The app `qun#demo`, for tests of the backends.
    pub(super) fn demo_app() -> NewApp {
        NewApp {
            uuid: "uuid".into(),
            org: "qun".into(),
            name: "demo".into(),
            client_id: "client".into(),
            client_secret_hash: vec![1],
            settings: AppSettings::default(),
            created_ms: 1,
        }
    }

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
        let created = store.ensure_app(&demo_app()).await.expect("ensure_app");
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
