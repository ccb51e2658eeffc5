//! Subscription links: each has its own UUID, the credential that goes into client configs and
//! the public `/sub/:uuid` address. A link may narrow the protocols and nodes its subscription's
//! tariff permits. Users manage the links of their own subscriptions (`/me/links`,
//! `/me/subscriptions/links/:id`, `/me/subscriptions/:id/reset`); admins any link
//! (`/admin/subscriptions/...`). Every change a node must see goes to the outbox.

use nexuma_sdk::db::{self, Executor, Pool, Row, Transaction, Value};
use nexuma_sdk::record::{self, Actor, Change, Entry};
use nexuma_sdk::{clock, id, response, settings, ApiError, Paging, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::tariffs::{self, MAX_ITEMS, PROTOCOLS};
use crate::{query, text};

/// Links one subscription may have.
pub const MAX_LINKS: i64 = 10;
pub const NAME_MAX: usize = 100;

const COLUMNS: &str = "id, subscription_id, user_id, uuid, name, enabled, protocols, node_ids, \
                       created_at, updated_at";

/// A subscription link as the API answers it (its JSON Schema is derived from this type).
#[derive(Serialize, Clone, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    #[schemars(extend("format" = "uuid"))]
    pub id: String,
    pub subscription_id: Option<String>,
    pub user_id: String,
    /// The credential in client configs.
    #[schemars(extend("format" = "uuid"))]
    pub uuid: String,
    #[schemars(length(max = NAME_MAX))]
    pub name: Option<String>,
    pub enabled: bool,
    /// Narrows the tariff's protocols; null: all of them.
    #[schemars(extend("items" = { "type": "string", "enum": PROTOCOLS }))]
    pub protocols: Option<Vec<String>>,
    /// Narrows the tariff's nodes; null: all of them.
    pub node_ids: Option<Vec<String>>,
    /// The public subscription address of this link: `PUBLIC_URL/sub/<uuid>`.
    pub url: String,
    /// Epoch milliseconds.
    pub created_at: i64,
    /// Epoch milliseconds.
    pub updated_at: i64,
}

fn opt_list(row: &Row<'_>, column: &str) -> Result<Option<Vec<String>>, ApiError> {
    row.opt_str(column)?
        .map(|raw| {
            serde_json::from_str(raw)
                .map_err(|e| ApiError::internal(format!("subscription_links.{column}: {e}")))
        })
        .transpose()
}

impl Link {
    fn from_row(row: Row<'_>, base: &str) -> Result<Link, ApiError> {
        let uuid = row.string("uuid")?;
        Ok(Link {
            id: row.string("id")?,
            subscription_id: row.opt_string("subscription_id")?,
            user_id: row.string("user_id")?,
            url: format!("{base}/sub/{uuid}"),
            uuid,
            name: row.opt_string("name")?,
            enabled: row.bool("enabled")?,
            protocols: opt_list(&row, "protocols")?,
            node_ids: opt_list(&row, "node_ids")?,
            created_at: row.i64("created_at")?,
            updated_at: row.i64("updated_at")?,
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

fn opt_text(items: &Option<Vec<String>>) -> Value {
    items.as_deref().map(tariffs::to_text).into()
}

/// Links of the given subscriptions, oldest first.
pub fn of_subscriptions(db: &impl Executor, ids: &[String]) -> Result<Vec<Link>, ApiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let params: Vec<Value> = ids.iter().map(Into::into).collect();
    let base = settings::public_url();
    db.query(
        &format!(
            "SELECT {COLUMNS} FROM subscription_links WHERE subscription_id IN ({}) \
             ORDER BY created_at, id",
            marks.join(", ")
        ),
        &params,
    )?
    .iter()
    .map(|row| Link::from_row(row, &base))
    .collect()
}

/// The link `id`; with `owner`, only when it is one of that user's subscription links (so
/// another user's link is as unknown as a missing one).
pub fn load(db: &impl Executor, id: &str, owner: Option<&str>) -> Result<Link, ApiError> {
    let rows = match owner {
        Some(user) => db.query(
            &format!(
                "SELECT {COLUMNS} FROM subscription_links WHERE id = $1 AND user_id = $2 \
                 AND subscription_id IS NOT NULL"
            ),
            &[id.into(), user.into()],
        )?,
        None => db.query(
            &format!("SELECT {COLUMNS} FROM subscription_links WHERE id = $1"),
            &[id.into()],
        )?,
    };
    rows.first()
        .map(|row| Link::from_row(row, &settings::public_url()))
        .transpose()?
        .ok_or_else(|| ApiError::not_found("link_not_found", format!("no link with id {id}")))
}

/// [`load`] inside `tx`, after a write on the row: it stays as read until commit (and SQLite
/// takes its write lock at once).
fn claim(tx: &Transaction, id: &str, owner: Option<&str>) -> Result<Link, ApiError> {
    tx.execute(
        "UPDATE subscription_links SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    load(tx, id, owner)
}

/// A link's editable fields as a request gives them (absent: unchanged; `null`: cleared; its
/// JSON Schema is derived from this type).
#[derive(Deserialize, Default, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LinkFields {
    /// Null: no name.
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    #[schemars(with = "Option<String>", length(max = NAME_MAX), regex(pattern = text::TEXT))]
    pub name: Option<Option<String>>,
    /// Narrows the tariff's protocols; null: all of them.
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    #[schemars(
        with = "Option<Vec<String>>",
        extend("items" = { "type": "string", "enum": PROTOCOLS })
    )]
    pub protocols: Option<Option<Vec<String>>>,
    /// Narrows the tariff's nodes; null: all of them.
    #[serde(default, deserialize_with = "nexuma_sdk::present")]
    #[schemars(
        with = "Option<Vec<String>>",
        length(max = MAX_ITEMS),
        extend("items" = { "type": "string", "minLength": 1 })
    )]
    pub node_ids: Option<Option<Vec<String>>>,
    /// Absent or null: unchanged (a new link is enabled).
    pub enabled: Option<bool>,
}

fn clean_name(raw: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let name = raw.trim();
    if name.chars().count() > NAME_MAX || name.chars().any(char::is_control) {
        return Err(ApiError::validation(
            "name",
            format!("must be at most {NAME_MAX} characters, without control characters"),
        ));
    }
    Ok((!name.is_empty()).then(|| name.to_string()))
}

fn clean_protocols(raw: Option<Vec<String>>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(list) = raw else { return Ok(None) };
    if let Some(bad) = list.iter().find(|p| !PROTOCOLS.contains(&p.as_str())) {
        return Err(ApiError::validation(
            "protocols",
            format!("`{bad}` is not one of {}", PROTOCOLS.join(", ")),
        ));
    }
    Ok(Some(tariffs::dedup(list)))
}

impl LinkFields {
    /// Applies these settings to `link` (fields left out stay as they are).
    fn apply(self, link: &mut Link) -> Result<(), ApiError> {
        if let Some(name) = self.name {
            link.name = clean_name(name)?;
        }
        if let Some(protocols) = self.protocols {
            link.protocols = clean_protocols(protocols)?;
        }
        if let Some(nodes) = self.node_ids {
            link.node_ids = nodes
                .map(|n| tariffs::clean_list("nodeIds", n))
                .transpose()?;
        }
        if let Some(enabled) = self.enabled {
            link.enabled = enabled;
        }
        Ok(())
    }
}

/// Adds a link to subscription `subscription_id` of `user_id` inside `tx`; 409 when it has
/// [`MAX_LINKS`] already. `record` says whether to write the outbox row (not for the first link
/// of a new subscription: its activation says it all).
pub fn insert(
    tx: &Transaction,
    user_id: &str,
    subscription_id: &str,
    fields: LinkFields,
    record: bool,
    now: i64,
) -> Result<Link, ApiError> {
    let count = db::count(
        tx,
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM subscription_links \
         WHERE subscription_id = $1",
        &[subscription_id.into()],
    )?;
    if count >= MAX_LINKS {
        return Err(ApiError::conflict(
            "too_many_links",
            format!("a subscription may have at most {MAX_LINKS} links; delete one first"),
        ));
    }
    let uuid = id::new_v4();
    let mut link = Link {
        id: id::new_v4(),
        subscription_id: Some(subscription_id.to_string()),
        user_id: user_id.to_string(),
        url: format!("{}/sub/{uuid}", settings::public_url()),
        uuid,
        name: None,
        enabled: true,
        protocols: None,
        node_ids: None,
        created_at: now,
        updated_at: now,
    };
    fields.apply(&mut link)?;
    tx.execute(
        &format!("INSERT INTO subscription_links ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"),
        &[
            link.id.as_str().into(),
            subscription_id.into(),
            user_id.into(),
            link.uuid.as_str().into(),
            link.name.clone().into(),
            link.enabled.into(),
            opt_text(&link.protocols),
            opt_text(&link.node_ids),
            now.into(),
            now.into(),
        ],
    )?;
    if record {
        record::node_change(
            tx,
            Change {
                kind: "link.created",
                user_id: Some(user_id),
                subscription_id: Some(subscription_id),
                link_id: Some(&link.id),
                detail: Some(json!({ "uuid": link.uuid })),
                ..Change::default()
            },
            now,
        )?;
    }
    Ok(link)
}

/// Who acts on links: a user on their own (no audit row), or an admin on any (audited).
#[derive(Clone, Copy)]
enum Scope<'a> {
    Owner(&'a str),
    Admin,
}

impl<'a> Scope<'a> {
    fn of(req: &'a Request) -> Result<Self, ApiError> {
        let caller = req.caller()?;
        Ok(if req.route.starts_with("/admin/") {
            Scope::Admin
        } else {
            Scope::Owner(caller.id.as_str())
        })
    }

    fn owner(self) -> Option<&'a str> {
        match self {
            Scope::Owner(user) => Some(user),
            Scope::Admin => None,
        }
    }

    fn audit(
        self,
        tx: &Transaction,
        req: &Request,
        action: &str,
        before: Option<&Link>,
        after: Option<&Link>,
        now: i64,
    ) -> Result<(), ApiError> {
        if let Scope::Admin = self {
            let target = after.or(before).map(|l| l.id.as_str()).unwrap_or_default();
            record::audit(
                tx,
                &Actor::of(req),
                Entry {
                    action,
                    target_type: "link",
                    target_id: target,
                    before: before.map(Link::json),
                    after: after.map(Link::json),
                },
                now,
            )?;
        }
        Ok(())
    }
}

/// `GET /me/links`'s query (its JSON Schema is derived from this type).
#[derive(JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    #[serde(flatten)]
    paging: Paging,
    /// Only the links of this subscription.
    subscription_id: Option<String>,
}

impl ListQuery {
    fn read(req: &Request) -> Result<Self, ApiError> {
        Ok(ListQuery {
            paging: req.paging_query()?,
            subscription_id: query::filter(req, "subscriptionId"),
        })
    }
}

/// `GET /me/links`: the caller's subscription links.
pub fn my_list(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let q = ListQuery::read(req)?;
    let Paging { limit, offset } = q.paging;
    let mut filter = "user_id = $1 AND subscription_id IS NOT NULL".to_string();
    let mut params: Vec<Value> = vec![user.into()];
    if let Some(sub) = q.subscription_id {
        params.push(sub.into());
        filter.push_str(" AND subscription_id = $2");
    }
    let total = db::count(
        &Pool,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS total FROM subscription_links WHERE {filter}"),
        &params,
    )?;
    let n = params.len();
    params.push(limit.into());
    params.push(offset.into());
    let base = settings::public_url();
    let items = db::query(
        &format!(
            "SELECT {COLUMNS} FROM subscription_links WHERE {filter} \
             ORDER BY created_at, id LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        ),
        &params,
    )?
    .iter()
    .map(|row| Link::from_row(row, &base))
    .collect::<Result<Vec<_>, _>>()?;
    response::page(&items, total, limit, offset)
}

/// `POST /me/links` (its JSON Schema is derived from this type): at most [`MAX_LINKS`] links
/// per subscription.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateBody {
    /// Default: the caller's only active subscription.
    subscription_id: Option<String>,
    #[serde(flatten)]
    fields: LinkFields,
}

/// `POST /me/links`: a new link on one of the caller's active subscriptions (the only active
/// one when `subscriptionId` is left out).
pub fn my_create(req: &Request) -> Result<Response, ApiError> {
    let user = req.caller()?.id.as_str();
    let body: CreateBody = req.json()?;
    let subscription = match body.subscription_id {
        Some(id) => id,
        None => {
            let active = db::query(
                "SELECT id FROM subscriptions WHERE user_id = $1 AND status = 'active'",
                &[user.into()],
            )?;
            match active.len() {
                1 => active
                    .first()
                    .map(|r| r.string("id"))
                    .transpose()?
                    .unwrap_or_default(),
                0 => {
                    return Err(ApiError::conflict(
                        "no_active_subscription",
                        "you have no active subscription to add a link to",
                    ))
                }
                _ => {
                    return Err(ApiError::validation(
                        "subscriptionId",
                        "you have several active subscriptions: say which one",
                    ))
                }
            }
        }
    };
    create_on(req, Scope::Owner(user), &subscription, body.fields)
}

/// `POST /admin/subscriptions/:id/links`.
pub fn admin_create(req: &Request) -> Result<Response, ApiError> {
    let fields = if req.body.iter().all(u8::is_ascii_whitespace) {
        LinkFields::default()
    } else {
        req.json()?
    };
    create_on(req, Scope::Admin, req.param("id")?, fields)
}

fn create_on(
    req: &Request,
    scope: Scope<'_>,
    subscription_id: &str,
    fields: LinkFields,
) -> Result<Response, ApiError> {
    let now = clock::now_ms();
    let tx = db::begin()?;
    // First a write: the subscription stays as it is until commit.
    tx.execute(
        "UPDATE subscriptions SET updated_at = updated_at WHERE id = $1",
        &[subscription_id.into()],
    )?;
    let rows = tx.query(
        "SELECT user_id, status FROM subscriptions WHERE id = $1",
        &[subscription_id.into()],
    )?;
    let row = rows
        .first()
        .filter(|r| {
            scope
                .owner()
                .is_none_or(|u| r.str("user_id").ok() == Some(u))
        })
        .ok_or_else(|| {
            ApiError::not_found(
                "subscription_not_found",
                format!("no subscription with id {subscription_id}"),
            )
        })?;
    if row.str("status")? != "active" {
        return Err(ApiError::conflict(
            "subscription_not_active",
            format!(
                "subscription {subscription_id} is {}; links can be added to active ones only",
                row.str("status")?
            ),
        ));
    }
    let user = row.string("user_id")?;
    let link = insert(&tx, &user, subscription_id, fields, true, now)?;
    scope.audit(&tx, req, "link.create", None, Some(&link), now)?;
    tx.commit()?;
    response::json(201, &link)
}

/// `PATCH /me/subscriptions/links/:id` and `PATCH /admin/subscriptions/links/:id`: rename,
/// enable, disable, or narrow the protocols and nodes.
pub fn update(req: &Request) -> Result<Response, ApiError> {
    let scope = Scope::of(req)?;
    let id = req.param("id")?;
    let fields: LinkFields = req.json()?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    let before = claim(&tx, id, scope.owner())?;
    let mut link = before.clone();
    fields.apply(&mut link)?;
    link.updated_at = now;
    tx.execute(
        "UPDATE subscription_links SET name = $2, enabled = $3, protocols = $4, node_ids = $5, \
         updated_at = $6 WHERE id = $1",
        &[
            id.into(),
            link.name.clone().into(),
            link.enabled.into(),
            opt_text(&link.protocols),
            opt_text(&link.node_ids),
            now.into(),
        ],
    )?;
    let mut kinds = Vec::new();
    if link.enabled != before.enabled {
        kinds.push(if link.enabled {
            "link.enabled"
        } else {
            "link.disabled"
        });
    }
    if link.protocols != before.protocols || link.node_ids != before.node_ids {
        kinds.push("link.reconfigured");
    }
    for kind in kinds {
        link_change(&tx, kind, &link, None, now)?;
    }
    scope.audit(&tx, req, "link.update", Some(&before), Some(&link), now)?;
    tx.commit()?;
    response::json(200, &link)
}

fn link_change(
    tx: &Transaction,
    kind: &str,
    link: &Link,
    detail: Option<serde_json::Value>,
    now: i64,
) -> Result<(), ApiError> {
    record::node_change(
        tx,
        Change {
            kind,
            user_id: Some(&link.user_id),
            subscription_id: link.subscription_id.as_deref(),
            link_id: Some(&link.id),
            detail: detail.or_else(|| Some(json!({ "uuid": link.uuid }))),
            ..Change::default()
        },
        now,
    )
}

/// `DELETE /me/subscriptions/links/:id` and `DELETE /admin/subscriptions/links/:id`.
pub fn delete(req: &Request) -> Result<Response, ApiError> {
    let scope = Scope::of(req)?;
    let id = req.param("id")?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    let link = claim(&tx, id, scope.owner())?;
    tx.execute("DELETE FROM subscription_links WHERE id = $1", &[id.into()])?;
    link_change(&tx, "link.deleted", &link, None, now)?;
    scope.audit(&tx, req, "link.delete", Some(&link), None, now)?;
    tx.commit()?;
    response::no_content()
}

/// Gives `link` a new UUID inside `tx`; the old one is unknown from the commit on.
fn reset_one(tx: &Transaction, link: &Link, now: i64) -> Result<Link, ApiError> {
    let mut fresh = link.clone();
    fresh.uuid = id::new_v4();
    fresh.url = format!("{}/sub/{}", settings::public_url(), fresh.uuid);
    fresh.updated_at = now;
    tx.execute(
        "UPDATE subscription_links SET uuid = $2, updated_at = $3 WHERE id = $1",
        &[
            link.id.as_str().into(),
            fresh.uuid.as_str().into(),
            now.into(),
        ],
    )?;
    link_change(
        tx,
        "link.reset",
        &fresh,
        Some(json!({ "oldUuid": link.uuid, "newUuid": fresh.uuid })),
        now,
    )?;
    Ok(fresh)
}

/// What a reset answers: the links with their new UUIDs (its JSON Schema is derived from this
/// type).
#[derive(Serialize, JsonSchema)]
pub struct ResetReply {
    /// Never empty: a reset of nothing is 409 `no_links`.
    #[schemars(length(min = 1))]
    links: Vec<Link>,
}

/// `POST /me/subscriptions/:id/reset` (`:id` a link of the caller's, or one of their
/// subscriptions: then every link of it) and `POST /admin/subscriptions/links/:id/reset`.
pub fn reset(req: &Request) -> Result<Response, ApiError> {
    let scope = Scope::of(req)?;
    let id = req.param("id")?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    // First a write, so the rows are ours until commit.
    let touched = tx.execute(
        "UPDATE subscription_links SET updated_at = updated_at \
         WHERE id = $1 OR subscription_id = $1",
        &[id.into()],
    )?;
    let targets = match load(&tx, id, scope.owner()) {
        Ok(link) => vec![link],
        Err(err) if err.status == 404 && matches!(scope, Scope::Owner(_)) => {
            let owner = scope.owner().unwrap_or_default();
            let owned = !tx
                .query(
                    "SELECT id FROM subscriptions WHERE id = $1 AND user_id = $2",
                    &[id.into(), owner.into()],
                )?
                .is_empty();
            if !owned {
                return Err(ApiError::not_found(
                    "link_not_found",
                    format!("no link or subscription with id {id}"),
                ));
            }
            of_subscriptions(&tx, &[id.to_string()])?
        }
        Err(err) => return Err(err),
    };
    if touched == 0 || targets.is_empty() {
        return Err(ApiError::conflict(
            "no_links",
            format!("subscription {id} has no links to reset"),
        ));
    }
    let mut links = Vec::with_capacity(targets.len());
    for link in &targets {
        let fresh = reset_one(&tx, link, now)?;
        scope.audit(&tx, req, "link.reset", Some(link), Some(&fresh), now)?;
        links.push(fresh);
    }
    tx.commit()?;
    response::json(200, &ResetReply { links })
}

#[cfg(test)]
mod schema_tests {
    use super::*;

    /// The derived schemas say what the link routes take: every field optional, `null` clears
    /// name, protocols and nodes (and leaves `enabled`), the protocols' enum; a link's answer
    /// always carries every field.
    #[test]
    fn the_derived_schemas_say_what_links_take() {
        let fields = nexuma_sdk::schema_of::<LinkFields>();
        assert!(fields.get("required").is_none(), "{fields}");
        assert_eq!(
            fields["properties"]["name"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            fields["properties"]["enabled"]["type"],
            json!(["boolean", "null"])
        );
        assert_eq!(
            fields["properties"]["protocols"]["items"]["enum"],
            json!(PROTOCOLS)
        );
        let cleared: LinkFields =
            serde_json::from_value(json!({ "name": null, "enabled": null })).expect("nulls");
        assert_eq!(cleared.name, Some(None), "null clears the name");
        assert_eq!(cleared.enabled, None, "null leaves enabled as it is");

        let create = nexuma_sdk::schema_of::<CreateBody>();
        assert!(
            create["properties"]["subscriptionId"].is_object(),
            "{create}"
        );
        assert!(
            create["properties"]["nodeIds"].is_object(),
            "flattened: {create}"
        );

        let link = nexuma_sdk::answer_schema_of::<Link>();
        assert_eq!(
            link["required"].as_array().map(Vec::len),
            Some(11),
            "{link}"
        );
        assert_eq!(link["properties"]["uuid"]["format"], "uuid");
        let reset = nexuma_sdk::answer_schema_of::<ResetReply>();
        assert_eq!(reset["required"], json!(["links"]));
        assert_eq!(reset["properties"]["links"]["minItems"], 1);
        assert_eq!(
            reset["properties"]["links"]["items"]["required"],
            link["required"]
        );
    }

    #[test]
    fn the_list_query_is_what_the_handler_reads() {
        let schema = nexuma_sdk::query_schema_of::<ListQuery>();
        let names: Vec<&String> = schema["properties"]
            .as_object()
            .expect("properties")
            .keys()
            .collect();
        assert_eq!(names, ["limit", "offset", "subscriptionId"]);
        assert_eq!(schema["properties"]["subscriptionId"]["type"], "string");
        let q = ListQuery::read(&nexuma_sdk::Request::with_query(&[(
            "subscriptionId",
            "s1",
        )]))
        .expect("read");
        assert_eq!(q.subscription_id.as_deref(), Some("s1"));
        let q = ListQuery::read(&nexuma_sdk::Request::with_query(&[("subscriptionId", "")]))
            .expect("read");
        assert_eq!(q.subscription_id, None, "empty is no filter");
    }
}
