//! The balance ledger: `GET /me/balance*`, admin deposit, withdrawal and refund.
//!
//! Every movement is one transaction whose first statement is a write (so SQLite takes its write
//! lock at once and PostgreSQL locks the user's balance row): make sure the `balances` row
//! exists, check idempotency and refund limits, move the balance with a conditional update that
//! never lets it go below zero, then write the ledger row and the audit row.

use nexuma_sdk::db::{self, ErrorKind, Executor, Pool, Row, Transaction};
use nexuma_sdk::{clock, id, response, ApiError, Request, Response};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::audit::{self, Entry};
use crate::util;

/// The one currency of balances for now (tariffs carry their own `currency` already).
pub const DEFAULT_CURRENCY: &str = "RUB";
/// Largest single movement (10^15 minor units), far from BIGINT overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
pub const KEY_MAX: usize = 200;
pub const REASON_MAX: usize = 500;

const LEDGER_COLUMNS: &str = "id, user_id, kind, amount, balance_after, currency, reason, \
                              actor_id, reverses_id, idempotency_key, created_at";

#[derive(Serialize, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct LedgerEntry {
    id: String,
    user_id: String,
    kind: String,
    amount: i64,
    balance_after: i64,
    currency: String,
    reason: Option<String>,
    actor_id: Option<String>,
    reverses_id: Option<String>,
    idempotency_key: Option<String>,
    created_at: i64,
}

impl LedgerEntry {
    fn from_row(row: Row<'_>) -> Result<Self, ApiError> {
        Ok(LedgerEntry {
            id: row.string("id")?,
            user_id: row.string("user_id")?,
            kind: row.string("kind")?,
            amount: row.i64("amount")?,
            balance_after: row.i64("balance_after")?,
            currency: row.string("currency")?,
            reason: row.opt_string("reason")?,
            actor_id: row.opt_string("actor_id")?,
            reverses_id: row.opt_string("reverses_id")?,
            idempotency_key: row.opt_string("idempotency_key")?,
            created_at: row.i64("created_at")?,
        })
    }
}

fn balance_of(db: &impl Executor, user_id: &str) -> Result<i64, ApiError> {
    Ok(db
        .query(
            "SELECT amount FROM balances WHERE user_id = $1",
            &[user_id.into()],
        )?
        .first()
        .map(|row| row.i64("amount"))
        .transpose()?
        .unwrap_or(0))
}

fn balance_body(amount: i64) -> serde_json::Value {
    json!({ "amount": amount, "currency": DEFAULT_CURRENCY })
}

pub fn my_balance(req: &Request) -> Result<Response, ApiError> {
    let user = &req.caller()?.id;
    response::json(200, &balance_body(balance_of(&Pool, user)?))
}

fn user_exists(user_id: &str) -> Result<(), ApiError> {
    let found = !db::query("SELECT id FROM users WHERE id = $1", &[user_id.into()])?.is_empty();
    if found {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "user_not_found",
            format!("no user with id {user_id}"),
        ))
    }
}

pub fn user_balance(req: &Request) -> Result<Response, ApiError> {
    let user = req.param("id")?;
    user_exists(user)?;
    response::json(200, &balance_body(balance_of(&Pool, user)?))
}

#[derive(Serialize)]
struct Page {
    items: Vec<LedgerEntry>,
    total: i64,
    limit: i64,
    offset: i64,
}

pub fn my_transactions(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let (limit, offset) = req.paging()?;
    let total = util::count(
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM balance_ledger WHERE user_id = $1",
        &[user.into()],
    )?;
    let items = db::query(
        &format!(
            "SELECT {LEDGER_COLUMNS} FROM balance_ledger WHERE user_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ),
        &[user.into(), limit.into(), offset.into()],
    )?
    .iter()
    .map(LedgerEntry::from_row)
    .collect::<Result<Vec<_>, _>>()?;
    response::json(
        200,
        &Page {
            items,
            total,
            limit,
            offset,
        },
    )
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Movement {
    amount: i64,
    reason: Option<String>,
    idempotency_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefundBody {
    transaction_id: String,
    amount: Option<i64>,
    reason: Option<String>,
    idempotency_key: Option<String>,
}

fn amount(field: &str, value: i64) -> Result<i64, ApiError> {
    if (1..=MAX_AMOUNT).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::validation(
            field,
            format!("must be an integer from 1 to {MAX_AMOUNT} (minor units)"),
        ))
    }
}

fn reason(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let reason = raw.trim();
    if reason.chars().count() > REASON_MAX || reason.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "reason",
            format!("must be at most {REASON_MAX} characters, without control characters"),
        ));
    }
    Ok((!reason.is_empty()).then(|| reason.to_string()))
}

/// The `idempotency-key` header, else the body's `idempotencyKey`.
fn idempotency_key(req: &Request, body: Option<String>) -> Result<Option<String>, ApiError> {
    let raw = req.header("idempotency-key").map(str::to_string).or(body);
    let Some(raw) = raw else { return Ok(None) };
    let key = raw.trim();
    if key.is_empty() || key.len() > KEY_MAX || key.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "idempotencyKey",
            format!("must be 1 to {KEY_MAX} printable characters"),
        ));
    }
    Ok(Some(key.to_string()))
}

/// One balance movement to perform.
struct Move<'a> {
    user_id: &'a str,
    kind: &'static str,
    /// Signed: + in, - out.
    amount: i64,
    reason: Option<String>,
    reverses_id: Option<String>,
    key: Option<String>,
}

fn find_by_key(
    db: &impl Executor,
    user_id: &str,
    key: &str,
) -> Result<Option<LedgerEntry>, ApiError> {
    db.query(
        &format!("SELECT {LEDGER_COLUMNS} FROM balance_ledger WHERE user_id = $1 AND idempotency_key = $2"),
        &[user_id.into(), key.into()],
    )?
    .first()
    .map(LedgerEntry::from_row)
    .transpose()
}

/// A retried request answers the original transaction; a key reused for another request is 409.
fn replay(existing: LedgerEntry, mv: &Move<'_>) -> Result<Response, ApiError> {
    let same = existing.kind == mv.kind
        && (mv.reverses_id.is_none() || existing.reverses_id == mv.reverses_id)
        && (mv.amount == 0 || existing.amount == mv.amount);
    if !same {
        return Err(ApiError::conflict(
            "idempotency_conflict",
            "this idempotency key was already used for a different request",
        ));
    }
    response::json(200, &existing)
}

/// Runs a movement: `check` runs inside the transaction after the lock is taken and may fix the
/// amount (refunds); 0 rows from the conditional update is 402 `insufficient_funds`.
fn perform(
    req: &Request,
    mut mv: Move<'_>,
    action: &str,
    check: impl Fn(&Transaction, &mut Move<'_>) -> Result<(), ApiError>,
) -> Result<Response, ApiError> {
    let now = clock::now_ms();
    let tx = db::begin()?;
    // First statement a write: takes SQLite's write lock / PostgreSQL's row lock at once.
    tx.execute(
        "INSERT INTO balances (user_id, amount, updated_at) VALUES ($1, 0, $2) \
         ON CONFLICT (user_id) DO NOTHING",
        &[mv.user_id.into(), now.into()],
    )?;
    tx.execute(
        "UPDATE balances SET updated_at = updated_at WHERE user_id = $1",
        &[mv.user_id.into()],
    )?;
    if let Some(key) = &mv.key {
        if let Some(existing) = find_by_key(&tx, mv.user_id, key)? {
            drop(tx);
            return replay(existing, &mv);
        }
    }
    check(&tx, &mut mv)?;

    let updated = tx.query(
        "UPDATE balances SET amount = amount + $1, updated_at = $2 \
         WHERE user_id = $3 AND amount + $1 >= 0 RETURNING amount",
        &[mv.amount.into(), now.into(), mv.user_id.into()],
    )?;
    let Some(balance_after) = updated.first().map(|r| r.i64("amount")).transpose()? else {
        let balance = balance_of(&tx, mv.user_id)?;
        return Err(ApiError::new(
            402,
            "insufficient_funds",
            format!(
                "the balance is {balance} {DEFAULT_CURRENCY}, less than the {} requested",
                -mv.amount
            ),
        ));
    };
    let before = balance_after - mv.amount;
    let row = LedgerEntry {
        id: id::new_v4(),
        user_id: mv.user_id.to_string(),
        kind: mv.kind.to_string(),
        amount: mv.amount,
        balance_after,
        currency: DEFAULT_CURRENCY.to_string(),
        reason: mv.reason.clone(),
        actor_id: req.caller.as_ref().map(|c| c.id.clone()),
        reverses_id: mv.reverses_id.clone(),
        idempotency_key: mv.key.clone(),
        created_at: now,
    };
    let inserted = tx.execute(
        &format!("INSERT INTO balance_ledger ({LEDGER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"),
        &[
            row.id.as_str().into(),
            row.user_id.as_str().into(),
            row.kind.as_str().into(),
            row.amount.into(),
            row.balance_after.into(),
            row.currency.as_str().into(),
            row.reason.clone().into(),
            row.actor_id.clone().into(),
            row.reverses_id.clone().into(),
            row.idempotency_key.clone().into(),
            now.into(),
        ],
    );
    match inserted {
        Ok(_) => {}
        // A concurrent retry with the same key won the race: answer its row.
        Err(err) if err.kind == ErrorKind::UniqueViolation && mv.key.is_some() => {
            drop(tx);
            let key = mv.key.as_deref().unwrap_or_default();
            return match find_by_key(&Pool, mv.user_id, key)? {
                Some(existing) => replay(existing, &mv),
                None => Err(err.into()),
            };
        }
        Err(err) => return Err(err.into()),
    }
    audit::record(
        &tx,
        req,
        Entry {
            action,
            target_type: "user",
            target_id: mv.user_id,
            before: Some(json!({ "balance": before })),
            after: Some(json!({ "balance": balance_after, "transaction": row })),
        },
        now,
    )?;
    tx.commit()?;
    response::json(200, &row)
}

pub fn deposit(req: &Request) -> Result<Response, ApiError> {
    let user = req.param("id")?;
    let body: Movement = req.json()?;
    let value = amount("amount", body.amount)?;
    let mv = Move {
        user_id: user,
        kind: "deposit",
        amount: value,
        reason: reason(body.reason)?,
        reverses_id: None,
        key: idempotency_key(req, body.idempotency_key)?,
    };
    user_exists(user)?;
    perform(req, mv, "balance.deposit", |_, _| Ok(()))
}

pub fn withdraw(req: &Request) -> Result<Response, ApiError> {
    let user = req.param("id")?;
    let body: Movement = req.json()?;
    let value = amount("amount", body.amount)?;
    let mv = Move {
        user_id: user,
        kind: "withdrawal",
        amount: -value,
        reason: reason(body.reason)?,
        reverses_id: None,
        key: idempotency_key(req, body.idempotency_key)?,
    };
    user_exists(user)?;
    perform(req, mv, "balance.withdraw", |_, _| Ok(()))
}

/// Kinds that took money and so may be refunded.
const REFUNDABLE: [&str; 3] = ["charge", "renewal", "withdrawal"];

pub fn refund(req: &Request) -> Result<Response, ApiError> {
    let user = req.param("id")?;
    let body: RefundBody = req.json()?;
    let requested = body.amount.map(|a| amount("amount", a)).transpose()?;
    let target = body.transaction_id.trim().to_string();
    if target.is_empty() {
        return Err(ApiError::validation("transactionId", "must not be empty"));
    }
    let mv = Move {
        user_id: user,
        kind: "refund",
        // Filled in by the check, once the remaining refundable amount is known.
        amount: requested.unwrap_or(0),
        reason: reason(body.reason)?,
        reverses_id: Some(target.clone()),
        key: idempotency_key(req, body.idempotency_key)?,
    };
    user_exists(user)?;
    perform(req, mv, "balance.refund", move |tx, mv| {
        let original = tx
            .query(
                &format!(
                    "SELECT {LEDGER_COLUMNS} FROM balance_ledger WHERE id = $1 AND user_id = $2"
                ),
                &[target.as_str().into(), mv.user_id.into()],
            )?
            .first()
            .map(LedgerEntry::from_row)
            .transpose()?
            .ok_or_else(|| {
                ApiError::not_found(
                    "transaction_not_found",
                    format!("this user has no transaction with id {target}"),
                )
            })?;
        if !REFUNDABLE.contains(&original.kind.as_str()) {
            return Err(ApiError::bad_request(
                "not_refundable",
                format!(
                    "a {} cannot be refunded; only {}",
                    original.kind,
                    REFUNDABLE.join(", ")
                ),
            ));
        }
        let refunded = tx
            .query(
                "SELECT CAST(COALESCE(SUM(amount), 0) AS BIGINT) AS total FROM balance_ledger \
                 WHERE reverses_id = $1 AND kind = 'refund'",
                &[target.as_str().into()],
            )?
            .first()
            .map(|r| r.i64("total"))
            .transpose()?
            .unwrap_or(0);
        let remaining = -original.amount - refunded;
        let value = requested.unwrap_or(remaining);
        if value <= 0 || value > remaining {
            return Err(ApiError::bad_request(
                "refund_exceeds",
                format!(
                    "transaction {target} took {}, {refunded} of it is already refunded: at most {} can be refunded, not {value}",
                    -original.amount,
                    remaining.max(0)
                ),
            ));
        }
        mv.amount = value;
        Ok(())
    })
}
