//! What billing tells users on Telegram, written in the transaction of the change (SDK
//! `notify`): a renewal charged or refused for lack of money, a subscription's end. Deposits and
//! refunds are told by [`crate::ledger`], where every movement passes.

use nexuma_sdk::db::Transaction;
use nexuma_sdk::notify::{self, format, names, Event};
use nexuma_sdk::ApiError;

use crate::ledger::Entry;
use crate::rows::Subscription;
use crate::tariffs::Tariff;

/// `sub` (as it is after the renewal) was renewed for `charge`.
pub fn renewed(
    tx: &Transaction,
    sub: &Subscription,
    charge: &Entry,
    now: i64,
) -> Result<(), ApiError> {
    let until = match sub.expires_at {
        Some(end) => format::moment(end),
        None => "its traffic is used up".into(),
    };
    let event = Event::new(
        names::RENEWAL_CHARGED,
        format!("{}:{}", sub.id, sub.renewals),
    )
    .param("tariff", sub.tariff_name.as_str())
    .param("amount", format::money(-charge.amount, &charge.currency))
    .param(
        "balance",
        format::money(charge.balance_after, &charge.currency),
    )
    .param("expiresAt", until);
    notify::user(tx, &sub.user_id, &event, now)
}

/// `sub` could not be renewed: `tariff` costs more than the `balance`. It ends too; this is the
/// one message about it.
pub fn renewal_failed(
    tx: &Transaction,
    sub: &Subscription,
    tariff: &Tariff,
    balance: i64,
    now: i64,
) -> Result<(), ApiError> {
    let event = Event::new(
        names::RENEWAL_FAILED,
        format!("{}:{}", sub.id, sub.renewals),
    )
    .param("tariff", tariff.name.as_str())
    .param("price", format::money(tariff.price, &tariff.currency))
    .param("balance", format::money(balance, &tariff.currency));
    notify::user(tx, &sub.user_id, &event, now)
}

/// `sub` ended for `reason` (the `status_reason` it gets).
pub fn expired(
    tx: &Transaction,
    sub: &Subscription,
    reason: &str,
    now: i64,
) -> Result<(), ApiError> {
    let why = match reason {
        // Told by renewal_failed.
        "insufficient_funds" => return Ok(()),
        "time" => "its term is over",
        "traffic_limit" => "its traffic is used up",
        _ => "it could not be renewed",
    };
    // The period it ended in: a subscription brought back and ending again is a new event.
    let key = format!("{}:{}:{}", sub.id, sub.renewals, sub.updated_at);
    let event = Event::new(names::SUBSCRIPTION_EXPIRED, key)
        .param("tariff", sub.tariff_name.as_str())
        .param("reason", why);
    notify::user(tx, &sub.user_id, &event, now)
}
