//! The subscription lifecycle: activation (bought from the balance or given by an admin),
//! renewal, expiry by time or traffic, and cancellation with a refund rule.
//!
//! Every change is one transaction that first takes the user's balance lock
//! ([`ledger::lock`]) and then re-reads the subscription, so a purchase, a cancellation and any
//! number of concurrent ticks see each other's results and act at most once; renewal charges
//! also carry a per-period idempotency key, so even a second pass that got through would be
//! refused by the ledger's unique key.

use nexuma_sdk::db::{self, Pool, Transaction};
use nexuma_sdk::record::{self, Actor, Change, Entry};
use nexuma_sdk::{clock, id, log, ApiError};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use crate::ledger::{self, Move, CURRENCY};
use crate::links::{self, LinkFields};
use crate::rows::{self, Subscription};
use crate::tariffs::{self, Tariff};
use crate::{notices, period};

/// Subscriptions one tick settles at most (the rest wait for the next tick).
const BATCH: i64 = 200;

/// What a cancellation gives back of the current period's payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RefundRule {
    /// Nothing.
    None,
    /// The unused share: by time left for a timed period, by traffic left for an indefinite
    /// traffic-limited one; an indefinite unlimited subscription has no measurable unused share.
    Prorata,
    /// All of it that is not refunded yet.
    Full,
}

impl RefundRule {
    pub const EXPECTED: &'static str = "must be one of none, prorata, full";

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "none" => Some(RefundRule::None),
            "prorata" => Some(RefundRule::Prorata),
            "full" => Some(RefundRule::Full),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            RefundRule::None => "none",
            RefundRule::Prorata => "prorata",
            RefundRule::Full => "full",
        }
    }
}

/// Why an active subscription has come to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Due {
    /// Its expiry time has passed.
    Time,
    /// Its traffic reached the limit.
    Traffic,
}

/// Whether `sub`'s period is over at `now` (whatever its status).
pub fn due(sub: &Subscription, now: i64) -> Option<Due> {
    if sub.expires_at.is_some_and(|end| end <= now) {
        Some(Due::Time)
    } else if sub
        .traffic_limit_bytes
        .is_some_and(|limit| sub.traffic_used_bytes >= limit)
    {
        Some(Due::Traffic)
    } else {
        None
    }
}

/// 409 for acting on a subscription that is no longer active.
pub fn not_active(sub: &Subscription) -> ApiError {
    ApiError::conflict(
        "subscription_not_active",
        format!("subscription {} is {}", sub.id, sub.status),
    )
}

/// A subscription to start.
pub struct Activation<'a> {
    pub user_id: &'a str,
    pub tariff_id: &'a str,
    pub auto_renew: bool,
    /// Take the price from the balance.
    pub charge: bool,
    pub key: Option<String>,
    /// Admins may activate retired tariffs; users buy active ones only.
    pub by_admin: bool,
    /// Start it even while the user has an active subscription of the same tariff.
    pub allow_duplicate: bool,
}

/// Starts a subscription with one link; with `charge`, pays for it from the balance (402 when
/// short). A retry with the same idempotency key answers the subscription it made.
pub fn activate(actor: &Actor<'_>, a: Activation<'_>) -> Result<Subscription, ApiError> {
    let now = clock::now_ms();
    let tx = db::begin()?;
    ledger::lock(&tx, a.user_id, now)?;
    if let Some(existing) = replay(&tx, &a)? {
        drop(tx);
        return Ok(existing);
    }
    let tariff = sellable(&tx, &a)?;
    let sub_id = id::new_v4();
    let charge = charge_activation(&tx, actor, &a, &tariff, &sub_id, now)?;
    let expires_at = tariff
        .duration_months
        .map(|months| period::add_months(now, months).ok_or_else(|| out_of_range(&tariff)))
        .transpose()?;
    insert(&tx, &a, &tariff, &sub_id, expires_at, charge.as_ref(), now)?;
    links::insert(&tx, a.user_id, &sub_id, LinkFields::default(), false, now)?;
    let sub = record_activation(&tx, actor, &a, &tariff, &sub_id, charge, now)?;
    tx.commit()?;
    Ok(sub)
}

/// What a retry of an activation answers: the subscription its idempotency key made (409 when
/// the key made one of another tariff); `None` for a first attempt.
fn replay(tx: &Transaction, a: &Activation<'_>) -> Result<Option<Subscription>, ApiError> {
    let Some(key) = &a.key else {
        return Ok(None);
    };
    let Some(existing) = rows::by_key(tx, a.user_id, key)? else {
        return Ok(None);
    };
    if existing.tariff_id != a.tariff_id {
        return Err(ApiError::conflict(
            "idempotency_conflict",
            "this idempotency key was already used for a different request",
        ));
    }
    Ok(Some(existing))
}

/// The tariff of `a`, when it may start: users buy active tariffs only, a charge must be in the
/// balances' currency, and a duplicate needs `allow_duplicate` (409 otherwise).
fn sellable(tx: &Transaction, a: &Activation<'_>) -> Result<Tariff, ApiError> {
    let tariff = tariffs::load(tx, a.tariff_id)?;
    if !tariff.active && !a.by_admin {
        return Err(ApiError::conflict(
            "tariff_inactive",
            format!("tariff {} is no longer sold", tariff.name),
        ));
    }
    if paid(a, &tariff) && tariff.currency != CURRENCY {
        return Err(currency_mismatch(&tariff));
    }
    // Under the balance lock, so purchases at once see each other's rows.
    if !a.allow_duplicate && has_active(tx, a.user_id, &tariff.id)? {
        return Err(duplicate(&tariff));
    }
    Ok(tariff)
}

/// Whether `a` takes `tariff`'s price from the balance.
fn paid(a: &Activation<'_>, tariff: &Tariff) -> bool {
    a.charge && tariff.price > 0
}

/// The charge for a paid activation (402 when the balance is short); `None` when it is free.
fn charge_activation(
    tx: &Transaction,
    actor: &Actor<'_>,
    a: &Activation<'_>,
    tariff: &Tariff,
    sub_id: &str,
    now: i64,
) -> Result<Option<ledger::Entry>, ApiError> {
    if !paid(a, tariff) {
        return Ok(None);
    }
    let mv = Move {
        user_id: a.user_id,
        kind: "charge",
        amount: -tariff.price,
        reason: Some(format!("tariff {}", tariff.name)),
        reverses_id: None,
        key: None,
        subscription_id: Some(sub_id.to_string()),
        actor_id: actor.id.map(str::to_string),
    };
    match ledger::post(tx, &mv, now)? {
        Ok(entry) => Ok(Some(entry)),
        Err(refusal) => {
            Err(refusal.error(tariff.price, &format!("that tariff {} costs", tariff.name)))
        }
    }
}

/// The new subscription's row: `tariff`'s terms, its first period from `now`.
fn insert(
    tx: &Transaction,
    a: &Activation<'_>,
    tariff: &Tariff,
    sub_id: &str,
    expires_at: Option<i64>,
    charge: Option<&ledger::Entry>,
    now: i64,
) -> Result<(), ApiError> {
    tx.execute(
        "INSERT INTO subscriptions (id, user_id, tariff_id, status, price, currency, \
         duration_months, traffic_limit_bytes, traffic_used_bytes, auto_renew, anchor_at, periods, \
         period_start, expires_at, charge_id, renewals, idempotency_key, created_at, updated_at) \
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, 0, $8, $9, 1, $9, $10, $11, 0, $12, $9, $9)",
        &[
            sub_id.into(),
            a.user_id.into(),
            tariff.id.as_str().into(),
            tariff.price.into(),
            tariff.currency.as_str().into(),
            tariff.duration_months.into(),
            tariff.traffic_limit_bytes.into(),
            a.auto_renew.into(),
            now.into(),
            expires_at.into(),
            charge.map(|c| c.id.clone()).into(),
            a.key.clone().into(),
        ],
    )?;
    Ok(())
}

/// The activation's node change and audit row: the subscription as it was started.
fn record_activation(
    tx: &Transaction,
    actor: &Actor<'_>,
    a: &Activation<'_>,
    tariff: &Tariff,
    sub_id: &str,
    charge: Option<ledger::Entry>,
    now: i64,
) -> Result<Subscription, ApiError> {
    record::node_change(
        tx,
        Change {
            kind: "subscription.activated",
            user_id: Some(a.user_id),
            subscription_id: Some(sub_id),
            tariff_id: Some(&tariff.id),
            ..Change::default()
        },
        now,
    )?;
    let sub = rows::load(tx, sub_id, None)?;
    record::audit(
        tx,
        actor,
        Entry {
            action: if a.by_admin {
                "subscription.activate"
            } else {
                "subscription.purchase"
            },
            target_type: "subscription",
            target_id: sub_id,
            before: None,
            after: Some(json!({ "subscription": sub.json(), "transaction": charge })),
        },
        now,
    )?;
    Ok(sub)
}

/// Whether the user has an active subscription of the tariff.
fn has_active(tx: &Transaction, user_id: &str, tariff_id: &str) -> Result<bool, ApiError> {
    let rows = tx.query(
        "SELECT id FROM subscriptions WHERE user_id = $1 AND tariff_id = $2 \
         AND status = 'active' LIMIT 1",
        &[user_id.into(), tariff_id.into()],
    )?;
    Ok(!rows.is_empty())
}

/// 409 for a second active subscription of one tariff: usually a repeated click or request.
fn duplicate(tariff: &Tariff) -> ApiError {
    ApiError::conflict(
        "duplicate_subscription",
        format!(
            "this user already has an active subscription of tariff {}; to add a second one \
             anyway, send \"allowDuplicate\": true",
            tariff.name
        ),
    )
}

fn currency_mismatch(tariff: &Tariff) -> ApiError {
    ApiError::conflict(
        "currency_mismatch",
        format!(
            "tariff {} is priced in {}, but balances are in {CURRENCY}",
            tariff.name, tariff.currency
        ),
    )
}

fn out_of_range(tariff: &Tariff) -> ApiError {
    ApiError::internal(format!("tariff {}: expiry out of range", tariff.id))
}

/// What a cancellation answers (its JSON Schema is derived from this type).
#[derive(Serialize, JsonSchema)]
pub struct CancelReply {
    subscription: Subscription,
    /// The refund made, if any.
    refund: Option<ledger::Entry>,
}

/// Ends an active subscription now and refunds by `rule`. With `owner`, only that user's
/// subscription (a user cancelling their own); else any (an admin).
pub fn cancel(
    actor: &Actor<'_>,
    id: &str,
    owner: Option<&str>,
    rule: RefundRule,
    reason: Option<String>,
) -> Result<CancelReply, ApiError> {
    let user = match owner {
        Some(user) => user.to_string(),
        None => rows::load(&Pool, id, None)?.user_id,
    };
    let now = clock::now_ms();
    let tx = db::begin()?;
    ledger::lock(&tx, &user, now)?;
    let before = rows::load(&tx, id, Some(&user))?;
    if !before.is_active() {
        return Err(not_active(&before));
    }
    let amount = refund_due(&tx, &before, rule, now)?;
    let by = if owner.is_some() { "user" } else { "admin" };
    tx.execute(
        "UPDATE subscriptions SET status = 'cancelled', status_reason = $2, auto_renew = $3, \
         ended_at = $4, updated_at = $4 WHERE id = $1",
        &[id.into(), by.into(), false.into(), now.into()],
    )?;
    let refund = post_refund(&tx, actor, &before, amount, rule, reason, now)?;
    let after = record_cancel(&tx, actor, &before, rule, refund.as_ref(), now)?;
    tx.commit()?;
    Ok(CancelReply {
        subscription: after,
        refund,
    })
}

/// What `rule` gives back of the payment for `sub`'s current period (0 when it was free).
fn refund_due(
    tx: &Transaction,
    sub: &Subscription,
    rule: RefundRule,
    now: i64,
) -> Result<i64, ApiError> {
    let Some(charge) = &sub.charge_id else {
        return Ok(0);
    };
    let left = ledger::refundable(tx, &sub.user_id, charge)?;
    Ok(match rule {
        RefundRule::None => 0,
        RefundRule::Full => left.remaining,
        RefundRule::Prorata => unused(sub, left.taken, now).min(left.remaining),
    })
}

/// The cancellation's refund of `amount`, if there is one to make.
fn post_refund(
    tx: &Transaction,
    actor: &Actor<'_>,
    sub: &Subscription,
    amount: i64,
    rule: RefundRule,
    reason: Option<String>,
    now: i64,
) -> Result<Option<ledger::Entry>, ApiError> {
    if amount <= 0 {
        return Ok(None);
    }
    let mv = Move {
        user_id: &sub.user_id,
        kind: "refund",
        amount,
        reason: reason.or_else(|| Some(format!("cancellation ({})", rule.name()))),
        reverses_id: sub.charge_id.clone(),
        key: None,
        subscription_id: Some(sub.id.clone()),
        actor_id: actor.id.map(str::to_string),
    };
    // A refund the balance has no room for ends nothing: the cancellation is refused (409).
    let entry = ledger::post(tx, &mv, now)?.map_err(|r| r.error(amount, "to refund"))?;
    Ok(Some(entry))
}

/// The cancellation's node change and audit row: the subscription as it was left.
fn record_cancel(
    tx: &Transaction,
    actor: &Actor<'_>,
    before: &Subscription,
    rule: RefundRule,
    refund: Option<&ledger::Entry>,
    now: i64,
) -> Result<Subscription, ApiError> {
    record::node_change(
        tx,
        Change {
            kind: "subscription.cancelled",
            user_id: Some(&before.user_id),
            subscription_id: Some(&before.id),
            tariff_id: Some(&before.tariff_id),
            ..Change::default()
        },
        now,
    )?;
    let after = rows::load(tx, &before.id, None)?;
    record::audit(
        tx,
        actor,
        Entry {
            action: "subscription.cancel",
            target_type: "subscription",
            target_id: &before.id,
            before: Some(before.json()),
            after: Some(json!({
                "subscription": after.json(),
                "refundRule": rule.name(),
                "refund": refund,
            })),
        },
        now,
    )?;
    Ok(after)
}

/// The unused share of `taken` for the subscription's current period at `now`.
fn unused(sub: &Subscription, taken: i64, now: i64) -> i64 {
    match (sub.expires_at, sub.traffic_limit_bytes) {
        (Some(end), _) => period::unused_share(taken, end - now, end - sub.period_start),
        (None, Some(limit)) => period::unused_share(taken, limit - sub.traffic_used_bytes, limit),
        (None, None) => 0,
    }
}

/// What one tick did (its JSON Schema is derived from this type).
#[derive(Serialize, Default, Debug, JsonSchema)]
pub struct TickReport {
    /// Subscriptions found due.
    pub due: u32,
    pub renewed: u32,
    pub expired: u32,
    /// Due subscriptions that could not be settled (they are tried again on the next tick).
    pub failed: u32,
}

enum Outcome {
    Renewed,
    Expired,
    /// Someone else settled it first, or it is no longer due.
    Untouched,
}

/// One pass over the active subscriptions that are due: auto-renewing ones are charged and
/// extended when the balance covers it, the rest expire. Safe to run concurrently.
pub fn tick(now: i64) -> Result<TickReport, ApiError> {
    // Each arm of the OR has its index (`subscriptions_due_idx`, and migration 0019's
    // `subscriptions_limited_idx` of active subscriptions with a limit): a tick reads the due
    // ones, not every subscription.
    let rows = db::query(
        "SELECT id, user_id FROM subscriptions WHERE status = 'active' AND \
         ((expires_at IS NOT NULL AND expires_at <= $1) OR \
          (traffic_limit_bytes IS NOT NULL AND traffic_used_bytes >= traffic_limit_bytes)) \
         ORDER BY updated_at, id LIMIT $2",
        &[now.into(), BATCH.into()],
    )?;
    let mut report = TickReport::default();
    for row in rows.iter() {
        report.due += 1;
        let (id, user) = (row.string("id")?, row.string("user_id")?);
        match settle(&id, &user, now) {
            Ok(Outcome::Renewed) => report.renewed += 1,
            Ok(Outcome::Expired) => report.expired += 1,
            Ok(Outcome::Untouched) => {}
            Err(err) => {
                report.failed += 1;
                log::warn(
                    "subscription not settled",
                    &[("subscriptionId", &id), ("error", &err.to_string())],
                );
            }
        }
    }
    if report.due > 0 {
        log::info(
            "subscriptions settled",
            &[
                ("due", &report.due.to_string()),
                ("renewed", &report.renewed.to_string()),
                ("expired", &report.expired.to_string()),
                ("failed", &report.failed.to_string()),
            ],
        );
    }
    Ok(report)
}

/// Renews or expires one due subscription in a transaction of its own.
fn settle(id: &str, user: &str, now: i64) -> Result<Outcome, ApiError> {
    let tx = db::begin()?;
    ledger::lock(&tx, user, now)?;
    let sub = match rows::load(&tx, id, Some(user)) {
        Ok(sub) => sub,
        Err(err) if err.status == 404 => return Ok(Outcome::Untouched), // deleted meanwhile
        Err(err) => return Err(err),
    };
    let Some(due) = due(&sub, now).filter(|_| sub.is_active()) else {
        return Ok(Outcome::Untouched);
    };
    // A timed subscription out of traffic ends; an indefinite one renews into a new allowance.
    let renewable = sub.auto_renew && (due == Due::Time || sub.duration_months.is_none());
    let failure = if renewable {
        match renew(&tx, &sub, due, now)? {
            None => {
                tx.commit()?;
                return Ok(Outcome::Renewed);
            }
            Some(failure) => failure,
        }
    } else {
        match due {
            Due::Time => "time",
            Due::Traffic => "traffic_limit",
        }
    };
    if failure == "insufficient_funds" {
        let tariff = tariffs::load(&tx, &sub.tariff_id)?;
        let balance = ledger::balance(&tx, &sub.user_id)?;
        notices::renewal_failed(&tx, &sub, &tariff, balance, now)?;
    }
    expire(&tx, &sub, failure, now)?;
    tx.commit()?;
    Ok(Outcome::Expired)
}

/// Charges the next period and extends `sub`; `Some(reason)` when it cannot be renewed.
fn renew(
    tx: &Transaction,
    sub: &Subscription,
    due: Due,
    now: i64,
) -> Result<Option<&'static str>, ApiError> {
    let tariff = tariffs::load(tx, &sub.tariff_id)?;
    if tariff.price > 0 && tariff.currency != CURRENCY {
        log::warn(
            "renewal refused",
            &[
                ("subscriptionId", &sub.id),
                ("error", &currency_mismatch(&tariff).message),
            ],
        );
        return Ok(Some("currency_mismatch"));
    }
    let charge = match charge_renewal(tx, sub, &tariff, now)? {
        Ok(charge) => charge,
        Err(failure) => return Ok(Some(failure)),
    };
    let next = next_period(sub, &tariff, due, now)?;
    extend(tx, sub, &tariff, &next, charge.as_ref(), now)?;
    record_renewal(tx, sub, charge, now)?;
    Ok(None)
}

/// The renewal's charge (`None` for a free tariff); `Err(reason)` when the balance is short.
fn charge_renewal(
    tx: &Transaction,
    sub: &Subscription,
    tariff: &Tariff,
    now: i64,
) -> Result<Result<Option<ledger::Entry>, &'static str>, ApiError> {
    if tariff.price <= 0 {
        return Ok(Ok(None));
    }
    let mv = Move {
        user_id: &sub.user_id,
        kind: "renewal",
        amount: -tariff.price,
        reason: Some(format!("renewal of tariff {}", tariff.name)),
        reverses_id: None,
        // One renewal charge per period, whoever gets here.
        key: Some(format!("renewal:{}:{}", sub.id, sub.renewals + 1)),
        subscription_id: Some(sub.id.clone()),
        actor_id: None,
    };
    Ok(match ledger::post(tx, &mv, now)? {
        Ok(entry) => Ok(Some(entry)),
        Err(_) => Err("insufficient_funds"),
    })
}

/// The period a renewal starts: its anchor, the whole periods counted from it, its start and its
/// end (none for an indefinite tariff).
#[derive(Debug, PartialEq, Eq)]
struct Period {
    anchor: i64,
    periods: i64,
    start: i64,
    end: Option<i64>,
}

/// The period after `sub`'s, on `tariff`'s length.
fn next_period(
    sub: &Subscription,
    tariff: &Tariff,
    due: Due,
    now: i64,
) -> Result<Period, ApiError> {
    let Some(months) = tariff.duration_months else {
        return Ok(Period {
            anchor: now,
            periods: 1,
            start: now,
            end: None,
        });
    };
    // Whole periods from the anchor while the length stays; a new length (or a renewal into a
    // new traffic allowance) starts a new anchor.
    let (mut anchor, mut periods, mut start) = match (due, sub.expires_at) {
        (Due::Time, Some(end)) if sub.duration_months == Some(months) => {
            (sub.anchor_at, sub.periods + 1, end)
        }
        (Due::Time, Some(end)) => (end, 1, end),
        _ => (now, 1, now),
    };
    let mut end = period::expiry(anchor, months, periods).ok_or_else(|| out_of_range(tariff))?;
    // Long overdue (the Core was down): one payment buys one whole period from now.
    if end <= now {
        (anchor, periods, start) = (now, 1, now);
        end = period::add_months(now, months).ok_or_else(|| out_of_range(tariff))?;
    }
    Ok(Period {
        anchor,
        periods,
        start,
        end: Some(end),
    })
}

/// Moves `sub` into the `next` period on `tariff`'s current terms, with a fresh allowance.
fn extend(
    tx: &Transaction,
    sub: &Subscription,
    tariff: &Tariff,
    next: &Period,
    charge: Option<&ledger::Entry>,
    now: i64,
) -> Result<(), ApiError> {
    tx.execute(
        "UPDATE subscriptions SET price = $2, currency = $3, duration_months = $4, \
         traffic_limit_bytes = $5, traffic_used_bytes = 0, traffic_alerted = 0, anchor_at = $6, \
         periods = $7, \
         period_start = $8, expires_at = $9, charge_id = $10, renewals = renewals + 1, \
         updated_at = $11 WHERE id = $1 AND status = 'active'",
        &[
            sub.id.as_str().into(),
            tariff.price.into(),
            tariff.currency.as_str().into(),
            tariff.duration_months.into(),
            tariff.traffic_limit_bytes.into(),
            next.anchor.into(),
            next.periods.into(),
            next.start.into(),
            next.end.into(),
            charge.map(|c| c.id.clone()).into(),
            now.into(),
        ],
    )?;
    Ok(())
}

/// The renewal's notice (when it was charged) and audit row.
fn record_renewal(
    tx: &Transaction,
    sub: &Subscription,
    charge: Option<ledger::Entry>,
    now: i64,
) -> Result<(), ApiError> {
    let after = rows::load(tx, &sub.id, None)?;
    if let Some(charge) = &charge {
        notices::renewed(tx, &after, charge, now)?;
    }
    record::audit(
        tx,
        &Actor::SYSTEM,
        Entry {
            action: "subscription.renew",
            target_type: "subscription",
            target_id: &sub.id,
            before: Some(sub.json()),
            after: Some(json!({ "subscription": after.json(), "transaction": charge })),
        },
        now,
    )
}

fn expire(tx: &Transaction, sub: &Subscription, reason: &str, now: i64) -> Result<(), ApiError> {
    tx.execute(
        "UPDATE subscriptions SET status = 'expired', status_reason = $2, ended_at = $3, \
         updated_at = $3 WHERE id = $1 AND status = 'active'",
        &[sub.id.as_str().into(), reason.into(), now.into()],
    )?;
    notices::expired(tx, sub, reason, now)?;
    record::node_change(
        tx,
        Change {
            kind: "subscription.expired",
            user_id: Some(&sub.user_id),
            subscription_id: Some(&sub.id),
            tariff_id: Some(&sub.tariff_id),
            detail: Some(json!({ "reason": reason })),
            ..Change::default()
        },
        now,
    )?;
    record::audit(
        tx,
        &Actor::SYSTEM,
        Entry {
            action: "subscription.expire",
            target_type: "subscription",
            target_id: &sub.id,
            before: Some(sub.json()),
            after: Some(json!({ "status": "expired", "statusReason": reason })),
        },
        now,
    )?;
    Ok(())
}

#[cfg(test)]
mod period_tests {
    use super::*;

    const DAY: i64 = 86_400_000;
    /// 2025-01-31T00:00:00Z: renewals from it land on the months' last days.
    const JAN_31: i64 = 1_738_281_600_000;

    fn sub(
        months: Option<i64>,
        anchor: i64,
        periods: i64,
        expires_at: Option<i64>,
    ) -> Subscription {
        Subscription {
            id: "s".into(),
            user_id: "u".into(),
            tariff_id: "t".into(),
            tariff_name: "T".into(),
            status: "active".into(),
            status_reason: None,
            price: 0,
            currency: CURRENCY.into(),
            duration_months: months,
            traffic_limit_bytes: None,
            traffic_used_bytes: 0,
            auto_renew: true,
            anchor_at: anchor,
            periods,
            period_start: anchor,
            expires_at,
            charge_id: None,
            renewals: 0,
            ended_at: None,
            created_at: anchor,
            updated_at: anchor,
            links: Vec::new(),
        }
    }

    fn tariff(months: Option<i64>) -> Tariff {
        let mut tariff = crate::tariffs::tests::tariff(0, None);
        tariff.duration_months = months;
        tariff
    }

    fn after(sub: &Subscription, months: Option<i64>, due: Due, now: i64) -> Period {
        next_period(sub, &tariff(months), due, now).expect("in range")
    }

    /// Same length: whole periods from the anchor (no drift past February); a new length or a
    /// renewal for traffic starts a new anchor; long overdue buys a period from now; an
    /// indefinite tariff has no end.
    #[test]
    fn the_next_period_counts_from_the_anchor() {
        let feb_28 = period::add_months(JAN_31, 1).expect("Feb");
        let mar_31 = period::add_months(JAN_31, 2).expect("Mar");
        let monthly = sub(Some(1), JAN_31, 1, Some(feb_28));
        let next = after(&monthly, Some(1), Due::Time, feb_28 + 1);
        assert_eq!(
            next,
            Period {
                anchor: JAN_31,
                periods: 2,
                start: feb_28,
                end: Some(mar_31)
            }
        );

        let longer = after(&monthly, Some(2), Due::Time, feb_28 + 1);
        assert_eq!(
            (longer.anchor, longer.periods, longer.start),
            (feb_28, 1, feb_28)
        );
        assert_eq!(longer.end, period::add_months(feb_28, 2));

        let now = feb_28 - DAY;
        let traffic = after(&monthly, Some(1), Due::Traffic, now);
        assert_eq!(
            (traffic.anchor, traffic.periods, traffic.start),
            (now, 1, now)
        );
        assert_eq!(traffic.end, period::add_months(now, 1));

        let late = mar_31 + DAY;
        let overdue = after(&monthly, Some(1), Due::Time, late);
        assert_eq!(
            (overdue.anchor, overdue.periods, overdue.start),
            (late, 1, late)
        );
        assert_eq!(overdue.end, period::add_months(late, 1));

        let endless = after(&monthly, None, Due::Traffic, now);
        assert_eq!(
            endless,
            Period {
                anchor: now,
                periods: 1,
                start: now,
                end: None
            }
        );
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    /// The refund rules the schema names are the ones `parse` takes, answered by their `name`.
    #[test]
    fn the_refund_rules_schema_names_what_parse_takes() {
        let schema = nexuma_sdk::answer_schema_of::<RefundRule>();
        let names: Vec<&str> = schema["oneOf"]
            .as_array()
            .expect("one schema a rule")
            .iter()
            .filter_map(|rule| rule["const"].as_str())
            .collect();
        assert_eq!(names, ["none", "prorata", "full"]);
        for name in &names {
            let rule = RefundRule::parse(name).expect(name);
            assert_eq!(rule.name(), *name);
            assert_eq!(serde_json::to_value(rule).ok(), Some(json!(name)));
        }
        assert_eq!(RefundRule::parse("Full"), None);
        assert_eq!(
            RefundRule::EXPECTED,
            format!("must be one of {}", names.join(", "))
        );
    }
}
