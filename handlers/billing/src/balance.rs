//! Balance routes: `GET /me/balance*` and the admin's deposit, withdrawal and refund. The
//! movements themselves are [`crate::ledger`]'s.

use nexuma_sdk::db::{self, Pool};
use nexuma_sdk::record::{self, Actor, Entry};
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::ledger::{self, amount, Move, CURRENCY, MAX_AMOUNT};
use crate::text;

pub const KEY_MAX: usize = 200;
pub const REASON_MAX: usize = 500;

/// A balance as the API answers it (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
pub struct Balance {
    /// Minor units.
    #[schemars(range(min = 0, max = ledger::MAX_BALANCE))]
    amount: i64,
    #[schemars(extend("enum" = [CURRENCY]))]
    currency: &'static str,
}

fn balance_body(amount: i64) -> Balance {
    Balance {
        amount,
        currency: CURRENCY,
    }
}

pub fn my_balance(req: &Request) -> Result<Response, ApiError> {
    let user = &req.caller()?.id;
    response::json(200, &balance_body(ledger::balance(&Pool, user)?))
}

pub fn user_exists(user_id: &str) -> Result<(), ApiError> {
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
    response::json(200, &balance_body(ledger::balance(&Pool, user)?))
}

pub fn my_transactions(req: &Request) -> Result<Response, ApiError> {
    transactions_of(req, req.caller()?.id.as_str())
}

/// `GET /admin/users/:id/balance/transactions`: what `/me/balance/transactions` shows the user,
/// for an admin (the ids a refund names).
pub fn user_transactions(req: &Request) -> Result<Response, ApiError> {
    let user = req.param("id")?;
    user_exists(user)?;
    transactions_of(req, user)
}

/// A page of `user`'s ledger, newest first.
fn transactions_of(req: &Request, user: &str) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let total = db::count(
        &Pool,
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM balance_ledger WHERE user_id = $1",
        &[user.into()],
    )?;
    let items = ledger::page(&Pool, user, limit, offset)?;
    response::page(&items, total, limit, offset)
}

/// A deposit or a withdrawal (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Movement {
    /// Minor units.
    #[schemars(range(min = 1, max = MAX_AMOUNT))]
    amount: i64,
    #[schemars(length(max = REASON_MAX), regex(pattern = text::TEXT))]
    reason: Option<String>,
    /// A retry with the same key answers the first result and changes nothing (the
    /// `idempotency-key` header wins).
    #[schemars(length(min = 1, max = KEY_MAX), regex(pattern = text::FILLED))]
    idempotency_key: Option<String>,
}

/// A refund of one transaction (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundBody {
    transaction_id: String,
    /// Minor units; absent or null: all that is not yet refunded.
    #[schemars(range(min = 1, max = MAX_AMOUNT))]
    amount: Option<i64>,
    #[schemars(length(max = REASON_MAX), regex(pattern = text::TEXT))]
    reason: Option<String>,
    /// As for a movement.
    #[schemars(length(min = 1, max = KEY_MAX), regex(pattern = text::FILLED))]
    idempotency_key: Option<String>,
}

pub fn reason(raw: Option<String>) -> Result<Option<String>, ApiError> {
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
pub fn idempotency_key(req: &Request, body: Option<String>) -> Result<Option<String>, ApiError> {
    let raw = req.header("idempotency-key").map(str::to_string).or(body);
    let Some(raw) = raw else { return Ok(None) };
    let key = raw.trim();
    if key.is_empty() || key.chars().count() > KEY_MAX || key.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "idempotencyKey",
            format!("must be 1 to {KEY_MAX} printable characters"),
        ));
    }
    Ok(Some(key.to_string()))
}

/// A retried request answers the original transaction; a key reused for another request is 409.
fn replay(existing: ledger::Entry, mv: &Move<'_>) -> Result<Response, ApiError> {
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

/// Runs an admin's movement: `check` runs under the balance lock and may fix the amount
/// (refunds); a short balance is 402 `insufficient_funds`.
fn perform(
    req: &Request,
    mut mv: Move<'_>,
    action: &str,
    check: impl Fn(&db::Transaction, &mut Move<'_>) -> Result<(), ApiError>,
) -> Result<Response, ApiError> {
    let now = clock::now_ms();
    let tx = db::begin()?;
    ledger::lock(&tx, mv.user_id, now)?;
    if let Some(key) = &mv.key {
        if let Some(existing) = ledger::find_by_key(&tx, mv.user_id, key)? {
            drop(tx);
            return replay(existing, &mv);
        }
    }
    check(&tx, &mut mv)?;
    let row = match ledger::post(&tx, &mv, now) {
        Ok(Ok(row)) => row,
        Ok(Err(refusal)) => return Err(refusal.error(mv.amount.abs(), "requested")),
        // A concurrent retry with the same key won the race: answer its row.
        Err(err) if err.status == 409 && mv.key.is_some() => {
            drop(tx);
            let key = mv.key.as_deref().unwrap_or_default();
            return match ledger::find_by_key(&Pool, mv.user_id, key)? {
                Some(existing) => replay(existing, &mv),
                None => Err(err),
            };
        }
        Err(err) => return Err(err),
    };
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action,
            target_type: "user",
            target_id: mv.user_id,
            before: Some(json!({ "balance": row.balance_after - row.amount })),
            after: Some(json!({ "balance": row.balance_after, "transaction": row })),
        },
        now,
    )?;
    tx.commit()?;
    response::json(200, &row)
}

fn admin_move<'a>(
    req: &'a Request,
    kind: &'static str,
    amount: i64,
    reason: Option<String>,
    reverses_id: Option<String>,
    key: Option<String>,
) -> Result<Move<'a>, ApiError> {
    Ok(Move {
        user_id: req.param("id")?,
        kind,
        amount,
        reason: self::reason(reason)?,
        reverses_id,
        key: idempotency_key(req, key)?,
        subscription_id: None,
        actor_id: req.caller.as_ref().map(|c| c.id.clone()),
    })
}

pub fn deposit(req: &Request) -> Result<Response, ApiError> {
    let body: Movement = req.json()?;
    let value = amount("amount", body.amount, 1)?;
    let mv = admin_move(
        req,
        "deposit",
        value,
        body.reason,
        None,
        body.idempotency_key,
    )?;
    user_exists(mv.user_id)?;
    perform(req, mv, "balance.deposit", |_, _| Ok(()))
}

pub fn withdraw(req: &Request) -> Result<Response, ApiError> {
    let body: Movement = req.json()?;
    let value = amount("amount", body.amount, 1)?;
    let mv = admin_move(
        req,
        "withdrawal",
        -value,
        body.reason,
        None,
        body.idempotency_key,
    )?;
    user_exists(mv.user_id)?;
    perform(req, mv, "balance.withdraw", |_, _| Ok(()))
}

pub fn refund(req: &Request) -> Result<Response, ApiError> {
    let body: RefundBody = req.json()?;
    let requested = body.amount.map(|a| amount("amount", a, 1)).transpose()?;
    let target = body.transaction_id.trim().to_string();
    if target.is_empty() {
        return Err(ApiError::validation("transactionId", "must not be empty"));
    }
    // The amount is filled in by the check, once the refundable rest is known.
    let mv = admin_move(
        req,
        "refund",
        requested.unwrap_or(0),
        body.reason,
        Some(target.clone()),
        body.idempotency_key,
    )?;
    user_exists(mv.user_id)?;
    perform(req, mv, "balance.refund", move |tx, mv| {
        let left = ledger::refundable(tx, mv.user_id, &target)?;
        mv.amount = bounded_refund(&target, requested, left.remaining)?;
        Ok(())
    })
}

/// The refund to make: `requested`, or all of `remaining` by default; never more than it.
fn bounded_refund(target: &str, requested: Option<i64>, remaining: i64) -> Result<i64, ApiError> {
    let value = requested.unwrap_or(remaining);
    if value <= 0 || value > remaining {
        return Err(ApiError::bad_request(
            "refund_exceeds",
            format!(
                "at most {remaining} of transaction {target} can still be refunded, not {value}"
            ),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    /// The derived schemas say what the movement routes take and answer: the amount's bounds,
    /// optional reason and key, every ledger kind, an answer's `null`s.
    #[test]
    fn the_derived_schemas_say_what_movements_take() {
        let movement = nexuma_sdk::schema_of::<Movement>();
        assert_eq!(movement["required"], json!(["amount"]));
        assert_eq!(movement["properties"]["amount"]["minimum"], 1);
        assert_eq!(movement["properties"]["amount"]["maximum"], MAX_AMOUNT);
        assert_eq!(
            movement["properties"]["reason"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            movement["properties"]["reason"]["pattern"],
            crate::text::TEXT
        );
        assert_eq!(
            movement["properties"]["idempotencyKey"]["pattern"],
            crate::text::FILLED
        );
        let refund = nexuma_sdk::schema_of::<RefundBody>();
        assert_eq!(refund["required"], json!(["transactionId"]));
        let entry = nexuma_sdk::answer_schema_of::<ledger::Entry>();
        assert_eq!(entry["properties"]["kind"]["enum"], json!(ledger::KINDS));
        let required = entry["required"].as_array().map(Vec::len);
        assert_eq!(
            required,
            Some(12),
            "every field but the internal seq: {entry}"
        );
        assert!(entry["properties"].get("seq").is_none());
    }

    #[test]
    fn a_balance_is_answered_as_its_schema_says() {
        let schema = nexuma_sdk::answer_schema_of::<Balance>();
        assert_eq!(schema["required"], json!(["amount", "currency"]));
        assert_eq!(schema["properties"]["amount"]["minimum"], 0);
        assert_eq!(
            schema["properties"]["amount"]["maximum"],
            ledger::MAX_BALANCE
        );
        assert_eq!(schema["properties"]["currency"]["enum"], json!([CURRENCY]));
        assert_eq!(
            serde_json::to_value(balance_body(5)).ok(),
            Some(json!({ "amount": 5, "currency": CURRENCY }))
        );
    }

    #[test]
    fn keys_are_counted_in_characters_as_the_schema_counts() {
        let req = nexuma_sdk::Request::with_query(&[]);
        assert!(idempotency_key(&req, Some("é".repeat(KEY_MAX))).is_ok());
        assert!(idempotency_key(&req, Some("é".repeat(KEY_MAX + 1))).is_err());
    }

    /// Each pattern matches exactly what the handlers' checks take, around every character of
    /// the first planes (where every control and white-space character is).
    #[test]
    fn the_patterns_take_what_the_checks_take() {
        let text_re = regex_lite::Regex::new(text::TEXT).expect("TEXT");
        let filled_re = regex_lite::Regex::new(text::FILLED).expect("FILLED");
        let req = nexuma_sdk::Request::with_query(&[]);
        let chars = (0..0x3100u32)
            .chain([0xFEFF, 0x1F600])
            .filter_map(char::from_u32);
        for c in chars {
            for sample in [
                c.to_string(),
                format!("a{c}"),
                format!("{c}a"),
                format!("a{c}b"),
                format!(" {c} "),
            ] {
                let reason_taken = reason(Some(sample.clone())).is_ok();
                assert_eq!(text_re.is_match(&sample), reason_taken, "TEXT {sample:?}");
                let key_taken = idempotency_key(&req, Some(sample.clone())).is_ok();
                assert_eq!(filled_re.is_match(&sample), key_taken, "FILLED {sample:?}");
            }
        }
    }
}
