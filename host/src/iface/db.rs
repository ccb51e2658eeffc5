//! `nexuma:core/db`: SQL on the Core's database through sqlx, for PostgreSQL and SQLite.
//!
//! Components send portable SQL with `$n` placeholders; this module binds the WIT values,
//! turns rows back into WIT values by their runtime type, and keeps open transactions in the
//! instance's resource table (dropped = rolled back by sqlx).

use std::str::FromStr;
use std::time::Duration;

use sqlx::error::ErrorKind;
use sqlx::postgres::{PgPool, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Column, Row, TypeInfo, ValueRef};
use wasmtime::component::{HasData, Resource, ResourceTable};

use crate::bindings::nexuma::core::db::{self as wit, DbError, ErrorKind as Kind, RowSet, Value};
use crate::config::DatabaseTarget;

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The Core's database: one pool, either backend.
#[derive(Clone, Debug)]
pub enum Database {
    /// A PostgreSQL pool (`DATABASE_URL=postgres://...` or `DB_*`).
    Postgres(PgPool),
    /// An SQLite pool over one file (`sqlite://...`, the default).
    Sqlite(SqlitePool),
}

/// An open transaction held in an instance's resource table.
pub enum Transaction {
    /// Open on PostgreSQL.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
    /// Open on SQLite (begun `IMMEDIATE`, so it holds the write lock).
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// Committed; further use is an error.
    Finished,
}

/// A pooled connection idle for longer is pinged before use.
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(5);

impl Database {
    /// Opens the pool. Nothing is contacted yet: `migrate` is the first real use.
    pub fn open(target: &DatabaseTarget) -> Result<Self, sqlx::Error> {
        match target {
            DatabaseTarget::Postgres(url) => {
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    // A ping per query would double the round trips of a busy Core: only a
                    // connection that sat idle (the server may have restarted) is checked.
                    .test_before_acquire(false)
                    .before_acquire(|conn, meta| {
                        Box::pin(async move {
                            if meta.idle_for > IDLE_CHECK_AFTER {
                                sqlx::Connection::ping(conn).await?;
                            }
                            Ok(true)
                        })
                    })
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_lazy(url)?;
                Ok(Database::Postgres(pool))
            }
            DatabaseTarget::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    std::fs::create_dir_all(dir)?;
                }
                let options = SqliteConnectOptions::from_str("sqlite://")?
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(5));
                let pool = SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_lazy_with(options);
                Ok(Database::Sqlite(pool))
            }
        }
    }

    /// `postgres` or `sqlite`: picks a schema step's SQL; shown by the health check and backups.
    pub fn backend(&self) -> &'static str {
        match self {
            Database::Postgres(_) => "postgres",
            Database::Sqlite(_) => "sqlite",
        }
    }

    /// Applies the migrations of this backend (`migrations/<backend>`), compiled into the binary.
    pub async fn migrate(&self) -> Result<(), sqlx::migrate::MigrateError> {
        match self {
            Database::Postgres(pool) => PG_MIGRATIONS.run(pool).await,
            Database::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        }
    }

    /// The newest migration this binary carries (both backends are numbered alike).
    pub fn latest_migration(&self) -> i64 {
        let migrator = match self {
            Database::Postgres(_) => &PG_MIGRATIONS,
            Database::Sqlite(_) => &SQLITE_MIGRATIONS,
        };
        migrator.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// A read-only transaction that sees one moment of the database while writers go on:
    /// PostgreSQL's REPEATABLE READ snapshot, SQLite's deferred read in WAL mode (no write lock).
    pub async fn begin_snapshot(&self) -> Result<Transaction, sqlx::Error> {
        match self {
            Database::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
                Ok(Transaction::Postgres(tx))
            }
            Database::Sqlite(pool) => Ok(Transaction::Sqlite(pool.begin_with("BEGIN").await?)),
        }
    }

    /// One round trip; what the readiness check asks.
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        self.execute("SELECT 1", &[]).await.map(|_| ())
    }

    /// Runs one statement with `params` bound to `$1`, `$2`, ... and returns its rows.
    pub async fn query(&self, sql: &str, params: &[Value]) -> Result<RowSet, sqlx::Error> {
        match self {
            Database::Postgres(pool) => pg_rows(&bind_pg(sql, params).fetch_all(pool).await?),
            Database::Sqlite(pool) => sqlite_rows(&bind_sqlite(sql, params).fetch_all(pool).await?),
        }
    }

    /// Runs one statement with `params` bound to `$1`, `$2`, ...; how many rows it changed.
    pub async fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, sqlx::Error> {
        match self {
            Database::Postgres(pool) => {
                Ok(bind_pg(sql, params).execute(pool).await?.rows_affected())
            }
            Database::Sqlite(pool) => Ok(bind_sqlite(sql, params)
                .execute(pool)
                .await?
                .rows_affected()),
        }
    }

    /// Opens a transaction on a pooled connection; dropped without [`Transaction::commit`], it
    /// rolls back.
    pub async fn begin(&self) -> Result<Transaction, sqlx::Error> {
        match self {
            Database::Postgres(pool) => Ok(Transaction::Postgres(pool.begin().await?)),
            // IMMEDIATE takes the write lock at BEGIN, where the busy timeout waits for it. A
            // deferred transaction that reads and then writes fails at once with "database is
            // locked" when another writer holds it (SQLite cannot wait there without risking a
            // deadlock).
            Database::Sqlite(pool) => Ok(Transaction::Sqlite(
                pool.begin_with("BEGIN IMMEDIATE").await?,
            )),
        }
    }
}

impl Transaction {
    /// As [`Database::query`], inside the transaction; refused once committed.
    pub async fn query(&mut self, sql: &str, params: &[Value]) -> Result<RowSet, sqlx::Error> {
        match self {
            Transaction::Postgres(tx) => pg_rows(&bind_pg(sql, params).fetch_all(&mut **tx).await?),
            Transaction::Sqlite(tx) => {
                sqlite_rows(&bind_sqlite(sql, params).fetch_all(&mut **tx).await?)
            }
            Transaction::Finished => Err(finished()),
        }
    }

    /// As [`Database::execute`], inside the transaction; refused once committed.
    pub async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, sqlx::Error> {
        match self {
            Transaction::Postgres(tx) => Ok(bind_pg(sql, params)
                .execute(&mut **tx)
                .await?
                .rows_affected()),
            Transaction::Sqlite(tx) => Ok(bind_sqlite(sql, params)
                .execute(&mut **tx)
                .await?
                .rows_affected()),
            Transaction::Finished => Err(finished()),
        }
    }

    /// Runs SQL of several statements without parameters (a component's schema step): the
    /// PostgreSQL text on PostgreSQL, the SQLite text on SQLite.
    pub async fn run_script(&mut self, postgres: &str, sqlite: &str) -> Result<(), sqlx::Error> {
        // A query without arguments goes as it is: PostgreSQL's simple protocol and SQLite's
        // statement loop both run every statement in the text. (`sqlx::raw_sql` would say so
        // too, but its future is not `Send` for every lifetime, which the server needs.)
        match self {
            Transaction::Postgres(tx) => {
                sqlx::Executor::execute(&mut **tx, postgres).await.map(drop)
            }
            Transaction::Sqlite(tx) => sqlx::Executor::execute(&mut **tx, sqlite).await.map(drop),
            Transaction::Finished => Err(finished()),
        }
    }

    /// Commits and leaves the transaction `Finished`; a second commit is an error.
    pub async fn commit(&mut self) -> Result<(), sqlx::Error> {
        match std::mem::replace(self, Transaction::Finished) {
            Transaction::Postgres(tx) => tx.commit().await,
            Transaction::Sqlite(tx) => tx.commit().await,
            Transaction::Finished => Err(finished()),
        }
    }
}

fn finished() -> sqlx::Error {
    sqlx::Error::Protocol("the transaction is already committed".into())
}

/// A NULL whose type PostgreSQL infers from the statement (OID 0), so it fits any column.
struct UntypedNull;

impl sqlx::Type<sqlx::Postgres> for UntypedNull {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, sqlx::Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;
type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'q>>;

fn bind_pg<'q>(sql: &'q str, params: &'q [Value]) -> PgQuery<'q> {
    params.iter().fold(sqlx::query(sql), |q, p| match p {
        Value::Null => q.bind(UntypedNull),
        Value::Int(v) => q.bind(*v),
        Value::Float(v) => q.bind(*v),
        Value::Text(v) => q.bind(v.as_str()),
        Value::Blob(v) => q.bind(v.as_slice()),
        Value::Boolean(v) => q.bind(*v),
    })
}

fn bind_sqlite<'q>(sql: &'q str, params: &'q [Value]) -> SqliteQuery<'q> {
    params.iter().fold(sqlx::query(sql), |q, p| match p {
        Value::Null => q.bind(Option::<i64>::None),
        Value::Int(v) => q.bind(*v),
        Value::Float(v) => q.bind(*v),
        Value::Text(v) => q.bind(v.as_str()),
        Value::Blob(v) => q.bind(v.as_slice()),
        Value::Boolean(v) => q.bind(*v),
    })
}

fn columns<R: Row>(rows: &[R]) -> Vec<String> {
    rows.first()
        .map(|r| r.columns().iter().map(|c| c.name().to_string()).collect())
        .unwrap_or_default()
}

fn conversion(column: &str, type_name: &str) -> sqlx::Error {
    sqlx::Error::ColumnDecode {
        index: column.to_string(),
        source: format!(
            "column type {type_name} has no WIT value; cast it to BIGINT, TEXT or a float"
        )
        .into(),
    }
}

fn pg_rows(rows: &[PgRow]) -> Result<RowSet, sqlx::Error> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let raw = row.try_get_raw(i)?;
            if raw.is_null() {
                values.push(Value::Null);
                continue;
            }
            let type_name = column.type_info().name().to_string();
            values.push(match type_name.as_str() {
                "BOOL" => Value::Boolean(row.try_get(i)?),
                "INT2" => Value::Int(row.try_get::<i16, _>(i)?.into()),
                "INT4" => Value::Int(row.try_get::<i32, _>(i)?.into()),
                "INT8" => Value::Int(row.try_get(i)?),
                "FLOAT4" => Value::Float(row.try_get::<f32, _>(i)?.into()),
                "FLOAT8" => Value::Float(row.try_get(i)?),
                "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" => Value::Text(row.try_get(i)?),
                "BYTEA" => Value::Blob(row.try_get(i)?),
                "VOID" => Value::Null,
                other => return Err(conversion(column.name(), other)),
            });
        }
        out.push(values);
    }
    Ok(RowSet {
        columns: columns(rows),
        rows: out,
    })
}

fn sqlite_rows(rows: &[SqliteRow]) -> Result<RowSet, sqlx::Error> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let mut values = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let raw = row.try_get_raw(i)?;
            // SQLite types values, not columns: read the value's own storage class.
            let type_name = raw.type_info().name().to_string();
            if raw.is_null() {
                values.push(Value::Null);
                continue;
            }
            values.push(match type_name.as_str() {
                "INTEGER" | "BOOLEAN" => Value::Int(row.try_get_unchecked(i)?),
                "REAL" => Value::Float(row.try_get_unchecked(i)?),
                "TEXT" | "DATE" | "TIME" | "DATETIME" => Value::Text(row.try_get_unchecked(i)?),
                "BLOB" => Value::Blob(row.try_get_unchecked(i)?),
                "NULL" => Value::Null,
                other => return Err(conversion(column.name(), other)),
            });
        }
        out.push(values);
    }
    Ok(RowSet {
        columns: columns(rows),
        rows: out,
    })
}

/// A server-side error that a retry a moment later can get past: the database restarting or
/// shutting down, out of connections or resources, a serialization conflict, or — on SQLite —
/// another writer holding the lock past the busy timeout.
fn retryable(err: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = err.code() else {
        return false;
    };
    if err
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_some()
    {
        // Primary result codes SQLITE_BUSY (5) and SQLITE_LOCKED (6), under any extended code.
        return code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6));
    }
    // PostgreSQL SQLSTATE classes 08 (connection), 53 (insufficient resources), 57 (operator
    // intervention: "terminating connection due to administrator command"), and 40001/40P01.
    matches!(code.get(..2), Some("08" | "53" | "57")) || code == "40001" || code == "40P01"
}

/// Maps a sqlx error to what a component may see and act on.
pub fn to_wit_error(err: sqlx::Error) -> DbError {
    let kind = match &err {
        sqlx::Error::Database(db) if retryable(db.as_ref()) => Kind::Unavailable,
        sqlx::Error::Database(db) => match db.kind() {
            ErrorKind::UniqueViolation => Kind::UniqueViolation,
            ErrorKind::ForeignKeyViolation => Kind::ForeignKeyViolation,
            ErrorKind::NotNullViolation | ErrorKind::CheckViolation => Kind::ConstraintViolation,
            _ => Kind::Query,
        },
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => Kind::Unavailable,
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => Kind::Conversion,
        _ => Kind::Query,
    };
    DbError {
        kind,
        message: err.to_string(),
    }
}

/// What `db` reaches of an instance's store: the pool, and the resource table its open
/// transactions live in.
pub struct DbCtx<'a> {
    /// The Core's pool, shared by every instance.
    pub db: &'a Database,
    /// This instance's resources: the transactions it opened and has not closed.
    pub table: &'a mut ResourceTable,
}

/// Links `db` to a [`DbCtx`] view of the store.
pub struct DbView;

impl HasData for DbView {
    type Data<'a> = DbCtx<'a>;
}

impl wit::Host for DbCtx<'_> {
    async fn query(
        &mut self,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<RowSet, DbError>> {
        Ok(self.db.query(&sql, &params).await.map_err(to_wit_error))
    }

    async fn execute(
        &mut self,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<u64, DbError>> {
        Ok(self.db.execute(&sql, &params).await.map_err(to_wit_error))
    }

    async fn begin(&mut self) -> wasmtime::Result<Result<Resource<Transaction>, DbError>> {
        match self.db.begin().await {
            Ok(tx) => Ok(Ok(self.table.push(tx)?)),
            Err(e) => Ok(Err(to_wit_error(e))),
        }
    }
}

impl wit::HostTransaction for DbCtx<'_> {
    async fn query(
        &mut self,
        tx: Resource<Transaction>,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<RowSet, DbError>> {
        let tx = self.table.get_mut(&tx)?;
        Ok(tx.query(&sql, &params).await.map_err(to_wit_error))
    }

    async fn execute(
        &mut self,
        tx: Resource<Transaction>,
        sql: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<u64, DbError>> {
        let tx = self.table.get_mut(&tx)?;
        Ok(tx.execute(&sql, &params).await.map_err(to_wit_error))
    }

    async fn commit(&mut self, tx: Resource<Transaction>) -> wasmtime::Result<Result<(), DbError>> {
        let tx = self.table.get_mut(&tx)?;
        Ok(tx.commit().await.map_err(to_wit_error))
    }

    async fn drop(&mut self, tx: Resource<Transaction>) -> wasmtime::Result<()> {
        // Dropping an uncommitted sqlx transaction rolls it back.
        self.table.delete(tx)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wit::{Host, HostTransaction};

    /// A SQLite database of its own in the temporary folder, removed when dropped, and the
    /// resource table of an instance using it.
    struct Scratch {
        db: Database,
        table: ResourceTable,
        path: std::path::PathBuf,
    }

    impl Scratch {
        async fn new() -> Scratch {
            let path = std::env::temp_dir().join(format!("nexuma-db-{}.db", uuid::Uuid::new_v4()));
            let db = Database::open(&DatabaseTarget::Sqlite(path.clone())).expect("open");
            db.execute("CREATE TABLE t (x BIGINT NOT NULL)", &[])
                .await
                .expect("create");
            Scratch {
                db,
                table: ResourceTable::new(),
                path,
            }
        }

        fn ctx(&mut self) -> DbCtx<'_> {
            DbCtx {
                db: &self.db,
                table: &mut self.table,
            }
        }
    }

    async fn count(db: &Database) -> i64 {
        let rows = db
            .query("SELECT CAST(COUNT(*) AS BIGINT) FROM t", &[])
            .await
            .expect("count");
        match rows.rows[0][0] {
            Value::Int(n) => n,
            ref other => panic!("a count of {other:?}"),
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut name = self.path.clone().into_os_string();
                name.push(suffix);
                let _ = std::fs::remove_file(name);
            }
        }
    }

    /// The guest's borrow of a transaction it owns.
    fn borrow(tx: &Resource<Transaction>) -> Resource<Transaction> {
        Resource::new_borrow(tx.rep())
    }

    fn insert() -> (String, Vec<Value>) {
        ("INSERT INTO t (x) VALUES ($1)".into(), vec![Value::Int(7)])
    }

    #[tokio::test]
    async fn a_transaction_lives_in_the_table_until_committed_or_dropped() {
        let mut scratch = Scratch::new().await;
        let mut db = scratch.ctx();

        let dropped = db.begin().await.expect("call").expect("begin");
        let (sql, params) = insert();
        assert_eq!(
            HostTransaction::execute(&mut db, borrow(&dropped), sql, params)
                .await
                .expect("call")
                .ok(),
            Some(1)
        );
        HostTransaction::drop(&mut db, dropped).await.expect("drop");
        assert_eq!(count(db.db).await, 0, "dropped is rolled back");

        let kept = db.begin().await.expect("call").expect("begin");
        let (sql, params) = insert();
        HostTransaction::execute(&mut db, borrow(&kept), sql, params)
            .await
            .expect("call")
            .expect("insert");
        HostTransaction::commit(&mut db, borrow(&kept))
            .await
            .expect("call")
            .expect("commit");
        let again = HostTransaction::commit(&mut db, borrow(&kept))
            .await
            .expect("call");
        assert!(again.is_err(), "a second commit is refused");
        HostTransaction::drop(&mut db, kept).await.expect("drop");
        assert_eq!(count(db.db).await, 1);
        assert!(db.table.is_empty());
    }

    #[tokio::test]
    async fn errors_reach_the_component_by_kind() {
        let mut scratch = Scratch::new().await;
        let mut db = scratch.ctx();
        let err = Host::query(&mut db, "SELECT nope FROM t".into(), Vec::new())
            .await
            .expect("call")
            .expect_err("no such column");
        assert!(matches!(err.kind, Kind::Query), "{err:?}");
        let err = Host::execute(
            &mut db,
            "INSERT INTO t (x) VALUES (NULL)".into(),
            Vec::new(),
        )
        .await
        .expect("call")
        .expect_err("not null");
        assert!(matches!(err.kind, Kind::ConstraintViolation), "{err:?}");
    }
}
