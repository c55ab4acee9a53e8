//! Test support: a fresh database per test, for this crate's conformance suite and for the
//! server's integration tests.
//!
//! PostgreSQL tests run against the server named by `QUN_TEST_DATABASE_URL` (CI and the
//! development machines have one on 127.0.0.1:5432). Each test gets its own database, so
//! tests never share state and run in parallel. Without the variable the PostgreSQL half is
//! skipped, loudly: a notice goes straight to stderr, past the test harness's capture.
//!
//! Not for production code: these helpers panic on failure.

use std::io::Write as _;
use std::path::Path;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::{AssertSqlSafe, Connection as _, PgConnection};

/// The environment variable naming the PostgreSQL server tests use.
pub const POSTGRES_URL_VARIABLE: &str = "QUN_TEST_DATABASE_URL";

/// Test databases are named `qun_test_<unix seconds>_<pid>_<counter>`.
const DATABASE_PREFIX: &str = "qun_test_";
/// A test database older than this that nobody is connected to is left over from a finished
/// run (a live test keeps its pool's connections open): the next test process drops it.
const STALE_AFTER_SECONDS: u64 = 2 * 60;

/// The PostgreSQL server to test against, or `None` (after a notice, once per process) when
/// `QUN_TEST_DATABASE_URL` is not set.
pub fn postgres_test_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VARIABLE) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            static NOTICE: Once = Once::new();
            NOTICE.call_once(|| {
                // io::stderr() rather than eprintln!: the test harness captures the macros.
                let _ = writeln!(
                    std::io::stderr(),
                    "\nNOTICE: {POSTGRES_URL_VARIABLE} is not set: the PostgreSQL half of this test is SKIPPED \
                     (e.g. {POSTGRES_URL_VARIABLE}=postgres://postgres@127.0.0.1:5432/postgres)\n"
                );
            });
            None
        }
    }
}

/// Creates an empty database on the server at `base_url` and returns its URL.
pub async fn fresh_postgres_database(base_url: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = unix_seconds();
    let name = format!("{DATABASE_PREFIX}{now}_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed));
    let mut server = PgConnection::connect(base_url)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {POSTGRES_URL_VARIABLE} ({base_url}): {error}"));
    drop_stale_databases(&mut server, now).await;
    // The name is ours (letters, digits, underscores); it cannot be a bind parameter.
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut server)
        .await
        .unwrap_or_else(|error| panic!("cannot create test database {name}: {error}"));
    let _ = server.close().await;
    with_database(base_url, &name)
}

/// An SQLite URL for a new database file in `dir` (a temporary directory the test owns).
pub async fn fresh_sqlite_url(dir: &Path) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let file = dir.join(format!("qun-test-{}-{}.db", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    format!("sqlite://{}", file.display())
}

/// Drops test databases left by finished runs (about 8 MB each), once per process, so the
/// server does not fill up with them. PostgreSQL refuses to drop a database someone is
/// connected to, so one still in use stays; that failure is ignored.
async fn drop_stale_databases(server: &mut PgConnection, now: u64) {
    static DONE: AtomicBool = AtomicBool::new(false);
    if DONE.swap(true, Ordering::Relaxed) {
        return;
    }
    let names: Vec<String> = sqlx::query_scalar("SELECT datname FROM pg_database WHERE starts_with(datname, $1)")
        .bind(DATABASE_PREFIX)
        .fetch_all(&mut *server)
        .await
        .unwrap_or_default();
    for name in names {
        let created = name
            .strip_prefix(DATABASE_PREFIX)
            .and_then(|rest| rest.split('_').next())
            .and_then(|seconds| seconds.parse::<u64>().ok());
        let stale = created.is_some_and(|created| created + STALE_AFTER_SECONDS < now);
        let plain = name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if stale && plain {
            let _ = sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}"))).execute(&mut *server).await;
        }
    }
}

fn unix_seconds() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

/// `base_url` with its database (the URL path) replaced by `database`; the query is kept.
fn with_database(base_url: &str, database: &str) -> String {
    let (location, query) = match base_url.split_once('?') {
        Some((location, query)) => (location, Some(query)),
        None => (base_url, None),
    };
    let authority_start = location.find("://").map_or(0, |scheme_end| scheme_end + 3);
    let server = match location[authority_start..].find('/') {
        Some(path_start) => &location[..authority_start + path_start],
        None => location,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        for (base, expected) in [
            ("postgres://postgres@127.0.0.1:5432/postgres", "postgres://postgres@127.0.0.1:5432/db"),
            ("postgres://u:p@host/postgres?sslmode=disable", "postgres://u:p@host/db?sslmode=disable"),
            ("postgresql://host:5432", "postgresql://host:5432/db"),
            ("postgres://host?application_name=x", "postgres://host/db?application_name=x"),
        ] {
            assert_eq!(with_database(base, "db"), expected, "{base}");
        }
    }
}
