//! Subscription rows: the type a subscription is read into and answered as, and the reads of
//! it with its links. The routes (`subscriptions`), the state changes (`lifecycle`) and the
//! notices all read them, so they live apart from each.

use nexuma_sdk::db::{Executor, Row, Value};
use nexuma_sdk::ApiError;
use schemars::{JsonSchema, Schema};
use serde::Serialize;

use crate::ledger::MAX_AMOUNT;
use crate::links::{self, Link};
use crate::tariffs::{MAX_DURATION_MONTHS, MAX_TRAFFIC_BYTES};

/// The statuses a subscription has.
pub const STATUSES: [&str; 3] = ["active", "expired", "cancelled"];
/// Why a subscription is not active: its time ran out, its traffic did, its renewal found the
/// balance short or in another currency (`lifecycle`), or a user or an admin ended it.
pub const STATUS_REASONS: [&str; 6] = [
    "time",
    "traffic_limit",
    "insufficient_funds",
    "currency_mismatch",
    "user",
    "admin",
];
/// For an `Option` field with an `enum`: `null` is one of its values too.
pub fn enum_or_null(schema: &mut Schema) {
    if let Some(serde_json::Value::Array(values)) = schema.get_mut("enum") {
        values.push(serde_json::Value::Null);
    }
}

const COLUMNS: &str = "s.id, s.user_id, s.tariff_id, t.name AS tariff_name, s.status, \
     s.status_reason, s.price, s.currency, s.duration_months, s.traffic_limit_bytes, \
     s.traffic_used_bytes, s.auto_renew, s.anchor_at, s.periods, s.period_start, s.expires_at, \
     s.charge_id, s.renewals, s.ended_at, s.created_at, s.updated_at";
pub const FROM: &str = "FROM subscriptions s JOIN tariffs t ON t.id = s.tariff_id";

/// A subscription with its links as the API answers it (its JSON Schema is derived from this
/// type).
#[derive(Serialize, Clone, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    pub user_id: String,
    pub tariff_id: String,
    pub tariff_name: String,
    #[schemars(extend("enum" = STATUSES))]
    pub status: String,
    /// Why it is not active; null while it is.
    #[schemars(extend("enum" = STATUS_REASONS), transform = enum_or_null)]
    pub status_reason: Option<String>,
    /// What a period costs (minor units), as bought or last renewed.
    #[schemars(range(min = 0, max = MAX_AMOUNT))]
    pub price: i64,
    pub currency: String,
    /// Null: indefinite.
    #[schemars(range(min = 1, max = MAX_DURATION_MONTHS))]
    pub duration_months: Option<i64>,
    /// Null: unlimited.
    #[schemars(range(min = 1, max = MAX_TRAFFIC_BYTES))]
    pub traffic_limit_bytes: Option<i64>,
    /// In the current period.
    #[schemars(range(min = 0))]
    pub traffic_used_bytes: i64,
    pub auto_renew: bool,
    #[serde(skip)]
    pub anchor_at: i64,
    #[serde(skip)]
    pub periods: i64,
    /// Epoch milliseconds.
    pub period_start: i64,
    /// Epoch milliseconds; null: never expires by time.
    pub expires_at: Option<i64>,
    /// The ledger row that paid the current period, if it was paid for.
    pub charge_id: Option<String>,
    #[schemars(range(min = 0))]
    pub renewals: i64,
    /// Epoch milliseconds: when it expired or was cancelled.
    pub ended_at: Option<i64>,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
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
pub fn select(
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
