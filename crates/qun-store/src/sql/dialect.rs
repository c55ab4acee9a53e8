//! What differs between SQLite and PostgreSQL, and the statement the generic code runs.
//!
//! The store is written once, generic over `D: Dialect` (`sqlx::Sqlite` or `sqlx::Postgres`).
//! Its SQL is the dialect both databases share: `$n` placeholders, `ON CONFLICT` upserts,
//! `RETURNING`, `TRUE`/`FALSE`; what differs goes into the schema or into this trait: how a write
//! transaction and a multi-statement read begin, and how a row read to be written later is
//! locked. A difference is never a second copy of a method.
//!
//! sqlx's generic code names, per query, that each bound value encodes for the database and each
//! row decodes from it; Rust does not carry such bounds from a trait to its users, so they would
//! be repeated on every function. Instead [`Statement`] asks only that a value encodes for both
//! backends ([`Param`]) and a row decodes from both ([`SqlRow`]), and the dialect, implemented on
//! the concrete types where sqlx checks them, does the binding and decoding.

use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Postgres, SqlSafeStr, Sqlite, Type};

use crate::StoreResult;

type Query<D> = sqlx::query::Query<'static, D, <D as Database>::Arguments>;

/// A database the store runs on, and its SQL where it is not the common one.
pub(crate) trait Dialect: Database<Connection: Executes<Self>, Arguments: IntoArguments<Self>> {
    /// The backend's name, for logs and test names.
    const BACKEND: &'static str;
    /// Begins a transaction that writes.
    const BEGIN_WRITE: &'static str;
    /// Begins a read of several statements that must see one snapshot.
    const BEGIN_READ: &'static str;
    /// Reads a group's sequence counter in a write transaction, to be written at its end.
    const LOCK_GROUP_SEQ: &'static str;

    fn bind<'t, T: Param<'t>>(query: Query<Self>, value: T) -> Query<Self>;
    fn decode<R: SqlRow>(row: &Self::Row) -> sqlx::Result<R>;
    fn rows_affected(result: &Self::QueryResult) -> u64;

    /// A statement to bind and run.
    fn query(sql: impl SqlSafeStr) -> Statement<Self> {
        Statement(sqlx::query(sql))
    }
}

impl Dialect for Sqlite {
    const BACKEND: &'static str = "sqlite";
    // Take the write lock at BEGIN: a deferred transaction that reads first could find its
    // snapshot stale when it comes to write (SQLITE_BUSY_SNAPSHOT, which no timeout waits out).
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    // A deferred read sees one WAL snapshot from its first read to its end.
    const BEGIN_READ: &'static str = "BEGIN";
    // BEGIN IMMEDIATE already holds the database's one write lock: rows need no lock of their own.
    const LOCK_GROUP_SEQ: &'static str = "SELECT last_seq FROM groups WHERE app_id = $1 AND id = $2";

    fn bind<'t, T: Param<'t>>(query: Query<Self>, value: T) -> Query<Self> {
        query.bind(value)
    }

    fn decode<R: SqlRow>(row: &SqliteRow) -> sqlx::Result<R> {
        R::from_row(row)
    }

    fn rows_affected(result: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    // READ COMMITTED: the version compare-and-set and row locks make writes safe.
    const BEGIN_WRITE: &'static str = "BEGIN";
    // A read of several statements sees one snapshot, as SQLite's does.
    const BEGIN_READ: &'static str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    // The counter's row stays locked until commit.
    const LOCK_GROUP_SEQ: &'static str = "SELECT last_seq FROM groups WHERE app_id = $1 AND id = $2 FOR UPDATE";

    fn bind<'t, T: Param<'t>>(query: Query<Self>, value: T) -> Query<Self> {
        query.bind(value)
    }

    fn decode<R: SqlRow>(row: &PgRow) -> sqlx::Result<R> {
        R::from_row(row)
    }

    fn rows_affected(result: &sqlx::postgres::PgQueryResult) -> u64 {
        result.rows_affected()
    }
}

/// A value both backends bind.
pub(crate) trait Param<'t>: Encode<'t, Sqlite> + Type<Sqlite> + Encode<'t, Postgres> + Type<Postgres> {}

impl<'t, T> Param<'t> for T where T: Encode<'t, Sqlite> + Type<Sqlite> + Encode<'t, Postgres> + Type<Postgres> {}

/// A row both backends decode: a `#[derive(sqlx::FromRow)]` struct, or a tuple of columns.
pub(crate) trait SqlRow: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl<R> SqlRow for R where R: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// A connection that runs statements: sqlx's executor bound, stated once for the dialect.
pub(crate) trait Executes<D: Database> {
    fn executor(&mut self) -> impl Executor<'_, Database = D>;
}

impl<D: Database, C> Executes<D> for C
where
    for<'c> &'c mut C: Executor<'c, Database = D>,
{
    fn executor(&mut self) -> impl Executor<'_, Database = D> {
        self
    }
}

/// One SQL statement and its arguments. `$1`, `$2`, … are bound in order.
pub(crate) struct Statement<D: Dialect>(Query<D>);

impl<D: Dialect> Statement<D> {
    pub(crate) fn bind<'t, T: Param<'t>>(self, value: T) -> Self {
        Statement(D::bind(self.0, value))
    }

    /// Runs it; returns how many rows it changed.
    pub(crate) async fn execute(self, conn: &mut D::Connection) -> StoreResult<u64> {
        let result = self.0.execute(conn.executor()).await?;
        Ok(D::rows_affected(&result))
    }

    pub(crate) async fn fetch_all<R: SqlRow>(self, conn: &mut D::Connection) -> StoreResult<Vec<R>> {
        let rows = self.0.fetch_all(conn.executor()).await?;
        Ok(rows.iter().map(D::decode).collect::<sqlx::Result<_>>()?)
    }

    pub(crate) async fn fetch_optional<R: SqlRow>(self, conn: &mut D::Connection) -> StoreResult<Option<R>> {
        let row = self.0.fetch_optional(conn.executor()).await?;
        Ok(row.as_ref().map(D::decode).transpose()?)
    }

    pub(crate) async fn fetch_one<R: SqlRow>(self, conn: &mut D::Connection) -> StoreResult<R> {
        let row = self.0.fetch_one(conn.executor()).await?;
        Ok(D::decode(&row)?)
    }

    /// The first column of every row.
    pub(crate) async fn fetch_column<T>(self, conn: &mut D::Connection) -> StoreResult<Vec<T>>
    where
        (T,): SqlRow,
    {
        let rows: Vec<(T,)> = self.fetch_all(conn).await?;
        Ok(rows.into_iter().map(|(value,)| value).collect())
    }

    /// The first column of the one row, if there is one.
    pub(crate) async fn fetch_optional_scalar<T>(self, conn: &mut D::Connection) -> StoreResult<Option<T>>
    where
        (T,): SqlRow,
    {
        Ok(self.fetch_optional::<(T,)>(conn).await?.map(|(value,)| value))
    }

    /// The first column of the one row.
    pub(crate) async fn fetch_scalar<T>(self, conn: &mut D::Connection) -> StoreResult<T>
    where
        (T,): SqlRow,
    {
        Ok(self.fetch_one::<(T,)>(conn).await?.0)
    }
}
