//! Subscriptions' routes (`/me/subscriptions*`, `/admin/subscriptions*`). The rows and their
//! reads are [`crate::rows`]'; the state changes themselves (activate, renew, expire, cancel)
//! are [`crate::lifecycle`]'s.

use nexuma_sdk::cursor::{self, CursorPage, KeysetPaging, Order, Position};
use nexuma_sdk::db::{self, Pool, Transaction, Value};
use nexuma_sdk::record::{self, Actor, Change, Entry};
use nexuma_sdk::response::Page;
use nexuma_sdk::{clock, response, ApiError, Paging, Request, Response};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::balance::{self, idempotency_key, KEY_MAX, REASON_MAX};
use crate::lifecycle::{self, Activation, RefundRule};
use crate::rows::{enum_or_null, load, select, FROM, STATUSES};
// The route table names the answer's type here, beside the routes that answer it.
pub use crate::rows::Subscription;
use crate::tariffs::{self, MAX_TRAFFIC_BYTES};
use crate::{period, query, settings, text};

/// The statuses an admin may set: `expired` ends it, `active` brings it back (cancelling is
/// `POST .../cancel`).
pub const PATCH_STATUSES: [&str; 2] = ["active", "expired"];

/// A page of `WHERE {filter}`, newest first.
fn page(paging: Paging, filter: &str, mut params: Vec<Value>) -> Result<Response, ApiError> {
    let Paging { limit, offset } = paging;
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

/// `GET /me/subscriptions`'s query (its JSON Schema is derived from this type).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    #[serde(flatten)]
    paging: Paging,
    /// Only subscriptions in this status.
    #[schemars(extend("enum" = STATUSES))]
    status: Option<String>,
}

impl ListQuery {
    fn read(req: &Request) -> Result<Self, ApiError> {
        Ok(ListQuery {
            paging: req.paging_query()?,
            status: status(req)?,
        })
    }
}

/// `status`: one of [`STATUSES`], or absent.
fn status(req: &Request) -> Result<Option<String>, ApiError> {
    let status = query::filter(req, "status");
    if status.as_deref().is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(ApiError::validation(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    Ok(status)
}

/// `GET /admin/subscriptions`'s query (its JSON Schema is derived from this type).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminListQuery {
    #[serde(flatten)]
    paging: KeysetPaging,
    /// Only subscriptions in this status.
    #[schemars(extend("enum" = STATUSES))]
    status: Option<String>,
    /// Only this user's subscriptions.
    user_id: Option<String>,
    /// Only subscriptions of this tariff.
    tariff_id: Option<String>,
}

impl AdminListQuery {
    fn read(req: &Request) -> Result<Self, ApiError> {
        Ok(AdminListQuery {
            paging: req.keyset_paging()?,
            status: status(req)?,
            user_id: query::filter(req, "userId"),
            tariff_id: query::filter(req, "tariffId"),
        })
    }
}

/// A page of `GET /admin/subscriptions`: the paging convention plus the keyset cursor.
pub type AdminPage<'a> = CursorPage<'a, Subscription>;

/// `GET /admin/subscriptions`' order: newest first, the id deciding within one millisecond; a
/// page after a cursor is a range of migration 0017's indexes (behind the filtered column).
const ADMIN_ORDER: Order = Order::descending(&["s.created_at", "s.id"]);

/// `GET /me/subscriptions`.
pub fn my_list(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let q = ListQuery::read(req)?;
    let mut filter = "s.user_id = $1".to_string();
    let mut params: Vec<Value> = vec![user.into()];
    if let Some(status) = q.status {
        params.push(status.into());
        filter.push_str(" AND s.status = $2");
    }
    page(q.paging, &filter, params)
}

/// `GET /admin/subscriptions`: newest first, by offset or after a cursor.
pub fn admin_list(req: &Request) -> Result<Response, ApiError> {
    let q = AdminListQuery::read(req)?;
    let limit = q.paging.limit;
    let at: Option<Position<(i64, String)>> = q.paging.position()?;
    let offset = q.paging.offset_at(at.as_ref());
    let key = at.map(|p| vec![p.key.0.into(), p.key.1.into()]);
    let mut conditions = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    for (value, column) in [
        (q.user_id, "s.user_id"),
        (q.tariff_id, "s.tariff_id"),
        (q.status, "s.status"),
    ] {
        if let Some(value) = value {
            params.push(value.into());
            conditions.push(format!("{column} = ${}", params.len()));
        }
    }
    let total = ADMIN_ORDER.total("subscriptions s", &conditions, &params)?;
    let skip = if key.is_some() { 0 } else { offset };
    if let Some(key) = key {
        conditions.push(ADMIN_ORDER.after(key, &mut params));
    }
    // `select` takes a filter: with none, every row.
    let filter = if conditions.is_empty() {
        "1 = 1".to_string()
    } else {
        conditions.join(" AND ")
    };
    let n = params.len();
    // One more row than the page: whether there is a next page.
    params.push((limit + 1).into());
    params.push(skip.into());
    let mut items = select(
        &Pool,
        &filter,
        &format!(
            "ORDER BY {} LIMIT ${} OFFSET ${}",
            ADMIN_ORDER.by(),
            n + 1,
            n + 2
        ),
        &params,
    )?;
    let next_cursor = cursor::finish_page(&mut items, limit, offset, |last| {
        (last.created_at, last.id.clone())
    });
    response::json(
        200,
        &AdminPage {
            page: Page {
                items: &items,
                total,
                limit,
                offset,
            },
            next_cursor,
        },
    )
}

/// `GET /admin/subscriptions/:id`.
pub fn admin_get(req: &Request) -> Result<Response, ApiError> {
    response::json(200, &load(&Pool, req.param("id")?, None)?)
}

/// `POST /me/subscriptions` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseBody {
    tariff_id: String,
    #[serde(default)]
    auto_renew: bool,
    /// A retry with the same key answers the first result and changes nothing (the
    /// `idempotency-key` header wins).
    #[schemars(length(min = 1, max = KEY_MAX), regex(pattern = text::FILLED))]
    idempotency_key: Option<String>,
    /// Buy it while an active subscription of the same tariff runs (else 409
    /// `duplicate_subscription`).
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

/// `POST /admin/subscriptions` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivateBody {
    user_id: String,
    tariff_id: String,
    #[serde(default)]
    auto_renew: bool,
    /// Take the price from the user's balance (402 when short); default: free of charge.
    #[serde(default)]
    charge: bool,
    /// As for a purchase.
    #[schemars(length(min = 1, max = KEY_MAX), regex(pattern = text::FILLED))]
    idempotency_key: Option<String>,
    /// Give it to a user who is not active: pending, rejected or blocked (else 409
    /// `user_not_active`).
    #[serde(default)]
    force: bool,
    /// Give it while the user has an active subscription of the same tariff (else 409
    /// `duplicate_subscription`).
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

/// `PATCH /me/subscriptions/:id/auto-renew`; an empty body toggles auto-renewal (its JSON
/// Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AutoRenewBody {
    /// Absent or null: the opposite of what it is.
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

/// `POST /admin/subscriptions/:id/cancel`; an empty body is `{}` (its JSON Schema is derived
/// from this type).
#[derive(Deserialize, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancelBody {
    /// What the user gets back; absent or null: none.
    #[schemars(with = "Option<RefundRule>")]
    refund: Option<String>,
    /// The refund's reason in the ledger.
    #[schemars(length(max = REASON_MAX), regex(pattern = text::TEXT))]
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

/// `PATCH /admin/subscriptions/:id`: absent leaves a field as it is, and so does null but for
/// the two whose null means "none" (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminPatch {
    auto_renew: Option<bool>,
    /// Epoch milliseconds; null: never expires by time.
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    #[schemars(with = "Option<i64>", range(min = 0, max = period::MAX_TIME_MS))]
    expires_at: Option<Option<i64>>,
    /// Null: unlimited.
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    #[schemars(with = "Option<i64>", range(min = 1, max = MAX_TRAFFIC_BYTES))]
    traffic_limit_bytes: Option<Option<i64>>,
    /// In the current period.
    #[schemars(range(min = 0, max = MAX_TRAFFIC_BYTES))]
    traffic_used_bytes: Option<i64>,
    /// `expired` ends an active subscription now; `active` brings an expired one back.
    #[schemars(extend("enum" = PATCH_STATUSES), transform = enum_or_null)]
    status: Option<String>,
}

/// `PATCH /admin/subscriptions/:id`: auto-renew, expiry, traffic limit and usage, and status
/// (`expired` ends an active one now; `active` brings an expired one back when its expiry and
/// traffic allow it). A cancelled subscription stays cancelled.
pub fn admin_update(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body: AdminPatch = req.json()?;
    body.check()?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    let before = claim_changeable(&tx, id)?;
    let mut sub = before.clone();
    body.apply(&mut sub);
    let change = move_status(&mut sub, body.status.as_deref(), now)?;
    sub.updated_at = now;
    save_patch(&tx, &sub, now)?;
    record_patch(&tx, &Actor::of(req), &before, &sub, change, now)?;
    tx.commit()?;
    response::json(200, &sub)
}

impl AdminPatch {
    /// The bounds of each field sent (the ones its schema states).
    fn check(&self) -> Result<(), ApiError> {
        if let Some(limit) = self.traffic_limit_bytes {
            tariffs::traffic_limit(limit)?;
        }
        if self
            .traffic_used_bytes
            .is_some_and(|u| !(0..=MAX_TRAFFIC_BYTES).contains(&u))
        {
            return Err(ApiError::validation(
                "trafficUsedBytes",
                format!("must be an integer from 0 to {MAX_TRAFFIC_BYTES}"),
            ));
        }
        if let Some(Some(at)) = self.expires_at {
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
        if self
            .status
            .as_deref()
            .is_some_and(|s| !PATCH_STATUSES.contains(&s))
        {
            return Err(ApiError::validation(
                "status",
                "must be active or expired (cancel with POST .../cancel)",
            ));
        }
        Ok(())
    }

    /// The plain fields sent, onto `sub` (the status is [`move_status`]'s).
    fn apply(&self, sub: &mut Subscription) {
        if let Some(v) = self.auto_renew {
            sub.auto_renew = v;
        }
        if let Some(v) = self.expires_at {
            sub.expires_at = v;
            // Later renewals count whole periods from the new end.
            if let Some(at) = v {
                sub.anchor_at = at;
                sub.periods = 0;
            }
        }
        if let Some(v) = self.traffic_limit_bytes {
            sub.traffic_limit_bytes = v;
        }
        if let Some(v) = self.traffic_used_bytes {
            sub.traffic_used_bytes = v;
        }
    }
}

/// Subscription `id` read under a first write (the row stays as read until commit); 409 when it
/// is cancelled, which no patch changes.
fn claim_changeable(tx: &Transaction, id: &str) -> Result<Subscription, ApiError> {
    tx.execute(
        "UPDATE subscriptions SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let sub = load(tx, id, None)?;
    if sub.status == "cancelled" {
        return Err(ApiError::conflict(
            "subscription_cancelled",
            format!("subscription {id} is cancelled and cannot be changed"),
        ));
    }
    Ok(sub)
}

/// Moves `sub` (already patched) to the status `wanted`, if that is a move: the node change it
/// makes, if any. Bringing one back that would be due at once is 409.
fn move_status(
    sub: &mut Subscription,
    wanted: Option<&str>,
    now: i64,
) -> Result<Option<&'static str>, ApiError> {
    match (sub.status.as_str(), wanted) {
        ("active", Some("expired")) => {
            sub.status = "expired".into();
            sub.status_reason = Some("admin".into());
            sub.ended_at = Some(now);
            Ok(Some("subscription.expired"))
        }
        ("expired", Some("active")) => {
            if lifecycle::due(sub, now).is_some() {
                return Err(ApiError::conflict(
                    "subscription_would_expire",
                    "it would expire again at once: give it a later expiresAt, a higher \
                     trafficLimitBytes or trafficUsedBytes 0 in the same request",
                ));
            }
            sub.status = "active".into();
            sub.status_reason = None;
            sub.ended_at = None;
            Ok(Some("subscription.reactivated"))
        }
        _ => Ok(None),
    }
}

/// Writes every field a patch may change.
fn save_patch(tx: &Transaction, sub: &Subscription, now: i64) -> Result<(), ApiError> {
    // Traffic alerts are checked afresh against an edited allowance; their keys still tell each
    // once per period.
    tx.execute(
        "UPDATE subscriptions SET auto_renew = $2, expires_at = $3, anchor_at = $4, periods = $5, \
         traffic_limit_bytes = $6, traffic_used_bytes = $7, status = $8, status_reason = $9, \
         ended_at = $10, updated_at = $11, traffic_alerted = 0 WHERE id = $1",
        &[
            sub.id.as_str().into(),
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
    Ok(())
}

/// The patch's node change (a status move) and its audit row.
fn record_patch(
    tx: &Transaction,
    actor: &Actor<'_>,
    before: &Subscription,
    sub: &Subscription,
    change: Option<&'static str>,
    now: i64,
) -> Result<(), ApiError> {
    if let Some(kind) = change {
        record::node_change(
            tx,
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
        tx,
        actor,
        Entry {
            action: "subscription.update",
            target_type: "subscription",
            target_id: &sub.id,
            before: Some(before.json()),
            after: Some(sub.json()),
        },
        now,
    )
}

/// `POST /admin/subscriptions/tick`: runs the expiry, renewal and traffic-limit checks now (the
/// same pass the scheduler runs every tick).
pub fn admin_tick(_req: &Request) -> Result<Response, ApiError> {
    response::json(200, &lifecycle::tick(clock::now_ms())?)
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use crate::ledger::MAX_AMOUNT;
    use crate::rows::STATUS_REASONS;
    use serde_json::json;

    fn or_null(names: &[&str]) -> serde_json::Value {
        let mut values = json!(names);
        values.as_array_mut().expect("list").push(json!(null));
        values
    }

    /// A subscription is answered with every field (nulls included), its enums the code's lists.
    #[test]
    fn a_subscription_is_answered_as_its_schema_says() {
        let sub = nexuma_sdk::answer_schema_of::<Subscription>();
        let required = sub["required"].as_array().expect("required");
        assert_eq!(
            required.len(),
            20,
            "every field but the internal two: {sub}"
        );
        assert!(!required.contains(&json!("anchorAt")) && !required.contains(&json!("periods")));
        let properties = &sub["properties"];
        assert_eq!(properties["status"]["enum"], json!(STATUSES));
        assert_eq!(properties["statusReason"]["enum"], or_null(&STATUS_REASONS));
        assert_eq!(
            properties["statusReason"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(properties["price"]["maximum"], MAX_AMOUNT);
        assert_eq!(
            properties["trafficLimitBytes"]["maximum"],
            MAX_TRAFFIC_BYTES
        );
        assert_eq!(
            properties["links"]["items"]["properties"]["uuid"]["format"],
            "uuid"
        );

        let reply = nexuma_sdk::answer_schema_of::<lifecycle::CancelReply>();
        assert_eq!(reply["required"], json!(["subscription", "refund"]));
        assert_eq!(
            reply["properties"]["refund"]["type"],
            json!(["object", "null"])
        );
        let tick = nexuma_sdk::answer_schema_of::<lifecycle::TickReport>();
        assert_eq!(
            tick["required"],
            json!(["due", "renewed", "expired", "failed"])
        );
        assert_eq!(tick["properties"]["due"]["minimum"], 0);
    }

    /// What a purchase or an activation needs, and that the flags default to false.
    #[test]
    fn the_bodies_say_what_is_required() {
        let purchase = nexuma_sdk::schema_of::<PurchaseBody>();
        assert_eq!(purchase["required"], json!(["tariffId"]));
        assert_eq!(purchase["properties"]["autoRenew"]["default"], false);
        assert_eq!(
            purchase["properties"]["idempotencyKey"]["maxLength"],
            KEY_MAX
        );
        let body: PurchaseBody = serde_json::from_value(json!({ "tariffId": "t" })).expect("taken");
        assert!(!body.auto_renew && !body.allow_duplicate && body.idempotency_key.is_none());

        let activate = nexuma_sdk::schema_of::<ActivateBody>();
        assert_eq!(activate["required"], json!(["userId", "tariffId"]));
        for flag in ["autoRenew", "charge", "force", "allowDuplicate"] {
            assert_eq!(activate["properties"][flag]["default"], false, "{flag}");
        }

        let renew = nexuma_sdk::schema_of::<AutoRenewBody>();
        assert_eq!(
            renew["properties"]["autoRenew"]["type"],
            json!(["boolean", "null"])
        );
        let toggle: AutoRenewBody = serde_json::from_value(json!({})).expect("taken");
        assert!(toggle.auto_renew.is_none());

        let cancel = nexuma_sdk::schema_of::<CancelBody>();
        assert!(cancel.get("required").is_none(), "{cancel}");
        assert_eq!(cancel["properties"]["reason"]["maxLength"], REASON_MAX);
        let refund = cancel["properties"]["refund"].to_string();
        assert!(refund.contains(r#""const":"full""#) && refund.contains(r#""type":"null""#));
    }

    /// The admin's patch: every field optional (an empty patch is taken), the bounds the
    /// handler checks, null clears the expiry and the limit, and the statuses it takes.
    #[test]
    fn the_admin_patch_says_what_the_handler_takes() {
        let patch = nexuma_sdk::schema_of::<AdminPatch>();
        assert!(patch.get("required").is_none() && patch.get("minProperties").is_none());
        let properties = &patch["properties"];
        assert_eq!(properties["expiresAt"]["type"], json!(["integer", "null"]));
        assert_eq!(properties["expiresAt"]["maximum"], period::MAX_TIME_MS);
        assert_eq!(properties["trafficLimitBytes"]["minimum"], 1);
        assert_eq!(properties["trafficUsedBytes"]["maximum"], MAX_TRAFFIC_BYTES);
        assert_eq!(properties["status"]["enum"], or_null(&PATCH_STATUSES));

        let empty: AdminPatch = serde_json::from_value(json!({})).expect("an empty patch");
        assert!(empty.expires_at.is_none() && empty.status.is_none());
        let cleared: AdminPatch =
            serde_json::from_value(json!({ "expiresAt": null, "status": null })).expect("nulls");
        assert_eq!(cleared.expires_at, Some(None), "null: never expires");
        assert!(cleared.status.is_none(), "null leaves the status");
    }

    /// The list queries the document declares are the ones the handlers read.
    #[test]
    fn the_list_queries_are_what_the_handlers_read() {
        let admin = nexuma_sdk::query_schema_of::<AdminListQuery>();
        let names: Vec<&String> = admin["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        assert_eq!(
            names,
            ["after", "limit", "offset", "status", "tariffId", "userId"]
        );
        assert_eq!(
            admin["properties"]["offset"]["maximum"],
            json!(nexuma_sdk::cursor::MAX_OFFSET)
        );
        assert_eq!(admin["properties"]["status"]["enum"], json!(STATUSES));
        assert_eq!(admin["properties"]["status"]["type"], "string");
        assert!(admin["required"].as_array().is_none_or(Vec::is_empty));
        let mine = nexuma_sdk::query_schema_of::<ListQuery>();
        assert_eq!(mine["properties"]["status"], admin["properties"]["status"]);

        let q = AdminListQuery::read(&nexuma_sdk::Request::with_query(&[
            ("userId", "u"),
            ("tariffId", "t"),
            ("status", "expired"),
            ("limit", "3"),
        ]))
        .expect("read");
        assert_eq!(
            (
                q.user_id.as_deref(),
                q.tariff_id.as_deref(),
                q.status.as_deref()
            ),
            (Some("u"), Some("t"), Some("expired"))
        );
        assert_eq!(q.paging.limit, 3);
        for status in STATUSES {
            assert!(
                ListQuery::read(&nexuma_sdk::Request::with_query(&[("status", status)])).is_ok()
            );
        }
        let err = ListQuery::read(&nexuma_sdk::Request::with_query(&[("status", "paused")])).err();
        assert_eq!(err.and_then(|e| e.field).as_deref(), Some("status"));
    }
}
