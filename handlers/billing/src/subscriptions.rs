//! Subscriptions: the rows, how they read, and their routes (`/me/subscriptions*`,
//! `/admin/subscriptions*`). The state changes themselves (activate, renew, expire, cancel) are
//! [`crate::lifecycle`]'s.

use nexuma_sdk::db::{self, Executor, Pool, Row, Value};
use nexuma_sdk::record::{self, Actor, Change, Entry};
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use serde::{Deserialize, Serialize};

use crate::balance::{self, idempotency_key};
use crate::lifecycle::{self, Activation, RefundRule};
use crate::links::{self, Link};
use crate::tariffs::{self, MAX_TRAFFIC_BYTES};
use crate::{period, settings};

pub const STATUSES: [&str; 3] = ["active", "expired", "cancelled"];

const COLUMNS: &str = "s.id, s.user_id, s.tariff_id, t.name AS tariff_name, s.status, \
     s.status_reason, s.price, s.currency, s.duration_months, s.traffic_limit_bytes, \
     s.traffic_used_bytes, s.auto_renew, s.anchor_at, s.periods, s.period_start, s.expires_at, \
     s.charge_id, s.renewals, s.ended_at, s.created_at, s.updated_at";
const FROM: &str = "FROM subscriptions s JOIN tariffs t ON t.id = s.tariff_id";

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub user_id: String,
    pub tariff_id: String,
    pub tariff_name: String,
    pub status: String,
    /// Why it is not active: `time`, `traffic_limit`, `insufficient_funds`, `user`, `admin`.
    pub status_reason: Option<String>,
    /// What a period costs (minor units), as bought or last renewed.
    pub price: i64,
    pub currency: String,
    pub duration_months: Option<i64>,
    pub traffic_limit_bytes: Option<i64>,
    pub traffic_used_bytes: i64,
    pub auto_renew: bool,
    #[serde(skip)]
    pub anchor_at: i64,
    #[serde(skip)]
    pub periods: i64,
    pub period_start: i64,
    /// `None`: never expires by time.
    pub expires_at: Option<i64>,
    /// The ledger row that paid the current period, if it was paid for.
    pub charge_id: Option<String>,
    pub renewals: i64,
    pub ended_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub links: Vec<Link>,
}

impl Subscription {
    fn from_row(row: Row<'_>) -> Result<Self, ApiError> {
        Ok(Subscription {
            id: row.string("id")?,
            user_id: row.string("user_id")?,
            tariff_id: row.string("tariff_id")?,
            tariff_name: row.string("tariff_name")?,
            status: row.string("status")?,
            status_reason: row.opt_string("status_reason")?,
            price: row.i64("price")?,
            currency: row.string("currency")?,
            duration_months: row.opt_i64("duration_months")?,
            traffic_limit_bytes: row.opt_i64("traffic_limit_bytes")?,
            traffic_used_bytes: row.i64("traffic_used_bytes")?,
            auto_renew: row.bool("auto_renew")?,
            anchor_at: row.i64("anchor_at")?,
            periods: row.i64("periods")?,
            period_start: row.i64("period_start")?,
            expires_at: row.opt_i64("expires_at")?,
            charge_id: row.opt_string("charge_id")?,
            renewals: row.i64("renewals")?,
            ended_at: row.opt_i64("ended_at")?,
            created_at: row.i64("created_at")?,
            updated_at: row.i64("updated_at")?,
            links: Vec::new(),
        })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

/// Rows of `WHERE {filter}` in the given order, each with its links.
fn select(
    db: &impl Executor,
    filter: &str,
    tail: &str,
    params: &[Value],
) -> Result<Vec<Subscription>, ApiError> {
    let mut subs = db
        .query(
            &format!("SELECT {COLUMNS} {FROM} WHERE {filter} {tail}"),
            params,
        )?
        .iter()
        .map(Subscription::from_row)
        .collect::<Result<Vec<_>, _>>()?;
    let ids: Vec<String> = subs.iter().map(|s| s.id.clone()).collect();
    for link in links::of_subscriptions(db, &ids)? {
        if let Some(sub) = subs
            .iter_mut()
            .find(|s| Some(&s.id) == link.subscription_id.as_ref())
        {
            sub.links.push(link);
        }
    }
    Ok(subs)
}

/// The subscription `id` with its links; with `owner`, only when it is that user's (another
/// user's subscription is as unknown as a missing one).
pub fn load(db: &impl Executor, id: &str, owner: Option<&str>) -> Result<Subscription, ApiError> {
    let found = match owner {
        Some(user) => select(
            db,
            "s.id = $1 AND s.user_id = $2",
            "",
            &[id.into(), user.into()],
        )?,
        None => select(db, "s.id = $1", "", &[id.into()])?,
    };
    found.into_iter().next().ok_or_else(|| {
        ApiError::not_found(
            "subscription_not_found",
            format!("no subscription with id {id}"),
        )
    })
}

/// The user's subscription bought with idempotency key `key`, if any.
pub fn by_key(db: &impl Executor, user: &str, key: &str) -> Result<Option<Subscription>, ApiError> {
    Ok(select(
        db,
        "s.user_id = $1 AND s.idempotency_key = $2",
        "",
        &[user.into(), key.into()],
    )?
    .into_iter()
    .next())
}

/// A page of `WHERE {filter}`, newest first.
fn page(req: &Request, filter: &str, mut params: Vec<Value>) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let total = db::count(
        &Pool,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS total {FROM} WHERE {filter}"),
        &params,
    )?;
    let n = params.len();
    params.push(limit.into());
    params.push(offset.into());
    let items = select(
        &Pool,
        filter,
        &format!(
            "ORDER BY s.created_at DESC, s.id DESC LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ),
        &params,
    )?;
    response::page(&items, total, limit, offset)
}

fn status_filter(req: &Request) -> Result<Option<&str>, ApiError> {
    match req.query("status").filter(|s| !s.is_empty()) {
        Some(status) if !STATUSES.contains(&status) => Err(ApiError::validation(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        )),
        other => Ok(other),
    }
}

/// `GET /me/subscriptions?status&limit&offset`.
pub fn my_list(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let mut filter = "s.user_id = $1".to_string();
    let mut params: Vec<Value> = vec![user.into()];
    if let Some(status) = status_filter(req)? {
        params.push(status.into());
        filter.push_str(" AND s.status = $2");
    }
    page(req, &filter, params)
}

/// `GET /admin/subscriptions?userId&tariffId&status&limit&offset`.
pub fn admin_list(req: &Request) -> Result<Response, ApiError> {
    let mut conditions = vec!["1 = 1".to_string()];
    let mut params: Vec<Value> = Vec::new();
    let status = status_filter(req)?;
    for (value, column) in [
        (req.query("userId"), "s.user_id"),
        (req.query("tariffId"), "s.tariff_id"),
        (status, "s.status"),
    ] {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            params.push(value.into());
            conditions.push(format!("{column} = ${}", params.len()));
        }
    }
    page(req, &conditions.join(" AND "), params)
}

/// `GET /admin/subscriptions/:id`.
pub fn admin_get(req: &Request) -> Result<Response, ApiError> {
    response::json(200, &load(&Pool, req.param("id")?, None)?)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PurchaseBody {
    tariff_id: String,
    #[serde(default)]
    auto_renew: bool,
    idempotency_key: Option<String>,
    /// Buy it while an active subscription of the same tariff runs (else 409).
    #[serde(default)]
    allow_duplicate: bool,
}

/// `POST /me/subscriptions`: buys a tariff from the caller's balance (402 when it is short).
pub fn purchase(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let body: PurchaseBody = req.json()?;
    let sub = lifecycle::activate(
        &Actor::of(req),
        Activation {
            user_id: user,
            tariff_id: body.tariff_id.trim(),
            auto_renew: body.auto_renew,
            charge: true,
            key: idempotency_key(req, body.idempotency_key)?,
            by_admin: false,
            allow_duplicate: body.allow_duplicate,
        },
    )?;
    response::json(201, &sub)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ActivateBody {
    user_id: String,
    tariff_id: String,
    #[serde(default)]
    auto_renew: bool,
    /// Take the price from the user's balance (402 when short); default: free of charge.
    #[serde(default)]
    charge: bool,
    idempotency_key: Option<String>,
    /// Give it to a user who is not active (pending, rejected, blocked).
    #[serde(default)]
    force: bool,
    /// Give it while the user has an active subscription of the same tariff.
    #[serde(default)]
    allow_duplicate: bool,
}

/// 404 for an unknown user; 409 for one who could not use a subscription (not approved,
/// rejected, blocked) unless `force`: such a gift is usually a mistake.
fn check_standing(user_id: &str, force: bool) -> Result<(), ApiError> {
    let rows = db::query(
        "SELECT status, blocked FROM users WHERE id = $1",
        &[user_id.into()],
    )?;
    let Some(row) = rows.first() else {
        return Err(ApiError::not_found(
            "user_not_found",
            format!("no user with id {user_id}"),
        ));
    };
    let (status, blocked) = (row.string("status")?, row.bool("blocked")?);
    if force || (status == "active" && !blocked) {
        return Ok(());
    }
    let (state, fix) = if blocked {
        (
            "blocked",
            "unblock them (PATCH /admin/users/:id {\"blocked\": false})",
        )
    } else {
        (
            status.as_str(),
            "approve them (PATCH /admin/users/:id {\"status\": \"active\"})",
        )
    };
    Err(ApiError::conflict(
        "user_not_active",
        format!(
            "user {user_id} is {state} and cannot use a subscription; {fix} first, or send \
             \"force\": true to give it anyway"
        ),
    ))
}

/// `POST /admin/subscriptions`: activates a tariff for a user, with or without a charge.
pub fn admin_activate(req: &Request) -> Result<Response, ApiError> {
    let body: ActivateBody = req.json()?;
    let user = body.user_id.trim();
    check_standing(user, body.force)?;
    let sub = lifecycle::activate(
        &Actor::of(req),
        Activation {
            user_id: user,
            tariff_id: body.tariff_id.trim(),
            auto_renew: body.auto_renew,
            charge: body.charge,
            key: idempotency_key(req, body.idempotency_key)?,
            by_admin: true,
            allow_duplicate: body.allow_duplicate,
        },
    )?;
    response::json(201, &sub)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AutoRenewBody {
    auto_renew: Option<bool>,
}

/// `PATCH /me/subscriptions/:id/auto-renew` `{autoRenew}`; an empty body toggles it.
pub fn set_auto_renew(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let id = req.param("id")?;
    let wanted = if req.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        req.json::<AutoRenewBody>()?.auto_renew
    };
    let now = clock::now_ms();
    let tx = db::begin()?;
    // First a write: the row stays as read until commit.
    tx.execute(
        "UPDATE subscriptions SET updated_at = updated_at WHERE id = $1 AND user_id = $2",
        &[id.into(), user.into()],
    )?;
    let mut sub = load(&tx, id, Some(user))?;
    if !sub.is_active() {
        return Err(lifecycle::not_active(&sub));
    }
    sub.auto_renew = wanted.unwrap_or(!sub.auto_renew);
    sub.updated_at = now;
    tx.execute(
        "UPDATE subscriptions SET auto_renew = $2, updated_at = $3 WHERE id = $1",
        &[id.into(), sub.auto_renew.into(), now.into()],
    )?;
    tx.commit()?;
    response::json(200, &sub)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CancelBody {
    refund: Option<String>,
    reason: Option<String>,
}

/// `POST /me/subscriptions/:id/cancel`: ends it now, with the refund rule the operator set.
pub fn my_cancel(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let rule = settings::user_cancel_refund(&Pool)?;
    let reply = lifecycle::cancel(&Actor::of(req), req.param("id")?, Some(user), rule, None)?;
    response::json(200, &reply)
}

/// `POST /admin/subscriptions/:id/cancel` `{refund: none|prorata|full, reason}`.
pub fn admin_cancel(req: &Request) -> Result<Response, ApiError> {
    let body: CancelBody = if req.body.iter().all(u8::is_ascii_whitespace) {
        CancelBody::default()
    } else {
        req.json()?
    };
    let rule = match body.refund.as_deref() {
        None => RefundRule::None,
        Some(raw) => RefundRule::parse(raw)
            .ok_or_else(|| ApiError::validation("refund", RefundRule::EXPECTED))?,
    };
    let reason = balance::reason(body.reason)?;
    let reply = lifecycle::cancel(&Actor::of(req), req.param("id")?, None, rule, reason)?;
    response::json(200, &reply)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdminPatch {
    auto_renew: Option<bool>,
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    expires_at: Option<Option<i64>>,
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    traffic_limit_bytes: Option<Option<i64>>,
    traffic_used_bytes: Option<i64>,
    status: Option<String>,
}

/// `PATCH /admin/subscriptions/:id`: auto-renew, expiry, traffic limit and usage, and status
/// (`expired` ends an active one now; `active` brings an expired one back when its expiry and
/// traffic allow it). A cancelled subscription stays cancelled.
pub fn admin_update(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body: AdminPatch = req.json()?;
    if let Some(limit) = body.traffic_limit_bytes {
        tariffs::traffic_limit(limit)?;
    }
    if body
        .traffic_used_bytes
        .is_some_and(|u| !(0..=MAX_TRAFFIC_BYTES).contains(&u))
    {
        return Err(ApiError::validation(
            "trafficUsedBytes",
            format!("must be an integer from 0 to {MAX_TRAFFIC_BYTES}"),
        ));
    }
    if let Some(Some(at)) = body.expires_at {
        if !(0..=period::MAX_TIME_MS).contains(&at) {
            return Err(ApiError::validation(
                "expiresAt",
                format!(
                    "must be null (never) or epoch milliseconds from 0 to {} (9999-12-31)",
                    period::MAX_TIME_MS
                ),
            ));
        }
    }
    let wanted = body.status.as_deref();
    if wanted.is_some_and(|s| s != "active" && s != "expired") {
        return Err(ApiError::validation(
            "status",
            "must be active or expired (cancel with POST .../cancel)",
        ));
    }

    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE subscriptions SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let before = load(&tx, id, None)?;
    if before.status == "cancelled" {
        return Err(ApiError::conflict(
            "subscription_cancelled",
            format!("subscription {id} is cancelled and cannot be changed"),
        ));
    }
    let mut sub = before.clone();
    if let Some(v) = body.auto_renew {
        sub.auto_renew = v;
    }
    if let Some(v) = body.expires_at {
        sub.expires_at = v;
        // Later renewals count whole periods from the new end.
        if let Some(at) = v {
            sub.anchor_at = at;
            sub.periods = 0;
        }
    }
    if let Some(v) = body.traffic_limit_bytes {
        sub.traffic_limit_bytes = v;
    }
    if let Some(v) = body.traffic_used_bytes {
        sub.traffic_used_bytes = v;
    }
    let mut change = None;
    match (before.status.as_str(), wanted) {
        ("active", Some("expired")) => {
            sub.status = "expired".into();
            sub.status_reason = Some("admin".into());
            sub.ended_at = Some(now);
            change = Some("subscription.expired");
        }
        ("expired", Some("active")) => {
            if lifecycle::due(&sub, now).is_some() {
                return Err(ApiError::conflict(
                    "subscription_would_expire",
                    "it would expire again at once: give it a later expiresAt, a higher \
                     trafficLimitBytes or trafficUsedBytes 0 in the same request",
                ));
            }
            sub.status = "active".into();
            sub.status_reason = None;
            sub.ended_at = None;
            change = Some("subscription.reactivated");
        }
        _ => {}
    }
    sub.updated_at = now;
    // Traffic alerts are checked afresh against an edited allowance; their keys still tell each
    // once per period.
    tx.execute(
        "UPDATE subscriptions SET auto_renew = $2, expires_at = $3, anchor_at = $4, periods = $5, \
         traffic_limit_bytes = $6, traffic_used_bytes = $7, status = $8, status_reason = $9, \
         ended_at = $10, updated_at = $11, traffic_alerted = 0 WHERE id = $1",
        &[
            id.into(),
            sub.auto_renew.into(),
            sub.expires_at.into(),
            sub.anchor_at.into(),
            sub.periods.into(),
            sub.traffic_limit_bytes.into(),
            sub.traffic_used_bytes.into(),
            sub.status.as_str().into(),
            sub.status_reason.clone().into(),
            sub.ended_at.into(),
            now.into(),
        ],
    )?;
    if let Some(kind) = change {
        record::node_change(
            &tx,
            Change {
                kind,
                user_id: Some(&sub.user_id),
                subscription_id: Some(&sub.id),
                tariff_id: Some(&sub.tariff_id),
                ..Change::default()
            },
            now,
        )?;
    }
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "subscription.update",
            target_type: "subscription",
            target_id: id,
            before: Some(before.json()),
            after: Some(sub.json()),
        },
        now,
    )?;
    tx.commit()?;
    response::json(200, &sub)
}

/// `POST /admin/subscriptions/tick`: runs the expiry, renewal and traffic-limit checks now (the
/// same pass the scheduler runs every tick).
pub fn admin_tick(_req: &Request) -> Result<Response, ApiError> {
    response::json(200, &lifecycle::tick(clock::now_ms())?)
}
