//! `nexuma backup FILE` / `nexuma restore FILE`: the Core's tables as a portable JSON-lines file.
//!
//! Line 1 is a [`Header`]; then one [`Chunk`] per up to 500 rows (`CHUNK_ROWS`) of a table,
//! tables in foreign-key order; the last line is an [`End`] with the counts, so a truncated file is
//! refused. Values are typed as the WIT `db` values are, which makes a backup of either
//! backend restorable into the other. Only the database is saved: the key-value store holds
//! caches, counters and locks, nothing that must survive.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bindings::nexuma::core::db::Value;
use crate::iface::clock::now_ms;
use crate::iface::db::{Database, Transaction};

/// The file's format name and version; a reader refuses anything else.
pub const FORMAT: &str = "nexuma-backup";
/// The format version this binary writes and the only one it reads; bumped when the layout
/// changes.
pub const FORMAT_VERSION: u32 = 1;

/// Rows per line: bounds a line's size and an INSERT's parameter count.
const CHUNK_ROWS: usize = 500;
/// Parameters per INSERT, below both backends' limits (SQLite 32766, PostgreSQL 65535).
const MAX_PARAMS: usize = 8000;
/// sqlx's own bookkeeping: restore runs the migrations itself.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Why a backup or restore stopped; a restore runs in one transaction, so it leaves the
/// database as it was.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// A query failed, or the database could not be reached.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The backup file could not be created, read or written.
    #[error("{path}: {source}")]
    File {
        /// The backup file.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// A line does not parse as the record expected there, or the header names another format
    /// or version.
    #[error("{path}: line {line} is not a Nexuma backup record: {reason}")]
    Format {
        /// The backup file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What the parser or the header check said.
        reason: String,
    },
    /// The backup comes from a database migrated further than this binary knows.
    #[error(
        "the backup was made at migration {backup}, newer than this binary knows ({binary}): \
         restore it with a Nexuma at least as new as the one that made it"
    )]
    TooNew {
        /// The newest migration of the database the backup was taken from.
        backup: i64,
        /// The newest migration this binary ships.
        binary: i64,
    },
    /// Restore found rows in the target database: it only fills an empty one.
    #[error(
        "refusing to restore: the database is not empty (table {table} has rows). Restore only \
         goes into an empty database: point DATABASE_URL at a new one (or drop and create this \
         one) and run restore again"
    )]
    NotEmpty {
        /// The first table found with rows.
        table: String,
    },
    /// A chunk names a table the target database does not have.
    #[error("the backup has table {0}, which this database's schema lacks")]
    UnknownTable(String),
    /// A chunk names a column its table lacks in the target database.
    #[error("the backup has column {table}.{column}, which this database's schema lacks")]
    UnknownColumn {
        /// The table the chunk names.
        table: String,
        /// The column the target table lacks.
        column: String,
    },
    /// The file ends early, or its closing line's counts disagree with what was read.
    #[error("the backup is incomplete: {0}")]
    Incomplete(String),
}

/// The first line.
#[derive(Debug, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`]; tells a backup from any other JSON-lines file.
    pub format: String,
    /// The layout version, [`FORMAT_VERSION`] when written.
    pub version: u32,
    /// The backend it was taken from (`postgres` or `sqlite`); informational.
    pub backend: String,
    /// The newest migration applied to the database it was taken from.
    pub migration: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// Some rows of one table.
#[derive(Debug, Serialize, Deserialize)]
pub struct Chunk {
    /// The table the rows belong to.
    pub table: String,
    /// The column names, in the order each row lists its cells.
    pub columns: Vec<String>,
    /// The rows, each one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

/// The last line: what a complete file holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct End {
    /// Always `true`; tells the closing line from a chunk.
    pub end: bool,
    /// How many tables the file holds chunks for.
    pub tables: usize,
    /// How many rows the file holds in all.
    pub rows: usize,
}

/// One value, tagged with its WIT type (`{"int":1}`, `{"text":"a"}`, `"null"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cell {
    /// SQL `NULL`.
    Null,
    /// A 64-bit signed integer.
    Int(i64),
    /// A 64-bit float.
    Float(f64),
    /// UTF-8 text.
    Text(String),
    /// Raw bytes.
    Blob(Vec<u8>),
    /// A boolean.
    Bool(bool),
}

/// What a backup or restore moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How many tables were saved or filled.
    pub tables: usize,
    /// How many rows were saved or inserted, all tables together.
    pub rows: usize,
    /// The newest migration of the database saved, or of the backup restored.
    pub migration: i64,
}

impl From<Value> for Cell {
    fn from(v: Value) -> Self {
        match v {
            Value::Null => Cell::Null,
            Value::Int(i) => Cell::Int(i),
            Value::Float(f) => Cell::Float(f),
            Value::Text(t) => Cell::Text(t),
            Value::Blob(b) => Cell::Blob(b),
            Value::Boolean(b) => Cell::Bool(b),
        }
    }
}

impl Cell {
    /// The value to bind into a column of `kind`: booleans are integers on SQLite, so a
    /// SQLite backup's 0/1 goes into a PostgreSQL BOOLEAN column as a boolean and back.
    fn into_value(self, kind: ColumnKind) -> Value {
        match (self, kind) {
            (Cell::Int(i), ColumnKind::Boolean) => Value::Boolean(i != 0),
            (Cell::Bool(b), ColumnKind::Integer) => Value::Int(i64::from(b)),
            (Cell::Null, _) => Value::Null,
            (Cell::Int(i), _) => Value::Int(i),
            (Cell::Float(f), _) => Value::Float(f),
            (Cell::Text(t), _) => Value::Text(t),
            (Cell::Blob(b), _) => Value::Blob(b),
            (Cell::Bool(b), _) => Value::Boolean(b),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ColumnKind {
    Boolean,
    Integer,
    Other,
}

/// Writes a consistent snapshot of every table to `path` (created 0600: it holds password
/// hashes and node keys), through a temporary file so a failed run leaves no partial backup.
pub async fn backup(db: &Database, path: &Path) -> Result<Summary, BackupError> {
    let tmp = path.with_extension("partial");
    let file = create_private(&tmp).map_err(|source| file_error(&tmp, source))?;
    let mut out = BufWriter::new(file);
    let summary = write_snapshot(db, &mut out, &tmp).await;
    let finished = summary.and_then(|s| {
        out.flush().map_err(|e| file_error(&tmp, e))?;
        out.get_ref().sync_all().map_err(|e| file_error(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| file_error(path, e))?;
        Ok(s)
    });
    if finished.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    finished
}

/// Restores `path` into `db`, which must be migrated and empty; one transaction.
pub async fn restore(db: &Database, path: &Path) -> Result<Summary, BackupError> {
    let file = std::fs::File::open(path).map_err(|e| file_error(path, e))?;
    let mut lines = BufReader::new(file).lines().enumerate();
    let header: Header = next_record(&mut lines, path)?
        .ok_or_else(|| BackupError::Incomplete("the file is empty".into()))?;
    check_header(&header, db.latest_migration(), path)?;
    let mut tx = db.begin().await?;
    let tables = tables_in_order(&mut tx).await?;
    refuse_non_empty(&mut tx, &tables).await?;
    let mut kinds = BTreeMap::new();
    for table in &tables {
        kinds.insert(
            table.clone(),
            column_kinds(&mut tx, table).await?.into_map(),
        );
    }
    let (mut seen, mut rows) = (BTreeSet::new(), 0);
    loop {
        let Some((index, line)) = lines.next() else {
            return Err(BackupError::Incomplete(
                "it ends before its closing line".into(),
            ));
        };
        let line = line.map_err(|e| file_error(path, e))?;
        if let Ok(end) = serde_json::from_str::<End>(&line) {
            check_end(&end, seen.len(), rows)?;
            break;
        }
        let chunk: Chunk = parse(&line, index + 1, path)?;
        let table_kinds = kinds
            .get(&chunk.table)
            .ok_or_else(|| BackupError::UnknownTable(chunk.table.clone()))?;
        rows += insert_chunk(&mut tx, table_kinds, chunk.table.clone(), chunk).await?;
        seen.insert(index);
    }
    fix_sequences(&mut tx).await?;
    tx.commit().await?;
    Ok(Summary {
        tables: tables.len(),
        rows,
        migration: header.migration,
    })
}

async fn write_snapshot(
    db: &Database,
    out: &mut impl Write,
    path: &Path,
) -> Result<Summary, BackupError> {
    let mut tx = db.begin_snapshot().await?;
    let migration = applied_migration(&mut tx).await?;
    let header = Header {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        backend: db.backend().into(),
        migration,
        created_at: now_ms(),
    };
    write_line(out, &header, path)?;
    let tables = tables_in_order(&mut tx).await?;
    let (mut lines, mut rows) = (0, 0);
    for table in &tables {
        let columns: Vec<String> = column_kinds(&mut tx, table).await?.into_keys().collect();
        let set = tx
            .query(
                &format!("SELECT {} FROM {}", column_list(&columns), quote(table)),
                &[],
            )
            .await?;
        rows += set.rows.len();
        let mut cells = set
            .rows
            .into_iter()
            .map(|r| r.into_iter().map(Cell::from).collect::<Vec<_>>());
        loop {
            let chunk: Vec<Vec<Cell>> = cells.by_ref().take(CHUNK_ROWS).collect();
            if chunk.is_empty() {
                break;
            }
            lines += 1;
            let record = Chunk {
                table: table.clone(),
                columns: columns.clone(),
                rows: chunk,
            };
            write_line(out, &record, path)?;
        }
    }
    write_line(
        out,
        &End {
            end: true,
            tables: lines,
            rows,
        },
        path,
    )?;
    // Read-only: ending it either way releases the snapshot.
    tx.commit().await?;
    Ok(Summary {
        tables: tables.len(),
        rows,
        migration,
    })
}

fn check_header(header: &Header, binary: i64, path: &Path) -> Result<(), BackupError> {
    if header.format != FORMAT || header.version != FORMAT_VERSION {
        return Err(BackupError::Format {
            path: path.to_path_buf(),
            line: 1,
            reason: format!(
                "format {:?} version {}, expected {FORMAT:?} version {FORMAT_VERSION}",
                header.format, header.version
            ),
        });
    }
    if header.migration > binary {
        return Err(BackupError::TooNew {
            backup: header.migration,
            binary,
        });
    }
    Ok(())
}

/// `lines` and `rows` are what was read; the closing line says what was written.
fn check_end(end: &End, lines: usize, rows: usize) -> Result<(), BackupError> {
    if end.end && end.tables == lines && end.rows == rows {
        return Ok(());
    }
    Err(BackupError::Incomplete(format!(
        "it announces {} records and {} rows, it holds {lines} and {rows}",
        end.tables, end.rows
    )))
}

async fn refuse_non_empty(tx: &mut Transaction, tables: &[String]) -> Result<(), BackupError> {
    for table in tables {
        let set = tx
            .query(&format!("SELECT 1 FROM {} LIMIT 1", quote(table)), &[])
            .await?;
        if !set.rows.is_empty() {
            return Err(BackupError::NotEmpty {
                table: table.clone(),
            });
        }
    }
    Ok(())
}

/// Inserts one chunk with multi-row INSERTs; returns the rows written.
async fn insert_chunk(
    tx: &mut Transaction,
    kinds: &BTreeMap<String, ColumnKind>,
    table: String,
    chunk: Chunk,
) -> Result<usize, BackupError> {
    let mut column_kinds = Vec::with_capacity(chunk.columns.len());
    for column in &chunk.columns {
        let kind = kinds
            .get(column)
            .ok_or_else(|| BackupError::UnknownColumn {
                table: table.clone(),
                column: column.clone(),
            })?;
        column_kinds.push(*kind);
    }
    let width = chunk.columns.len().max(1);
    let per_statement = (MAX_PARAMS / width).max(1);
    let count = chunk.rows.len();
    let mut rows = chunk.rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Vec<Cell>> = rows.by_ref().take(per_statement).collect();
        let mut params = Vec::with_capacity(batch.len() * width);
        for row in batch.iter() {
            if row.len() != chunk.columns.len() {
                return Err(BackupError::Incomplete(format!(
                    "a row of {table} has {} values for {} columns",
                    row.len(),
                    chunk.columns.len()
                )));
            }
        }
        for row in batch.iter() {
            for (cell, kind) in row.iter().zip(&column_kinds) {
                params.push(cell.clone().into_value(*kind));
            }
        }
        let sql = insert_sql(&table, &chunk.columns, batch.len());
        tx.execute(&sql, &params).await?;
    }
    Ok(count)
}

/// `INSERT INTO "t" ("a","b") VALUES ($1,$2),($3,$4)`.
fn insert_sql(table: &str, columns: &[String], rows: usize) -> String {
    let width = columns.len();
    let tuples: Vec<String> = (0..rows)
        .map(|r| {
            let slots: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
            format!("({})", slots.join(","))
        })
        .collect();
    format!(
        "INSERT INTO {} ({}) VALUES {}",
        quote(table),
        column_list(columns),
        tuples.join(",")
    )
}

/// PostgreSQL's serial columns would hand out ids already restored: move each past its max.
/// SQLite's AUTOINCREMENT follows explicit ids by itself.
async fn fix_sequences(tx: &mut Transaction) -> Result<(), BackupError> {
    let Transaction::Postgres(_) = tx else {
        return Ok(());
    };
    let serials = tx
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() \
             AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')",
            &[],
        )
        .await?;
    for row in serials.rows {
        let [Value::Text(table), Value::Text(column)] = row.as_slice() else {
            continue;
        };
        let sql = format!(
            "SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX({col}), 0) + 1, false) \
             FROM {tbl}",
            col = quote(column),
            tbl = quote(table)
        );
        tx.query(
            &sql,
            &[Value::Text(quote(table)), Value::Text(column.clone())],
        )
        .await?;
    }
    Ok(())
}

/// The schema's tables read from the database (never a list in the source), referenced tables
/// before the tables that reference them; sqlx's own table left out.
async fn tables_in_order(tx: &mut Transaction) -> Result<Vec<String>, BackupError> {
    let (tables_sql, edges_sql) = match tx {
        Transaction::Postgres(_) => (
            "SELECT table_name::text FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
            "SELECT c.relname::text, p.relname::text FROM pg_constraint k \
             JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid \
             WHERE k.contype = 'f' AND c.relnamespace = \
             (SELECT oid FROM pg_namespace WHERE nspname = current_schema())",
        ),
        _ => (
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            "SELECT m.name, f.\"table\" FROM sqlite_master m, pragma_foreign_key_list(m.name) f \
             WHERE m.type = 'table'",
        ),
    };
    let tables: BTreeSet<String> = texts(tx.query(tables_sql, &[]).await?.rows)
        .into_iter()
        .filter_map(|mut r| r.pop())
        .filter(|t| t != MIGRATIONS_TABLE)
        .collect();
    let mut needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in texts(tx.query(edges_sql, &[]).await?.rows) {
        if let [from, to] = row.as_slice() {
            if from != to && tables.contains(to) {
                needs.entry(from.clone()).or_default().insert(to.clone());
            }
        }
    }
    Ok(dependency_order(tables, &needs))
}

/// Tables whose references are all placed come next, by name for a stable file; a cycle
/// (none in the schema today) falls back to name order for what is left.
fn dependency_order(
    mut left: BTreeSet<String>,
    needs: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut order: Vec<String> = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let ready: Vec<String> = left
            .iter()
            .filter(|t| {
                needs
                    .get(*t)
                    .is_none_or(|deps| deps.iter().all(|d| !left.contains(d)))
            })
            .cloned()
            .collect();
        let next = if ready.is_empty() {
            left.iter().cloned().collect()
        } else {
            ready
        };
        for t in next {
            left.remove(&t);
            order.push(t);
        }
    }
    order
}

/// Column name → kind, in the table's column order.
async fn column_kinds(
    tx: &mut Transaction,
    table: &str,
) -> Result<indexmap_lite::Ordered, BackupError> {
    let (sql, param) = match tx {
        Transaction::Postgres(_) => (
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            Value::Text(table.into()),
        ),
        _ => (
            "SELECT name, type FROM pragma_table_info($1) ORDER BY cid",
            Value::Text(table.into()),
        ),
    };
    let mut out = indexmap_lite::Ordered::default();
    for row in texts(tx.query(sql, &[param]).await?.rows) {
        if let [name, type_name] = row.as_slice() {
            out.push(name.clone(), kind_of(type_name));
        }
    }
    Ok(out)
}

fn kind_of(type_name: &str) -> ColumnKind {
    let t = type_name.to_ascii_lowercase();
    if t.starts_with("bool") {
        ColumnKind::Boolean
    } else if t.contains("int") {
        ColumnKind::Integer
    } else {
        ColumnKind::Other
    }
}

/// A column list in the table's order that also answers lookups by name.
mod indexmap_lite {
    use std::collections::BTreeMap;

    use super::ColumnKind;

    #[derive(Default)]
    pub struct Ordered {
        names: Vec<String>,
        kinds: BTreeMap<String, ColumnKind>,
    }

    impl Ordered {
        pub fn push(&mut self, name: String, kind: ColumnKind) {
            self.kinds.insert(name.clone(), kind);
            self.names.push(name);
        }
        pub fn into_keys(self) -> std::vec::IntoIter<String> {
            self.names.into_iter()
        }
        pub fn into_map(self) -> BTreeMap<String, ColumnKind> {
            self.kinds
        }
    }
}

async fn applied_migration(tx: &mut Transaction) -> Result<i64, BackupError> {
    let set = tx
        .query(
            "SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success",
            &[],
        )
        .await?;
    match set.rows.first().and_then(|r| r.first()) {
        Some(Value::Int(v)) => Ok(*v),
        _ => Ok(0),
    }
}

/// Rows of TEXT values only (catalog queries); anything else is skipped.
fn texts(rows: Vec<Vec<Value>>) -> Vec<Vec<String>> {
    rows.into_iter()
        .map(|r| {
            r.into_iter()
                .filter_map(|v| match v {
                    Value::Text(t) => Some(t),
                    _ => None,
                })
                .collect()
        })
        .collect()
}

/// A double-quoted identifier; names come from the catalog, quotes are doubled anyway.
fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(",")
}

fn next_record<T: for<'de> Deserialize<'de>>(
    lines: &mut impl Iterator<Item = (usize, std::io::Result<String>)>,
    path: &Path,
) -> Result<Option<T>, BackupError> {
    match lines.next() {
        None => Ok(None),
        Some((index, line)) => {
            let line = line.map_err(|e| file_error(path, e))?;
            parse(&line, index + 1, path).map(Some)
        }
    }
}

fn parse<T: for<'de> Deserialize<'de>>(
    line: &str,
    number: usize,
    path: &Path,
) -> Result<T, BackupError> {
    serde_json::from_str(line).map_err(|e| BackupError::Format {
        path: path.to_path_buf(),
        line: number,
        reason: e.to_string(),
    })
}

fn write_line(
    out: &mut impl Write,
    record: &impl Serialize,
    path: &Path,
) -> Result<(), BackupError> {
    serde_json::to_writer(&mut *out, record)
        .map_err(|e| file_error(path, std::io::Error::other(e)))?;
    out.write_all(b"\n").map_err(|e| file_error(path, e))
}

fn create_private(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

fn file_error(path: &Path, source: std::io::Error) -> BackupError {
    BackupError::File {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referenced_tables_come_first() {
        let tables: BTreeSet<String> = ["a_links", "b_subs", "users", "tariffs"]
            .map(String::from)
            .into();
        let mut needs: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        needs.insert("a_links".into(), ["b_subs".into(), "users".into()].into());
        needs.insert("b_subs".into(), ["users".into(), "tariffs".into()].into());
        let order = dependency_order(tables, &needs);
        let at = |t: &str| order.iter().position(|x| x == t).expect("placed");
        assert!(at("users") < at("b_subs") && at("tariffs") < at("b_subs"));
        assert!(at("b_subs") < at("a_links"));
    }

    #[test]
    fn sqlite_integers_go_into_boolean_columns_as_booleans() {
        assert!(matches!(
            Cell::Int(1).into_value(ColumnKind::Boolean),
            Value::Boolean(true)
        ));
        assert!(matches!(
            Cell::Bool(true).into_value(ColumnKind::Integer),
            Value::Int(1)
        ));
        let line = serde_json::to_string(&vec![Cell::Null, Cell::Int(3), Cell::Bool(false)])
            .expect("json");
        assert_eq!(line, r#"["null",{"int":3},{"bool":false}]"#);
    }
}
