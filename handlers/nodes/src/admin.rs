//! `/admin/nodes`: nodes, their configuration, registration codes, keys and operations.

use std::collections::BTreeMap;

use nexuma_sdk::db::{self, Executor, Pool, Value};
use nexuma_sdk::record;
use nexuma_sdk::{clock, id, response, ApiError, Paging, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use xray::{CheckedInbound, InboundSpec, NOT_BLANK};

use crate::model::{self, one_of_or_null, text, Node, NodeRouting, NodeView, Op, STATUSES};
use crate::routing;
use crate::secrets;
use crate::{build, revisions};

const NAME_MAX: usize = 100;
const ADDRESS_MAX: usize = 253;
/// A DNS name as `valid_address` takes it: dot-separated labels of 1 to 63 letters, digits and
/// hyphens, no hyphen first or last.
const HOST_NAME_PATTERN: &str = "^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$";
const MAX_INBOUNDS: usize = 50;
/// What a new node cannot do without (a change may leave them out).
pub const CREATE_REQUIRED: [&str; 2] = ["name", "address"];
/// Registration codes live 24 h unless asked otherwise (at most 30 days).
const CODE_TTL_MINUTES: i64 = 24 * 60;
const CODE_TTL_MAX_MINUTES: i64 = 30 * 24 * 60;
pub const OP_KINDS: [&str; 2] = ["restart-core", "resync"];

/// A node's editable fields as a request gives them (absent or null: unchanged); a create
/// needs [`CREATE_REQUIRED`]. Its JSON Schema is derived from this type.
#[derive(Deserialize, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fields {
    #[schemars(length(max = NAME_MAX), regex(pattern = NOT_BLANK))]
    name: Option<String>,
    /// The host name or IP address clients connect to.
    #[schemars(transform = address_schema)]
    address: Option<String>,
    /// A new node is active.
    #[schemars(transform = status_schema)]
    status: Option<String>,
    /// Tags and ports are unique on the node; an inbound its core reported it cannot run is
    /// refused.
    #[schemars(with = "Option<Vec<CheckedInbound>>", length(max = MAX_INBOUNDS))]
    inbounds: Option<Vec<InboundSpec>>,
    /// Extra core outbounds with tags of their own; direct and block are built in.
    #[schemars(with = "Option<Vec<routing::Outbound>>")]
    outbounds: Option<Vec<serde_json::Value>>,
    /// Routing rule sets, in order; each once.
    #[schemars(extend("uniqueItems" = true))]
    rule_set_ids: Option<Vec<String>>,
    routing: Option<NodeRouting>,
}

fn status_schema(schema: &mut schemars::Schema) {
    one_of_or_null(schema, &STATUSES);
}

/// What `valid_address` takes, once trimmed: an IP address or a DNS name.
fn address_schema(schema: &mut schemars::Schema) {
    schema.insert(
        "anyOf".into(),
        json!([
            { "format": "ipv4" },
            { "format": "ipv6" },
            { "pattern": HOST_NAME_PATTERN, "maxLength": ADDRESS_MAX },
        ]),
    );
}

/// The create body's schema: the fields', with [`CREATE_REQUIRED`] required and not null.
pub fn create_schema() -> serde_json::Value {
    crate::required(nexuma_sdk::schema_of::<Fields>(), &CREATE_REQUIRED)
}

impl Fields {
    fn apply(self, node: &mut Node) {
        if let Some(v) = self.name {
            node.name = v.trim().to_string();
        }
        if let Some(v) = self.address {
            node.address = v.trim().to_string();
        }
        if let Some(v) = self.status {
            node.status = v;
        }
        if let Some(v) = self.inbounds {
            node.inbounds = v;
        }
        if let Some(v) = self.outbounds {
            node.outbounds = v;
        }
        if let Some(v) = self.rule_set_ids {
            node.rule_set_ids = v;
        }
        if let Some(v) = self.routing {
            node.routing = v;
        }
    }
}

fn valid_address(address: &str) -> bool {
    !address.is_empty()
        && address.len() <= ADDRESS_MAX
        && (address.parse::<std::net::IpAddr>().is_ok()
            || address.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            }))
}

/// Checks a node as it would be saved; the error names the first bad field. `new_inbounds`:
/// the request gave the inbounds, so each must be one the node's core runs (when it said).
fn validate(db: &impl Executor, node: &mut Node, new_inbounds: bool) -> Result<(), ApiError> {
    if node.name.is_empty() || node.name.chars().count() > NAME_MAX {
        return Err(ApiError::validation(
            "name",
            format!("must be 1 to {NAME_MAX} characters"),
        ));
    }
    if !valid_address(&node.address) {
        return Err(ApiError::validation(
            "address",
            "must be the host name or IP address clients connect to",
        ));
    }
    if !STATUSES.contains(&node.status.as_str()) {
        return Err(ApiError::validation(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    if node.inbounds.len() > MAX_INBOUNDS {
        return Err(ApiError::validation(
            "inbounds",
            format!("at most {MAX_INBOUNDS}"),
        ));
    }
    for inbound in node.inbounds.iter_mut() {
        inbound.complete();
    }
    for (i, inbound) in node.inbounds.iter().enumerate() {
        if let Err(bad) = inbound.validate() {
            return Err(ApiError::validation(
                format!("inbounds[{i}].{}", bad.field),
                bad.message,
            ));
        }
        let earlier = &node.inbounds[..i];
        if earlier.iter().any(|o| o.tag == inbound.tag) {
            return Err(ApiError::validation(
                format!("inbounds[{i}].tag"),
                format!("`{}` is used twice", inbound.tag),
            ));
        }
        if earlier.iter().any(|o| o.port == inbound.port) {
            return Err(ApiError::validation(
                format!("inbounds[{i}].port"),
                format!("{} is used twice", inbound.port),
            ));
        }
    }
    if new_inbounds {
        check_core(node)?;
    }
    routing::check_outbounds(&node.outbounds)?;
    routing::check_rules("routing.rules", &mut node.routing.rules)?;
    let mut seen = Vec::new();
    for id in &node.rule_set_ids {
        if seen.contains(&id) {
            return Err(ApiError::validation(
                "ruleSetIds",
                format!("{id} is listed twice"),
            ));
        }
        seen.push(id);
    }
    let sets = routing::sets(db, &node.rule_set_ids)?;
    routing::check_node(node, &sets)
}

/// Refuses an inbound the node's reported core cannot run (one it would silently weaken or
/// fail on). A node that has not reported is not checked: its inbounds are held back instead.
fn check_core(node: &Node) -> Result<(), ApiError> {
    let Some(caps) = &node.core_capabilities else {
        return Ok(());
    };
    for (i, inbound) in node.inbounds.iter().enumerate() {
        if let Some(missing) = caps.missing(inbound) {
            return Err(ApiError::validation(
                format!("inbounds[{i}].{}", missing.field),
                format!(
                    "inbound `{}`: the node's core ({}) cannot run {missing}",
                    inbound.tag,
                    node.core_version.as_deref().unwrap_or("unnamed")
                ),
            ));
        }
    }
    Ok(())
}

/// Whether anything a node's config is built from differs.
fn node_facing(a: &Node, b: &Node) -> bool {
    (a.status == "disabled") != (b.status == "disabled")
        || a.inbounds != b.inbounds
        || a.outbounds != b.outbounds
        || a.rule_set_ids != b.rule_set_ids
        || a.routing != b.routing
}

/// The node view without secrets: REALITY private keys and PEM keys are withheld.
fn redacted(node: &Node, now: i64) -> NodeView {
    let mut view = node.view(now);
    for inbound in view.inbounds.iter_mut() {
        if let Some(reality) = inbound.spec.reality.as_mut() {
            reality.private_key = HIDDEN.into();
        }
        if let Some(key) = inbound.spec.tls.as_mut().and_then(|tls| tls.key.as_mut()) {
            *key = HIDDEN.into();
        }
    }
    view
}

/// What answers show for a secret, and what a change sends to keep it.
const HIDDEN: &str = "(hidden)";

/// Secrets a PATCH may leave as `(hidden)`: keep the stored value.
fn keep_hidden(before: &Node, node: &mut Node) {
    for inbound in node.inbounds.iter_mut() {
        let Some(old) = before.inbounds.iter().find(|o| o.tag == inbound.tag) else {
            continue;
        };
        if let (Some(new), Some(old)) = (inbound.reality.as_mut(), old.reality.as_ref()) {
            if new.private_key == HIDDEN {
                new.private_key = old.private_key.clone();
            }
        }
        if let (Some(new), Some(old)) = (inbound.tls.as_mut(), old.tls.as_ref()) {
            if new.key.as_deref() == Some(HIDDEN) {
                new.key = old.key.clone();
            }
        }
    }
}

/// `GET /admin/nodes`'s query, as `list` reads it (`paging`, `query`): its JSON Schema is
/// derived from this type.
#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
pub struct ListQuery {
    #[serde(flatten)]
    paging: Paging,
    /// Only nodes with this stored status; empty: all.
    #[serde(default)]
    #[schemars(with = "String", transform = status_filter)]
    status: Option<String>,
}

fn status_filter(schema: &mut schemars::Schema) {
    let values: Vec<&str> = std::iter::once("").chain(STATUSES).collect();
    schema.insert("enum".into(), json!(values));
    // Absent is no filter, not the `null` serde's default would name.
    schema.remove("default");
}

pub fn list(req: &Request) -> Result<Response, ApiError> {
    let (limit, offset) = req.paging()?;
    let now = clock::now_ms();
    let status = req.query("status").filter(|s| !s.is_empty());
    if status.is_some_and(|s| !STATUSES.contains(&s)) {
        return Err(ApiError::validation(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ));
    }
    let (filter, mut params): (&str, Vec<Value>) = match status {
        Some(s) => ("WHERE status = $1", vec![s.into()]),
        None => ("", Vec::new()),
    };
    let total = db::count(
        &Pool,
        &format!("SELECT CAST(COUNT(*) AS BIGINT) AS total FROM nodes {filter}"),
        &params,
    )?;
    let n = params.len();
    params.push(limit.into());
    params.push(offset.into());
    let items = db::query(
        &format!(
            "SELECT {} FROM nodes {filter} ORDER BY created_at, id LIMIT ${} OFFSET ${}",
            model::COLUMNS,
            n + 1,
            n + 2
        ),
        &params,
    )?
    .iter()
    .map(Node::from_row)
    .collect::<Result<Vec<_>, _>>()?;
    let online = online_now(None)?;
    let items: Vec<_> = items
        .iter()
        .map(|node| with_online(redacted(node, now), node, &online, now))
        .collect();
    response::page(&items, total, limit, offset)
}

pub fn get(req: &Request) -> Result<Response, ApiError> {
    let node = model::load(&Pool, req.param("id")?)?;
    let now = clock::now_ms();
    let online = online_now(Some(&node.id))?;
    response::json(200, &with_online(redacted(&node, now), &node, &online, now))
}

/// (links, distinct users) online per node from the agents' session events: one node's, or
/// every node's.
fn online_now(node: Option<&str>) -> Result<BTreeMap<String, (i64, i64)>, ApiError> {
    let (filter, params): (&str, Vec<Value>) = match node {
        Some(id) => ("AND p.node_id = $1", vec![id.into()]),
        None => ("", Vec::new()),
    };
    let rows = db::query(
        &format!(
            "SELECT p.node_id, CAST(COUNT(DISTINCT p.link_id) AS BIGINT) AS links, \
             CAST(COUNT(DISTINCT l.user_id) AS BIGINT) AS users FROM link_presence p \
             JOIN subscription_links l ON l.id = p.link_id WHERE p.online {filter} \
             GROUP BY p.node_id"
        ),
        &params,
    )?;
    let mut counts = BTreeMap::new();
    for row in rows.iter() {
        counts.insert(
            row.string("node_id")?,
            (row.i64("links")?, row.i64("users")?),
        );
    }
    Ok(counts)
}

/// The view with `onlineLinks` / `onlineUsers`; a node whose agent fell silent has nobody
/// online now, whatever its last events said.
fn with_online(
    mut view: NodeView,
    node: &Node,
    counts: &BTreeMap<String, (i64, i64)>,
    now: i64,
) -> NodeView {
    let live = node
        .last_heartbeat_at
        .is_some_and(|at| now - at <= model::HEARTBEAT_STALE_MS);
    let (links, users) = match counts.get(&node.id) {
        Some(c) if live => *c,
        _ => (0, 0),
    };
    view.online_links = Some(links);
    view.online_users = Some(users);
    view
}

pub fn create(req: &Request) -> Result<Response, ApiError> {
    let body: Fields = req.json()?;
    let given = [body.name.is_some(), body.address.is_some()];
    if let Some((field, _)) = CREATE_REQUIRED.iter().zip(given).find(|(_, g)| !g) {
        return Err(ApiError::validation(*field, "is required"));
    }
    let now = clock::now_ms();
    let mut node = Node::new(id::new_v4(), now);
    body.apply(&mut node);
    validate(&Pool, &mut node, true)?;
    let tx = db::begin()?;
    tx.execute(
        "INSERT INTO nodes (id, name, address, status, inbounds, outbounds, rule_set_ids, routing, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
        &[
            node.id.as_str().into(),
            node.name.as_str().into(),
            node.address.as_str().into(),
            node.status.as_str().into(),
            text(&node.inbounds).into(),
            text(&node.outbounds).into(),
            text(&node.rule_set_ids).into(),
            text(&node.routing).into(),
            now.into(),
        ],
    )?;
    routing::node_config_changed(&tx, &node.id, now)?;
    record::audit_request(
        &tx,
        req,
        "node",
        "node.create",
        &node.id,
        None,
        Some(redacted(&node, now).json()),
        now,
    )?;
    // Subscriptions list active nodes by name and address.
    tx.content_changed();
    tx.commit()?;
    response::json(201, &redacted(&node, now))
}

pub fn update(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body: Fields = req.json()?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let before = model::load(&tx, id)?;
    let mut node = before.clone();
    let new_inbounds = body.inbounds.is_some();
    body.apply(&mut node);
    keep_hidden(&before, &mut node);
    validate(&tx, &mut node, new_inbounds)?;
    node.updated_at = now;
    tx.execute(
        "UPDATE nodes SET name = $2, address = $3, status = $4, inbounds = $5, outbounds = $6, \
         rule_set_ids = $7, routing = $8, updated_at = $9 WHERE id = $1",
        &[
            id.into(),
            node.name.as_str().into(),
            node.address.as_str().into(),
            node.status.as_str().into(),
            text(&node.inbounds).into(),
            text(&node.outbounds).into(),
            text(&node.rule_set_ids).into(),
            text(&node.routing).into(),
            now.into(),
        ],
    )?;
    if node_facing(&before, &node) {
        routing::node_config_changed(&tx, id, now)?;
    }
    tx.content_changed();
    record::audit_request(
        &tx,
        req,
        "node",
        "node.update",
        id,
        Some(redacted(&before, now).json()),
        Some(redacted(&node, now).json()),
        now,
    )?;
    tx.commit()?;
    response::json(200, &redacted(&node, now))
}

pub fn delete(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let node = model::load(&tx, id)?;
    tx.execute(
        "DELETE FROM node_credentials WHERE node_id = $1",
        &[id.into()],
    )?;
    tx.execute("DELETE FROM nodes WHERE id = $1", &[id.into()])?;
    record::audit_request(
        &tx,
        req,
        "node",
        "node.delete",
        id,
        Some(redacted(&node, now).json()),
        None,
        now,
    )?;
    tx.content_changed();
    tx.commit()?;
    response::no_content()
}

/// `POST /admin/nodes/:id/registration-code`'s body, which may be left out (its JSON Schema is
/// derived from this type).
#[derive(Deserialize, Default, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeBody {
    /// How long the code lives; absent or null: a day.
    #[schemars(range(min = 1, max = CODE_TTL_MAX_MINUTES), extend("default" = CODE_TTL_MINUTES))]
    ttl_minutes: Option<i64>,
}

/// A registration code, shown once.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Code<'a> {
    #[schemars(extend("format" = "uuid"))]
    node_id: &'a str,
    /// Give it to the agent as NEXUMA_NODE_CODE.
    code: String,
    /// Epoch milliseconds.
    expires_at: i64,
}

/// How many keys a revocation removed.
#[derive(Serialize, JsonSchema)]
pub struct Revoked {
    pub revoked: u64,
}

/// `POST /admin/nodes/:id/registration-code`: a one-time code for the node's agent. Only its
/// hash is kept; the code is shown once.
pub fn registration_code(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let body: CodeBody = if req.body.iter().all(u8::is_ascii_whitespace) {
        CodeBody::default()
    } else {
        req.json()?
    };
    let ttl = body.ttl_minutes.unwrap_or(CODE_TTL_MINUTES);
    if !(1..=CODE_TTL_MAX_MINUTES).contains(&ttl) {
        return Err(ApiError::validation(
            "ttlMinutes",
            format!("must be from 1 to {CODE_TTL_MAX_MINUTES}"),
        ));
    }
    let now = clock::now_ms();
    let code = secrets::token::<18>()?;
    let expires_at = now + ttl * 60_000;
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    model::load(&tx, id)?;
    tx.execute(
        "INSERT INTO node_registration_codes (code_hash, node_id, expires_at, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            secrets::sha256_hex(&code).into(),
            id.into(),
            expires_at.into(),
            req.caller.as_ref().map(|c| c.id.clone()).into(),
            now.into(),
        ],
    )?;
    record::audit_request(
        &tx,
        req,
        "node",
        "node.registration_code",
        id,
        None,
        Some(json!({ "expiresAt": expires_at })),
        now,
    )?;
    tx.commit()?;
    response::json(
        201,
        &Code {
            node_id: id,
            code,
            expires_at,
        },
    )
}

/// `POST /admin/nodes/:id/revoke-keys`: every key of the node stops working at once.
pub fn revoke_keys(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    model::load(&tx, id)?;
    let revoked = tx.execute(
        "DELETE FROM node_credentials WHERE node_id = $1",
        &[id.into()],
    )?;
    record::audit_request(
        &tx,
        req,
        "node",
        "node.revoke_keys",
        id,
        None,
        Some(json!(Revoked { revoked })),
        now,
    )?;
    tx.commit()?;
    response::json(200, &Revoked { revoked })
}

/// `POST /admin/nodes/:id/restart-core` and `.../resync`: an operation for the agent, handed
/// out with every heartbeat until the agent reports it done.
pub fn operation(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let kind = if req.route.ends_with("/restart-core") {
        "restart-core"
    } else {
        "resync"
    };
    let now = clock::now_ms();
    let tx = db::begin()?;
    tx.execute(
        "UPDATE nodes SET updated_at = updated_at WHERE id = $1",
        &[id.into()],
    )?;
    let mut node = model::load(&tx, id)?;
    let op = Op {
        id: id::new_v4(),
        kind: kind.to_string(),
        created_at: now,
    };
    // One of each kind waiting is enough.
    node.pending_ops.retain(|o| o.kind != kind);
    node.pending_ops.push(op.clone());
    tx.execute(
        "UPDATE nodes SET pending_ops = $2 WHERE id = $1",
        &[id.into(), text(&node.pending_ops).into()],
    )?;
    record::audit_request(
        &tx,
        req,
        "node",
        &format!("node.{kind}"),
        id,
        None,
        Some(json!({ "op": op })),
        now,
    )?;
    tx.commit()?;
    response::json(202, &op)
}

/// `GET /admin/nodes/:id/config`: the config the node gets for its latest revision.
pub fn config(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    let node = model::load(&Pool, id)?;
    let rows = Pool.query(
        "SELECT revision, body FROM node_configs WHERE node_id = $1",
        &[id.into()],
    )?;
    let Some(row) = rows.first() else {
        return Err(ApiError::not_found(
            "config_not_built",
            format!(
                "node {} has no config yet; it is built within seconds",
                node.name
            ),
        ));
    };
    let body = build::with_revision(row.i64("revision")?, row.str("body")?);
    Ok(Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.into_bytes(),
    })
}

/// An error a node's agent reported.
#[derive(Serialize, JsonSchema)]
pub struct NodeError {
    pub kind: String,
    pub message: String,
    /// Epoch milliseconds, as the agent says.
    pub at: i64,
}

/// `GET /admin/nodes/:id/errors`: what the agent reported, newest first.
pub fn errors(req: &Request) -> Result<Response, ApiError> {
    let id = req.param("id")?;
    model::load(&Pool, id)?;
    let (limit, offset) = req.paging()?;
    let total = db::count(
        &Pool,
        "SELECT CAST(COUNT(*) AS BIGINT) AS total FROM node_errors WHERE node_id = $1",
        &[id.into()],
    )?;
    let items = Pool
        .query(
            "SELECT kind, message, at FROM node_errors WHERE node_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
            &[id.into(), limit.into(), offset.into()],
        )?
        .iter()
        .map(|r| {
            Ok(NodeError {
                kind: r.string("kind")?,
                message: r.string("message")?,
                at: r.i64("at")?,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    response::page(&items, total, limit, offset)
}

/// What `POST /admin/nodes/sync` did.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// Waiting usage reports counted.
    pub usage_reports: u32,
    /// Their entries, per node, hour and link.
    pub usage_entries: u32,
    /// Changes of the outbox taken.
    pub changes: u32,
    pub nodes_built: u32,
    pub revisions_bumped: u32,
}

/// `POST /admin/nodes/sync`: brings everything up to date now — waiting usage reports counted,
/// then the revision pass.
pub fn sync(_req: &Request) -> Result<Response, ApiError> {
    let mut applied = crate::usage::Applied::default();
    loop {
        let pass = crate::usage::apply_pending()?;
        if pass.reports == 0 {
            break;
        }
        applied.reports += pass.reports;
        applied.entries += pass.entries;
    }
    let revisions = revisions::sync(clock::now_ms())?;
    response::json(
        200,
        &SyncReport {
            usage_reports: applied.reports,
            usage_entries: applied.entries,
            changes: revisions.changes,
            nodes_built: revisions.nodes_built,
            revisions_bumped: revisions.revisions_bumped,
        },
    )
}

/// A REALITY key pair: X25519, base64url without padding.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyPair {
    pub private_key: String,
    pub public_key: String,
}

/// `POST /admin/nodes/reality-keys`: a new REALITY key pair.
pub fn reality_keys(_req: &Request) -> Result<Response, ApiError> {
    let (private_key, public_key) = xray::key_pair(secrets::random::<32>()?);
    response::json(
        200,
        &KeyPair {
            private_key,
            public_key,
        },
    )
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    /// The create and change bodies' schemas say what `create`, `update` and `validate` take.
    #[test]
    fn the_bodies_say_what_the_handlers_take() {
        let create = create_schema();
        assert_eq!(create["required"], json!(CREATE_REQUIRED));
        assert_eq!(create["properties"]["name"]["type"], "string");
        assert_eq!(create["properties"]["name"]["maxLength"], NAME_MAX);
        let name = create["properties"]["name"].as_object().expect("name");
        assert!(!name.contains_key("enum"), "nothing added: {name:?}");
        assert_eq!(create["additionalProperties"], false);
        let inbounds = &create["properties"]["inbounds"];
        assert_eq!(inbounds["maxItems"], MAX_INBOUNDS);
        assert!(inbounds["items"]["oneOf"]
            .as_array()
            .is_some_and(|b| b.len() > 30));
        let mut statuses: Vec<serde_json::Value> = STATUSES.iter().map(|s| json!(s)).collect();
        statuses.push(json!(null));
        assert_eq!(create["properties"]["status"]["enum"], json!(statuses));
        assert_eq!(create["properties"]["ruleSetIds"]["uniqueItems"], true);

        let patch = nexuma_sdk::schema_of::<Fields>();
        assert!(patch.get("required").is_none());
        assert_eq!(
            patch["properties"]["name"]["type"],
            json!(["string", "null"])
        );
        let nulls: Fields = serde_json::from_value(json!({ "name": null, "status": null }))
            .expect("null is unchanged");
        assert!(nulls.name.is_none() && nulls.status.is_none());
        // A body the create schema allows: it parses and its address and inbound pass.
        let body: Fields = serde_json::from_value(json!({
            "name": "edge", "address": "edge-1.example.com",
            "inbounds": [{ "tag": "in", "protocol": "vless", "port": 443, "network": "ws", "path": "/ws" }],
            "outbounds": [{ "tag": "warp", "protocol": "wireguard" }],
        }))
        .expect("parses");
        assert!(body.address.as_deref().is_some_and(valid_address));
        assert!(body
            .inbounds
            .unwrap_or_default()
            .iter()
            .all(|i| i.validate().is_ok()));
        assert!(routing::check_outbounds(&body.outbounds.unwrap_or_default()).is_ok());

        let code = nexuma_sdk::schema_of::<CodeBody>();
        let ttl = &code["properties"]["ttlMinutes"];
        assert_eq!(
            (&ttl["minimum"], &ttl["maximum"]),
            (&json!(1), &json!(CODE_TTL_MAX_MINUTES))
        );
        assert_eq!(ttl["default"], CODE_TTL_MINUTES);
    }

    /// The host name pattern takes what `valid_address` takes of names.
    #[test]
    fn the_address_pattern_is_valid_address() {
        let re = regex_lite::Regex::new(HOST_NAME_PATTERN).expect("pattern");
        let long_label = "a".repeat(63);
        let too_long = "a".repeat(64);
        for (name, ok) in [
            ("example.com", true),
            ("a-b.c1", true),
            (long_label.as_str(), true),
            (too_long.as_str(), false),
            ("-a.com", false),
            ("a-.com", false),
            ("a..com", false),
            ("a_b.com", false),
            (".com", false),
        ] {
            assert_eq!((re.is_match(name), valid_address(name)), (ok, ok), "{name}");
        }
        let schema = nexuma_sdk::schema_of::<Fields>();
        let any_of = &schema["properties"]["address"]["anyOf"];
        assert_eq!(any_of[2]["maxLength"], ADDRESS_MAX);
    }

    #[test]
    fn the_list_query_states_the_status_filter() {
        let query = nexuma_sdk::schema_of::<ListQuery>();
        let mut statuses = vec![""];
        statuses.extend(STATUSES);
        assert_eq!(query["properties"]["status"]["enum"], json!(statuses));
        assert!(query["properties"]["status"].get("default").is_none());
        assert_eq!(
            query["properties"]["limit"]["maximum"],
            nexuma_sdk::MAX_LIMIT
        );
        assert!(query["required"].as_array().is_none_or(Vec::is_empty));
    }

    /// What administrators see has the old answer's fields, secrets withheld, and the schema
    /// says which are always there.
    #[test]
    fn the_node_answer_keeps_its_fields_and_withholds_secrets() {
        let mut node = Node::new("n".into(), 5);
        node.inbounds = vec![serde_json::from_value(json!({
            "tag": "t", "protocol": "trojan", "port": 443, "security": "tls",
            "tls": { "certificate": "C", "key": "K" }
        }))
        .expect("spec")];
        let view = with_online(redacted(&node, 5), &node, &BTreeMap::new(), 5).json();
        let keys: Vec<&str> = view
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec![
            "id",
            "name",
            "address",
            "status",
            "effectiveStatus",
            "statusReason",
            "inbounds",
            "outbounds",
            "ruleSetIds",
            "routing",
            "revision",
            "appliedRevision",
            "syncState",
            "syncError",
            "syncAt",
            "registered",
            "registeredAt",
            "agent",
            "lastError",
            "pendingOps",
            "onlineLinks",
            "onlineUsers",
            "createdAt",
            "updatedAt",
        ];
        expected.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, expected);
        assert_eq!(view["inbounds"][0]["tls"]["key"], HIDDEN);
        assert_eq!(view["inbounds"][0]["tls"]["certificate"], "C");
        assert_eq!(view["onlineLinks"], 0);
        assert!(redacted(&node, 5).json().get("onlineLinks").is_none());

        let schema = nexuma_sdk::answer_schema_of::<NodeView>();
        let required = schema["required"].as_array().expect("required");
        assert_eq!(
            required.len(),
            expected.len() - 2,
            "all but the online counts"
        );
        assert!(!required.contains(&json!("onlineLinks")));
        assert_eq!(
            schema["properties"]["statusReason"]["type"],
            json!(["string", "null"])
        );
        assert_eq!(
            schema["properties"]["syncState"]["enum"],
            json!(model::SYNC_STATES)
        );
        let inbound = &schema["properties"]["inbounds"]["items"];
        assert!(
            inbound["properties"]["heldBack"].is_object()
                && inbound["properties"]["tag"].is_object()
        );
        assert!(
            inbound.get("oneOf").is_none(),
            "answers show hidden keys: no request rules"
        );
    }
}
