//! The private `/node/*` API that node agents in pull mode call (docs/node-protocol.md). Every
//! route but `register` runs as the node whose key the host verified (`caller.id`): no route
//! takes a node id, so a key can never act for another node.

use nexuma_sdk::db::{self, Executor, Pool};
use nexuma_sdk::notify::{self, format, names, Event};
use nexuma_sdk::{clock, response, ApiError, Request, Response};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{self, text, Node};
use crate::{build, revisions, routing, secrets};
use xray::Capabilities;

/// Protocol versions this Core speaks.
pub const PROTOCOLS: [u32; 1] = [1];
const TEXT_MAX: usize = 200;
const ERROR_MAX: usize = 4000;
/// Error kinds of `POST /node/error` that say the node's config could not be applied.
const CONFIG_ERRORS: [&str; 2] = ["config-rejected", "apply-failed"];

fn check_protocol(version: u32) -> Result<(), ApiError> {
    if PROTOCOLS.contains(&version) {
        Ok(())
    } else {
        Err(ApiError::bad_request(
            "unsupported_protocol",
            format!("this Core speaks node protocol version(s) {PROTOCOLS:?}, not {version}"),
        ))
    }
}

/// A short free-text field from an agent, cut to size.
fn short(value: Option<String>, max: usize) -> Option<String> {
    value.map(|v| v.chars().filter(|c| !c.is_control()).take(max).collect())
}

/// Entries per capability list, and characters per entry, a report may have.
const CAPABILITY_ITEMS: usize = 64;
const CAPABILITY_NAME_MAX: usize = 64;
/// A capability name for the JSON Schema: the check takes 1 to 64 bytes without control
/// characters; a schema counts characters, so it says printable ASCII, where they are bytes.
const CAPABILITY_NAME_PATTERN: &str = "^[ -~]*$";

/// The capability report's schema with the sizes [`check_capabilities`] enforces on each list.
fn capability_limits(schema: &mut schemars::Schema) {
    let Some(properties) = schema
        .get_mut("properties")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return;
    };
    for list in properties.values_mut() {
        list["maxItems"] = CAPABILITY_ITEMS.into();
        list["items"] = serde_json::json!({
            "type": "string",
            "minLength": 1,
            "maxLength": CAPABILITY_NAME_MAX,
            "pattern": CAPABILITY_NAME_PATTERN,
        });
    }
}

/// Checks a capability report's size: the lists are names, never free text.
fn check_capabilities(caps: &Option<Capabilities>) -> Result<(), ApiError> {
    let Some(caps) = caps else {
        return Ok(());
    };
    for (field, list) in [
        ("protocols", &caps.protocols),
        ("transports", &caps.transports),
        ("security", &caps.security),
        ("flows", &caps.flows),
        ("shadowsocksMethods", &caps.shadowsocks_methods),
    ] {
        let bad_name = |n: &String| {
            n.is_empty() || n.len() > CAPABILITY_NAME_MAX || n.chars().any(char::is_control)
        };
        if list.len() > CAPABILITY_ITEMS || list.iter().any(bad_name) {
            return Err(ApiError::validation(
                format!("capabilities.{field}"),
                format!(
                    "at most {CAPABILITY_ITEMS} names of 1 to {CAPABILITY_NAME_MAX} characters"
                ),
            ));
        }
    }
    Ok(())
}

/// Stores what the node's core runs, in `tx`, as a change of the node's config: held-back
/// inbounds may now go out, or go away, and exports follow (the change moves the content
/// epoch once `tx` commits).
fn store_capabilities(
    tx: &db::Transaction,
    node_id: &str,
    caps: Option<&Capabilities>,
    now: i64,
) -> Result<(), ApiError> {
    tx.execute(
        "UPDATE nodes SET core_capabilities = $2 WHERE id = $1",
        &[node_id.into(), caps.map(text).into()],
    )?;
    routing::node_config_changed(tx, node_id, now)
}

/// Builds the node's config now rather than at the revision job's next pass, so the answer can
/// carry the new revision; a failure is left to that pass.
fn rebuild_now(node_id: &str, now: i64) {
    if let Err(err) = revisions::rebuild(node_id, now) {
        nexuma_sdk::log::warn(
            "node config not rebuilt after a capability report",
            &[("nodeId", node_id), ("error", &err.to_string())],
        );
    }
}

/// The calling node; a key of a node deleted meanwhile is as good as none.
pub fn caller_node(req: &Request) -> Result<Node, ApiError> {
    let id = &req.caller()?.id;
    model::load(&Pool, id).map_err(|err| {
        if err.status == 404 {
            ApiError::unauthorized("invalid_node_key", "the node key is not recognised")
        } else {
            err
        }
    })
}

/// `POST /node/register`'s body (docs/node-protocol.md; its JSON Schema is derived from this
/// type). Free-text fields are cut to size, control characters dropped.
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    /// The node protocol version the agent speaks.
    #[schemars(extend("enum" = PROTOCOLS))]
    protocol: u32,
    /// The one-time registration code.
    code: String,
    hostname: Option<String>,
    agent_version: Option<String>,
    core_version: Option<String>,
    core_flavor: Option<String>,
    /// What the node's core runs; absent: nothing known.
    #[schemars(transform = capability_limits)]
    capabilities: Option<Capabilities>,
}

/// The node's id and its key, shown once.
#[derive(Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Registered {
    #[schemars(extend("format" = "uuid"))]
    node_id: String,
    /// The node's key: the agent sends it as `X-Node-Auth-Key`.
    key: String,
}

/// `POST /node/register`: a one-time code for a node id and a fresh key; every older key of the
/// node is revoked.
pub fn register(req: &Request) -> Result<Response, ApiError> {
    let body: RegisterBody = req.json()?;
    check_protocol(body.protocol)?;
    check_capabilities(&body.capabilities)?;
    let code_hash = secrets::sha256_hex(body.code.trim());
    let now = clock::now_ms();
    let tx = db::begin()?;
    // Claiming the code is the first write: only one request can use it.
    let claimed = tx.query(
        "UPDATE node_registration_codes SET used_at = $2 \
         WHERE code_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING node_id",
        &[code_hash.as_str().into(), now.into()],
    )?;
    let Some(node_id) = claimed.first().map(|r| r.string("node_id")).transpose()? else {
        return Err(ApiError::unauthorized(
            "invalid_code",
            "the registration code is unknown, used or expired; ask for a new one",
        ));
    };
    let key = secrets::token::<32>()?;
    tx.execute(
        "DELETE FROM node_credentials WHERE node_id = $1",
        &[node_id.as_str().into()],
    )?;
    tx.execute(
        "INSERT INTO node_credentials (key_hash, node_id, created_at) VALUES ($1, $2, $3)",
        &[
            secrets::sha256_hex(&key).into(),
            node_id.as_str().into(),
            now.into(),
        ],
    )?;
    tx.execute(
        "UPDATE nodes SET registered_at = $2, hostname = $3, agent_version = $4, \
         core_version = $5, core_flavor = $6, updated_at = $2 WHERE id = $1",
        &[
            node_id.as_str().into(),
            now.into(),
            short(body.hostname, TEXT_MAX).into(),
            short(body.agent_version, TEXT_MAX).into(),
            short(body.core_version, TEXT_MAX).into(),
            short(body.core_flavor, TEXT_MAX).into(),
        ],
    )?;
    nexuma_sdk::record::audit(
        &tx,
        &nexuma_sdk::record::Actor::of(req),
        nexuma_sdk::record::Entry {
            action: "node.register",
            target_type: "node",
            target_id: &node_id,
            before: None,
            after: None,
        },
        now,
    )?;
    // Registering says what the core runs now: nothing said is nothing known.
    store_capabilities(&tx, &node_id, body.capabilities.as_ref(), now)?;
    tx.commit()?;
    rebuild_now(&node_id, now);
    response::json(201, &Registered { node_id, key })
}

#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
struct Load {
    /// Percent (kept within 0 to 100).
    cpu: Option<i64>,
    /// Percent (kept within 0 to 100).
    memory: Option<i64>,
}

/// `POST /node/heartbeat`'s body (docs/node-protocol.md; its JSON Schema is derived from this
/// type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatBody {
    #[schemars(extend("enum" = PROTOCOLS))]
    protocol: u32,
    status: Option<String>,
    agent_version: Option<String>,
    core_version: Option<String>,
    core_flavor: Option<String>,
    applied_revision: Option<i64>,
    load: Option<Load>,
    clients: Option<i64>,
    #[serde(default)]
    done_ops: Vec<String>,
    /// Absent (an older agent): the last report stands.
    #[schemars(transform = capability_limits)]
    capabilities: Option<Capabilities>,
}

/// The latest revision and the operations still waiting.
#[derive(Serialize, JsonSchema)]
pub struct HeartbeatAnswer {
    pub revision: i64,
    pub ops: Vec<model::Op>,
}

/// What a heartbeat records of the agent (parameters as `heartbeat` binds them).
const HEARTBEAT_UPDATE: &str = "UPDATE nodes SET last_heartbeat_at = $2, agent_status = $3, \
     agent_version = $4, core_version = $5, core_flavor = $6, cpu_load = $7, memory_load = $8, \
     clients = $9, applied_revision = COALESCE($10, applied_revision), pending_ops = $11 \
     WHERE id = $1";

/// Tells admins that `node`, silent since `last`, speaks again, when they were told of that
/// silence (the `notify` component's scan tells it past the grace; a shorter gap is no news).
fn tell_back(tx: &db::Transaction, node: &Node, last: i64, now: i64) -> Result<(), ApiError> {
    let silence = format!("{}:{last}", node.id);
    let told = tx.query(
        "SELECT 1 AS told FROM notifications WHERE dedupe_key = $1 LIMIT 1",
        &[Event::new(names::NODE_SILENT, &silence).key().into()],
    )?;
    if told.is_empty() {
        return Ok(());
    }
    let event = Event::new(names::NODE_BACK, &silence)
        .param("node", node.name.as_str())
        .param("silentFor", format::span(now - last));
    notify::admins(tx, &event, now)
}

/// Tells admins that `node` could not apply config `revision`. Keyed by node and revision, so
/// the agent's rejection and its error report of the same revision make one message.
fn tell_config_error(
    tx: &db::Transaction,
    node: &Node,
    revision: i64,
    error: &str,
    now: i64,
) -> Result<(), ApiError> {
    let event = Event::new(names::NODE_CONFIG_ERROR, format!("{}:{revision}", node.id))
        .param("node", node.name.as_str())
        .param("revision", revision.to_string())
        .param("error", error);
    notify::admins(tx, &event, now)
}

/// `POST /node/heartbeat`: what the agent runs, answered with the latest revision and the
/// operations still waiting.
pub fn heartbeat(req: &Request) -> Result<Response, ApiError> {
    let body: HeartbeatBody = req.json()?;
    check_protocol(body.protocol)?;
    check_capabilities(&body.capabilities)?;
    let mut node = caller_node(req)?;
    if body.capabilities.is_some() && body.capabilities != node.core_capabilities {
        // Another core, or another build of it: the answer below carries the new revision.
        let now = clock::now_ms();
        let tx = db::begin()?;
        store_capabilities(&tx, &node.id, body.capabilities.as_ref(), now)?;
        tx.commit()?;
        rebuild_now(&node.id, now);
        node = model::load(&Pool, &node.id)?;
    }
    if node.config_hash.is_none() {
        // Registered before the revision pass saw the node: build it now.
        revisions::rebuild(&node.id, clock::now_ms())?;
        node = model::load(&Pool, &node.id)?;
    }
    let now = clock::now_ms();
    let percent = |v: Option<i64>| v.map(|v| v.clamp(0, 100));
    let (cpu, memory) = body
        .load
        .map(|l| (percent(l.cpu), percent(l.memory)))
        .unwrap_or_default();
    let ops: Vec<model::Op> = node
        .pending_ops
        .iter()
        .filter(|op| !body.done_ops.contains(&op.id))
        .cloned()
        .collect();
    // The applied revision is what the agent says it runs, never ahead of the Core's.
    let applied = body
        .applied_revision
        .filter(|r| (0..=node.revision).contains(r));
    let params: [db::Value; 11] = [
        node.id.as_str().into(),
        now.into(),
        short(body.status, 40).into(),
        short(body.agent_version, TEXT_MAX).into(),
        short(body.core_version, TEXT_MAX).into(),
        short(body.core_flavor, 40).into(),
        cpu.into(),
        memory.into(),
        body.clients.map(|c| c.max(0)).into(),
        applied.into(),
        text(&ops).into(),
    ];
    // A node silent past HEARTBEAT_STALE_MS may have left exports (after the operator's grace,
    // subscriptions' catalog); speaking again brings it back. Rare, so a spare move is cheap.
    let was_silent = node
        .last_heartbeat_at
        .is_none_or(|at| now - at > model::HEARTBEAT_STALE_MS);
    match node.last_heartbeat_at.filter(|_| was_silent) {
        // Back from a silence admins may have been told of: told it is back in the same
        // transaction (rare, so the common heartbeat stays one statement).
        Some(last) => {
            let tx = db::begin()?;
            tx.execute(HEARTBEAT_UPDATE, &params)?;
            tell_back(&tx, &node, last, now)?;
            tx.commit()?;
        }
        None => {
            db::execute(HEARTBEAT_UPDATE, &params)?;
        }
    }
    let listed = match applied.filter(|r| Some(*r) != node.applied_revision) {
        Some(revision) => take_applied_inbounds(&Pool, &node.id, revision)?,
        None => false,
    };
    if listed || was_silent {
        Pool.content_changed();
    }
    response::json(
        200,
        &HeartbeatAnswer {
            revision: node.revision,
            ops,
        },
    )
}

/// `GET /node/config/latest`: the config of the latest revision; 304 when the agent has it.
pub fn config(req: &Request) -> Result<Response, ApiError> {
    let node = caller_node(req)?;
    let mut rows = Pool.query(
        "SELECT revision, body FROM node_configs WHERE node_id = $1",
        &[node.id.as_str().into()],
    )?;
    if rows.is_empty() {
        revisions::rebuild(&node.id, clock::now_ms())?;
        rows = Pool.query(
            "SELECT revision, body FROM node_configs WHERE node_id = $1",
            &[node.id.as_str().into()],
        )?;
    }
    let Some(row) = rows.first() else {
        return Err(ApiError::unavailable(
            "config_not_ready",
            "the node's config is being built; try again shortly",
        ));
    };
    let revision = row.i64("revision")?;
    let etag = format!("\"{revision}\"");
    let unchanged = req.header("if-none-match").is_some_and(|v| {
        v.split(',')
            .any(|tag| tag.trim().trim_start_matches("W/") == etag)
    });
    if unchanged {
        return Ok(Response {
            status: 304,
            headers: vec![("etag".into(), etag)],
            body: Vec::new(),
        });
    }
    let body = build::with_revision(revision, row.str("body")?);
    Ok(Response {
        status: 200,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("etag".into(), etag),
            ("cache-control".into(), "no-store".into()),
        ],
        body: body.into_bytes(),
    })
}

/// `POST /node/config/applied`'s body (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedBody {
    /// A revision of this node: 1 to its latest.
    #[schemars(range(min = 1))]
    revision: i64,
    ok: bool,
    /// Why not, when `ok` is false.
    error: Option<String>,
}

/// `POST /node/config/applied`: the agent ran a revision, or could not.
pub fn applied(req: &Request) -> Result<Response, ApiError> {
    let body: AppliedBody = req.json()?;
    let node = caller_node(req)?;
    if !(1..=node.revision).contains(&body.revision) {
        return Err(ApiError::validation(
            "revision",
            format!("must be a revision of this node (1 to {})", node.revision),
        ));
    }
    let now = clock::now_ms();
    if body.ok {
        let tx = db::begin()?;
        tx.execute(
            "UPDATE nodes SET applied_revision = $2, sync_error = NULL, sync_at = $3 WHERE id = $1",
            &[node.id.as_str().into(), body.revision.into(), now.into()],
        )?;
        let listed = take_applied_inbounds(&tx, &node.id, body.revision)?;
        // A node whose config had been rejected is active again: exports list it again.
        if listed || node.sync_error.is_some() {
            tx.content_changed();
        }
        tx.commit()?;
    } else {
        let error = short(body.error, ERROR_MAX)
            .filter(|e| !e.is_empty())
            .unwrap_or_else(|| "the agent did not say why".into());
        let tx = db::begin()?;
        tx.execute(
            "UPDATE nodes SET sync_error = $2, sync_at = $3 WHERE id = $1",
            &[node.id.as_str().into(), error.as_str().into(), now.into()],
        )?;
        model::keep_error(&tx, &node.id, "config-rejected", &error, now, now)?;
        tell_config_error(&tx, &node, body.revision, &error, now)?;
        // The node is in error now (model::Node::effective_status): exports leave it out.
        tx.content_changed();
        tx.commit()?;
    }
    response::no_content()
}

/// Makes the inbounds of `revision` the ones exports list for the node, when that revision is
/// the stored one. True when the list changed. Only the latest revision's specs are kept
/// (`node_configs` has one row per node): an agent confirming an older one — it fetched it just
/// before a newer was built — leaves the last confirmed list, and its next confirmation, of the
/// newer revision, brings the list up to date. A revision that changed only clients leaves the
/// list as it was, so a new subscriber never churns every export.
fn take_applied_inbounds(
    db: &impl Executor,
    node_id: &str,
    revision: i64,
) -> Result<bool, ApiError> {
    let changed = db.execute(
        "UPDATE nodes SET applied_inbounds = (SELECT c.inbounds FROM node_configs c \
         WHERE c.node_id = $1 AND c.revision = $2) \
         WHERE id = $1 AND EXISTS (SELECT 1 FROM node_configs c \
         WHERE c.node_id = $1 AND c.revision = $2 \
         AND (nodes.applied_inbounds IS NULL OR c.inbounds <> nodes.applied_inbounds))",
        &[node_id.into(), revision.into()],
    )?;
    Ok(changed > 0)
}

/// `POST /node/error`'s body (its JSON Schema is derived from this type).
#[derive(Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// `config-rejected` and `apply-failed` reach administrators. Cut to 40 characters,
    /// control characters dropped; something must be left.
    #[schemars(regex(pattern = PRINTABLE))]
    kind: String,
    message: String,
    /// Epoch milliseconds; absent: now (kept within 0 and now).
    at: Option<i64>,
}

/// A string with a character [`short`] keeps (not a control character).
const PRINTABLE: &str = "[^\\x00-\\x1f\\x7f-\\x9f]";

/// `POST /node/error`.
pub fn error(req: &Request) -> Result<Response, ApiError> {
    let body: ErrorBody = req.json()?;
    let node = caller_node(req)?;
    let kind = short(Some(body.kind), 40).unwrap_or_default();
    if kind.is_empty() {
        return Err(ApiError::validation("kind", "must not be empty"));
    }
    let message = short(Some(body.message), ERROR_MAX).unwrap_or_default();
    let now = clock::now_ms();
    let tx = db::begin()?;
    // A node's clock may be wrong: its time is kept within the Core's past (docs/node-protocol.md).
    let at = body.at.map_or(now, |at| at.clamp(0, now));
    model::keep_error(&tx, &node.id, &kind, &message, at, now)?;
    // Errors of the config (the agent names them so) reach admins; the rest stay on the node.
    if CONFIG_ERRORS.contains(&kind.as_str()) {
        tell_config_error(&tx, &node, node.revision, &message, now)?;
    }
    tx.commit()?;
    response::no_content()
}

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_agents_bodies_state_the_checks() {
        let register = nexuma_sdk::schema_of::<RegisterBody>();
        assert_eq!(register["required"], json!(["protocol", "code"]));
        assert_eq!(register["properties"]["protocol"]["enum"], json!(PROTOCOLS));
        let caps = &register["properties"]["capabilities"];
        assert_eq!(caps["required"].as_array().map(Vec::len), Some(5));
        let list = &caps["properties"]["shadowsocksMethods"];
        assert_eq!(list["maxItems"], CAPABILITY_ITEMS);
        assert_eq!(list["items"]["maxLength"], CAPABILITY_NAME_MAX);
        // A list the schema allows passes; one past it does not.
        let names = |n: usize, name: &str| vec![name.to_string(); n];
        let report = |list: Vec<String>| {
            Some(Capabilities {
                protocols: list,
                ..Capabilities::default()
            })
        };
        let name = "~".repeat(CAPABILITY_NAME_MAX);
        let re = regex_lite::Regex::new(CAPABILITY_NAME_PATTERN).expect("pattern");
        assert!(re.is_match(&name) && !re.is_match("a\u{7}"));
        assert!(check_capabilities(&report(names(CAPABILITY_ITEMS, &name))).is_ok());
        assert!(check_capabilities(&report(names(CAPABILITY_ITEMS + 1, "a"))).is_err());
        assert!(check_capabilities(&report(names(1, "a\u{7}"))).is_err());

        let heartbeat = nexuma_sdk::schema_of::<HeartbeatBody>();
        assert_eq!(heartbeat["required"], json!(["protocol"]));
        let applied = nexuma_sdk::schema_of::<AppliedBody>();
        assert_eq!(applied["properties"]["revision"]["minimum"], 1);
        let error = nexuma_sdk::schema_of::<ErrorBody>();
        let kind = regex_lite::Regex::new(PRINTABLE).expect("pattern");
        assert_eq!(error["properties"]["kind"]["pattern"], PRINTABLE);
        for (raw, ok) in [("apply-failed", true), ("\u{1}\u{7f}", false), ("", false)] {
            let kept = short(Some(raw.to_string()), 40).unwrap_or_default();
            assert_eq!((kind.is_match(raw), !kept.is_empty()), (ok, ok), "{raw:?}");
        }
        let answer = nexuma_sdk::answer_schema_of::<HeartbeatAnswer>();
        assert_eq!(answer["required"], json!(["revision", "ops"]));
        assert_eq!(
            answer["properties"]["ops"]["items"]["properties"]["kind"]["enum"],
            json!(crate::admin::OP_KINDS)
        );
    }
}
