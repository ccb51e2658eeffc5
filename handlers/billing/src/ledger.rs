//! The balance ledger: every balance change is one `balance_ledger` row moved together with
//! `balances.amount`, inside the caller's transaction.
//!
//! A movement starts with [`lock`] (the transaction's first statements are writes, so SQLite
//! takes its write lock at once and PostgreSQL locks the user's balance row); [`post`] then moves
//! the balance with a conditional update that never lets it go below zero and writes the row.
//! Whoever holds the lock sees every earlier movement of that user, which is what makes
//! idempotency checks and refund limits exact under concurrency.

use nexuma_sdk::db::{Executor, Row, Transaction};
use nexuma_sdk::notify::{self, format, Event};
use nexuma_sdk::{id, ApiError};
use schemars::JsonSchema;
use serde::Serialize;

pub use nexuma_sdk::money::CURRENCY;

/// The largest sum of money the API takes in any one field (a deposit, a withdrawal, a refund, a
/// tariff's price): 10^15 minor units — beyond any real figure, and so far below BIGINT's
/// 9.2·10^18 that no sum the ledger or a report computes can overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;
/// The largest balance: a credit that would take a balance past it is refused (409), so a
/// balance plus any one movement always fits in a BIGINT.
pub const MAX_BALANCE: i64 = 1_000_000_000_000_000;

const COLUMNS: &str = "id, user_id, kind, amount, balance_after, currency, reason, actor_id, \
                       reverses_id, idempotency_key, subscription_id, seq, created_at";

/// Kinds that took money and so may be refunded.
pub const REFUNDABLE: [&str; 3] = ["charge", "renewal", "withdrawal"];

/// Every kind of movement the ledger records.
pub const KINDS: [&str; 5] = ["deposit", "withdrawal", "charge", "refund", "renewal"];

/// One balance movement as the API answers it (its JSON Schema is derived from this type).
#[derive(Serialize, Clone, PartialEq, Debug, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    pub user_id: String,
    #[schemars(extend("enum" = KINDS))]
    pub kind: String,
    /// Signed minor units: + in, - out.
    pub amount: i64,
    pub balance_after: i64,
    pub currency: String,
    pub reason: Option<String>,
    pub actor_id: Option<String>,
    /// The transaction a refund reverses.
    pub reverses_id: Option<String>,
    pub idempotency_key: Option<String>,
    /// The subscription it paid for or refunded.
    pub subscription_id: Option<String>,
    #[serde(skip)]
    pub seq: i64,
    /// Epoch milliseconds.
    pub created_at: i64,
}

impl Entry {
    fn from_row(row: Row<'_>) -> Result<Self, ApiError> {
        Ok(Entry {
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
            subscription_id: row.opt_string("subscription_id")?,
            seq: row.i64("seq")?,
            created_at: row.i64("created_at")?,
        })
    }
}

/// One balance movement.
pub struct Move<'a> {
    pub user_id: &'a str,
    /// `deposit`, `withdrawal`, `charge`, `refund` or `renewal`.
    pub kind: &'static str,
    /// Signed: + in, - out.
    pub amount: i64,
    pub reason: Option<String>,
    pub reverses_id: Option<String>,
    pub key: Option<String>,
    pub subscription_id: Option<String>,
    /// Who moved it; `None` for the Core itself (renewals).
    pub actor_id: Option<String>,
}

/// Why a movement was not made (nothing was written), with the balance it found.
#[derive(Debug)]
pub enum Refusal {
    /// A debit the balance cannot cover.
    Short { balance: i64 },
    /// A credit that would take the balance past [`MAX_BALANCE`].
    Full { balance: i64 },
}

impl Refusal {
    /// The answer for a movement of `amount` (its size) described by `what`: 402
    /// `insufficient_funds` when short, 409 `balance_limit` when full.
    pub fn error(&self, amount: i64, what: &str) -> ApiError {
        match self {
            Refusal::Short { balance } => ApiError::new(
                402,
                "insufficient_funds",
                format!("the balance is {balance} {CURRENCY}, less than the {amount} {what}"),
            ),
            Refusal::Full { balance } => ApiError::conflict(
                "balance_limit",
                format!(
                    "the balance is {balance} {CURRENCY}; {amount} more ({what}) would take it \
                     past the maximum of {MAX_BALANCE} (minor units)"
                ),
            ),
        }
    }
}

/// `value` as a sum of money in `min..=MAX_AMOUNT` minor units; else 400 naming `field`.
pub fn amount(field: &str, value: i64, min: i64) -> Result<i64, ApiError> {
    if (min..=MAX_AMOUNT).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::validation(
            field,
            format!("must be an integer from {min} to {MAX_AMOUNT} (minor units)"),
        ))
    }
}

/// Takes the user's balance lock for the rest of `tx` (creating the row when missing).
pub fn lock(tx: &Transaction, user_id: &str, now: i64) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO balances (user_id, amount, updated_at) VALUES ($1, 0, $2) \
         ON CONFLICT (user_id) DO NOTHING",
        &[user_id.into(), now.into()],
    )?;
    tx.execute(
        "UPDATE balances SET updated_at = updated_at WHERE user_id = $1",
        &[user_id.into()],
    )?;
    Ok(())
}

/// The user's balance (0 without a row).
pub fn balance(db: &impl Executor, user_id: &str) -> Result<i64, ApiError> {
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

/// Moves the balance and writes the ledger row; the caller holds [`lock`]. `Ok(Err(_))` when the
/// balance cannot cover a debit or has no room for a credit (nothing was written).
pub fn post(tx: &Transaction, mv: &Move<'_>, now: i64) -> Result<Result<Entry, Refusal>, ApiError> {
    let Some((balance_after, seq)) = apply(tx, mv, now)? else {
        let balance = balance(tx, mv.user_id)?;
        return Ok(Err(if mv.amount < 0 {
            Refusal::Short { balance }
        } else {
            Refusal::Full { balance }
        }));
    };
    let entry = Entry {
        id: id::new_v4(),
        user_id: mv.user_id.to_string(),
        kind: mv.kind.to_string(),
        amount: mv.amount,
        balance_after,
        currency: CURRENCY.to_string(),
        reason: mv.reason.clone(),
        actor_id: mv.actor_id.clone(),
        reverses_id: mv.reverses_id.clone(),
        idempotency_key: mv.key.clone(),
        subscription_id: mv.subscription_id.clone(),
        seq,
        created_at: now,
    };
    tx.execute(
        &format!(
            "INSERT INTO balance_ledger ({COLUMNS}) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ),
        &[
            entry.id.as_str().into(),
            entry.user_id.as_str().into(),
            entry.kind.as_str().into(),
            entry.amount.into(),
            entry.balance_after.into(),
            entry.currency.as_str().into(),
            entry.reason.clone().into(),
            entry.actor_id.clone().into(),
            entry.reverses_id.clone().into(),
            entry.idempotency_key.clone().into(),
            entry.subscription_id.clone().into(),
            entry.seq.into(),
            now.into(),
        ],
    )?;
    tell(tx, &entry, now)?;
    Ok(Ok(entry))
}

/// Tells the user of money that came in: a deposit or a refund (an admin's, or a cancellation's).
fn tell(tx: &Transaction, entry: &Entry, now: i64) -> Result<(), ApiError> {
    let kind = match entry.kind.as_str() {
        "deposit" => notify::names::BALANCE_DEPOSIT,
        "refund" => notify::names::BALANCE_REFUND,
        _ => return Ok(()),
    };
    let event = Event::new(kind, &entry.id)
        .param("amount", format::money(entry.amount, &entry.currency))
        .param(
            "balance",
            format::money(entry.balance_after, &entry.currency),
        )
        .param("reason", entry.reason.clone().unwrap_or_default());
    notify::user(tx, &entry.user_id, &event, now)
}

/// Moves the balance by `mv.amount` when the result stays within `0..=MAX_BALANCE`: the new
/// balance and the user's next `seq`; `None` when it would not (nothing written).
fn apply(tx: &Transaction, mv: &Move<'_>, now: i64) -> Result<Option<(i64, i64)>, ApiError> {
    // Routes bound what they take; a figure stored before the bounds (a tariff's price) stops
    // here, so the SQL never computes past BIGINT. It could not fit anyway: no balance holds
    // more than MAX_BALANCE, which is MAX_AMOUNT.
    if mv.amount.unsigned_abs() > MAX_AMOUNT.unsigned_abs() {
        return Ok(None);
    }
    let (low, high) = allowed_before(mv.amount);
    let updated = tx.query(
        "UPDATE balances SET amount = amount + $1, seq = seq + 1, updated_at = $2 \
         WHERE user_id = $3 AND amount >= $4 AND amount <= $5 RETURNING amount, seq",
        &[
            mv.amount.into(),
            now.into(),
            mv.user_id.into(),
            low.into(),
            high.into(),
        ],
    )?;
    updated
        .first()
        .map(|row| Ok((row.i64("amount")?, row.i64("seq")?)))
        .transpose()
}

/// The balances from which a movement of `amount` (within ±MAX_AMOUNT) may be made: it must not
/// go below zero, and a credit must not take it past MAX_BALANCE. Bounds on the balance *before*,
/// so the database compares and never adds past BIGINT; a debit is never held back by the
/// ceiling (it only brings a balance down).
fn allowed_before(amount: i64) -> (i64, i64) {
    let high = if amount > 0 {
        MAX_BALANCE - amount
    } else {
        i64::MAX
    };
    (-amount, high)
}

/// The user's row with this idempotency key, if any.
pub fn find_by_key(
    db: &impl Executor,
    user_id: &str,
    key: &str,
) -> Result<Option<Entry>, ApiError> {
    db.query(
        &format!(
            "SELECT {COLUMNS} FROM balance_ledger WHERE user_id = $1 AND idempotency_key = $2"
        ),
        &[user_id.into(), key.into()],
    )?
    .first()
    .map(Entry::from_row)
    .transpose()
}

/// A page of the user's rows, newest first.
pub fn page(
    db: &impl Executor,
    user_id: &str,
    limit: i64,
    offset: i64,
) -> Result<Vec<Entry>, ApiError> {
    db.query(
        &format!(
            "SELECT {COLUMNS} FROM balance_ledger WHERE user_id = $1 \
             ORDER BY seq DESC, created_at DESC, id DESC LIMIT $2 OFFSET $3"
        ),
        &[user_id.into(), limit.into(), offset.into()],
    )?
    .iter()
    .map(Entry::from_row)
    .collect()
}

/// What a transaction took and how much of it may still be refunded.
pub struct Refundable {
    pub taken: i64,
    pub remaining: i64,
}

/// How much of the user's transaction `target` may still be refunded. 404 when the user has no
/// such transaction, 400 when its kind took no money. The caller holds [`lock`].
pub fn refundable(tx: &Transaction, user_id: &str, target: &str) -> Result<Refundable, ApiError> {
    let original = tx
        .query(
            &format!("SELECT {COLUMNS} FROM balance_ledger WHERE id = $1 AND user_id = $2"),
            &[target.into(), user_id.into()],
        )?
        .first()
        .map(Entry::from_row)
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
            &[target.into()],
        )?
        .first()
        .map(|r| r.i64("total"))
        .transpose()?
        .unwrap_or(0);
    Ok(Refundable {
        taken: -original.amount,
        remaining: (-original.amount - refunded).max(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_balance_stays_within_zero_and_the_maximum() {
        // A debit of 100 needs 100 there and has no ceiling.
        assert_eq!(allowed_before(-100), (100, i64::MAX));
        // A credit of 100 may start from anything up to 100 below the maximum.
        assert_eq!(allowed_before(100), (-100, MAX_BALANCE - 100));
        assert_eq!(allowed_before(MAX_AMOUNT), (-MAX_AMOUNT, 0));
        assert_eq!(allowed_before(-MAX_AMOUNT), (MAX_AMOUNT, i64::MAX));
    }

    #[test]
    fn amounts_are_bounded_and_named() {
        assert_eq!(amount("price", 0, 0).ok(), Some(0));
        assert_eq!(amount("amount", MAX_AMOUNT, 1).ok(), Some(MAX_AMOUNT));
        for (value, min) in [(0, 1), (-1, 0), (MAX_AMOUNT + 1, 1), (i64::MAX, 0)] {
            let err = amount("price", value, min).expect_err("out of range");
            assert_eq!((err.status, err.field.as_deref()), (400, Some("price")));
        }
    }

    #[test]
    fn refusals_say_which_side() {
        let short = Refusal::Short { balance: 5 }.error(10, "requested");
        assert_eq!(
            (short.status, short.code.as_str()),
            (402, "insufficient_funds")
        );
        let full = Refusal::Full {
            balance: MAX_BALANCE,
        }
        .error(1, "requested");
        assert_eq!((full.status, full.code.as_str()), (409, "balance_limit"));
        assert!(full.message.contains("maximum"), "{}", full.message);
    }
}
