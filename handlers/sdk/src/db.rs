//! The Core's database (PostgreSQL, or SQLite when embedded) through the host.
//!
//! SQL must run on both: `$1` placeholders, BIGINT epoch milliseconds, TEXT ids, `ON CONFLICT`,
//! `RETURNING`, `CAST(COUNT(*) AS BIGINT)`. Parameters convert with `.into()`:
//!
//! ```no_run
//! use nexuma_sdk::{db, ApiError};
//!
//! fn user_name(id: &str) -> Result<Option<String>, ApiError> {
//!     let rows = db::query("SELECT name FROM users WHERE id = $1", &[id.into()])?;
//!     let name = rows.first().map(|r| r.opt_string("name")).transpose()?.flatten();
//!     Ok(name)
//! }
//! ```
//!
//! Functions return the host's [`DbError`], which `?` turns into an [`ApiError`] (unique violation
//! → 409, unavailable → 503, else 500); match on `err.kind` first when a violation means something
//! specific (e.g. "email already taken").

use crate::bindings::nexuma::core::db as raw;
pub use crate::bindings::nexuma::core::db::{DbError, ErrorKind, Value};
use crate::ApiError;

/// Runs a query outside any transaction.
pub fn query(sql: &str, params: &[Value]) -> Result<Rows, DbError> {
    raw::query(sql, params).map(Rows::from)
}

/// Runs a statement outside any transaction; returns the number of rows it changed.
pub fn execute(sql: &str, params: &[Value]) -> Result<u64, DbError> {
    raw::execute(sql, params)
}

/// Starts a transaction.
pub fn begin() -> Result<Transaction, DbError> {
    raw::begin().map(|tx| Transaction(tx, std::cell::Cell::new(false)))
}

/// `SELECT CAST(COUNT(*) AS BIGINT) AS total ...` → the number.
pub fn count(db: &impl Executor, sql: &str, params: &[Value]) -> Result<i64, ApiError> {
    Ok(db
        .query(sql, params)?
        .first()
        .map(|row| row.i64("total"))
        .transpose()?
        .unwrap_or(0))
}

/// An operator setting (the `settings` table; values are JSON text).
pub fn setting(db: &impl Executor, key: &str) -> Result<Option<String>, ApiError> {
    db.query("SELECT value FROM settings WHERE key = $1", &[key.into()])?
        .first()
        .map(|row| row.string("value"))
        .transpose()
}

/// Stores an operator setting (JSON text), replacing what was there.
pub fn set_setting(db: &impl Executor, key: &str, value: &str, now: i64) -> Result<(), ApiError> {
    db.execute(
        "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        &[key.into(), value.into(), now.into()],
    )?;
    Ok(())
}

/// Something that runs SQL: [`Pool`] (each statement on its own) or a [`Transaction`]. Lets a
/// helper such as "load user by id" work inside and outside a transaction.
pub trait Executor {
    /// Runs a statement that returns rows (`SELECT`, or a write with `RETURNING`).
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError>;
    /// Runs a statement for its effect; the number of rows it touched.
    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError>;
    /// Says that what users are shown changed, so caches of it ([`crate::cache`]) must go:
    /// at once on the pool, after a successful commit in a transaction (never earlier, or a
    /// reader could cache the old rows under the new epoch).
    fn content_changed(&self);
}

/// The host's connection pool: every statement runs on its own (autocommit).
#[derive(Debug, Clone, Copy, Default)]
pub struct Pool;

impl Executor for Pool {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        query(sql, params)
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        execute(sql, params)
    }

    fn content_changed(&self) {
        crate::cache::invalidate();
    }
}

/// A database transaction. Dropping it without [`Transaction::commit`] rolls it back, so an early
/// `?` return undoes the work.
#[derive(Debug)]
pub struct Transaction(raw::Transaction, std::cell::Cell<bool>);

impl Transaction {
    /// Runs a statement that returns rows, inside the transaction.
    pub fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        self.0.query(sql, params).map(Rows::from)
    }

    /// Runs a statement for its effect inside the transaction; the number of rows it touched.
    pub fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        self.0.execute(sql, params)
    }

    /// Makes the transaction's writes visible, then moves the content epoch if
    /// [`Executor::content_changed`] was called on it.
    pub fn commit(self) -> Result<(), DbError> {
        self.0.commit()?;
        if self.1.get() {
            crate::cache::invalidate();
        }
        Ok(())
    }
}

impl Executor for Transaction {
    fn query(&self, sql: &str, params: &[Value]) -> Result<Rows, DbError> {
        Transaction::query(self, sql, params)
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, DbError> {
        Transaction::execute(self, sql, params)
    }

    fn content_changed(&self) {
        self.1.set(true);
    }
}

/// The result of a query: column names plus rows, read through [`Row`]'s typed accessors.
#[derive(Debug, Clone, Default)]
pub struct Rows {
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl From<raw::RowSet> for Rows {
    fn from(set: raw::RowSet) -> Self {
        Rows {
            columns: set.columns,
            rows: set.rows,
        }
    }
}

impl Rows {
    /// The column names, in the statement's order.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// How many rows came back.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row came back.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The row at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<Row<'_>> {
        self.rows.get(index).map(|values| Row {
            columns: &self.columns,
            values,
        })
    }

    /// The first row, if any (the usual "find by id").
    pub fn first(&self) -> Option<Row<'_>> {
        self.get(0)
    }

    /// Every row, in the order the database gave them.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(move |values| Row {
            columns: &self.columns,
            values,
        })
    }
}

/// One row. Accessors look a column up by name (case-insensitively: PostgreSQL folds unquoted
/// names to lower case) and check its type; a mismatch is a 500 that names the column, since it
/// means the SQL and the code disagree.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [Value],
}

impl<'a> Row<'a> {
    /// The raw value of `column`.
    pub fn get(&self, column: &str) -> Result<&'a Value, ApiError> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))
            .and_then(|i| self.values.get(i))
            .ok_or_else(|| ApiError::internal(format!("query result has no column `{column}`")))
    }

    /// A text column, borrowed; `NULL` or another type is a 500 naming the column.
    pub fn str(&self, column: &str) -> Result<&'a str, ApiError> {
        match self.get(column)? {
            Value::Text(s) => Ok(s),
            other => Err(mismatch(column, "text", other)),
        }
    }

    /// A nullable text column, borrowed (`NULL` → `None`).
    pub fn opt_str(&self, column: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(column)? {
            Value::Null => Ok(None),
            Value::Text(s) => Ok(Some(s)),
            other => Err(mismatch(column, "text or null", other)),
        }
    }

    /// A text column, owned.
    pub fn string(&self, column: &str) -> Result<String, ApiError> {
        self.str(column).map(str::to_string)
    }

    /// A nullable text column, owned (`NULL` → `None`).
    pub fn opt_string(&self, column: &str) -> Result<Option<String>, ApiError> {
        self.opt_str(column).map(|s| s.map(str::to_string))
    }

    /// An integer column (BIGINT: epoch milliseconds, counts, money in minor units).
    pub fn i64(&self, column: &str) -> Result<i64, ApiError> {
        match self.get(column)? {
            Value::Int(n) => Ok(*n),
            other => Err(mismatch(column, "int", other)),
        }
    }

    /// A nullable integer column (`NULL` → `None`).
    pub fn opt_i64(&self, column: &str) -> Result<Option<i64>, ApiError> {
        match self.get(column)? {
            Value::Null => Ok(None),
            Value::Int(n) => Ok(Some(*n)),
            other => Err(mismatch(column, "int or null", other)),
        }
    }

    /// A float; an int column is widened, since SQLite may store whole numbers as ints.
    pub fn f64(&self, column: &str) -> Result<f64, ApiError> {
        match self.get(column)? {
            Value::Float(x) => Ok(*x),
            Value::Int(n) => Ok(*n as f64),
            other => Err(mismatch(column, "float", other)),
        }
    }

    /// A nullable float column (`NULL` → `None`), widened from an int as [`Row::f64`].
    pub fn opt_f64(&self, column: &str) -> Result<Option<f64>, ApiError> {
        match self.get(column)? {
            Value::Null => Ok(None),
            _ => self.f64(column).map(Some),
        }
    }

    /// A boolean; accepts `boolean` (PostgreSQL) or an int 0/1 (SQLite stores booleans as ints).
    pub fn bool(&self, column: &str) -> Result<bool, ApiError> {
        match self.get(column)? {
            Value::Boolean(b) => Ok(*b),
            Value::Int(n) => Ok(*n != 0),
            other => Err(mismatch(column, "boolean", other)),
        }
    }

    /// A nullable boolean column (`NULL` → `None`), read as [`Row::bool`].
    pub fn opt_bool(&self, column: &str) -> Result<Option<bool>, ApiError> {
        match self.get(column)? {
            Value::Null => Ok(None),
            _ => self.bool(column).map(Some),
        }
    }

    /// A blob column, borrowed.
    pub fn bytes(&self, column: &str) -> Result<&'a [u8], ApiError> {
        match self.get(column)? {
            Value::Blob(b) => Ok(b),
            other => Err(mismatch(column, "blob", other)),
        }
    }
}

fn mismatch(column: &str, expected: &str, got: &Value) -> ApiError {
    let got = match got {
        Value::Null => "null",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        Value::Text(_) => "text",
        Value::Blob(_) => "blob",
        Value::Boolean(_) => "boolean",
    };
    ApiError::internal(format!("column `{column}`: expected {expected}, got {got}"))
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}

impl From<&String> for Value {
    fn from(s: &String) -> Self {
        Value::Text(s.clone())
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Self {
        Value::Int(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Int(n.into())
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Int(n.into())
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

/// Bound as a real `boolean`, never as 0/1, so PostgreSQL accepts it for BOOLEAN columns.
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Boolean(b)
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Self {
        Value::Blob(b)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Self {
        Value::Blob(b.to_vec())
    }
}

/// `None` binds SQL `NULL`.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}
