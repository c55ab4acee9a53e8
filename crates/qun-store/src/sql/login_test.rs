//! A token login (PROVISION) reads the token, the user's queues and the user's chat rooms: no
//! write transaction, and only the user's own rows, each found by an index. These tests keep
//! it so: the reads complete while another transaction holds SQLite's one writer, and every
//! statement they run plans as an index search on both backends.

use std::time::Duration;

use sqlx::{AssertSqlSafe, Row};

use super::{SqliteStore, cursors, rooms, users};
use crate::prelude::*;
use crate::{NewUser, QueueKey, TokenRecord};

/// A value bound to a statement's placeholder.
#[derive(Debug, Clone, Copy)]
enum Arg {
    Int(i64),
    Text(&'static str),
    Bytes(&'static [u8]),
}

/// `$query` with `$args` bound in order (a macro: sqlx's bind bounds differ per backend).
macro_rules! bound {
    ($query:expr, $args:expr) => {{
        let mut query = $query;
        for arg in $args {
            query = match arg {
                Arg::Int(value) => query.bind(value),
                Arg::Text(value) => query.bind(value),
                Arg::Bytes(value) => query.bind(value),
            };
        }
        query
    }};
}

/// Every statement a token login runs, with plausible values for its placeholders.
fn login_statements() -> Vec<(&'static str, String, Vec<Arg>)> {
    use Arg::{Bytes, Int, Text};
    vec![
        ("token", users::TOKEN_BY_HASH.to_owned(), vec![Bytes(b"0123456789abcdef0123456789abcdef"), Int(5)]),
        ("user queues", cursors::USER_QUEUES.to_owned(), vec![Int(1), Text("u1500"), Text("phone")]),
        ("rooms of the user", rooms::ROOM_IDS_OF_USER.to_owned(), vec![Int(1), Text("u1500"), Int(20_000)]),
    ]
}

async fn sqlite_store() -> (tempfile::TempDir, SqliteStore) {
    let directory = tempfile::tempdir().expect("temporary directory");
    let path = directory.path().join("qun.db");
    let store = SqliteStore::open(path.to_str().expect("utf-8 path")).await.expect("open");
    (directory, store)
}

#[tokio::test]
async fn login_reads_complete_while_the_writer_is_held() {
    let (_directory, store) = sqlite_store().await;
    let app_id = store.ensure_app(&super::tests::demo_app()).await.expect("ensure_app").id;
    let ann = qun_core::UserName::parse("ann").expect("user name");
    let new_user = NewUser {
        name: ann.clone(),
        uuid: "u".into(),
        password_hash: "h".into(),
        nickname: "ann".into(),
        created_ms: 1,
    };
    store.create_users(app_id, &[new_user]).await.expect("create_users")[0].as_ref().expect("a new user");
    // A live token and an expired one: neither is written by reading it.
    for (hash, expires_ms) in [(b"live", None), (b"gone", Some(2))] {
        let token = TokenRecord { hash: hash.to_vec(), app_id, user: Some(ann.clone()), created_ms: 1, expires_ms };
        store.insert_token(&token).await.expect("insert_token");
    }
    store.advance_cursor(app_id, &ann, "phone", &QueueKey::Personal, 7).await.expect("advance_cursor");

    // Another transaction holds the one writer connection: anything that needs it waits.
    let mut writing = store.writer.begin_with("BEGIN IMMEDIATE").await.expect("begin");
    sqlx::query("INSERT INTO delivery_cursors (app_id, user_name, device, queue, seq) VALUES (1, 'x', 'x', 'u', 1)")
        .execute(&mut *writing)
        .await
        .expect("write");
    let login = async {
        let token = store.token(b"live", 10).await.expect("token").expect("the live token");
        assert_eq!(token.user.as_ref(), Some(&ann));
        assert_eq!(store.token(b"gone", 10).await.expect("token"), None);
        let queues = store.user_queues(app_id, &ann, "phone").await.expect("user_queues");
        assert_eq!(
            queues.iter().map(|q| (q.queue.clone(), q.cursor)).collect::<Vec<_>>(),
            [(QueueKey::Personal, Some(7))]
        );
        store.user_room_ids(app_id, &ann, 20_000).await.expect("user_room_ids");
    };
    tokio::time::timeout(Duration::from_secs(5), login).await.expect("a login needs no writer");
    writing.rollback().await.expect("rollback");
    // The expired token is still there: a login does not prune (nothing does yet).
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tokens").fetch_one(&store.reader).await.expect("count");
    assert_eq!(rows, 2);
}

/// SQLite: `EXPLAIN QUERY PLAN` says SEARCH (an index lookup), never SCAN (every row of a
/// table or an index).
#[tokio::test]
async fn login_reads_search_indexes_on_sqlite() {
    let (_directory, store) = sqlite_store().await;
    for (name, sql, args) in login_statements() {
        let query = bound!(sqlx::query(AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}"))), args);
        let plan: Vec<String> = query
            .fetch_all(&store.reader)
            .await
            .expect("explain")
            .iter()
            .map(|row| row.get::<String, _>("detail"))
            .collect();
        println!("{name}: {plan:?}");
        assert!(plan.iter().any(|step| step.starts_with("SEARCH")), "{name}: {plan:?}");
        assert!(!plan.iter().any(|step| step.starts_with("SCAN")), "{name} scans: {plan:?}");
    }
}

/// Rows per table for the PostgreSQL plans: enough that the planner, with statistics, prices
/// a scan of any table above a lookup by key, as it does on a real server.
const POSTGRES_ROWS: i64 = 2_000;

/// PostgreSQL (with `QUN_TEST_DATABASE_URL`): on tables of [`POSTGRES_ROWS`] rows each,
/// analysed, every table is reached by an index lookup (a nested loop over the user's own rows,
/// each joined row found by its key): no sequential scan, no hash or merge join, no join
/// filter.
#[tokio::test]
async fn login_reads_search_indexes_on_postgres() {
    let Some(base) = crate::testing::postgres_test_url() else { return };
    let store =
        super::PostgresStore::connect(&crate::testing::fresh_postgres_database(&base).await).await.expect("connect");
    let fill = [
        "INSERT INTO apps (id, uuid, org, name, client_id, client_secret_hash, settings, created_ms) \
         OVERRIDING SYSTEM VALUE VALUES (1, 'u', 'qun', 'demo', 'c', '\\x00', '{}', 0)",
        "INSERT INTO users SELECT 1, 'u' || i, 'uuid' || i, 'h', '', TRUE, 0, 0 FROM generate_series(1, $1) i",
        "INSERT INTO tokens SELECT sha256(('t' || i)::bytea), 1, 'u' || i, 0, NULL FROM generate_series(1, $1) i",
        "INSERT INTO groups (app_id, id, owner, name, description, avatar, public, approval_required, allow_invites, \
         invite_need_confirm, max_users, custom, version, last_seq, created_ms, modified_ms) \
         SELECT 1, i, 'u1', 'g', '', '', TRUE, FALSE, FALSE, FALSE, 5000, '', 1, 100, 0, 0 FROM generate_series(1, $1) i",
        "INSERT INTO group_members (app_id, group_id, user_name, role, joined_ms, join_order, cursor_seq) \
         SELECT 1, i, 'u' || i, 1, 0, i, 0 FROM generate_series(1, $1) i",
        "INSERT INTO chats SELECT 1, 'u' || i || '|v' || i, 'u' || i, 'v' || i, 3 FROM generate_series(1, $1) i",
        "INSERT INTO user_events SELECT 1, 'u' || (i % $1 + 1), i, '{}', 0 FROM generate_series(1, 2 * $1) i",
        "INSERT INTO delivery_cursors SELECT 1, 'u' || (i % $1 + 1), 'd' || i, 'u', 1 FROM generate_series(1, 2 * $1) i",
        "INSERT INTO rooms (app_id, id, owner, name, description, max_users, custom, version, created_ms, modified_ms) \
         SELECT 1, i, 'u1', 'r', '', 1000, '', 1, 0, 0 FROM generate_series(1, $1) i",
        "INSERT INTO room_members SELECT 1, i, 'u' || i, 0, i FROM generate_series(1, $1) i",
        "INSERT INTO room_allowlist SELECT 1, i, 'u' || i, 0 FROM generate_series(1, $1) i",
    ];
    for sql in fill {
        let query = sqlx::query(sql);
        let query = if sql.contains("$1") { query.bind(POSTGRES_ROWS) } else { query };
        query.execute(&store.writer).await.unwrap_or_else(|error| panic!("{sql}: {error}"));
    }
    sqlx::query("ANALYZE").execute(&store.writer).await.expect("analyze");
    for (name, sql, args) in login_statements() {
        let query = bound!(sqlx::query(AssertSqlSafe(format!("EXPLAIN {sql}"))), args);
        let plan: Vec<String> =
            query.fetch_all(&store.reader).await.expect("explain").iter().map(|row| row.get::<String, _>(0)).collect();
        println!("{name}: {plan:#?}");
        assert!(plan.iter().any(|step| step.contains("Index")), "{name}: {plan:#?}");
        for scan in ["Seq Scan", "Hash Join", "Merge Join", "Join Filter"] {
            assert!(!plan.iter().any(|step| step.contains(scan)), "{name}: {scan}: {plan:#?}");
        }
    }
}
