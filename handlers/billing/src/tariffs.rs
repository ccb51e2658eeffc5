//! Tariffs: `/admin/tariffs` CRUD. Arrays (protocols, node ids, external source ids) are stored
//! as JSON TEXT; an empty `protocols` or `nodeIds` list means no restriction (every protocol,
//! every node). A tariff that any subscription refers to cannot be deleted (409), only retired
//! with `active: false`: it is then no longer sold, and its subscriptions still renew.

use nexuma_sdk::db::{self, ErrorKind, Executor, Pool, Row, Transaction};
use nexuma_sdk::record::{self, Actor, Change, Entry};
use nexuma_sdk::{clock, id, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{ledger, text};

pub const PROTOCOLS: [&str; 4] = ["vless", "vmess", "trojan", "shadowsocks"];
pub const NAME_MAX: usize = 100;
pub const MAX_DURATION_MONTHS: i64 = 1200;
/// The largest traffic figure the API takes (a limit, a usage): 10^18 bytes (an exabyte) — past
/// any plan, and leaving room below BIGINT's 9.2·10^18 for the usage counts added on top.
pub const MAX_TRAFFIC_BYTES: i64 = 1_000_000_000_000_000_000;
pub const MAX_ITEMS: usize = 200;
const ITEM_MAX: usize = 200;

const COLUMNS: &str = "id, name, price, currency, duration_months, traffic_limit_bytes, \
                       protocols, node_ids, external_source_ids, active, created_at, updated_at";

/// A tariff as the API answers it (its JSON Schema is derived from this type).
#[derive(Serialize, Clone, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tariff {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    #[schemars(length(min = 1, max = NAME_MAX))]
    pub name: String,
    /// Minor units.
    #[schemars(range(min = 0, max = ledger::MAX_AMOUNT))]
    pub price: i64,
    #[schemars(regex(pattern = r"^[A-Z]{3}$"))]
    pub currency: String,
    /// Null: indefinite.
    #[schemars(range(min = 1, max = MAX_DURATION_MONTHS))]
    pub duration_months: Option<i64>,
    /// Null: unlimited.
    #[schemars(range(min = 1, max = MAX_TRAFFIC_BYTES))]
    pub traffic_limit_bytes: Option<i64>,
    /// Empty: every protocol.
    #[schemars(extend("items" = { "type": "string", "enum": PROTOCOLS }))]
    pub protocols: Vec<String>,
    /// Empty: every node.
    #[schemars(length(max = MAX_ITEMS), inner(length(min = 1)))]
    pub node_ids: Vec<String>,
    #[schemars(length(max = MAX_ITEMS), inner(length(min = 1)))]
    pub external_source_ids: Vec<String>,
    pub active: bool,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

fn string_list(row: &Row<'_>, column: &str) -> Result<Vec<String>, ApiError> {
    serde_json::from_str(row.str(column)?)
        .map_err(|e| ApiError::internal(format!("tariffs.{column}: {e}")))
}

impl Tariff {
    fn from_row(row: Row<'_>) -> Result<Tariff, ApiError> {
        Ok(Tariff {
            id: row.string("id")?,
            name: row.string("name")?,
            price: row.i64("price")?,
            currency: row.string("currency")?,
            duration_months: row.opt_i64("duration_months")?,
            traffic_limit_bytes: row.opt_i64("traffic_limit_bytes")?,
            protocols: string_list(&row, "protocols")?,
            node_ids: string_list(&row, "node_ids")?,
            external_source_ids: string_list(&row, "external_source_ids")?,
            active: row.bool("active")?,
            created_at: row.i64("created_at")?,
            updated_at: row.i64("updated_at")?,
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// Checks every field; the error names the first bad one.
    fn validate(mut self) -> Result<Tariff, ApiError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(ApiError::validation("name", "must not be empty"));
        }
        if name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
            return Err(ApiError::validation(
                "name",
                format!("must be at most {NAME_MAX} characters, without control characters"),
            ));
        }
        self.name = name.to_string();
        self.price = ledger::amount("price", self.price, 0)?;
        if let Some(months) = self.duration_months {
            if !(1..=MAX_DURATION_MONTHS).contains(&months) {
                return Err(ApiError::validation(
                    "durationMonths",
                    format!(
                        "must be null (indefinite) or an integer from 1 to {MAX_DURATION_MONTHS}"
                    ),
                ));
            }
        }
        traffic_limit(self.traffic_limit_bytes)?;
        for protocol in &self.protocols {
            if !PROTOCOLS.contains(&protocol.as_str()) {
                return Err(ApiError::validation(
                    "protocols",
                    format!("`{protocol}` is not one of {}", PROTOCOLS.join(", ")),
                ));
            }
        }
        self.protocols = dedup(std::mem::take(&mut self.protocols));
        self.node_ids = clean_list("nodeIds", std::mem::take(&mut self.node_ids))?;
        self.external_source_ids = clean_list(
            "externalSourceIds",
            std::mem::take(&mut self.external_source_ids),
        )?;
        Ok(self)
    }
}

/// A tariff's currency as sent on create or patch: the balances' (anything else could never be
/// bought from a balance). Rows from before this check keep theirs until edited; purchases still
/// refuse them (`lifecycle::activate`).
fn currency(sent: &str) -> Result<String, ApiError> {
    if sent.trim() == ledger::CURRENCY {
        return Ok(ledger::CURRENCY.to_string());
    }
    Err(ApiError::validation(
        "currency",
        format!(
            "`{sent}` is not accepted: balances are kept in {cur}, so a tariff must be priced \
             in {cur}",
            cur = ledger::CURRENCY
        ),
    ))
}

/// A traffic limit: null (unlimited) or `1..=MAX_TRAFFIC_BYTES`; else 400.
pub fn traffic_limit(limit: Option<i64>) -> Result<(), ApiError> {
    match limit {
        Some(bytes) if !(1..=MAX_TRAFFIC_BYTES).contains(&bytes) => Err(ApiError::validation(
            "trafficLimitBytes",
            format!("must be null (unlimited) or an integer from 1 to {MAX_TRAFFIC_BYTES}"),
        )),
        _ => Ok(()),
    }
}

pub fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Trimmed, non-empty, bounded strings without duplicates.
pub fn clean_list(field: &str, items: Vec<String>) -> Result<Vec<String>, ApiError> {
    if items.len() > MAX_ITEMS {
        return Err(ApiError::validation(
            field,
            format!("must have at most {MAX_ITEMS} items"),
        ));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let item = item.trim();
        if item.is_empty() || item.len() > ITEM_MAX {
            return Err(ApiError::validation(
                field,
                format!("items must be non-empty strings of at most {ITEM_MAX} bytes"),
            ));
        }
        out.push(item.to_string());
    }
    Ok(dedup(out))
}

pub fn to_text(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_else(|_| "[]".into())
}

pub fn load(db: &impl Executor, id: &str) -> Result<Tariff, ApiError> {
    db.query(
        &format!("SELECT {COLUMNS} FROM tariffs WHERE id = $1"),
        &[id.into()],
    )?
    .first()
    .map(Tariff::from_row)
    .transpose()?
    .ok_or_else(|| ApiError::not_found("tariff_not_found", format!("no tariff with id {id}")))
}

fn save(db: &impl Executor, t: &Tariff) -> Result<(), ApiError> {
    db.execute(
        "UPDATE tariffs SET name = $2, price = $3, currency = $4, duration_months = $5, \
         traffic_limit_bytes = $6, protocols = $7, node_ids = $8, external_source_ids = $9, \
         active = $10, updated_at = $11 WHERE id = $1",
        &[
            t.id.as_str().into(),
            t.name.as_str().into(),
            t.price.into(),
            t.currency.as_str().into(),
            t.duration_months.into(),
            t.traffic_limit_bytes.into(),
            to_text(&t.protocols).into(),
            to_text(&t.node_ids).into(),
            to_text(&t.external_source_ids).into(),
            t.active.into(),
            t.updated_at.into(),
        ],
    )?;
    Ok(())
}

pub fn list(req: &Request) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let total = db::count(
        &Pool,
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM tariffs",
        &[],
    )?;
    let items = db::query(
        &format!("SELECT {COLUMNS} FROM tariffs ORDER BY created_at, id LIMIT $1 OFFSET $2"),
        &[limit.into(), offset.into()],
    )?
    .iter()
    .map(Tariff::from_row)
    .collect::<Result<Vec<_>, _>>()?;
    response::page(&items, total, limit, offset)
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    response::json(200, &load(&Pool, req.param("id")?)?)
}

/// `POST /admin/tariffs` (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Create {
    #[schemars(length(min = 1, max = NAME_MAX), regex(pattern = text::FILLED))]
    name: String,
    /// Minor units.
    #[schemars(range(min = 0, max = ledger::MAX_AMOUNT))]
    price: i64,
    /// The balances' currency; a tariff in any other could never be bought.
    #[schemars(extend("enum" = [ledger::CURRENCY]))]
    currency: String,
    /// Null or absent: indefinite.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_DURATION_MONTHS))]
    duration_months: Option<i64>,
    /// Null or absent: unlimited.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TRAFFIC_BYTES))]
    traffic_limit_bytes: Option<i64>,
    /// Empty: every protocol.
    #[serde(default)]
    #[schemars(extend("items" = { "type": "string", "enum": PROTOCOLS }))]
    protocols: Vec<String>,
    /// Empty: every node.
    #[serde(default)]
    #[schemars(length(max = MAX_ITEMS), inner(length(min = 1)))]
    node_ids: Vec<String>,
    #[serde(default)]
    #[schemars(length(max = MAX_ITEMS), inner(length(min = 1)))]
    external_source_ids: Vec<String>,
    /// Absent or null: true.
    #[serde(default)]
    active: Option<bool>,
}

pub fn create(req: &Request) -> Result<Response, ApiError> {
    let body: Create = req.json()?;
    let now = clock::now_ms();
    let tariff = Tariff {
        id: id::new_v4(),
        name: body.name,
        price: body.price,
        currency: currency(&body.currency)?,
        duration_months: body.duration_months,
        traffic_limit_bytes: body.traffic_limit_bytes,
        protocols: body.protocols,
        node_ids: body.node_ids,
        external_source_ids: body.external_source_ids,
        active: body.active.unwrap_or(true),
        created_at: now,
        updated_at: now,
    }
    .validate()?;

    let tx = db::begin()?;
    tx.execute(
        &format!("INSERT INTO tariffs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"),
        &[
            tariff.id.as_str().into(),
            tariff.name.as_str().into(),
            tariff.price.into(),
            tariff.currency.as_str().into(),
            tariff.duration_months.into(),
            tariff.traffic_limit_bytes.into(),
            to_text(&tariff.protocols).into(),
            to_text(&tariff.node_ids).into(),
            to_text(&tariff.external_source_ids).into(),
            tariff.active.into(),
            now.into(),
            now.into(),
        ],
    )?;
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "tariff.create",
            target_type: "tariff",
            target_id: &tariff.id,
            before: None,
            after: Some(tariff.json()),
        },
        now,
    )?;
    tx.commit()?;
    response::json(201, &tariff)
}

/// `PATCH /admin/tariffs/:id`: absent or null leaves a field as it is, except the two whose
/// null means "none" (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Patch {
    #[schemars(length(min = 1, max = NAME_MAX), regex(pattern = text::FILLED))]
    name: Option<String>,
    /// Minor units.
    #[schemars(range(min = 0, max = ledger::MAX_AMOUNT))]
    price: Option<i64>,
    #[schemars(extend("enum" = [ledger::CURRENCY, null]))]
    currency: Option<String>,
    /// Null: indefinite.
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    #[schemars(with = "Option<i64>", range(min = 1, max = MAX_DURATION_MONTHS))]
    duration_months: Option<Option<i64>>,
    /// Null: unlimited.
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    #[schemars(with = "Option<i64>", range(min = 1, max = MAX_TRAFFIC_BYTES))]
    traffic_limit_bytes: Option<Option<i64>>,
    #[schemars(extend("items" = { "type": "string", "enum": PROTOCOLS }))]
    protocols: Option<Vec<String>>,
    #[schemars(length(max = MAX_ITEMS), inner(length(min = 1)))]
    node_ids: Option<Vec<String>>,
    #[schemars(length(max = MAX_ITEMS), inner(length(min = 1)))]
    external_source_ids: Option<Vec<String>>,
    active: Option<bool>,
}

/// `PATCH /admin/tariffs/:id`: the fields sent, the whole tariff checked again.
pub fn update(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body: Patch = req.json()?;
    let before = load(&Pool, id)?;
    let mut t = before.clone();
    body.apply(&mut t)?;
    let now = clock::now_ms();
    t.updated_at = now;
    let t = t.validate()?;
    let tx = db::begin()?;
    save(&tx, &t)?;
    record_update(&tx, &Actor::of(req), &before, &t, now)?;
    tx.commit()?;
    response::json(200, &t)
}

impl Patch {
    /// The fields sent, onto `t` (only the currency is checked here; the whole tariff is
    /// checked after).
    fn apply(self, t: &mut Tariff) -> Result<(), ApiError> {
        if let Some(v) = self.name {
            t.name = v;
        }
        if let Some(v) = self.price {
            t.price = v;
        }
        if let Some(v) = self.currency {
            t.currency = currency(&v)?;
        }
        if let Some(v) = self.duration_months {
            t.duration_months = v;
        }
        if let Some(v) = self.traffic_limit_bytes {
            t.traffic_limit_bytes = v;
        }
        if let Some(v) = self.protocols {
            t.protocols = v;
        }
        if let Some(v) = self.node_ids {
            t.node_ids = v;
        }
        if let Some(v) = self.external_source_ids {
            t.external_source_ids = v;
        }
        if let Some(v) = self.active {
            t.active = v;
        }
        Ok(())
    }
}

/// What a change of tariff `before` into `t` tells: exports (its sources), nodes (its
/// permissions) and the audit log.
fn record_update(
    tx: &Transaction,
    actor: &Actor<'_>,
    before: &Tariff,
    t: &Tariff,
    now: i64,
) -> Result<(), ApiError> {
    // Subscriptions append the entries of the tariff's external sources.
    if t.external_source_ids != before.external_source_ids {
        tx.content_changed();
    }
    // Which clients a node gets depends on these two.
    if t.protocols != before.protocols || t.node_ids != before.node_ids {
        record::node_change(
            tx,
            Change {
                kind: "tariff.permissions",
                tariff_id: Some(&t.id),
                detail: Some(serde_json::json!({
                    "before": { "protocols": before.protocols, "nodeIds": before.node_ids },
                    "after": { "protocols": t.protocols, "nodeIds": t.node_ids },
                })),
                ..Change::default()
            },
            now,
        )?;
    }
    record::audit(
        tx,
        actor,
        Entry {
            action: "tariff.update",
            target_type: "tariff",
            target_id: &t.id,
            before: Some(before.json()),
            after: Some(t.json()),
        },
        now,
    )
}

pub fn delete(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    let before = load(&tx, id)?;
    let used = db::count(
        &tx,
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM subscriptions WHERE tariff_id = $1",
        &[id.into()],
    )?;
    if used > 0 {
        return Err(in_use(id, used));
    }
    match tx.execute("DELETE FROM tariffs WHERE id = $1", &[id.into()]) {
        Ok(_) => {}
        // A subscription bought between the count and the delete.
        Err(err) if err.kind == ErrorKind::ForeignKeyViolation => return Err(in_use(id, 1)),
        Err(err) => return Err(err.into()),
    }
    record::audit(
        &tx,
        &Actor::of(req),
        Entry {
            action: "tariff.delete",
            target_type: "tariff",
            target_id: id,
            before: Some(before.json()),
            after: None,
        },
        now,
    )?;
    tx.commit()?;
    response::no_content()
}

fn in_use(id: &str, subscriptions: i64) -> ApiError {
    ApiError::conflict(
        "tariff_in_use",
        format!(
            "tariff {id} has {subscriptions} subscription(s) and cannot be deleted; \
             retire it with PATCH {{\"active\": false}} instead"
        ),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A monthly tariff (other modules' tests start from it too).
    pub(crate) fn tariff(price: i64, traffic_limit_bytes: Option<i64>) -> Tariff {
        Tariff {
            id: "t".into(),
            name: "Basic".into(),
            price,
            currency: "RUB".into(),
            duration_months: Some(1),
            traffic_limit_bytes,
            protocols: Vec::new(),
            node_ids: Vec::new(),
            external_source_ids: Vec::new(),
            active: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn field(t: Tariff) -> Option<String> {
        t.validate().err().and_then(|e| e.field)
    }

    #[test]
    fn prices_and_traffic_limits_are_bounded() {
        assert_eq!(
            field(tariff(ledger::MAX_AMOUNT, Some(MAX_TRAFFIC_BYTES))),
            None
        );
        assert_eq!(field(tariff(0, None)), None);
        assert_eq!(field(tariff(i64::MAX, None)).as_deref(), Some("price"));
        assert_eq!(field(tariff(-1, None)).as_deref(), Some("price"));
        assert_eq!(
            field(tariff(100, Some(MAX_TRAFFIC_BYTES + 1))).as_deref(),
            Some("trafficLimitBytes")
        );
        assert_eq!(
            field(tariff(100, Some(0))).as_deref(),
            Some("trafficLimitBytes")
        );
    }

    #[test]
    fn only_the_balance_currency_is_accepted() {
        assert_eq!(currency(" RUB ").ok().as_deref(), Some(ledger::CURRENCY));
        for other in ["USD", "rub", "", "RUBL"] {
            let err = currency(other).err().expect(other);
            assert_eq!(err.field.as_deref(), Some("currency"));
            assert!(err.message.contains("RUB"), "{}", err.message);
        }
    }
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    /// The derived schemas say what the parser takes: which fields a create needs, that a
    /// patch may be empty and null leaves a field, and the bounds `validate` enforces.
    #[test]
    fn the_derived_schemas_say_what_the_parser_takes() {
        let create = nexuma_sdk::schema_of::<Create>();
        assert_eq!(create["required"], json!(["name", "price", "currency"]));
        assert_eq!(
            create["properties"]["currency"]["enum"],
            json!([ledger::CURRENCY])
        );
        assert_eq!(
            create["properties"]["durationMonths"]["type"],
            json!(["integer", "null"])
        );
        assert_eq!(
            create["properties"]["protocols"]["items"]["enum"],
            json!(PROTOCOLS)
        );
        assert_eq!(
            create["properties"]["price"]["maximum"],
            json!(ledger::MAX_AMOUNT)
        );
        assert!(create.get("$defs").is_none() && create.get("title").is_none());
        // What the schema allows, the parser takes; what it refuses by type, serde refuses.
        let ok: Result<Create, _> =
            serde_json::from_value(json!({ "name": "Pro", "price": 0, "currency": "RUB" }));
        assert!(ok.is_ok());
        let missing: Result<Create, _> = serde_json::from_value(json!({ "name": "Pro" }));
        assert!(missing.is_err());

        let patch = nexuma_sdk::schema_of::<Patch>();
        assert!(patch.get("required").is_none() && patch.get("minProperties").is_none());
        assert_eq!(
            patch["properties"]["name"]["type"],
            json!(["string", "null"])
        );
        let empty: Result<Patch, _> = serde_json::from_value(json!({}));
        assert!(empty.is_ok(), "an empty patch is taken, as the schema says");
        let null_name: Result<Patch, _> = serde_json::from_value(json!({ "name": null }));
        assert!(null_name.is_ok_and(|p| p.name.is_none()));

        let tariff = nexuma_sdk::answer_schema_of::<Tariff>();
        let required = tariff["required"].as_array().map(Vec::len);
        assert_eq!(
            required,
            Some(12),
            "every field is always answered: {tariff}"
        );
        assert_eq!(tariff["properties"]["id"]["format"], "uuid");
        assert_eq!(
            tariff["properties"]["createdAt"]["description"],
            "Epoch milliseconds."
        );
    }
}
